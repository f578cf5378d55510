"""Micro-benchmark of topic routing with 100,000 bindings (run by `make microbench`).

The bindings model per-entity subscriptions on keys ``region.service.id.event``:
60,000 exact keys, 25,000 with a ``*`` (``r.s.id.*`` and ``*.s.id.e``) and
15,000 with a ``#`` (``r.s.id.#`` and ``#.id.e``, the latter keeping a ``#`` node
live at the root for every key), over 10,000 queues. Routing is timed in
batches of 1,000 keys: once for keys that are all in the router's result cache,
once for keys that never are (the batches cycle through more keys than the
cache holds, so a key is evicted long before it comes round again).

Every result is checked against a brute-force matcher (RabbitMQ's rules, as in
tests/broker/test_topic.py) over the few bindings that mention the key's id.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Hashable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from amqpish.broker.topic import CACHE_SIZE, TopicRouter, split_key
from tests.broker.test_topic import ref_match

N_EXACT = 60_000
N_STAR = 25_000
N_HASH = 15_000
N_QUEUES = 10_000
BATCH = 1000
# Keys for the miss benchmark, one per id from BATCH on: the ids below N_EXACT reach
# some binding family, those above reach none (a miss that also routes nowhere).
MISS_IDS = 70_000

# one table per module in the report, each in its own time unit
pytestmark = pytest.mark.benchmark(group="topic routing, per 1,000 keys")


def routing_key(i: int, event: int) -> str:
    return f"r{i % 10}.s{i % 97}.id{i}.e{event}"


def bindings() -> list[tuple[str, str]]:
    """(binding key, queue) pairs; every key names its id so the reference can bucket."""
    out: list[tuple[str, str]] = []
    for i in range(N_EXACT):
        out.append((routing_key(i, i % 7), f"q{i % N_QUEUES}"))
    for i in range(N_STAR):
        key = f"r{i % 10}.s{i % 97}.id{i}.*" if i % 2 else f"*.s{i % 97}.id{i}.e{i % 7}"
        out.append((key, f"q{(i * 7) % N_QUEUES}"))
    for i in range(N_HASH):
        key = f"r{i % 10}.s{i % 97}.id{i}.#" if i % 3 else f"#.id{i}.e{i % 7}"
        out.append((key, f"q{(i * 13) % N_QUEUES}"))
    return out


class Table:
    """The router under test and the expected result size of every key routed."""

    def __init__(self) -> None:
        self.router = TopicRouter()
        by_id: dict[str, list[tuple[list[str], str]]] = defaultdict(list)
        for key, queue in bindings():
            self.router.bind(queue, key, {})
            words = split_key(key)
            by_id[next(w for w in words if w.startswith("id"))].append((words, queue))
        assert self.router.binding_count() == N_EXACT + N_STAR + N_HASH
        # hot keys: those of the first ids, each with the event of its exact binding
        self.hot = [routing_key(i, i % 7) for i in range(BATCH)]
        # cold keys: other ids, once each; half with the event of their exact binding
        self.cold = [
            routing_key(i, i % 7 if i % 2 else (i + 1) % 7) for i in range(BATCH, BATCH + MISS_IDS)
        ]
        self.expected: dict[str, int] = {}
        for key in self.hot + self.cold:
            words = split_key(key)
            bucket = by_id.get(words[2], [])
            self.expected[key] = len({q for pat, q in bucket if ref_match(pat, words)})
        # so that neither benchmark can pass by routing nowhere
        assert all(self.expected[k] for k in self.hot)
        assert sum(self.expected[k] > 0 for k in self.cold) > len(self.cold) // 3

    def check(self, keys: list[str], results: list[tuple[Hashable, ...]]) -> int:
        """How many queues the batch reached, after checking each result's size."""
        assert len(results) == len(keys)
        for key, result in zip(keys, results, strict=True):
            assert len(result) == self.expected[key], key
        return sum(len(r) for r in results)


@pytest.fixture(scope="module")
def table() -> Table:
    return Table()


def router_batch(router: TopicRouter) -> Callable[[list[str]], list[tuple[Hashable, ...]]]:
    route = router.route
    nones = [None] * BATCH

    # map() rather than a comprehension: the loop itself should cost as little as possible
    def run(keys: list[str]) -> list[tuple[Hashable, ...]]:
        return list(map(route, keys, nones))

    return run


def test_route_cached_keys(benchmark: BenchmarkFixture, table: Table) -> None:
    run = router_batch(table.router)
    run(table.hot)  # fills the cache with exactly these keys (BATCH < CACHE_SIZE)
    results = benchmark(run, table.hot)
    # every hot key has its exact binding, and more from the wildcard families
    assert table.check(table.hot, results) >= BATCH


def test_route_uncached_keys(benchmark: BenchmarkFixture, table: Table) -> None:
    # a key is seen again only after MISS_IDS - BATCH other keys went through the cache
    assert MISS_IDS - BATCH > CACHE_SIZE and MISS_IDS % BATCH == 0
    # Strided, so every batch has the same mix of id ranges. What still varies between
    # rounds is the eviction: next(iter(cache)) walks past the deleted entries at the
    # front of the dict until it is next resized (every ~7,000 inserts), so the rounds
    # are whole cycles of batches and the median is what to compare.
    n = MISS_IDS // BATCH
    batches = [table.cold[j::n] for j in range(n)]
    upcoming = itertools.cycle(batches)
    run = router_batch(table.router)
    last: list[list[str]] = [[]]

    def setup() -> tuple[tuple[list[str]], dict[str, object]]:
        keys = last[0] = next(upcoming)
        return (keys,), {}

    results = benchmark.pedantic(run, setup=setup, rounds=2 * len(batches))  # type: ignore[no-untyped-call]  # unannotated upstream
    # the value returned is the last round's: check it against that round's keys
    table.check(last[0], results)
