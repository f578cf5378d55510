"""Basic content properties: round trips, flag handling, shared empty instance, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.codec import (
    EMPTY_PROPERTIES_RAW,
    BasicProperties,
    ProtocolError,
    Typed,
    decode_properties,
    encode_properties,
)

try:
    import pika.spec as pika_spec
except ImportError:  # pika is a dev dependency; the cross-checks are optional
    pika_spec = None

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPEC_JSON = Path(__file__).resolve().parents[3] / "shared" / "spec" / "amqp-rabbitmq-0.9.1.json"

FIELDS = [
    "content_type",
    "content_encoding",
    "headers",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
]

shortstrs = st.text(max_size=20).filter(lambda s: len(s.encode()) <= 255)
octets = st.integers(0, 255)
headers = st.dictionaries(
    shortstrs,
    st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.booleans(), st.none()),
    max_size=4,
)
_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "headers": headers,
    "delivery_mode": octets,
    "priority": octets,
    "timestamp": st.integers(0, 2**64 - 1),
}
properties = st.builds(BasicProperties, **{f: st.none() | _TYPES.get(f, shortstrs) for f in FIELDS})


@SETTINGS
@given(properties)
def test_round_trip(p: BasicProperties) -> None:
    raw = encode_properties(p)
    assert decode_properties(raw) == p
    assert encode_properties(decode_properties(raw)) == raw


def test_property_order_matches_the_spec() -> None:
    if not SPEC_JSON.exists():
        pytest.skip("spec JSON not available")
    klass = next(c for c in json.loads(SPEC_JSON.read_text())["classes"] if c["name"] == "basic")
    assert [p["name"].replace("-", "_") for p in klass["properties"]] == FIELDS


def test_flags_and_layout() -> None:
    assert encode_properties(BasicProperties()) == EMPTY_PROPERTIES_RAW == b"\x00\x00"
    assert encode_properties(BasicProperties(content_type="a")) == b"\x80\x00\x01a"
    assert encode_properties(BasicProperties(cluster_id="c")) == b"\x00\x04\x01c"
    assert encode_properties(BasicProperties(delivery_mode=2, priority=9)) == b"\x18\x00\x02\x09"
    assert (
        encode_properties(BasicProperties(timestamp=1, headers={}))
        == b"\x20\x40\x00\x00\x00\x00" + b"\x00" * 7 + b"\x01"
    )


def test_empty_flags_give_the_shared_instance() -> None:
    a = decode_properties(b"\x00\x00")
    assert a is decode_properties(bytes(2))
    assert a == BasicProperties()
    assert repr(a) == "BasicProperties()"


def test_equality_and_repr() -> None:
    p = BasicProperties(content_type="text/plain", delivery_mode=2)
    assert p == BasicProperties(delivery_mode=2, content_type="text/plain")
    assert p != BasicProperties(content_type="text/plain")
    assert repr(p) == "BasicProperties(content_type='text/plain', delivery_mode=2)"


def test_typed_headers() -> None:
    raw = encode_properties(BasicProperties(headers={"n": Typed("s", 5)}))
    assert decode_properties(raw).headers == {"n": 5}
    assert decode_properties(raw, typed=True).headers == {"n": Typed("s", 5)}
    assert encode_properties(decode_properties(raw, typed=True)) == raw


def test_continuation_words_and_reserved_bit() -> None:
    # Continuation flag set, then an empty continuation word: same as no continuation.
    assert decode_properties(b"\x80\x01\x00\x00\x01a") == BasicProperties(content_type="a")
    # Bit 1 (no 15th property in basic) is ignored, as RabbitMQ does.
    assert decode_properties(b"\x80\x02\x01a") == BasicProperties(content_type="a")
    with pytest.raises(ProtocolError) as err:
        decode_properties(b"\x80\x01\x80\x00\x01a")
    assert err.value.reply_code == 502


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x80",
        b"\x80\x00",  # content-type missing
        b"\x80\x00\x05ab",  # truncated shortstr
        b"\x80\x00\x01\xff",  # not UTF-8
        b"\x80\x00\x01ax",  # trailing byte
        b"\x20\x00\x00\x00\x00\x05\x01aI",  # truncated headers
        b"\x00\x40\x00\x00",  # truncated timestamp
        b"\x80\x01",  # continuation word missing
    ],
)
def test_malformed(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_properties(raw)
    assert (err.value.reply_code, err.value.class_id) == (502, 60)


@pytest.mark.parametrize(
    "p",
    [
        BasicProperties(delivery_mode=256),
        BasicProperties(priority=-1),
        BasicProperties(timestamp=-1),
        BasicProperties(message_id="x" * 256),
    ],
)
def test_encode_rejects_out_of_range(p: BasicProperties) -> None:
    with pytest.raises(ValueError):
        encode_properties(p)


@SETTINGS
@given(st.binary(max_size=40))
def test_arbitrary_bytes(raw: bytes) -> None:
    try:
        decode_properties(raw)
    except ProtocolError as exc:
        assert exc.reply_code == 502


@pytest.mark.skipif(pika_spec is None, reason="pika not installed")
@settings(max_examples=100, deadline=None)
@given(properties)
def test_wire_compatible_with_pika(p: BasicProperties) -> None:
    raw = encode_properties(p)
    theirs = pika_spec.BasicProperties()
    theirs.decode(raw)
    for field in FIELDS:
        value: Any = getattr(theirs, field)
        if field == "headers" and value is not None:
            value = {k: v.decode() if isinstance(v, bytes) else v for k, v in value.items()}
        assert value == getattr(p, field), field
    assert decode_properties(b"".join(theirs.encode())) == p
