"""Rates and history for the management UI, sampled on a timer, never per message.

The broker model keeps plain integer counters that cost one addition per message.
``StatsSampler.sample`` runs once a second (``serve`` is the task): for every live
object of every registered *kind* it reads a tuple of counters and gauges and compares
it with the previous tuple. An object whose tuple did not change costs that comparison
only; an object that changed gets a ring of ``RING`` one-second slots (10 minutes by
default) and is written every tick until it has been still for a whole ring, when the
ring is released again. Memory is therefore bounded by the number of *active* objects,
whatever the message rate.

Aggregates (the overview, and one per group such as a vhost) are kept incrementally:
when an object's tuple changes, the difference is added to its group's totals. When an
object disappears its counters stay in the totals (they are monotonic), its gauges
leave them. The aggregates are series like any object's, so the overview and a vhost
have history and rates too.

A rate is the change over the last ``WINDOW`` seconds (fewer while an object is younger
than that) divided by the elapsed time. An object seen for the first time has rate 0:
its counters' history before it existed is unknown.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

RING = 600  # 10 minutes at 1 s
WINDOW = 5  # seconds a rate is averaged over
INTERVAL = 1.0

Reader = Callable[[Any], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Kind:
    """What the sampler needs to know about one kind of object.

    ``objects`` yields the live objects; ``read`` returns the values of ``fields`` in
    order; the first ``counters`` fields are monotonic counters, the rest gauges;
    ``group`` names the aggregate an object also counts towards (a vhost name).
    """

    name: str
    fields: tuple[str, ...]
    counters: int
    objects: Callable[[], Iterable[Any]]
    read: Reader
    group: Callable[[Any], str] | None = None


class Series:
    """One object's (or aggregate's) values over the last ``RING`` ticks."""

    __slots__ = ("first_tick", "last", "last_change", "obj", "ring", "seen")

    def __init__(self, obj: Any, values: tuple[int, ...], tick: int) -> None:
        self.obj = obj
        self.last = values
        self.first_tick = tick
        self.last_change = tick
        self.ring: array[int] | None = None
        self.seen = tick

    def record(self, values: tuple[int, ...], tick: int, width: int) -> bool:
        """Store this tick's values; True when they differ from the previous tick's."""
        changed = values != self.last
        ring = self.ring
        if changed:
            if ring is None:
                # Everything up to the previous tick had the old values.
                ring = self.ring = array("q", self.last * RING)
            self.last = values
            self.last_change = tick
        elif ring is None:
            return False
        elif tick - self.last_change >= RING:
            self.ring = None  # still for a whole ring: constant again
            return False
        base = (tick % RING) * width
        ring[base : base + width] = array("q", values)
        return changed

    def at(self, tick: int, now_tick: int, width: int) -> tuple[int, ...]:
        """The values at ``tick``; ``last`` is always the value at ``now_tick``."""
        if tick < self.first_tick:
            tick = self.first_tick
        ring = self.ring
        if ring is None or tick >= now_tick:
            return self.last
        if tick <= now_tick - RING:
            tick = now_tick - RING + 1
        base = (tick % RING) * width
        return tuple(ring[base : base + width])


class _KindState:
    __slots__ = ("aggregates", "kind", "retired", "series", "width")

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.width = len(kind.fields)
        self.series: dict[int, Series] = {}
        # group name ("*" for all) -> aggregate series
        self.aggregates: dict[str, Series] = {}
        self.retired: dict[str, list[int]] = {}


class StatsSampler:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.kinds: dict[str, _KindState] = {}
        self.tick = 0
        self.times = array("d", [0.0] * RING)
        self.sampled_at = 0.0
        self.churn: dict[str, int] = {}

    def register(self, kind: Kind) -> None:
        self.kinds[kind.name] = _KindState(kind)

    # --- sampling ------------------------------------------------------------------

    def sample(self, now: float | None = None) -> None:
        """Take one sample of every registered kind (one tick)."""
        now = self.clock() if now is None else now
        self.tick += 1
        tick = self.tick
        self.times[tick % RING] = now
        self.sampled_at = now
        for st in self.kinds.values():
            self._sample_kind(st, tick)

    def _sample_kind(self, st: _KindState, tick: int) -> None:
        kind = st.kind
        width = st.width
        read = kind.read
        group_of = kind.group
        series = st.series
        deltas: dict[str, list[int]] = {}
        created = 0
        for obj in kind.objects():
            values = read(obj)
            s = series.get(id(obj))
            if s is None or s.obj is not obj:
                if s is not None:
                    self._retire(st, s, deltas)
                s = series[id(obj)] = Series(obj, values, tick)
                created += 1
                self._add(deltas, group_of, obj, values, None)
                continue
            s.seen = tick
            old = s.last
            if s.record(values, tick, width):
                self._add(deltas, group_of, obj, values, old)
        gone = [k for k, s in series.items() if s.seen != tick]
        for k in gone:
            self._retire(st, series.pop(k), deltas)
        self.churn[kind.name + ".created"] = self.churn.get(kind.name + ".created", 0) + created
        self.churn[kind.name + ".removed"] = self.churn.get(kind.name + ".removed", 0) + len(gone)
        # aggregates: apply the deltas, then record every aggregate for this tick
        aggs = st.aggregates
        for group, delta in deltas.items():
            agg = aggs.get(group)
            if agg is None:
                agg = aggs[group] = Series(None, (0,) * width, tick - 1)
                agg.first_tick = tick
            new = tuple(a + d for a, d in zip(agg.last, delta, strict=True))
            agg.record(new, tick, width)
        for group, agg in aggs.items():
            if group not in deltas:
                agg.record(agg.last, tick, width)

    def _add(
        self,
        deltas: dict[str, list[int]],
        group_of: Callable[[Any], str] | None,
        obj: Any,
        values: tuple[int, ...],
        old: tuple[int, ...] | None,
    ) -> None:
        groups = ("*", group_of(obj)) if group_of is not None else ("*",)
        for g in groups:
            d = deltas.get(g)
            if d is None:
                d = deltas[g] = [0] * len(values)
            if old is None:
                for i, v in enumerate(values):
                    d[i] += v
            else:
                for i, v in enumerate(values):
                    d[i] += v - old[i]

    def _retire(self, st: _KindState, s: Series, deltas: dict[str, list[int]]) -> None:
        """An object went away: its gauges leave the aggregates, its counters stay."""
        counters = st.kind.counters
        group_of = st.kind.group
        groups = ("*", group_of(s.obj)) if group_of is not None else ("*",)
        for g in groups:
            d = deltas.get(g)
            if d is None:
                d = deltas[g] = [0] * st.width
            for i in range(counters, st.width):
                d[i] -= s.last[i]

    async def serve(self, *, task_status: Any = None) -> None:
        """Sample every ``INTERVAL`` seconds until cancelled."""
        import trio

        if task_status is not None:
            task_status.started()
        next_at = trio.current_time()
        while True:
            self.sample()
            next_at += INTERVAL
            now = trio.current_time()
            if next_at < now:  # fell behind (a long pause): don't catch up in a burst
                next_at = now + INTERVAL
            await trio.sleep_until(next_at)

    # --- reading ---------------------------------------------------------------------

    def _lookup(
        self, kind: str, obj: Any = None, group: str | None = None
    ) -> tuple[_KindState, Series | None]:
        st = self.kinds[kind]
        if group is not None:
            return st, st.aggregates.get(group)
        s = st.series.get(id(obj))
        if s is not None and s.obj is not obj:
            s = None
        return st, s

    def rates(self, kind: str, obj: Any = None, *, group: str | None = None) -> dict[str, float]:
        """Per-second rates of every field of ``obj`` (or of an aggregate)."""
        st, s = self._lookup(kind, obj, group)
        fields = st.kind.fields
        if s is None:
            return dict.fromkeys(fields, 0.0)
        now_tick = self.tick
        back = min(WINDOW, now_tick - s.first_tick)
        if back <= 0:
            return dict.fromkeys(fields, 0.0)
        then = now_tick - back
        elapsed = self.times[now_tick % RING] - self.times[then % RING]
        if elapsed <= 0:
            elapsed = float(back)
        cur = s.last
        old = s.at(then, now_tick, st.width)
        return {f: round((c - o) / elapsed, 2) for f, c, o in zip(fields, cur, old, strict=True)}

    def totals(self, kind: str, group: str = "*") -> dict[str, int]:
        """The aggregate values (counters include objects that are gone)."""
        st = self.kinds[kind]
        agg = st.aggregates.get(group)
        if agg is None:
            return dict.fromkeys(st.kind.fields, 0)
        return dict(zip(st.kind.fields, agg.last, strict=True))

    def history(
        self,
        kind: str,
        fields: Sequence[str],
        age: int,
        incr: int,
        obj: Any = None,
        *,
        group: str | None = None,
    ) -> list[tuple[float, tuple[int, ...]]]:
        """(timestamp, values of ``fields``) newest first, ``incr`` ticks apart."""
        st, s = self._lookup(kind, obj, group)
        index = [st.kind.fields.index(f) for f in fields]
        now_tick = self.tick
        if now_tick == 0:
            return []
        incr = max(1, incr)
        first = 0 if s is None else s.first_tick
        out: list[tuple[float, tuple[int, ...]]] = []
        t = now_tick
        oldest = max(now_tick - min(age, RING - 1), first, 1)
        while t >= oldest:
            vals = (0,) * st.width if s is None else s.at(t, now_tick, st.width)
            out.append((self.times[t % RING], tuple(vals[i] for i in index)))
            t -= incr
        return out

    def fields(self, kind: str) -> tuple[str, ...]:
        return self.kinds[kind].kind.fields

    def tracked(self, kind: str) -> int:
        return len(self.kinds[kind].series)

    def rings_in_use(self) -> int:
        return sum(
            1 for st in self.kinds.values() for s in st.series.values() if s.ring is not None
        )
