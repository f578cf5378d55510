"""A store that keeps everything in memory: the reference for ``SegmentStore``.

Same buffer, same replay code (``Ledger``), no files. ``sync()`` applies the buffered
records to a ledger that keeps message content, and ``recover()`` reports what was
synced, so a test can "restart" it to see exactly what a durable store would have
kept. Useful for tests and for a broker run without a data directory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from amqpish.store.buffer import RecordBuffer
from amqpish.store.interface import RecoveredState, StoreError
from amqpish.store.ledger import Ledger

# every record "lives" in segment 1: there are no files, so nothing to track
_SEGMENT = 1


class MemoryStore(RecordBuffer):
    def __init__(self) -> None:
        super().__init__()
        # serialises sync() and recover(); appends never take it (see buffer.py)
        self._lock = threading.Lock()
        self._ledger = Ledger(keep_payloads=True, track_fresh=True)
        self._batches = 0
        self._closed = False

    def pending(self) -> int:
        return self._buffered()

    def sync(self) -> int:
        with self._lock:
            if self._closed:
                raise StoreError("store is closed")
            batch, appended = self._take()
            if batch:
                self._ledger.apply(batch, _SEGMENT)
                self._ledger.end_batch()
                self._batches += 1
            self._taken = appended
            return self._batches

    def recover(self, resident_bytes: int | None = None) -> RecoveredState:
        # everything is in memory anyway: every body comes back
        with self._lock:
            t0 = time.perf_counter()
            ledger = self._ledger
            queues, enqueued, _ = ledger.snapshot()
            return RecoveredState(
                queues=queues,
                max_msg_id=ledger.max_msg_id,
                messages=ledger.live_messages(),
                enqueued=enqueued,
                records=ledger.records,
                segments=0,
                bytes_read=0,
                orphans=0,
                truncated=(),
                seconds=time.perf_counter() - t0,
            )

    def close(self) -> None:
        self._closed = True

    def located(self, msg_id: int) -> bool:
        payloads = self._ledger.payloads
        return payloads is not None and msg_id in payloads

    def read_bodies(self, wanted: Sequence[tuple[int, int]]) -> list[bytes]:
        payloads = self._ledger.payloads
        assert payloads is not None
        try:
            return [payloads[m][5] for m, _ in wanted]
        except KeyError as e:
            raise StoreError(f"message {e.args[0]} has no body in the store") from None

    def restarted(self) -> MemoryStore:
        """A new store holding what this one synced, as a broker restarted after a
        crash would find it (unsynced records are lost); this one is closed."""
        with self._lock:
            self._closed = True
            new = MemoryStore()
            # as after a replay: nothing follows, so unreferenced messages are garbage
            self._ledger.drop_unreferenced()
            new._ledger = self._ledger
            new._batches = self._batches
            return new

    def disk_usage(self) -> int:
        return 0
