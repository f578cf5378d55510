"""A message store on disk: append-only segment files, group commit, compaction.

Records go to numbered segment files (``00000001.seg``, ...), each capped at
``segment_size`` bytes (a frame bigger than that gets a segment of its own). Only
the newest segment is appended to. ``sync()`` takes the buffer, encodes it into
frames (see ``records.py``), writes each touched segment with one ``write`` and
fsyncs once; a new segment costs one more fsync for the directory entry. Only after
the fsync does it apply the batch to the ledger, so the ledger never believes in
records that are not durable. On OSError the files are cut back to where they were
and the batch is kept for the next ``sync()``: nothing is dropped, and a batch that
may be half on disk is rewritten whole (replaying records twice is harmless).

Disk use follows what is queued. The ledger knows, per segment, how many live
records it holds and how many of its tombstones still matter (see ``ledger.py``):

* a sealed segment with neither is deleted (and the directory fsynced before any
  segment whose tombstones pointed into it is deleted in turn);
* a sealed segment with no needed tombstones and less than ``compact_below`` of its
  bytes live is compacted: its live records are read back a step at a time (at most
  ``compact_step`` bytes per ``sync()``, to bound confirm latency), carried into the
  next batch, and once that batch is durable the segment has nothing live and goes.

``recover()`` reads every segment in order, truncates each at its first bad frame
(logged), replays everything into a ledger that keeps message content, returns the
live messages and keeps the ledger, without content, for the rest of the run.

Paging reads bodies back from the segments. The ledger knows where each live
message's body starts (``locate_bodies`` finds it in the frames as they are written,
or, when a recovery holds more bodies than ``resident_bytes``, in the segments as
they are read), and ``read_bodies`` reads a batch with one ``pread`` per run of
nearby bodies. It runs on the event loop while the persister's thread may compact:
a body moved by compaction is still in the old segment until that is deleted, an
open descriptor keeps reading a deleted file, and a segment gone before it was
opened is looked up again in the ledger, which by then knows the new place.
"""

from __future__ import annotations

import gc
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from amqpish.store.buffer import RecordBuffer
from amqpish.store.interface import RecoveredState, StoreError, Truncation
from amqpish.store.ledger import (
    Ledger,
    body_offset,
    delivered_segment,
    enqueue_segment,
    message_segment,
)
from amqpish.store.records import (
    DELIVERED,
    ENQUEUE,
    HEADER,
    HEADER_SIZE,
    MESSAGE,
    PAIR_COST,
    Record,
    encode_frames,
    locate_bodies,
    message_cost,
    read_frames,
    read_segment_chunks,
)

log = structlog.get_logger("amqpish.store")

# fdatasync flushes the data and the file size, which is all a log needs; a module
# global so that tests can make it fail
_fdatasync = getattr(os, "fdatasync", os.fsync)

_SEGMENT_NAME = re.compile(r"^(\d{8,})\.seg$")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def segment_name(number: int) -> str:
    return f"{number:08d}.seg"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# read_bodies: bodies closer than this are read with one pread, up to _READ_SPAN bytes
_READ_GAP = 64 << 10
_READ_SPAN = 16 << 20


def _estimate(records: list[Record]) -> int:
    return sum(message_cost(r) if r[0] == MESSAGE else PAIR_COST for r in records)


@dataclass
class _Compaction:
    seg: int
    fd: int
    offset: int
    end: int


class SegmentStore(RecordBuffer):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        segment_size: int = 64 << 20,
        compact_below: float = 0.25,
        compact_step: int = 4 << 20,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.segment_size = segment_size
        self.compact_below = compact_below
        self.compact_step = compact_step
        # serialises sync(), recover() and close(); appends never take it
        self._lock = threading.Lock()
        self._state = "new"  # -> "open" after recover() -> "closed"
        self._ledger = Ledger(keep_payloads=False, track_fresh=True)
        self._sizes: dict[int, int] = {}  # segment -> bytes of good frames
        self._disk = 0  # sum of _sizes, readable from any thread
        self._current = 0  # the segment appended to; 0 = open one on next write
        self._fd = -1
        self._dir_fd = -1
        self._next = 1
        self._batches = 0
        self._retry: list[Record] = []  # a batch whose write failed
        self._carry: list[Record] = []  # live records moved out of a compacted segment
        self._extra = 0  # estimated bytes of _retry + _carry
        self._compaction: _Compaction | None = None
        self._no_compact: set[int] = set()  # scanned already, or unreadable
        self._readers: dict[int, int] = {}  # segment -> descriptor, for read_bodies
        # figures for tests and benchmarks
        self.fsyncs = 0
        self.frames_written = 0
        self.records_written = 0
        self.segments_deleted = 0
        self.segments_compacted = 0

    # -- the interface ---------------------------------------------------------------

    def pending(self) -> int:
        # a compaction in progress counts as one byte: it keeps the persister calling
        # sync() until done without looking like a full buffer to flow control
        return self._buffered() + self._extra + (self._compaction is not None)

    def disk_usage(self) -> int:
        return self._disk

    def sync(self) -> int:
        with self._lock:
            if self._state != "open":
                raise StoreError(f"sync() on a {self._state} store: call recover() first")
            taken, appended = self._take()
            batch = self._retry + self._carry + taken if self._retry or self._carry else taken
            if batch:
                try:
                    self._write(batch)
                except OSError:
                    self._retry = batch
                    self._carry = []
                    self._extra = _estimate(batch)
                    self._taken = appended
                    raise
                self._retry = []
                self._carry = []
                self._extra = 0
                self._batches += 1
                self._ledger.end_batch()
            self._taken = appended
            # Housekeeping runs after the batch is durable and cannot make it less so:
            # its errors are logged, not raised, so confirms are not held up by them.
            if batch:
                self._housekeeping(self._collect)
            self._housekeeping(self._compact)
            return self._batches

    def recover(self, resident_bytes: int | None = None) -> RecoveredState:
        with self._lock:
            if self._state != "new":
                raise StoreError("recover() is called once, before the first sync()")
            t0 = time.perf_counter()
            # Replay allocates millions of small containers; the cyclic collector
            # would walk the growing heap again and again for nothing (no cycles here).
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                state = self._replay(t0, resident_bytes)
            finally:
                if gc_was_enabled:
                    gc.enable()
            self._state = "open"
            self._housekeeping(self._collect)
            return state

    def close(self) -> None:
        with self._lock:
            if self._state == "closed":
                return
            self._state = "closed"
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()
            if self._compaction is not None:
                os.close(self._compaction.fd)
                self._compaction = None
            for fd in (self._fd, self._dir_fd):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._dir_fd = -1

    # -- paging --------------------------------------------------------------------

    def located(self, msg_id: int) -> bool:
        v = self._ledger.msgs.get(msg_id)
        return v is not None and body_offset(v) != 0

    def read_bodies(self, wanted: Sequence[tuple[int, int]]) -> list[bytes]:
        out = [b""] * len(wanted)
        todo: Sequence[int] = range(len(wanted))
        for _ in range(3):
            msgs = self._ledger.msgs
            spots = []
            for i in todo:
                m, size = wanted[i]
                v = msgs.get(m)
                if v is None or not body_offset(v):
                    raise StoreError(f"message {m} has no body in the store")
                spots.append((message_segment(v), body_offset(v), size, i))
            todo = self._read_spots(spots, out)
            if not todo:
                break
        else:
            raise StoreError("segments vanished under read_bodies three times")
        readers = self._readers
        if len(readers) > 1:
            # descriptors of deleted segments would keep their disk space
            for seg in [s for s in readers if s not in self._sizes]:
                os.close(readers.pop(seg))
        return out

    def _read_spots(self, spots: list[tuple[int, int, int, int]], out: list[bytes]) -> list[int]:
        """Read (segment, offset, size, index) spots into ``out``; returns the indexes
        whose segment was deleted before it could be opened."""
        spots.sort()
        gone: list[int] = []
        i = 0
        n = len(spots)
        while i < n:
            seg, start, size, _ = spots[i]
            end = start + size
            j = i + 1
            while j < n:
                s2, o2, z2, _ = spots[j]
                if s2 != seg or o2 - end > _READ_GAP or o2 + z2 - start > _READ_SPAN:
                    break
                end = max(end, o2 + z2)
                j += 1
            fd = self._reader(seg)
            if fd < 0:
                gone.extend(spot[3] for spot in spots[i:j])
            else:
                data = os.pread(fd, end - start, start)
                if len(data) != end - start:
                    raise StoreError(f"short read in {segment_name(seg)} at {start}")
                if j == i + 1:
                    out[spots[i][3]] = data
                else:
                    view = memoryview(data)
                    for _, off, size, k in spots[i:j]:
                        out[k] = bytes(view[off - start : off - start + size])
            i = j
        return gone

    def _reader(self, seg: int) -> int:
        fd = self._readers.get(seg)
        if fd is None:
            try:
                fd = os.open(self._seg_path(seg), os.O_RDONLY | _O_CLOEXEC)
            except FileNotFoundError:
                return -1
            self._readers[seg] = fd
        return fd

    # -- recovery ----------------------------------------------------------------

    def _segments_on_disk(self) -> list[tuple[int, Path]]:
        found = []
        for entry in os.scandir(self.path):
            m = _SEGMENT_NAME.match(entry.name)
            if m and entry.is_file():
                found.append((int(m.group(1)), Path(entry.path)))
        found.sort()
        return found

    def _replay(self, t0: float, resident_bytes: int | None) -> RecoveredState:
        ledger = Ledger(keep_payloads=True, track_fresh=False, body_budget=resident_bytes)
        self._sizes = {}  # recover() may be retried after an OSError
        truncated: list[Truncation] = []
        segments = self._segments_on_disk()
        bytes_read = 0
        changed_dir = False
        for i, (number, path) in enumerate(segments):
            size = 0
            end = 0
            error: str | None = None
            for data, at, result in read_segment_chunks(path):
                size = at + len(data)
                end = at + result.valid_end
                error = result.error
                if not result.records:
                    continue
                locs = None
                if resident_bytes is not None and ledger.payload_bytes + len(data) > resident_bytes:
                    # may not all fit: find the bodies, so those left out can be read back
                    locs = locate_bodies(data, result.records, 0, at)
                ledger.apply(result.records, number, locs)
            del data, result
            bytes_read += size
            if error is not None:
                last = i == len(segments) - 1
                truncated.append(Truncation(path.name, end, size - end, error))
                # a torn tail on the newest segment is what a crash leaves; damage
                # anywhere else means the disk lost data we had fsynced
                (log.warning if last else log.error)(
                    "store_segment_truncated",
                    segment=path.name,
                    offset=end,
                    dropped_bytes=size - end,
                    reason=error,
                    newest=last,
                )
            if end == 0:
                path.unlink()
                changed_dir = True
                continue
            if end < size:
                fd = os.open(path, os.O_WRONLY | _O_CLOEXEC)
                try:
                    os.ftruncate(fd, end)
                    _fdatasync(fd)
                finally:
                    os.close(fd)
            self._sizes[number] = end
        ledger.drop_unreferenced()
        queues, enqueued, lost = ledger.snapshot()
        paged_sizes = ledger.left_out_sizes
        ledger.drop_orphans(lost)
        orphans = len(lost)
        messages = ledger.live_messages()
        ledger.forget_payloads()
        ledger.track_fresh()
        self._ledger = ledger
        self._disk = sum(self._sizes.values())
        self._next = segments[-1][0] + 1 if segments else 1
        self._dir_fd = os.open(self.path, os.O_RDONLY | _O_CLOEXEC)
        if changed_dir:
            os.fsync(self._dir_fd)
        if orphans:
            log.error("store_orphaned_enqueues", count=orphans, path=str(self.path))
        return RecoveredState(
            queues=queues,
            max_msg_id=ledger.max_msg_id,
            messages=messages,
            enqueued=enqueued,
            records=ledger.records,
            segments=len(segments),
            bytes_read=bytes_read,
            orphans=orphans,
            truncated=tuple(truncated),
            seconds=time.perf_counter() - t0,
            paged_sizes=paged_sizes,
        )

    # -- writing -------------------------------------------------------------------

    def _seg_path(self, number: int) -> Path:
        return self.path / segment_name(number)

    def _write(self, batch: list[Record]) -> None:
        frames = encode_frames(batch)
        # plan: which frames go to which segment
        cur = self._current
        size = self._sizes.get(cur, 0) if cur else 0
        nxt = self._next
        groups: list[tuple[int, list[tuple[bytes, Sequence[Record]]]]] = []
        for frame in frames:
            flen = len(frame[0])
            if not cur or (size and size + flen > self.segment_size):
                cur = nxt
                nxt += 1
                size = 0
                groups.append((cur, []))
            elif not groups:
                groups.append((cur, []))
            groups[-1][1].append(frame)
            size += flen
        created: list[tuple[int, int]] = []
        lengths: list[int] = []
        try:
            for seg, frs in groups:
                if seg == self._current:
                    fd = self._fd
                else:
                    fd = os.open(
                        self._seg_path(seg),
                        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | _O_CLOEXEC,
                        0o644,
                    )
                    created.append((seg, fd))
                data = frs[0][0] if len(frs) == 1 else b"".join(f for f, _ in frs)
                _write_all(fd, data)
                _fdatasync(fd)
                self.fsyncs += 1
                lengths.append(len(data))
            if created:
                os.fsync(self._dir_fd)
                self.fsyncs += 1
        except OSError:
            self._undo(groups, created)
            self._next = nxt
            raise
        # durable: now, and only now, the ledger believes it
        ledger = self._ledger
        for (seg, frs), n in zip(groups, lengths, strict=True):
            at = self._sizes.get(seg, 0)
            for encoded, recs in frs:
                ledger.apply(recs, seg, locate_bodies(encoded, recs, HEADER_SIZE, at))
                at += len(encoded)
                self.records_written += len(recs)
            self._sizes[seg] = self._sizes.get(seg, 0) + n
            self._disk += n
            self.frames_written += len(frs)
        if created:
            for _, fd in created[:-1]:
                os.close(fd)
            if self._fd >= 0:
                os.close(self._fd)
            self._current, self._fd = created[-1]
        self._next = nxt

    def _undo(
        self,
        groups: list[tuple[int, list[tuple[bytes, Sequence[Record]]]]],
        created: list[tuple[int, int]],
    ) -> None:
        """Best effort: cut the files back to where they were before a failed write."""
        for seg, fd in created:
            os.close(fd)
            try:
                os.unlink(self._seg_path(seg))
            except OSError:
                pass
        if groups and groups[0][0] == self._current:
            try:
                os.ftruncate(self._fd, self._sizes[self._current])
            except OSError:
                # The tail is unknown: write elsewhere from now on. If it holds frames
                # of this batch, the retry writes them again and replay, which is
                # idempotent, does not mind.
                os.close(self._fd)
                self._fd = -1
                self._current = 0

    # -- housekeeping ----------------------------------------------------------------

    def _housekeeping(self, step: Callable[[], None]) -> None:
        """Run a clean-up step. It comes after the batch is durable and cannot make it
        less so: its errors are logged, not raised, so confirms are not held up."""
        try:
            step()
        except OSError as exc:
            log.error(
                "store_housekeeping_failed", step=step.__name__, error=str(exc), path=str(self.path)
            )
            c = self._compaction
            if c is not None and step == self._compact:
                # give this segment up rather than fail on it at every sync
                os.close(c.fd)
                self._compaction = None
                self._no_compact.add(c.seg)

    def _deletable(self, seg: int) -> bool:
        if self._ledger.live.get(seg, 0) or self._ledger.tombs.get(seg, 0):
            return False
        # the newest segment stays (it is being appended to) unless it has grown large
        # enough that keeping it, all dead, would be a waste
        return seg != self._current or self._sizes[seg] >= self.segment_size // 8

    def _collect(self) -> None:
        dead = [s for s in self._sizes if self._deletable(s)]
        while dead:
            freed: list[int] = []
            for seg in dead:
                if seg == self._current:
                    os.close(self._fd)
                    self._fd = -1
                    self._current = 0
                c = self._compaction
                if c is not None and c.seg == seg:
                    os.close(c.fd)
                    self._compaction = None
                try:
                    os.unlink(self._seg_path(seg))
                except FileNotFoundError:
                    pass
                self._disk -= self._sizes.pop(seg)
                self._no_compact.discard(seg)
                self.segments_deleted += 1
                freed.extend(self._ledger.drop_segment(seg))
            # Segments freed by these deletions hold tombstones for records in them:
            # they may go only once these deletions are durable, or a crash could bring
            # back the records without the tombstones.
            os.fsync(self._dir_fd)
            self.fsyncs += 1
            dead = [s for s in set(freed) if s in self._sizes and self._deletable(s)]

    def _pick_compaction(self) -> _Compaction | None:
        ledger = self._ledger
        for seg in sorted(self._sizes):
            if (
                seg == self._current
                or seg in self._no_compact
                or ledger.tombs.get(seg, 0)
                or not ledger.live.get(seg, 0)
                or ledger.live_bytes.get(seg, 0) >= self._sizes[seg] * self.compact_below
            ):
                continue
            fd = os.open(self._seg_path(seg), os.O_RDONLY | _O_CLOEXEC)
            return _Compaction(seg, fd, 0, self._sizes[seg])
        return None

    def _compact(self) -> None:
        """One step of compaction: carry the live records of up to ``compact_step``
        bytes of the chosen segment into the next batch."""
        c = self._compaction
        if c is None:
            c = self._compaction = self._pick_compaction()
            if c is None:
                return
        data = os.pread(c.fd, min(self.compact_step, c.end - c.offset), c.offset)
        result = read_frames(data)
        if not result.frames and len(data) >= HEADER_SIZE:
            # a frame larger than the step: read exactly that frame
            length = HEADER.unpack_from(data)[0]
            data = os.pread(c.fd, min(HEADER_SIZE + length, c.end - c.offset), c.offset)
            result = read_frames(data)
        c.offset += result.valid_end
        self._carry_live(c.seg, result.records)
        done = c.offset >= c.end
        if not done and not result.frames:
            log.error(
                "store_compaction_failed",
                segment=segment_name(c.seg),
                offset=c.offset,
                reason=result.error,
            )
            done = True
        if done:
            os.close(c.fd)
            self._compaction = None
            # deleted once the carried records are durable; never scanned twice
            self._no_compact.add(c.seg)
            self.segments_compacted += 1

    def _carry_live(self, seg: int, records: list[list[Any]]) -> None:
        ledger = self._ledger
        msgs = ledger.msgs
        queues = ledger.queues
        carry = self._carry
        extra = 0
        for r in records:
            tag = r[0]
            if tag == MESSAGE:
                v = msgs.get(r[1])
                if v is not None and message_segment(v) == seg:
                    carry.append(r)
                    extra += message_cost(r)
            elif tag in (ENQUEUE, DELIVERED):
                pairs = queues.get(r[1])
                v = pairs.get(r[2]) if pairs is not None else None
                if v is None:
                    continue
                if tag == ENQUEUE and enqueue_segment(v) == seg:
                    carry.append(r)
                    extra += PAIR_COST
                    if delivered_segment(v):
                        # a fresh DELIVERED after the moved ENQUEUE: one left behind,
                        # before it in the log, would be replayed before the pair exists
                        carry.append((DELIVERED, r[1], r[2]))
                        extra += PAIR_COST
                elif tag == DELIVERED and delivered_segment(v) == seg and enqueue_segment(v) != seg:
                    carry.append(r)
                    extra += PAIR_COST
        self._extra += extra
