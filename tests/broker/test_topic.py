"""TopicRouter against a brute-force matcher written from RabbitMQ's rules."""

from __future__ import annotations

import random
import time
from collections.abc import Hashable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.broker import topic
from amqpish.broker.topic import TopicRouter, split_key


def ref_words(key: str) -> list[str]:
    # rabbit_db_topic_exchange:split_topic_key/1: <<>> has no words at all
    return key.split(".") if key else []


def ref_match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(ref_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and ref_match(rest, words[1:])


def ref_route(bindings: set[tuple[Hashable, str, Any]], routing_key: str) -> set[Hashable]:
    words = ref_words(routing_key)
    return {d for d, k, _ in bindings if ref_match(ref_words(k), words)}


def ident(args: dict[str, Any]) -> tuple[Any, ...]:
    # True and 1 are different binding arguments, though Python finds them equal
    return tuple(sorted((k, type(v).__name__, v) for k, v in args.items()))


def routed(r: TopicRouter, key: str) -> set[Hashable]:
    result = r.route(key, None)
    assert len(result) == len(set(result)), "route() must deduplicate"
    return set(result)


# --- RabbitMQ's semantics, case by case -----------------------------------------------

CASES = [
    # binding key, routing key, matches
    ("a.b", "a.b", True),
    ("a.b", "a.b.c", False),
    ("a.*", "a.b", True),
    ("a.*", "a", False),
    ("a.*", "a.b.c", False),
    ("a.#", "a", True),
    ("a.#", "a.b.c", True),
    ("a.#", "b.a", False),
    ("#", "", True),
    ("#", "a.b.c", True),
    ("#", ".", True),
    ("*", "", False),  # "" has no words, "*" needs one
    ("*", "a", True),
    ("*", ".", False),  # "." is two empty words
    ("", "", True),
    ("", "a", False),
    ("", ".", False),
    ("*.*", ".", True),
    ("a..b", "a..b", True),  # empty words are words
    ("a.*.b", "a..b", True),
    ("a.b", "a..b", False),
    ("a.", "a.", True),
    ("a.*", "a.", True),
    ("a.#", "a.", True),
    ("#.a", "a", True),
    ("#.a", "x.y.a", True),
    ("#.a", "a.x", False),
    ("a.#.b", "a.b", True),
    ("a.#.b", "a.x.y.b", True),
    ("a.#.b", "a.x.y", False),
    ("#.#", "", True),
    ("#.*", "", False),
    ("#.*", "a", True),
    ("*.#", "a.b.c", True),
    ("#.*.#", "a", True),
    ("a*", "ab", False),  # wildcards are whole words only
    ("a*", "a*", True),
    ("a#", "a#", True),
    ("a#", "a", False),
]


@pytest.mark.parametrize(("binding", "key", "expected"), CASES)
def test_rabbitmq_semantics(binding: str, key: str, expected: bool) -> None:
    assert ref_match(ref_words(binding), ref_words(key)) is expected
    r = TopicRouter()
    r.bind("q", binding, {})
    assert (r.route(key, None) == ("q",)) is expected


def test_split_key() -> None:
    assert split_key("") == []
    assert split_key("a") == ["a"]
    assert split_key("a.") == ["a", ""]
    assert split_key(".") == ["", ""]
    assert split_key("a..b") == ["a", "", "b"]


def test_deduplicates_across_bindings_and_exact_keys() -> None:
    r = TopicRouter()
    for key in ("a.b", "a.*", "*.b", "#", "a.#", "#.b"):
        r.bind("q", key, {})
    r.bind("other", "a.b", {})
    assert sorted(r.route("a.b", None)) == ["other", "q"]  # type: ignore[type-var]


def test_same_dest_different_args_is_two_bindings() -> None:
    r = TopicRouter()
    r.bind("q", "a.*", {"x": 1})
    r.bind("q", "a.*", {"x": 2})
    r.bind("q", "a.*", {"x": 2})  # idempotent
    assert r.binding_count() == 2
    assert r.route("a.b", None) == ("q",)
    r.unbind("q", "a.*", {"x": 1})
    assert r.route("a.b", None) == ("q",)
    r.unbind("q", "a.*", {"x": 2})
    assert r.route("a.b", None) == ()
    assert r.binding_count() == 0


def test_unbind_unknown_is_a_no_op() -> None:
    r = TopicRouter()
    r.unbind("q", "a.*", {})
    r.bind("q", "a.*", {})
    r.unbind("q", "a.*", {"x": 1})
    r.unbind("q", "a.#", {})
    r.unbind("q", "a", {})
    r.unbind("other", "a.*", {})
    assert r.route("a.b", None) == ("q",)


def test_unbind_prunes_the_trie() -> None:
    r = TopicRouter()
    r.bind("q", "a.*.c.#", {})
    r.bind("q", "exact.key", {})
    r.unbind("q", "a.*.c.#", {})
    r.unbind("q", "exact.key", {})
    root = r._root
    assert not root.children and root.star is None and root.hash is None
    assert r._exact == {}
    assert r._by_dest == {}


def test_remove_destination() -> None:
    r = TopicRouter()
    for key in ("a.b", "a.*", "#", "x.#.y"):
        r.bind("gone", key, {})
        r.bind("kept", key, {"k": 1})
    r.remove_destination("gone")
    r.remove_destination("never-bound")
    assert r.route("a.b", None) == ("kept",)
    assert r.route("x.y", None) == ("kept",)
    r.remove_destination("kept")
    assert r.route("a.b", None) == ()
    assert r.binding_count() == 0
    assert not r._root.children and r._root.star is None and r._root.hash is None


def test_results_are_cached_and_invalidated() -> None:
    r = TopicRouter()
    r.bind("q1", "a.*", {})
    first = r.route("a.b", None)
    assert r.route("a.b", None) is first
    r.bind("q2", "#", {})
    second = r.route("a.b", None)
    assert set(second) == {"q1", "q2"}
    assert first == ("q1",)  # a returned result is never mutated
    r.bind("q2", "#", {"another": "binding"})  # same destination set: cache kept
    assert r.route("a.b", None) is second
    r.unbind("q1", "a.*", {})
    assert r.route("a.b", None) == ("q2",)


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topic, "CACHE_SIZE", 8)
    r = TopicRouter()
    r.bind("q", "k.*", {})
    for i in range(100):
        assert r.route(f"k.{i}", None) == ("q",)
        assert len(r._cache) <= 8
    # the oldest entries went first
    assert "k.99" in r._cache and "k.0" not in r._cache


def test_exact_only_exchange_does_not_walk_a_trie() -> None:
    r = TopicRouter()
    r.bind("q", "orders.created", {})
    assert r.route("orders.created", None) == ("q",)
    assert r.route("orders.deleted", None) == ()
    assert not r._root.children


# --- against the reference, randomly --------------------------------------------------

WORDS = st.sampled_from(["a", "b", "", "*", "#"])
KEY_WORDS = st.sampled_from(["a", "b", ""])
BINDING_KEYS = st.lists(WORDS, max_size=4).map(".".join)
ROUTING_KEYS = st.lists(KEY_WORDS, max_size=5).map(".".join)
DESTS = st.sampled_from(["q0", "q1", "q2", "q3"])
ARGS = st.sampled_from([{}, {"x": 1}, {"x": True}])


@settings(max_examples=300, deadline=None)
@given(
    bindings=st.lists(st.tuples(DESTS, BINDING_KEYS, ARGS), max_size=12),
    keys=st.lists(ROUTING_KEYS, min_size=1, max_size=8),
)
def test_matches_reference(
    bindings: list[tuple[str, str, dict[str, Any]]], keys: list[str]
) -> None:
    r = TopicRouter()
    for d, k, a in bindings:
        r.bind(d, k, a)
    model = {(d, k, ident(a)) for d, k, a in bindings}
    for key in [*keys, "", ".", "a", "a.b"]:
        assert routed(r, key) == ref_route(model, key), key


Op = tuple[str, str, str, dict[str, Any]]
OPS = st.one_of(
    st.tuples(st.just("bind"), DESTS, BINDING_KEYS, ARGS),
    st.tuples(st.just("unbind"), DESTS, BINDING_KEYS, ARGS),
    st.tuples(st.just("remove"), DESTS, st.just(""), st.just({})),
    st.tuples(st.just("route"), st.just(""), ROUTING_KEYS, st.just({})),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=40))
def test_bind_unbind_sequences_match_reference(ops: list[Op]) -> None:
    r = TopicRouter()
    model: set[tuple[Hashable, str, Any]] = set()
    for op, dest, key, args in ops:
        binding = (dest, key, ident(args))
        if op == "bind":
            r.bind(dest, key, args)
            model.add(binding)
        elif op == "unbind":
            r.unbind(dest, key, args)
            model.discard(binding)
        elif op == "remove":
            r.remove_destination(dest)
            model = {b for b in model if b[0] != dest}
        else:
            assert routed(r, key) == ref_route(model, key)
    for key in ("", "a", "b", "a.b", "a..b", "b.a.a"):
        assert routed(r, key) == ref_route(model, key)
    assert r.binding_count() == len(model)
    if not model:
        assert r._root.is_empty() and not r._exact


# --- scale ------------------------------------------------------------------------------


def _big_router(n_queues: int, per_queue: int, rng: random.Random) -> TopicRouter:
    r = TopicRouter()
    shapes = (
        "stock.{s}.{e}",
        "stock.{s}.*",
        "stock.*.{e}",
        "*.{s}.trade.#",
        "news.#.{s}",
        "#.{s}.alert",
        "region.{r}.{s}",
    )
    for q in range(n_queues):
        dest = f"queue-{q}"
        for _ in range(per_queue):
            key = rng.choice(shapes).format(
                s=f"sym{rng.randrange(2000)}",
                e=f"ex{rng.randrange(20)}",
                r=f"r{rng.randrange(50)}",
            )
            r.bind(dest, key, {})
    return r


def test_100k_bindings_build_and_route_fast() -> None:
    rng = random.Random(1234)
    t0 = time.perf_counter()
    r = _big_router(10_000, 10, rng)
    built = time.perf_counter() - t0
    assert r.binding_count() > 99_000
    keys = [
        rng.choice(
            (
                "stock.sym{s}.ex{e}",
                "x.sym{s}.trade.y.z",
                "news.a.b.sym{s}",
                "region.r{r}.sym{s}.alert",
                "nothing.matches.here.at.all",
            )
        ).format(s=rng.randrange(2000), e=rng.randrange(20), r=rng.randrange(50))
        + f".{i}" * (i % 2)  # half the keys get a unique tail word: cache misses
        for i in range(10_000)
    ]
    t0 = time.perf_counter()
    total = 0
    for key in keys:
        total += len(r.route(key, None))
    elapsed = time.perf_counter() - t0
    assert total > 0
    assert built < 10.0, f"building 100k bindings took {built:.2f}s"
    assert elapsed < 2.0, f"10k routes over 100k bindings took {elapsed:.2f}s"


def test_route_cost_does_not_grow_with_unrelated_bindings() -> None:
    # A key's matching cost depends on the nodes it reaches, not on the binding count:
    # with 100x more unrelated bindings, uncached routing stays within a small factor.
    def timed(n_unrelated: int) -> float:
        r = TopicRouter()
        r.bind("q", "a.*.c.#", {})
        r.bind("q", "#.z", {})
        for i in range(n_unrelated):
            r.bind(f"u{i % 100}", f"u{i}.*.x{i}.#", {})
        keys = [f"a.{i}.c.d.e" for i in range(3000)]
        t0 = time.perf_counter()
        for key in keys:
            r._match(key)
        return time.perf_counter() - t0

    small = min(timed(100) for _ in range(3))
    large = min(timed(10_000) for _ in range(3))
    assert large < small * 5 + 0.05
