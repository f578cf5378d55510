"""The load generator's pure parts: histogram, confirm counting, topology plan."""

from __future__ import annotations

import math
import random

import pytest

from amqpish.perf import histogram
from amqpish.perf.clients import ConfirmTracker
from amqpish.perf.options import PerfOptions
from amqpish.perf.plan import build_plan, topic_bindings


def test_histogram_buckets_are_within_two_percent() -> None:
    rng = random.Random(7)
    values = [0, 1, 127, 128, 129, 255, 256, 10**3, 10**6, 10**9, 10**12]
    values += [rng.randrange(1, 10**11) for _ in range(2000)]
    for v in values:
        i = histogram.bucket(v)
        assert 0 <= i < histogram.BUCKETS
        assert abs(histogram.value(i) - v) <= max(v / 64, 0.5), v
    # monotonic: a larger value never lands in a lower bucket
    ordered = sorted(values)
    idx = [histogram.bucket(v) for v in ordered]
    assert idx == sorted(idx)
    assert histogram.bucket(-5) == 0
    assert histogram.bucket(10**30) == histogram.BUCKETS - 1


def test_histogram_percentiles_match_nearest_rank() -> None:
    rng = random.Random(1)
    samples = [rng.randrange(10**5, 10**8) for _ in range(5000)]
    counts = [0] * histogram.BUCKETS
    assert histogram.fold(samples, counts) == 5000
    exact = sorted(samples)
    for p in (50, 95, 99, 100):
        want = exact[math.ceil(p / 100 * len(exact)) - 1]
        assert histogram.percentile(counts, p) == pytest.approx(want, rel=1 / 64)
    lo, hi = histogram.extremes(counts)
    assert lo == pytest.approx(exact[0], rel=1 / 64) and hi == pytest.approx(exact[-1], rel=1 / 64)
    assert math.isnan(histogram.percentile([0] * histogram.BUCKETS, 50))


def test_confirm_tracker_counts_each_tag_once() -> None:
    t = ConfirmTracker()
    t.confirm(2, 0, False)  # out of order single
    t.confirm(1, 0, False)  # fills the gap: upto moves past 2
    assert (t.confirmed, t.upto, t.singles) == (2, 2, set())
    t.confirm(5, 0, True)  # single nack above upto
    t.confirm(4, 1, False)  # multiple up to 4: tags 3, 4
    assert (t.confirmed, t.nacked) == (5, 1)
    t.confirm(6, 1, False)  # 5 was already counted: only 6 is new
    assert (t.confirmed, t.upto, t.singles) == (6, 6, set())
    t.confirm(6, 0, False)  # duplicates change nothing
    t.confirm(3, 1, False)
    assert t.confirmed == 6


def test_plan_routes_and_caps() -> None:
    p = build_plan(PerfOptions(producers=2, consumers=3, queues=3, exchange_type="fanout",
                               con_procs=2))  # fmt: skip
    assert p.exchange == "amqpish.perf.fanout" and p.deliveries_per_message == 3
    assert p.bindings == tuple((q, "") for q in p.queues)
    assert [len(g) for g in p.consumer_groups] == [2, 1] and len(p.producer_groups) == 1
    assert p.cap == 10_000

    p = build_plan(PerfOptions(producers=3, queues=2, exchange_type="default"))
    assert p.exchange == "" and p.bindings == ()
    assert [s.keys for g in p.producer_groups for s in g] == [
        ("amqpish.perf.q0",), ("amqpish.perf.q1",), ("amqpish.perf.q0",)
    ]  # fmt: skip
    # queue q1 gets messages but nobody consumes it: a cap would stall the producers
    assert p.cap == 0
    assert build_plan(PerfOptions(consumers=0)).cap == 0
    assert build_plan(PerfOptions(routing_key="nowhere")).cap == 0
    assert build_plan(PerfOptions(rate=100, producers=4)).producer_groups[0][0].rate == 25


def test_topic_keys_match_exactly_their_binding() -> None:
    binds, keys = topic_bindings(40, ["q0", "q1"])
    assert len(binds) == len(keys) == 40

    def matches(pattern: str, key: str) -> bool:
        def m(p: list[str], k: list[str]) -> bool:
            if not p:
                return not k
            if p[0] == "#":
                return any(m(p[1:], k[i:]) for i in range(len(k) + 1))
            return bool(k) and p[0] in ("*", k[0]) and m(p[1:], k[1:])

        return m(pattern.split("."), key.split("."))

    for i, key in enumerate(keys):
        assert [j for j, (_, pat) in enumerate(binds) if matches(pat, key)] == [i]
