"""The broker's pager: keeps message bodies in memory within one budget.

Queues decide which of their bodies may go (``broker/paging.py``); this is where they
go and how they come back, and how the budget is shared:

* A body in the durable log (a persistent message in a durable queue, once the
  persister has synced its record) is already on disk: paging it out only drops the
  reference, and it is read back from its segment (``MessageStore.read_bodies``).
  One not synced yet is left alone; the queue offers it again on its next walk.
* Any other body is appended to a spill file (``SpillStore``), one write per batch;
  spill files are not recovered after a restart. A body under ``SPILL_MIN`` bytes
  stays: its place in the file would take more memory than it frees.

Every ``interval`` seconds (five times that while far from the budget) ``rebalance``
sums what each queue keeps in memory and, when the total passes the budget, caps the
largest queues at the same level (water filling): a queue under the cap keeps
everything, the big ones share the rest. In between, a queue that grows past its cap
pages out on the publish that crossed it.
Bodies of unacknowledged deliveries cannot be paged out; they count against the
budget, so the queues make room for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import structlog
import trio

from amqpish.broker.broker import Broker
from amqpish.broker.message import PAGED_OUT, Message
from amqpish.broker.paging import NO_LIMIT
from amqpish.broker.queue import Item, Queue
from amqpish.store.interface import MessageStore
from amqpish.store.spill import SpillPlace, SpillStore

log = structlog.get_logger("amqpish.store")

# no queue is capped below this (many deep queues would otherwise page one body at a time)
MIN_LIMIT = 1 << 20
# a smaller transient body stays: its place in a spill file would take more memory
SPILL_MIN = 64


@dataclass(frozen=True, slots=True)
class PagerStatistics:
    budget: int
    resident: int  # bytes of ready bodies in memory at the last rebalance
    unacked: int  # bytes of unacknowledged bodies at the last rebalance
    paged: int  # bytes of ready bodies paged out at the last rebalance
    limit: int  # the cap on each queue (NO_LIMIT: no pressure)
    paged_out: int  # bodies paged out so far
    paged_in: int  # bodies read back so far
    spilled_bytes: int  # written to spill files so far


def water_level(sizes: Sequence[int], budget: int) -> int:
    """The cap L with ``sum(min(s, L) for s in sizes) == budget`` (the largest such),
    or, when everything fits, the current largest size plus the room left."""
    total = sum(sizes)
    if total <= budget:
        return (max(sizes) if sizes else 0) + budget - total
    ordered = sorted(sizes, reverse=True)
    rest = total
    for i, s in enumerate(ordered):
        rest -= s
        level = (budget - rest) // (i + 1)
        nxt = ordered[i + 1] if i + 1 < len(ordered) else 0
        if level >= nxt:
            return max(level, 0)
    return 0


class Pager:
    def __init__(
        self, budget: int, store: MessageStore, spill: SpillStore, *, interval: float = 0.2
    ) -> None:
        self.budget = budget
        self.store = store
        self.spill = spill
        self.interval = interval
        # the cap on every queue, and a new queue's until the next rebalance
        self.limit = budget
        self._resident = 0
        self._unacked = 0
        self._paged = 0
        self._paged_out = 0
        self._paged_in = 0

    # --- broker.paging.Pager --------------------------------------------------------------

    def page_out(self, entries: Sequence[Item]) -> dict[Message, object]:
        located = self.store.located
        spill: list[Item] = []
        n = 0
        for e in entries:
            m = e.msg
            if e.logged:
                # in the durable log: on disk once its batch is synced
                if m.id and located(m.id):
                    m.body = PAGED_OUT
                    n += 1
            elif m.size >= SPILL_MIN:
                spill.append(e)
        places: dict[Message, object] = {}
        if spill:
            written = self.spill.write([e.msg.body for e in spill])
            for e, place in zip(spill, written, strict=True):
                places[e.msg] = place
                e.msg.body = PAGED_OUT
            n += len(spill)
        self._paged_out += n
        return places

    def page_in(self, entries: Sequence[Item], places: Mapping[Message, object]) -> None:
        from_store: list[Message] = []
        from_spill: list[Message] = []
        wanted: list[tuple[SpillPlace, int]] = []
        for e in entries:
            m = e.msg
            place = places.get(m)
            if place is None:
                from_store.append(m)
            else:
                assert isinstance(place, tuple)
                from_spill.append(m)
                wanted.append((place, m.size))
        if from_store:
            bodies = self.store.read_bodies([(m.id, m.size) for m in from_store])
            for m, body in zip(from_store, bodies, strict=True):
                m.body = body
        if from_spill:
            for m, body in zip(from_spill, self.spill.read(wanted), strict=True):
                m.body = body
        self._paged_in += len(entries)

    # --- the budget -------------------------------------------------------------------------

    def rebalance(self, queues: Iterable[Queue]) -> None:
        """Share the budget: cap every queue at the water level of what they keep."""
        qs = [q for q in queues if q.pager is self and not q.deleted]
        sizes = [q.ready_bytes - q.paged_bytes for q in qs]
        self._resident = sum(sizes)
        self._unacked = unacked = sum(q.unacked_bytes for q in qs)
        self._paged = sum(q.paged_bytes for q in qs)
        budget = max(self.budget - unacked, self.budget // 4)
        limit = max(water_level(sizes, budget), MIN_LIMIT)
        self.limit = limit
        for q in qs:
            # small changes wait: a lower limit can make a queue walk its head
            old = q.page_limit
            if old == NO_LIMIT or abs(old - limit) > old // 8:
                q.set_page_limit(limit)
            elif q.ready_bytes - q.paged_bytes > limit:
                # what the last walk had to leave (not on disk yet) may go now
                q.page_out()

    def statistics(self) -> PagerStatistics:
        return PagerStatistics(
            budget=self.budget,
            resident=self._resident,
            unacked=self._unacked,
            paged=self._paged,
            limit=self.limit,
            paged_out=self._paged_out,
            paged_in=self._paged_in,
            spilled_bytes=self.spill.bytes_written,
        )

    async def serve(
        self, broker: Broker, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        paging = False
        while True:
            self.rebalance(q for vh in list(broker.vhosts.values()) for q in vh.queues.values())
            if (self._paged > 0) != paging:
                paging = not paging
                log.info(
                    "paging_started" if paging else "paging_stopped",
                    budget=self.budget,
                    resident=self._resident,
                    paged=self._paged,
                    limit=self.limit,
                )
            # far from the budget, a look per second does (a queue that grows past its
            # limit pages out by itself; this only shares the budget out)
            near = self._resident + self._unacked > self.budget // 2
            await trio.sleep(self.interval if near or paging else 5 * self.interval)
