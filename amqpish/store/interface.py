"""The durability interface the runtime sees, and what recovery hands back.

A ``MessageStore`` is a log with a buffer in front. The broker calls the record
methods (``append_message``, ``enqueue``, ``delivered``, ``ack``, ``purge``,
``delete_queue``) on the per-message path: they only append a tuple to a list, no
encoding, no syscall, no lock. The persister calls ``sync()`` from a worker thread; it
takes everything buffered so far, writes it with one write per segment and one fsync,
and only then is any of it durable. Records buffered while a sync runs go into the
next one (group commit).

Identity and ordering rules the broker must keep:

* ``msg_id`` is unique for the life of the data directory: allocate new ids above
  ``RecoveredState.max_msg_id`` after a restart. Settled records may outlive their
  message on disk, and a reused id would be settled by them.
* ``(queue_key, msg_id)`` names one message in one queue; enqueueing a pair that is
  already there does not add a second copy.
* ``append_message`` is followed, in the same synchronous step, by the ``enqueue``
  calls for the queues it was routed to; a message that no queue holds is garbage.
* ``seq`` orders a queue's messages on recovery (it need not be dense).
* ``purge`` settles every message enqueued to the queue so far, including unacked
  ones. When deliveries are outstanding, ``ack`` the purged messages one by one.

``MemoryStore`` and ``SegmentStore`` implement this with the same semantics (they
share the replay code in ``ledger.py``) and are run through one test suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class StoreError(Exception):
    """The store was used out of order (closed, or not recovered before syncing)."""


class RecoveredMessage(NamedTuple):
    seq: int
    msg_id: int
    exchange: str
    routing_key: str
    properties_raw: bytes
    # None past ``recover(resident_bytes)``: read it back with ``read_bodies`` (its
    # length is in ``RecoveredState.paged_sizes``)
    body: bytes | None
    redelivered: bool


@dataclass(frozen=True, slots=True)
class Truncation:
    """A segment whose tail was damaged and cut off during recovery."""

    segment: str
    offset: int
    dropped_bytes: int
    reason: str


@dataclass(frozen=True, slots=True)
class RecoveredState:
    """Everything still live after a restart, plus figures for the startup log."""

    # queue_key -> its messages in seq order; queues without messages are left out
    queues: Mapping[str, list[RecoveredMessage]]
    # the highest msg_id seen in any record: new ids must be allocated above it
    max_msg_id: int
    messages: int  # distinct live messages
    enqueued: int  # live (queue, message) pairs
    records: int  # records read
    segments: int  # segment files read
    bytes_read: int
    orphans: int  # enqueues whose message record was lost to damage
    truncated: tuple[Truncation, ...]
    seconds: float
    # msg_id -> body length of the messages recovered without their body
    paged_sizes: Mapping[int, int] = field(default_factory=dict)


class MessageStore(Protocol):
    def append_message(
        self, msg_id: int, exchange: str, routing_key: str, properties_raw: bytes, body: bytes
    ) -> None:
        """Buffer a message's content (once, however many queues it goes to)."""
        ...

    def enqueue(self, queue_key: str, msg_id: int, seq: int) -> None:
        """Buffer: the message is in ``queue_key`` at position ``seq``."""
        ...

    def delivered(self, queue_key: str, msg_id: int) -> None:
        """Buffer: the message was delivered, so it is redelivered after a restart."""
        ...

    def ack(self, queue_key: str, msg_id: int) -> None:
        """Buffer: the message left the queue (acked, dropped, dead-lettered, expired)."""
        ...

    def purge(self, queue_key: str) -> None:
        """Buffer: every message enqueued to the queue so far is settled."""
        ...

    def delete_queue(self, queue_key: str) -> None:
        """Buffer: the queue and everything in it are gone."""
        ...

    def pending(self) -> int:
        """Estimated bytes the next ``sync()`` has to write (0 when there is nothing)."""
        ...

    def sync(self) -> int:
        """Make everything buffered so far durable; blocking, for a worker thread.

        Returns the number of the last batch made durable. On OSError nothing of the
        batch counts as durable and it is kept for the next call.
        """
        ...

    def recover(self, resident_bytes: int | None = None) -> RecoveredState:
        """What is durable: call once, before the first ``sync()``.

        With ``resident_bytes``, at most about that many bytes of bodies are returned;
        the other messages come back with ``body=None``.
        """
        ...

    def located(self, msg_id: int) -> bool:
        """The message's body is durable and ``read_bodies`` can read it back."""
        ...

    def read_bodies(self, wanted: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bodies of live messages, given as ``(msg_id, body length)``, in that
        order. Blocking, a few reads however many bodies (for paging in)."""
        ...

    def close(self) -> None:
        """Release files. Records not yet synced are discarded."""
        ...

    def disk_usage(self) -> int:
        """Bytes of segment files on disk."""
        ...
