"""The routers behind each exchange type, against one shared reference model."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.broker.headers_match import headers_match
from amqpish.broker.routing import (
    ROUTER_TYPES,
    DirectRouter,
    FanoutRouter,
    HeadersRouter,
    Router,
    TopicRouter,
    make_router,
)


def test_router_types() -> None:
    assert set(ROUTER_TYPES) == {"direct", "fanout", "topic", "headers"}
    assert isinstance(make_router("direct"), DirectRouter)
    assert isinstance(make_router("fanout"), FanoutRouter)
    assert isinstance(make_router("topic"), TopicRouter)
    assert isinstance(make_router("headers"), HeadersRouter)
    routers = [make_router(t) for t in ROUTER_TYPES]
    assert len({id(r) for r in routers}) == 4  # a new router every time


def test_unknown_type_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        make_router("x-consistent-hash")


@pytest.mark.parametrize("kind", sorted(ROUTER_TYPES))
def test_empty_router_routes_nowhere(kind: str) -> None:
    r = make_router(kind)
    assert list(r.route("k", None)) == []
    assert list(r.route("", {"a": 1})) == []
    r.remove_destination("nobody")
    r.unbind("nobody", "k", {})


# --- direct ------------------------------------------------------------------------------


def test_direct_routes_by_exact_key() -> None:
    r = make_router("direct")
    r.bind("q1", "k", {})
    r.bind("q2", "k", {})
    r.bind("q3", "other", {})
    assert r.route("k", None) == ("q1", "q2")
    assert r.route("other", None) == ("q3",)
    assert r.route("K", None) == ()
    assert r.route("", None) == ()


def test_direct_returns_the_same_prebuilt_tuple() -> None:
    r = make_router("direct")
    r.bind("q1", "k", {})
    first = r.route("k", None)
    assert isinstance(first, tuple)
    assert r.route("k", None) is first
    r.bind("q2", "k", {})
    second = r.route("k", None)
    assert second == ("q1", "q2")
    assert first == ("q1",)  # the old result was not mutated
    assert r.route("k", None) is second


def test_direct_does_not_remember_unroutable_keys() -> None:
    r = DirectRouter()
    for i in range(1000):
        r.route(f"nobody-{i}", None)
    assert r._routes == {}


def test_direct_same_dest_different_args() -> None:
    r = make_router("direct")
    r.bind("q", "k", {"a": 1})
    r.bind("q", "k", {"a": 2})
    r.bind("q", "k", {"a": 1})  # idempotent
    assert r.route("k", None) == ("q",)
    r.unbind("q", "k", {"a": 1})
    assert r.route("k", None) == ("q",)
    r.unbind("q", "k", {"a": 1})  # already gone
    assert r.route("k", None) == ("q",)
    r.unbind("q", "k", {"a": 2})
    assert r.route("k", None) == ()
    assert r._bindings == {} and r._by_dest == {}


def test_direct_remove_destination() -> None:
    r = DirectRouter()
    r.bind("q", "a", {})
    r.bind("q", "b", {"x": True})
    r.bind("p", "a", {})
    r.remove_destination("q")
    assert r.route("a", None) == ("p",)
    assert r.route("b", None) == ()
    assert "q" not in r._by_dest and "b" not in r._bindings


# --- fanout ----------------------------------------------------------------------------------


def test_fanout_routes_everything_everywhere() -> None:
    r = make_router("fanout")
    r.bind("q1", "", {})
    r.bind("q2", "whatever", {})
    assert r.route("any.key", None) == ("q1", "q2")
    assert r.route("", {"h": 1}) == ("q1", "q2")
    assert r.route("x", None) is r.route("y", None)


def test_fanout_keys_make_distinct_bindings() -> None:
    r = make_router("fanout")
    r.bind("q", "a", {})
    r.bind("q", "b", {})
    assert r.route("", None) == ("q",)
    r.unbind("q", "a", {})
    assert r.route("", None) == ("q",)
    r.unbind("q", "b", {"other": "args"})  # not a binding that exists
    assert r.route("", None) == ("q",)
    r.unbind("q", "b", {})
    assert r.route("", None) == ()


def test_fanout_rebuilds_lazily() -> None:
    r = FanoutRouter()
    for i in range(10_000):
        r.bind(f"q{i}", "", {})
    assert len(r.route("", None)) == 10_000
    before = r.route("", None)
    r.remove_destination("q0")
    after = r.route("", None)
    assert len(before) == 10_000 and len(after) == 9_999
    r.remove_destination("q0")
    assert r.route("", None) is after


# --- headers ---------------------------------------------------------------------------------


def test_headers_router_ignores_routing_key() -> None:
    r = make_router("headers")
    r.bind("q1", "", {"x-match": "all", "a": 1})
    r.bind("q2", "ignored", {"x-match": "any", "a": 2, "b": 2})
    assert list(r.route("anything", {"a": 1})) == ["q1"]
    assert list(r.route("", {"a": 2})) == ["q2"]
    assert list(r.route("", {"b": 2, "a": 1})) == ["q1", "q2"]
    assert list(r.route("", None)) == []


def test_headers_router_rejects_bad_x_match_without_changing_state() -> None:
    r = make_router("headers")
    with pytest.raises(ValueError, match="Invalid x-match field value"):
        r.bind("q", "", {"x-match": "some", "a": 1})
    assert list(r.route("", {"a": 1})) == []
    r.unbind("q", "", {"x-match": "some", "a": 1})  # never bound: no error


def test_headers_router_one_dest_many_bindings() -> None:
    r = make_router("headers")
    r.bind("q", "", {"a": 1})
    r.bind("q", "", {"b": 1})
    r.bind("q", "k2", {"a": 1})  # another key: another binding
    assert list(r.route("", {"a": 1, "b": 1})) == ["q"]
    r.unbind("q", "", {"a": 1})
    assert list(r.route("", {"a": 1})) == ["q"]  # still bound through key "k2"
    r.unbind("q", "k2", {"a": 1})
    assert list(r.route("", {"a": 1})) == []
    assert list(r.route("", {"b": 1})) == ["q"]
    r.remove_destination("q")
    assert list(r.route("", {"b": 1})) == []


def test_headers_results_are_fresh() -> None:
    r = make_router("headers")
    r.bind("q", "", {})
    first = r.route("", None)
    second = r.route("", None)
    assert list(first) == ["q"] and first is not second


# --- every router against a model --------------------------------------------------------


def ref_words(key: str) -> list[str]:
    return key.split(".") if key else []


def ref_match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    if pattern[0] == "#":
        return any(ref_match(pattern[1:], words[i:]) for i in range(len(words) + 1))
    return bool(words) and pattern[0] in ("*", words[0]) and ref_match(pattern[1:], words[1:])


def expected_route(
    kind: str, bindings: set[tuple[Hashable, str, Any]], key: str, headers: dict[str, Any]
) -> set[Hashable]:
    out = set()
    for dest, bkey, frozen in bindings:
        args = {k: v for k, _t, v in frozen}
        if (
            (kind == "direct" and bkey == key)
            or kind == "fanout"
            or (kind == "topic" and ref_match(ref_words(bkey), ref_words(key)))
            or (kind == "headers" and headers_match(args, headers))
        ):
            out.add(dest)
    return out


def ident(args: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, type(v).__name__, v) for k, v in args.items()))


KEYS = st.sampled_from(["", "a", "b", "a.b", "*", "#", "a.*", "#.b"])
ARGS = st.sampled_from(
    [{}, {"h": 1}, {"h": True}, {"x-match": "any", "h": 1, "g": "v"}, {"g": None}]
)
HEADERS = st.sampled_from([{}, {"h": 1}, {"h": True, "g": "v"}, {"g": 0}, {"h": 1.0}])
DESTS = st.sampled_from(["q0", "q1", "q2"])
OPS = st.one_of(
    st.tuples(st.just("bind"), DESTS, KEYS, ARGS),
    st.tuples(st.just("unbind"), DESTS, KEYS, ARGS),
    st.tuples(st.just("remove"), DESTS, st.just(""), st.just({})),
    st.tuples(st.just("route"), st.just(""), KEYS, HEADERS),
)


@pytest.mark.parametrize("kind", sorted(ROUTER_TYPES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=30))
def test_router_matches_model(kind: str, ops: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    r: Router = make_router(kind)
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
            got = list(r.route(key, args))
            assert len(got) == len(set(got))
            assert set(got) == expected_route(kind, model, key, args)
