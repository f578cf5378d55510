"""Queue and exchange argument checks, with RabbitMQ's exact 406 texts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amqpish.broker.args import (
    MAX_EXPIRY_TIMER,
    QUEUE_EQUIVALENCE_KEYS,
    ArgumentError,
    amqp_type_name,
    check_exchange_args_equivalence,
    check_queue_args_equivalence,
    describe_value,
    erl_equal,
    exchange_args_equivalent,
    exchange_args_mismatch,
    format_float,
    format_term,
    freeze_args,
    queue_args_equivalent,
    queue_args_mismatch,
    validate_exchange_args,
    validate_queue_args,
)


def error_of(args: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(ArgumentError) as e:
        validate_queue_args(args, "q", "/", **kw)
    assert str(e.value) == e.value.text
    return e.value.text


def invalid(arg: str, term: str, queue: str = "q", vhost: str = "/") -> str:
    return f"invalid arg '{arg}' for queue '{queue}' in vhost '{vhost}': {term}"


# --- accepted ----------------------------------------------------------------------------


def test_typical_arguments_are_accepted() -> None:
    validate_queue_args(
        {
            "x-message-ttl": 60_000,
            "x-expires": 1,
            "x-max-length": 0,
            "x-max-length-bytes": 10_000,
            "x-overflow": "reject-publish-dlx",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "dead",
            "x-max-priority": 255,
            "x-single-active-consumer": True,
            "x-queue-mode": "lazy",
            "x-queue-type": "classic",
            "x-queue-version": 2,
        },
        "q",
        "/",
    )


def test_nothing_to_check() -> None:
    validate_queue_args({})
    validate_queue_args({"durable-ish": "not an x- arg"})


def test_unknown_and_other_queue_type_arguments_are_ignored() -> None:
    validate_queue_args(
        {
            "x-foo": object(),
            "x-delivery-limit": "five",
            "x-queue-master-locator": 7,
            "x-consumer-timeout": -1,
        }
    )


@pytest.mark.parametrize("mode", ["drop-head", "reject-publish", "reject-publish-dlx"])
def test_overflow_modes(mode: str) -> None:
    validate_queue_args({"x-overflow": mode})
    validate_queue_args({"x-overflow": mode.encode()})


def test_limits_are_inclusive() -> None:
    validate_queue_args({"x-message-ttl": 0})
    validate_queue_args({"x-message-ttl": MAX_EXPIRY_TIMER, "x-expires": MAX_EXPIRY_TIMER})
    validate_queue_args({"x-max-priority": 0})
    validate_queue_args({"x-queue-version": 1})


# --- rejected, with RabbitMQ's text ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ({"x-message-ttl": -1}, invalid("x-message-ttl", "{value_negative,-1}")),
        (
            {"x-message-ttl": MAX_EXPIRY_TIMER + 1},
            invalid("x-message-ttl", "{value_too_big,4294967296}"),
        ),
        ({"x-message-ttl": "1000"}, invalid("x-message-ttl", '"expected integer, got longstr"')),
        ({"x-message-ttl": 1.5}, invalid("x-message-ttl", '"expected integer, got double"')),
        ({"x-message-ttl": True}, invalid("x-message-ttl", '"expected integer, got bool"')),
        ({"x-message-ttl": None}, invalid("x-message-ttl", '"expected integer, got void"')),
        ({"x-expires": 0}, invalid("x-expires", "{value_zero,0}")),
        ({"x-expires": -5}, invalid("x-expires", "{value_negative,-5}")),
        ({"x-expires": 2**40}, invalid("x-expires", f"{{value_too_big,{2**40}}}")),
        ({"x-max-length": -1}, invalid("x-max-length", "{value_negative,-1}")),
        ({"x-max-length-bytes": -2}, invalid("x-max-length-bytes", "{value_negative,-2}")),
        (
            {"x-max-length": "10"},
            invalid("x-max-length", '"expected integer, got longstr"'),
        ),
        ({"x-max-priority": 256}, invalid("x-max-priority", "{max_value_exceeded,256}")),
        ({"x-max-priority": -1}, invalid("x-max-priority", "{value_negative,-1}")),
        ({"x-overflow": "drop-tail"}, invalid("x-overflow", "invalid_overflow")),
        ({"x-overflow": 1}, invalid("x-overflow", "{unacceptable_type,signedint}")),
        (
            {"x-dead-letter-routing-key": "rk"},
            invalid("x-dead-letter-routing-key", "routing_key_but_no_dlx_defined"),
        ),
        (
            {"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": 5},
            invalid("x-dead-letter-routing-key", "{unacceptable_type,signedint}"),
        ),
        (
            {"x-single-active-consumer": "true"},
            invalid("x-single-active-consumer", "{unacceptable_type,longstr}"),
        ),
        (
            {"x-single-active-consumer": 1},
            invalid("x-single-active-consumer", "{unacceptable_type,signedint}"),
        ),
        ({"x-queue-mode": "fast"}, invalid("x-queue-mode", "\"unsupported queue mode 'fast'\"")),
        ({"x-queue-mode": 0}, invalid("x-queue-mode", "{unacceptable_type,signedint}")),
        (
            {"x-queue-version": 3},
            invalid("x-queue-version", "\"unsupported queue version '3'\""),
        ),
        ({"x-queue-version": -1}, invalid("x-queue-version", "{value_negative,-1}")),
        (
            {"x-queue-version": "2"},
            invalid("x-queue-version", '"expected integer, got longstr"'),
        ),
        (
            {"x-queue-type": "quorum"},
            invalid("x-queue-type", "\"unsupported queue type 'quorum'\""),
        ),
        (
            {"x-queue-type": "mqtt_qos0"},
            invalid("x-queue-type", "\"unsupported queue type 'mqtt_qos0'\""),
        ),
        ({"x-queue-type": True}, invalid("x-queue-type", "{unacceptable_type,bool}")),
        ({"x-max-age": "0D"}, invalid("x-max-age", "invalid_max_age")),
        ({"x-max-age": "7w"}, invalid("x-max-age", "invalid_max_age")),
        ({"x-max-age": "D"}, invalid("x-max-age", "invalid_max_age")),
        ({"x-max-age": 3600}, invalid("x-max-age", "{unacceptable_type,signedint}")),
        (
            {"x-dead-letter-strategy": "exactly-once"},
            invalid("x-dead-letter-strategy", "invalid_dlx_strategy"),
        ),
        (
            {"x-queue-leader-locator": "nearest"},
            invalid("x-queue-leader-locator", "invalid_queue_locator_arg"),
        ),
        ({"x-initial-cluster-size": 0}, invalid("x-initial-cluster-size", "{value_zero,0}")),
        (
            {"x-quorum-initial-group-size": -3},
            invalid("x-quorum-initial-group-size", "{value_negative,-3}"),
        ),
        (
            {"x-stream-max-segment-size-bytes": -1},
            invalid("x-stream-max-segment-size-bytes", "{value_negative,-1}"),
        ),
    ],
)
def test_rejections(args: dict[str, Any], text: str) -> None:
    assert error_of(args) == text


def test_dead_letter_exchange_type_is_checked_first_with_the_channels_text() -> None:
    text = error_of({"x-expires": 0, "x-dead-letter-exchange": 42})
    assert text == (
        "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'"
    )


def test_first_failure_in_rabbitmq_order_wins() -> None:
    args = {"x-max-length": -1, "x-overflow": "bad", "x-expires": 0, "x-message-ttl": -1}
    assert error_of(args) == invalid("x-expires", "{value_zero,0}")
    del args["x-expires"]
    assert error_of(args) == invalid("x-message-ttl", "{value_negative,-1}")


def test_queue_and_vhost_names_in_text() -> None:
    with pytest.raises(ArgumentError) as e:
        validate_queue_args({"x-max-length": -1}, "orders", "prod")
    assert str(e.value) == invalid("x-max-length", "{value_negative,-1}", "orders", "prod")


def test_other_queue_types_can_be_allowed() -> None:
    validate_queue_args({"x-queue-type": "quorum"}, queue_types=frozenset({"classic", "quorum"}))
    with pytest.raises(ArgumentError):
        validate_queue_args({"x-queue-type": "stream"}, queue_types=frozenset({"classic"}))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from((*QUEUE_EQUIVALENCE_KEYS, "x-other")),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False),
            st.text(max_size=8),
            st.binary(max_size=8),
            st.lists(st.integers(), max_size=2),
        ),
    )
)
def test_validation_only_ever_raises_argument_error(args: dict[str, Any]) -> None:
    try:
        validate_queue_args(args, "q", "/")
    except ArgumentError as e:
        assert e.text.startswith(("invalid arg '", "invalid type '"))


# --- exchange arguments ----------------------------------------------------------------


def test_exchange_alternate_exchange_must_be_a_string() -> None:
    validate_exchange_args({})
    validate_exchange_args({"alternate-exchange": "ae"})
    validate_exchange_args({"x-anything": 1})
    with pytest.raises(ArgumentError) as e:
        validate_exchange_args({"alternate-exchange": 1}, "x", "/")
    assert (
        str(e.value)
        == "invalid type 'signedint' for arg 'alternate-exchange' in exchange 'x' in vhost '/'"
    )


def test_exchange_equivalence() -> None:
    assert exchange_args_equivalent({"alternate-exchange": "ae"}, {"alternate-exchange": b"ae"})
    assert exchange_args_equivalent({"x-other": 1}, {})
    assert not exchange_args_equivalent({"alternate-exchange": "ae"}, {})
    assert exchange_args_mismatch({"alternate-exchange": "a"}, {"alternate-exchange": "b"}) == (
        "alternate-exchange",
        "b",
        "a",
    )
    with pytest.raises(ArgumentError) as e:
        check_exchange_args_equivalence(
            {"alternate-exchange": "ae1"}, {"alternate-exchange": "ae2"}, "x", "/"
        )
    assert str(e.value) == (
        "inequivalent arg 'alternate-exchange' for exchange 'x' in vhost '/': "
        "received 'ae2' but current is 'ae1'"
    )
    check_exchange_args_equivalence({"alternate-exchange": "ae"}, {"alternate-exchange": "ae"})


# --- queue redeclaration ---------------------------------------------------------------


def test_same_arguments_are_equivalent() -> None:
    a = {"x-message-ttl": 1000, "x-dead-letter-exchange": "dlx", "x-queue-mode": "lazy"}
    assert queue_args_equivalent(a, dict(a))
    assert queue_args_equivalent(None, {})
    assert queue_args_mismatch(a, dict(a)) is None


def test_only_known_arguments_are_compared() -> None:
    assert queue_args_equivalent({"x-foo": 1}, {"x-foo": 2})
    assert queue_args_equivalent({"x-delivery-limit": 1}, {})
    assert queue_args_equivalent({"x-queue-master-locator": "min-masters"}, {})
    assert not queue_args_equivalent({"x-max-priority": 10}, {})


def test_integer_widths_compare_equal_but_not_floats_or_booleans() -> None:
    assert not queue_args_equivalent({"x-message-ttl": 1000}, {"x-message-ttl": 1000.0})
    assert not queue_args_equivalent({"x-single-active-consumer": True}, {"x-max-priority": 1})
    assert not queue_args_equivalent(
        {"x-single-active-consumer": True}, {"x-single-active-consumer": 1}
    )
    assert queue_args_equivalent({"x-dead-letter-exchange": "d"}, {"x-dead-letter-exchange": b"d"})


def test_classic_queue_type_may_be_implicit() -> None:
    assert queue_args_equivalent({}, {"x-queue-type": "classic"})
    assert queue_args_equivalent({"x-queue-type": "classic"}, {})
    assert not queue_args_equivalent({}, {"x-queue-type": "quorum"})
    assert not queue_args_equivalent({"x-queue-type": "classic"}, {"x-queue-type": "quorum"})


def test_mismatch_reports_first_differing_key() -> None:
    old = {"x-message-ttl": 1000, "x-expires": 5000}
    new = {"x-message-ttl": 2000}
    # x-expires comes first in RabbitMQ's list
    assert queue_args_mismatch(old, new) == ("x-expires", None, 5000)
    assert queue_args_mismatch({"x-expires": 5000}, {"x-expires": 5000, "x-message-ttl": 1}) == (
        "x-message-ttl",
        1,
        None,
    )


@pytest.mark.parametrize(
    ("old", "new", "tail"),
    [
        (
            {"x-message-ttl": 1000},
            {"x-message-ttl": 2000},
            "received '2000' but current is '1000'",
        ),
        (
            {"x-message-ttl": 1000},
            {},
            "received none but current is the value '1000' of type 'signedint'",
        ),
        (
            {},
            {"x-queue-mode": "lazy"},
            "received the value 'lazy' of type 'longstr' but current is none",
        ),
        (
            {"x-single-active-consumer": False},
            {"x-single-active-consumer": True},
            "received 'true' but current is 'false'",
        ),
        (
            {"x-message-ttl": 1000},
            {"x-message-ttl": 1000.0},
            "received '1.0e3' but current is '1000'",
        ),
        (
            {},
            {"x-expires": None},
            "received the value 'undefined' of type 'void' but current is none",
        ),
    ],
)
def test_inequivalence_text(old: dict[str, Any], new: dict[str, Any], tail: str) -> None:
    key = next(iter(old or new))
    with pytest.raises(ArgumentError) as e:
        check_queue_args_equivalence(old, new, "q", "/")
    assert str(e.value) == f"inequivalent arg '{key}' for queue 'q' in vhost '/': {tail}"


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=5),
)


@given(st.dictionaries(st.sampled_from(QUEUE_EQUIVALENCE_KEYS), SCALARS, max_size=4))
def test_equivalence_is_reflexive(args: dict[str, Any]) -> None:
    assert queue_args_equivalent(args, dict(args))
    check_queue_args_equivalence(args, dict(args))


# --- Erlang's view of values ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (0.1, "0.1"),
        (1.5, "1.5"),
        (-3.0, "-3.0"),
        (10.0, "10.0"),
        (100.0, "100.0"),
        (1000.0, "1.0e3"),
        (1234.5, "1234.5"),
        (1e22, "1.0e22"),
        (123456789.0, "123456789.0"),
        (0.001, "0.001"),
        (0.0001, "0.0001"),
        (0.00001, "1.0e-5"),
        (1.25e-7, "1.25e-7"),
    ],
)
def test_format_float_like_erlang(value: float, text: str) -> None:
    assert format_float(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (-7, "-7"),
        (2.5, "2.5"),
        ("some", '<<"some">>'),
        (b"raw", '<<"raw">>'),
        ('q"uote', '<<"q\\"uote">>'),
        ("é", '<<"é"/utf8>>'),
        (None, "undefined"),
        (Decimal("1.25"), "{2,125}"),
        (Decimal("-3"), "{0,-3}"),
        (datetime.fromtimestamp(1700000000, UTC), "1700000000"),
        ([1, "a"], '[{signedint,1},{longstr,<<"a">>}]'),
        ({"k": True}, '[{<<"k">>,bool,true}]'),
    ],
)
def test_format_term(value: Any, text: str) -> None:
    assert format_term(value) == text


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (True, "bool"),
        (1, "signedint"),
        (1.0, "double"),
        ("s", "longstr"),
        (b"s", "longstr"),
        (None, "void"),
        (Decimal(1), "decimal"),
        (datetime.now(UTC), "timestamp"),
        ({}, "table"),
        ([], "array"),
        (object(), "object"),
    ],
)
def test_amqp_type_name(value: Any, name: str) -> None:
    assert amqp_type_name(value) == name


def test_describe_value() -> None:
    assert describe_value(None, present=False) == "none"
    assert describe_value("x") == "the value 'x' of type 'longstr'"
    assert describe_value(b"x") == "the value 'x' of type 'longstr'"
    assert describe_value(5) == "the value '5' of type 'signedint'"


def test_erl_equal() -> None:
    assert erl_equal(1, 1.0)
    assert not erl_equal(1, True)
    assert not erl_equal(True, 1)
    assert erl_equal(None, None)
    assert not erl_equal(None, 0)
    assert erl_equal("a", b"a")
    assert not erl_equal("a", 1)
    assert erl_equal(datetime(2023, 11, 14, 22, 13, 20), 1700000000)  # naive means UTC
    assert erl_equal({"a": [1, {"b": "c"}]}, {"a": [1, {"b": b"c"}]})
    assert not erl_equal({"a": [1]}, {"a": [1.0]})
    assert not erl_equal([1, 2], [1])
    assert not erl_equal([1], (1, 2))
    assert not erl_equal({"a": 1}, [("a", 1)])


def test_freeze_args() -> None:
    assert freeze_args(None) == freeze_args({}) == ()
    assert freeze_args({"a": 1, "b": 2}) == freeze_args({"b": 2, "a": 1})
    assert freeze_args({"a": 1}) != freeze_args({"a": True})
    assert freeze_args({"a": 1}) != freeze_args({"a": 1.0})
    assert freeze_args({"a": "x"}) == freeze_args({"a": b"x"})
    assert freeze_args({"a": None}) != freeze_args({})
    assert freeze_args({"a": Decimal("1.0")}) != freeze_args({"a": Decimal("1")})
    nested = freeze_args({"t": {"k": [1, {"z": None}]}, "l": [1, "a"]})
    assert hash(nested) == hash(freeze_args({"l": [1, "a"], "t": {"k": [1, {"z": None}]}}))
    hash(freeze_args({"odd": {1, 2}, "when": datetime.now(UTC)}))  # anything becomes hashable
