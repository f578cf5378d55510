"""Headers matching, including a port of RabbitMQ's merge algorithm as the reference."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amqpish.broker.headers_match import (
    HeadersBinding,
    compile_binding,
    headers_match,
    validate_binding_args,
)

# --- the rules one by one ---------------------------------------------------------------


def test_all_is_the_default() -> None:
    args = {"a": 1, "b": "x"}
    assert headers_match(args, {"a": 1, "b": "x", "c": 3})
    assert not headers_match(args, {"a": 1})
    assert not headers_match(args, {"a": 1, "b": "y"})


def test_any() -> None:
    args = {"x-match": "any", "a": 1, "b": "x"}
    assert headers_match(args, {"a": 1})
    assert headers_match(args, {"a": 0, "b": "x"})
    assert not headers_match(args, {"a": 0, "b": "y"})
    assert not headers_match(args, {"c": 1})


def test_x_arguments_are_ignored_unless_with_x() -> None:
    assert headers_match({"x-match": "all", "x-key": "v", "a": 1}, {"a": 1})
    assert not headers_match({"x-match": "all-with-x", "x-key": "v", "a": 1}, {"a": 1})
    assert headers_match({"x-match": "all-with-x", "x-key": "v", "a": 1}, {"a": 1, "x-key": "v"})
    # an "any" binding with only x- arguments has nothing to match
    assert not headers_match({"x-match": "any", "x-key": "v"}, {"x-key": "v"})
    assert headers_match({"x-match": "any-with-x", "x-key": "v"}, {"x-key": "v"})
    assert not headers_match({"x-match": "any-with-x", "x-key": "v"}, {"x-key": "w"})


def test_x_match_itself_never_takes_part() -> None:
    assert headers_match({"x-match": "all-with-x"}, {})
    assert headers_match({"x-match": "all-with-x"}, {"x-match": "other"})
    assert not headers_match({"x-match": "any-with-x"}, {"x-match": "any-with-x"})


def test_void_argument_means_present() -> None:
    assert headers_match({"a": None}, {"a": "anything"})
    assert headers_match({"a": None}, {"a": None})
    assert not headers_match({"a": None}, {"b": 1})
    assert headers_match({"x-match": "any", "a": None, "b": 2}, {"a": 0})
    # a void header only matches a void (presence) argument
    assert not headers_match({"a": "undefined"}, {"a": None})


def test_no_headers() -> None:
    # "all" holds when nothing is asked, even of a message without headers
    assert headers_match({}, None)
    assert headers_match({"x-match": "all"}, None)
    assert headers_match({"x-match": "all", "x-other": 1}, {})
    assert not headers_match({"a": 1}, None)
    assert not headers_match({"x-match": "all-with-x", "x-other": 1}, None)
    assert not headers_match({"x-match": "any"}, None)
    assert not headers_match({"x-match": "any", "a": None}, {})
    assert not headers_match({"x-match": "any"}, {"a": 1})


@pytest.mark.parametrize(
    ("expected", "header", "equal"),
    [
        (True, 1, False),  # booleans are atoms in Erlang, not numbers
        (1, True, False),
        (False, 0, False),
        (1.0, True, False),
        (True, True, True),
        (1, 1.0, True),  # Erlang == is arithmetic
        (1.5, 1.5, True),
        (2, 2.5, False),
        ("abc", b"abc", True),  # longstr and byte array are both binaries
        (b"abc", "abc", True),
        ("é", "é".encode(), True),
        ("1", 1, False),
        (Decimal("1.5"), Decimal("1.5"), True),
        (Decimal("1.0"), Decimal("1"), False),  # {1,10} /= {0,1}
        (Decimal("1"), 1, False),
        (datetime.fromtimestamp(1700000000, UTC), 1700000000, True),
        (datetime.fromtimestamp(1700000000, UTC), datetime.fromtimestamp(1700000000, UTC), True),
        ([1, "a"], [1, "a"], True),
        ([1], [True], False),  # array elements keep their type tags
        ([1], [1.0], False),
        ({"k": 1}, {"k": 1}, True),
        ({"k": 1}, {"k": True}, False),
        ({"k": 1}, {"j": 1}, False),
    ],
)
def test_value_comparison_follows_erlang(expected: Any, header: Any, equal: bool) -> None:
    assert headers_match({"h": expected}, {"h": header}) is equal
    assert headers_match({"x-match": "any", "h": expected}, {"h": header}) is equal


def test_compiled_binding_is_reused() -> None:
    b = compile_binding({"x-match": "any", "a": 1, "x-y": 2, "b": None})
    assert isinstance(b, HeadersBinding)
    assert b.any
    assert [name for name, _, _ in b.pairs] == ["a", "b"]
    assert b.matches({"b": 0})
    assert not b.matches({"c": 0})
    assert "any" in repr(b)


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["all", "any", "all-with-x", "any-with-x", b"any"])
def test_valid_modes(mode: Any) -> None:
    validate_binding_args({"x-match": mode})
    compile_binding({"x-match": mode})


def test_invalid_mode_text() -> None:
    with pytest.raises(ValueError) as e:
        compile_binding({"x-match": "some"})
    assert str(e.value) == (
        'Invalid x-match field value <<"some">>; expected all, any, all-with-x, or any-with-x'
    )
    with pytest.raises(ValueError) as e:
        validate_binding_args({"x-match": "ALL"})
    assert '<<"ALL">>' in str(e.value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "Invalid x-match field type signedint (value 1); expected longstr"),
        (True, "Invalid x-match field type bool (value true); expected longstr"),
        (None, "Invalid x-match field type void (value undefined); expected longstr"),
        (1.5, "Invalid x-match field type double (value 1.5); expected longstr"),
    ],
)
def test_invalid_mode_type_text(value: Any, text: str) -> None:
    with pytest.raises(ValueError) as e:
        compile_binding({"x-match": value, "a": 1})
    assert str(e.value) == text


def test_no_arguments_is_valid() -> None:
    validate_binding_args(None)
    validate_binding_args({})
    assert compile_binding(None).matches(None)


# --- against a port of rabbit_exchange_type_headers:headers_match/5 ---------------------


def erl_eq(p: Any, d: Any) -> bool:
    # Erlang == on the small domain generated below
    if isinstance(p, bool) or isinstance(d, bool):
        return type(p) is type(d) and p == d
    if p is None or d is None:
        return p is d
    if isinstance(p, int | float) and isinstance(d, int | float):
        return p == d
    return type(p) is type(d) and p == d


def erlang_headers_match(args: dict[str, Any], data: dict[str, Any] | None) -> bool:
    """A literal transcription of the Erlang merge over key-sorted lists."""
    mode = {"any": "any", "all-with-x": "all_with_x", "any-with-x": "any_with_x"}.get(
        args.get("x-match", "all"), "all"
    )
    pattern = sorted(args.items(), key=lambda kv: kv[0].encode())
    rows = sorted((data or {}).items(), key=lambda kv: kv[0].encode())
    all_match, any_match = True, False
    p, d = 0, 0
    while True:
        if not all_match and mode in ("all", "all_with_x"):
            return False
        if any_match and mode in ("any", "any_with_x"):
            return True
        if p == len(pattern):
            return all_match if mode in ("all", "all_with_x") else any_match
        pk, pv = pattern[p]
        if pk == "x-match":
            p += 1
            continue
        if pk.startswith("x-") and mode not in ("all_with_x", "any_with_x"):
            p += 1
            continue
        if d == len(rows):
            p = len(pattern)
            all_match = False
            continue
        dk, dv = rows[d]
        if pk.encode() > dk.encode():
            d += 1
        elif pk.encode() < dk.encode():
            p += 1
            all_match = False
        elif pv is None or erl_eq(pv, dv):  # void asks for presence only
            p, d = p + 1, d + 1
            any_match = True
        else:
            p, d = p + 1, d + 1
            all_match = False


NAMES = st.sampled_from(["a", "b", "c", "x-a", "x-b"])
VALUES = st.sampled_from([0, 1, 2, 1.0, True, False, "1", "a", b"a"])


@settings(max_examples=500, deadline=None)
@given(
    mode=st.sampled_from([None, "all", "any", "all-with-x", "any-with-x"]),
    pattern=st.dictionaries(NAMES, st.one_of(VALUES, st.none()), max_size=4),
    data=st.one_of(st.none(), st.dictionaries(NAMES, st.one_of(VALUES, st.none()), max_size=4)),
)
def test_matches_rabbitmq_algorithm(
    mode: str | None, pattern: dict[str, Any], data: dict[str, Any] | None
) -> None:
    args = dict(pattern)
    if mode is not None:
        args["x-match"] = mode
    # the reference compares binaries, so give it bytes where we mix str and bytes
    ref_args = {k: v.encode() if isinstance(v, str) else v for k, v in args.items()}
    ref_args["x-match"] = args.get("x-match", "all")
    ref_data = (
        None
        if data is None
        else {k: v.encode() if isinstance(v, str) else v for k, v in data.items()}
    )
    assert headers_match(args, data) is erlang_headers_match(ref_args, ref_data)
