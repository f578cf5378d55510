"""Paging: how a queue keeps only the bodies near its head in memory.

With a ``Pager`` (the runtime's, over the message store and a spill file) a queue
keeps only the bodies near its head. The pager sets ``page_limit``, the queue's share
of the broker's budget; when a publish takes the resident bytes (``ready_bytes -
paged_bytes``) past ``page_mark``, ``page_out`` walks back from the tail over the
entries appended since the last walk (``appended - page_walked``: only the head is
ever taken and requeued entries go in front of the never-delivered ones, so those
are the last ones) and hands those more than
``page_limit / 2`` bytes from the head to the pager in one batch; the pager drops the
bodies it can read back later (a persistent message only once its record is on disk)
and leaves the others for the next walk. Delivery checks the head: when its body is
out (looked at only while ``paged_count`` is non-zero), ``_page_in_head`` reads back
the next ``readahead`` bytes of bodies in one batch. Nothing in the per-message path
does I/O: the pager is called once per batch.

A message routed to several queues is never paged out by one of them (another may
deliver it at any time), which the reference count of the message tells; so a
paged-out message has exactly one holder, whose counters are exact, and the holder
may drop it (purge, expiry) without reading it back.

``QueuePaging`` is the paging half of ``Queue``, split out by concern; it uses the
queue's ready entries and byte counts and owns the paging counters.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from amqpish.broker.message import PAGED_OUT, Entry, Message

if TYPE_CHECKING:
    from amqpish.broker.queue import Item, PriorityBuffer


class Pager(Protocol):
    """Where message bodies go when the queues hold more than the memory budget.

    The queue decides which bodies (those far from its head) and when; the pager does
    the I/O, one batch per call, and sets each queue's ``page_limit``.
    """

    def page_out(self, entries: Sequence[Item]) -> Mapping[Message, object]:
        """Replace by ``PAGED_OUT`` the bodies of those entries that can be read back
        later, and return where it wrote those it had to write, by message (a body in
        the durable log is found by its message id). Entries left untouched are
        offered again by the next walk if they are in the durable log (their record is
        not on disk yet), and kept otherwise."""
        ...

    @property
    def limit(self) -> int:
        """The resident bytes a new queue may keep until it is given its share."""
        ...

    def page_in(self, entries: Sequence[Item], places: Mapping[Message, object]) -> None:
        """Read back the bodies of these paged-out entries (``places``: what
        ``page_out`` returned for them)."""
        ...


# No pager, or no limit: a mark ready_bytes never reaches.
NO_LIMIT = sys.maxsize
# Most entries one page-in reads back, whatever their size.
PAGE_IN_MAX = 8192


def _refs(e: Item) -> int:
    return sys.getrefcount(e.msg)


def _unshared_refs(item: Item) -> int:
    """References to a message held by one queue only, as the walks in ``QueuePaging``
    count them (loop variables ``e`` and ``m`` included). Measured, not assumed."""
    n = 0
    for e in deque([item]):
        m = e.msg
        n = _refs(e)
        del m
    return n


# by the kind of ready item: an Entry, or a bare Message (one more: the ready list's)
_UNSHARED_ENTRY = _unshared_refs(Entry(0, Message("", "", b"\x00\x00", b"x"), None))
_UNSHARED_BARE = _unshared_refs(Message("", "", b"\x00\x00", b"x"))


def _unshared(e: Item) -> bool:
    return _refs(e) <= (_UNSHARED_BARE if type(e) is Message else _UNSHARED_ENTRY)


class QueuePaging:
    # the queue's, read here
    ready: deque[Item] | PriorityBuffer
    ready_bytes: int
    appended: int
    deleted: bool
    dlx: str | None

    def _init_paging(self, pager: Pager | None) -> None:
        self.pager = pager
        self.paged_count = 0  # ready entries whose body is paged out
        self.paged_bytes = 0
        self.page_limit = NO_LIMIT  # resident bytes allowed; set by the pager
        self.page_mark = NO_LIMIT  # ready_bytes above which a publish pages out
        self.page_walked = 0  # the first this many appended were looked at by page_out
        self.readahead = 4 << 20  # bytes of bodies one page-in brings back
        # where the pager wrote a paged-out body (only those it had to write)
        self.page_places: dict[Message, object] = {}
        if pager is not None:
            self.set_page_limit(pager.limit)

    @property
    def resident_bytes(self) -> int:
        """Bytes of ready message bodies in memory."""
        return self.ready_bytes - self.paged_bytes

    def set_page_limit(self, limit: int) -> None:
        """The pager's share of the budget for this queue (``NO_LIMIT``: no paging)."""
        shrunk = limit < self.page_limit
        self.page_limit = limit
        if limit != NO_LIMIT:
            # well inside the half of the limit that page_out keeps
            self.readahead = min(max(limit // 4, 64 << 10), 8 << 20)
        self._remark()
        if self.ready_bytes - self.paged_bytes > limit:
            self.page_out(rescan=shrunk)

    def _remark(self) -> None:
        limit = self.page_limit
        self.page_mark = NO_LIMIT if limit == NO_LIMIT else self.paged_bytes + limit

    def _paged_cleared(self) -> None:
        self.paged_count = 0
        self.paged_bytes = 0
        self.page_places.clear()
        self._remark()

    def page_out(self, *, rescan: bool = False) -> int:
        """Page out the bodies more than half the limit away from the head; returns
        the bytes paged out.

        Walks back from the tail over what was published since the last walk, so the
        cost is proportional to the new entries, not to the queue. ``rescan`` (after
        the limit shrank) also walks forward from the head over older entries.
        """
        pager = self.pager
        if pager is None or self.page_limit == NO_LIMIT or self.deleted:
            return 0
        keep = self.page_limit // 2
        ready = self.ready
        fresh = min(self.appended - self.page_walked, len(ready))
        pos = self.ready_bytes  # bytes from the head to the end of the entry at hand
        batch: list[Item] = []
        # how far from the tail the next walk must start again: the newest message
        # is still referenced by its publisher (not shared, only not let go of yet),
        # and logged entries the pager leaves alone are not on disk yet
        again = 0
        i = 0
        for e in reversed(ready):
            if i >= fresh:
                break
            i += 1  # noqa: SIM113 (enumerate's reused tuple would add a reference to e)
            m = e.msg
            pos -= m.size
            if pos < keep:
                break
            if m.body is not PAGED_OUT:
                if _unshared(e):
                    batch.append(e)
                elif i == 1:
                    again = 1
        n_walked = len(batch)
        if rescan and self.ready_bytes - self.paged_bytes > keep:
            batch.extend(self._front_candidates(keep, len(ready) - fresh))
        paged = self._page_out(batch)
        # batch[:n_walked] is in tail-to-head order: the last one left counts
        for j in range(n_walked - 1, -1, -1):
            e = batch[j]
            if e.msg.body is not PAGED_OUT and e.logged:
                again = max(again, self._from_tail(e, fresh))
                break
        self.page_walked = self.appended - again
        # the next walk after another quarter of the limit, even if this one freed less
        self.page_mark = max(
            self.paged_bytes + self.page_limit, self.ready_bytes + self.page_limit // 4
        )
        return paged

    def _from_tail(self, item: Item, within: int) -> int:
        """1 + the position of ``item`` counted from the tail (looked for in the last
        ``within`` items)."""
        for i, e in enumerate(reversed(self.ready)):
            if i >= within:
                break
            if e is item:
                return i + 1
        return within

    def _front_candidates(self, keep: int, walked: int) -> list[Item]:
        """Resident entries past ``keep`` among the first ``walked`` (those already
        looked at), from the head on, until enough to bring the resident bytes down
        to ``keep``."""
        excess = self.ready_bytes - self.paged_bytes - keep
        out: list[Item] = []
        pos = 0
        # no enumerate: its reused result tuple would hold one more reference to e
        i = 0
        for e in self.ready:
            if i >= walked:
                break
            i += 1
            m = e.msg
            pos += m.size
            if pos <= keep or m.body is PAGED_OUT:
                continue
            if _unshared(e):
                out.append(e)
                excess -= m.size
                if excess <= 0:
                    break
        return out

    def _page_out(self, batch: list[Item]) -> int:
        if not batch or self.pager is None:
            return 0
        places = self.pager.page_out(batch)
        if places:
            self.page_places.update(places)
        n = 0
        size = 0
        for e in batch:
            m = e.msg
            if m.body is PAGED_OUT:
                n += 1
                size += m.size
        self.paged_count += n
        self.paged_bytes += size
        return size

    def _page_in_head(self) -> None:
        """The head's body is out: read back the next ``readahead`` bytes of bodies."""
        budget = self.readahead
        batch: list[Item] = []
        for e in self.ready:
            m = e.msg
            if m.body is PAGED_OUT:
                batch.append(e)
                if len(batch) >= PAGE_IN_MAX:
                    break
            budget -= m.size
            if budget <= 0:
                break
        self._page_in(batch)

    def _page_in(self, batch: list[Item]) -> None:
        assert self.pager is not None, "a paged-out body without a pager"
        places = self.page_places
        self.pager.page_in(batch, places)
        if places:
            for e in batch:
                places.pop(e.msg, None)
        self.paged_count -= len(batch)
        self.paged_bytes -= sum(e.msg.size for e in batch)
        self._remark()

    def _forget_paged(self, entry: Item) -> None:
        """A paged-out entry left the queue without being read back."""
        self.page_places.pop(entry.msg, None)
        self.paged_count -= 1
        self.paged_bytes -= entry.msg.size
        self._remark()
