"""The in-memory buffer in front of every store: the per-message path.

Each record method appends one tuple to a list and bumps a byte estimate; that is
all. No encoding (it happens per frame in ``sync()``), no syscall, no lock: the
broker calls these from the single event-loop thread, and ``sync()`` runs in a
worker thread. They never contend because ``_take`` does not swap the list out from
under an appender. It copies the first ``n`` entries and deletes exactly those, and a
``list.append`` racing with it is atomic and lands after them, so it goes into the
next batch. (Rebinding ``self._buf`` to a new list would lose such an append.)

``pending()`` is ``appended - taken``, with each counter written by one thread only.
``_take`` reads the appended counter before the list length and an appender bumps it
after appending, so the estimate may briefly count a record that was already taken
(one extra, empty sync) but never misses one that was not.
"""

from __future__ import annotations

from amqpish.store.records import (
    ACK,
    DELIVERED,
    ENQUEUE,
    MESSAGE,
    MESSAGE_OVERHEAD,
    PAIR_COST,
    PURGE,
    QUEUE_DELETED,
    Record,
)


class RecordBuffer:
    def __init__(self) -> None:
        self._buf: list[Record] = []
        self._push = self._buf.append
        self._appended = 0  # written only by the appending thread
        self._taken = 0  # written only by the syncing thread

    def append_message(
        self, msg_id: int, exchange: str, routing_key: str, properties_raw: bytes, body: bytes
    ) -> None:
        self._push((MESSAGE, msg_id, exchange, routing_key, properties_raw, body))
        self._appended += len(body) + len(properties_raw) + MESSAGE_OVERHEAD

    def enqueue(self, queue_key: str, msg_id: int, seq: int) -> None:
        self._push((ENQUEUE, queue_key, msg_id, seq))
        self._appended += PAIR_COST

    def delivered(self, queue_key: str, msg_id: int) -> None:
        self._push((DELIVERED, queue_key, msg_id))
        self._appended += PAIR_COST

    def ack(self, queue_key: str, msg_id: int) -> None:
        self._push((ACK, queue_key, msg_id))
        self._appended += PAIR_COST

    def purge(self, queue_key: str) -> None:
        self._push((PURGE, queue_key))
        self._appended += PAIR_COST

    def delete_queue(self, queue_key: str) -> None:
        self._push((QUEUE_DELETED, queue_key))
        self._appended += PAIR_COST

    def _take(self) -> tuple[list[Record], int]:
        """Everything buffered so far, and the appended counter to mark as taken
        once the batch is durable. Called by one thread at a time (under a lock)."""
        appended = self._appended
        buf = self._buf
        n = len(buf)
        batch = buf[:n]
        del buf[:n]
        return batch, appended

    def _buffered(self) -> int:
        return self._appended - self._taken
