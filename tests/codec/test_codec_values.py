"""Field tables and arrays: exact round trips, the type mappings, malformed input."""

from __future__ import annotations

import datetime
import decimal
import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.codec import (
    ProtocolError,
    Typed,
    decode_array,
    decode_table,
    encode_array,
    encode_table,
)
from amqpish.codec.values import MAX_DEPTH

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- reference wire encoder
# An independent, deliberately naive encoder of (kind, payload) trees, so the
# round-trip tests start from arbitrary *valid bytes* rather than from values.

_FMT = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I", "l": ">q", "L": ">Q"}


def ref_value(node: tuple[str, Any]) -> bytes:
    kind, payload = node
    k = kind.encode()
    if kind in _FMT:
        return k + struct.pack(_FMT[kind], payload)
    if kind == "t":
        return k + bytes([payload])
    if kind in ("f", "d"):
        return k + payload  # raw bytes, any bit pattern
    if kind == "D":
        scale, unscaled = payload
        return k + struct.pack(">Bi", scale, unscaled)
    if kind in ("S", "x"):
        return k + struct.pack(">I", len(payload)) + payload
    if kind == "T":
        return k + struct.pack(">Q", payload)
    if kind == "V":
        return k
    if kind == "A":
        inner = b"".join(ref_value(v) for v in payload)
        return k + struct.pack(">I", len(inner)) + inner
    assert kind == "F"
    return k + ref_table(payload)


def ref_table(items: dict[str, tuple[str, Any]]) -> bytes:
    inner = b"".join(
        bytes([len(name.encode())]) + name.encode() + ref_value(v) for name, v in items.items()
    )
    return struct.pack(">I", len(inner)) + inner


def ref_array(items: list[tuple[str, Any]]) -> bytes:
    inner = b"".join(ref_value(v) for v in items)
    return struct.pack(">I", len(inner)) + inner


names = st.text(max_size=12).filter(lambda s: len(s.encode()) <= 255)


def _ints(kind: str, lo: int, hi: int) -> st.SearchStrategy[tuple[str, Any]]:
    return st.tuples(st.just(kind), st.integers(lo, hi))


leaves: st.SearchStrategy[tuple[str, Any]] = st.one_of(
    _ints("t", 0, 255),
    _ints("b", -(2**7), 2**7 - 1),
    _ints("B", 0, 2**8 - 1),
    _ints("s", -(2**15), 2**15 - 1),
    _ints("u", 0, 2**16 - 1),
    _ints("I", -(2**31), 2**31 - 1),
    _ints("i", 0, 2**32 - 1),
    _ints("l", -(2**63), 2**63 - 1),
    _ints("L", 0, 2**64 - 1),
    st.tuples(st.just("f"), st.binary(min_size=4, max_size=4)),
    st.tuples(st.just("d"), st.binary(min_size=8, max_size=8)),
    st.tuples(st.just("D"), st.tuples(st.integers(0, 255), st.integers(-(2**31), 2**31 - 1))),
    st.tuples(st.just("S"), st.binary(max_size=12) | st.text(max_size=8).map(str.encode)),
    st.tuples(st.just("x"), st.binary(max_size=12)),
    _ints("T", 0, 2**64 - 1),
    st.tuples(st.just("V"), st.none()),
)

wire_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.tuples(st.just("A"), st.lists(children, max_size=4)),
        st.tuples(st.just("F"), st.dictionaries(names, children, max_size=4)),
    ),
    max_leaves=16,
)
wire_tables = st.dictionaries(names, wire_values, max_size=6)


@SETTINGS
@given(wire_tables, st.binary(max_size=4), st.binary(max_size=4))
def test_typed_decode_reencodes_exactly(
    table: dict[str, tuple[str, Any]], prefix: bytes, suffix: bytes
) -> None:
    raw = ref_table(table)
    buf = prefix + raw + suffix
    decoded, offset = decode_table(buf, len(prefix), typed=True)
    assert offset == len(prefix) + len(raw)
    assert encode_table(decoded) == raw
    # The plain decoding of valid bytes never fails either.
    plain, offset = decode_table(buf, len(prefix))
    assert offset == len(prefix) + len(raw)
    assert list(plain) == list(decoded)


@SETTINGS
@given(st.lists(wire_values, max_size=6))
def test_typed_array_reencodes_exactly(items: list[tuple[str, Any]]) -> None:
    raw = ref_array(items)
    decoded, offset = decode_array(raw, 0, typed=True)
    assert offset == len(raw)
    assert encode_array(decoded) == raw
    assert len(decode_array(raw, 0)[0]) == len(items)


# ---------------------------------------------------------------- plain values

plain_leaves = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.binary(max_size=10),
    st.none(),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6
    ),
    st.datetimes(
        min_value=datetime.datetime(1970, 1, 1),
        max_value=datetime.datetime(9999, 1, 1),
        timezones=st.just(datetime.UTC),
    ).map(lambda d: d.replace(microsecond=0)),
)
plain_values = st.recursive(
    plain_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(names, children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(st.dictionaries(names, plain_values, max_size=6))
def test_plain_values_round_trip(table: dict[str, Any]) -> None:
    raw = encode_table(table)
    decoded, offset = decode_table(raw, 0)
    assert offset == len(raw)
    assert decoded == table
    # Plain values re-encode to the same bytes too.
    assert encode_table(decoded) == raw


def test_empty_table_and_array() -> None:
    assert encode_table({}) == b"\x00\x00\x00\x00"
    assert encode_array([]) == b"\x00\x00\x00\x00"
    assert decode_table(b"\x00\x00\x00\x00", 0) == ({}, 4)
    assert decode_array(b"\x00\x00\x00\x00", 0) == ([], 4)


def _one(value: Any) -> bytes:
    """The encoded value of field "k" (kind octet onwards)."""
    raw = encode_table({"k": value})
    assert raw[4:6] == b"\x01k"
    return raw[6:]


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (True, b"t\x01"),
        (False, b"t\x00"),
        (0, b"I\x00\x00\x00\x00"),
        (2**31 - 1, b"I\x7f\xff\xff\xff"),
        (-(2**31), b"I\x80\x00\x00\x00"),
        (2**31, b"l" + struct.pack(">q", 2**31)),
        (-(2**31) - 1, b"l" + struct.pack(">q", -(2**31) - 1)),
        (2**63 - 1, b"l" + struct.pack(">q", 2**63 - 1)),
        (2**63, b"L" + struct.pack(">Q", 2**63)),
        (2**64 - 1, b"L" + struct.pack(">Q", 2**64 - 1)),
        (1.5, b"d" + struct.pack(">d", 1.5)),
        (decimal.Decimal("1.23"), b"D\x02\x00\x00\x00\x7b"),
        (decimal.Decimal("-5"), b"D\x00\xff\xff\xff\xfb"),
        (decimal.Decimal("1E+2"), b"D\x00\x00\x00\x00\x64"),
        ("hé", b"S\x00\x00\x00\x03h\xc3\xa9"),
        (b"\x00\xff", b"x\x00\x00\x00\x02\x00\xff"),
        (bytearray(b"ab"), b"x\x00\x00\x00\x02ab"),
        (memoryview(b"ab"), b"x\x00\x00\x00\x02ab"),
        ({"a": None}, b"F\x00\x00\x00\x03\x01aV"),
        ([1, "x"], b"A\x00\x00\x00\x0bI\x00\x00\x00\x01S\x00\x00\x00\x01x"),
        ((True,), b"A\x00\x00\x00\x02t\x01"),
        (None, b"V"),
        (
            datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
            b"T" + struct.pack(">Q", 1577836800),
        ),
        (datetime.datetime(2020, 1, 1), b"T" + struct.pack(">Q", 1577836800)),
    ],
)
def test_encode_mapping(value: Any, wire: bytes) -> None:
    assert _one(value) == wire


@pytest.mark.parametrize(
    ("kind", "value", "wire"),
    [
        ("t", True, b"t\x01"),
        ("t", 7, b"t\x07"),
        ("b", -1, b"b\xff"),
        ("B", 255, b"B\xff"),
        ("s", -2, b"s\xff\xfe"),
        ("u", 65535, b"u\xff\xff"),
        ("I", 1, b"I\x00\x00\x00\x01"),
        ("i", 2**32 - 1, b"i\xff\xff\xff\xff"),
        ("l", 1, b"l" + struct.pack(">q", 1)),
        ("L", 1, b"L" + struct.pack(">Q", 1)),
        ("f", 1.5, b"f" + struct.pack(">f", 1.5)),
        ("f", b"\x7f\x80\x00\x01", b"f\x7f\x80\x00\x01"),
        ("d", 1.5, b"d" + struct.pack(">d", 1.5)),
        ("D", decimal.Decimal("0.5"), b"D\x01\x00\x00\x00\x05"),
        ("S", b"\xff", b"S\x00\x00\x00\x01\xff"),
        ("S", "a", b"S\x00\x00\x00\x01a"),
        ("x", "a", b"x\x00\x00\x00\x01a"),
        ("T", 5, b"T" + struct.pack(">Q", 5)),
        ("F", {}, b"F\x00\x00\x00\x00"),
        ("A", [], b"A\x00\x00\x00\x00"),
        ("V", None, b"V"),
    ],
)
def test_typed_encodes_with_its_letter(kind: str, value: Any, wire: bytes) -> None:
    assert _one(Typed(kind, value)) == wire


@pytest.mark.parametrize(
    "value",
    [
        2**64,
        -(2**63) - 1,
        Typed("b", 128),
        Typed("B", -1),
        Typed("u", 2**16),
        Typed("t", 256),
        Typed("t", -1),
        Typed("i", -1),
        Typed("f", b"\x00"),
        Typed("V", 1),
        decimal.Decimal("NaN"),
        decimal.Decimal("1E-256"),
        decimal.Decimal(2**31),
        datetime.datetime(1969, 12, 31, tzinfo=datetime.UTC),
    ],
)
def test_encode_rejects_out_of_range(value: Any) -> None:
    with pytest.raises(ValueError):
        encode_table({"k": value})


def test_encode_rejects_long_names_deep_nesting_and_unknown_types() -> None:
    with pytest.raises(ValueError):
        encode_table({"n" * 256: 1})
    with pytest.raises(TypeError):
        encode_table({1: 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        encode_table({"k": object()})
    with pytest.raises(ValueError):
        Typed("Z", 1)
    deep: dict[str, Any] = {}
    for _ in range(MAX_DEPTH + 1):
        deep = {"d": deep}
    with pytest.raises(ValueError):
        encode_table(deep)


def test_decode_mapping() -> None:
    raw = ref_table(
        {
            "t": ("t", 1),
            "b": ("b", -3),
            "B": ("B", 200),
            "s": ("s", -300),
            "u": ("u", 60000),
            "I": ("I", -5),
            "i": ("i", 2**32 - 1),
            "l": ("l", -(2**40)),
            "L": ("L", 2**64 - 1),
            "f": ("f", struct.pack(">f", 0.5)),
            "d": ("d", struct.pack(">d", 0.25)),
            "D": ("D", (2, -12345)),
            "S": ("S", "é".encode()),
            "S2": ("S", b"\xff\xfe"),
            "x": ("x", b"\x00"),
            "A": ("A", [("I", 1), ("S", b"a")]),
            "T": ("T", 1577836800),
            "T2": ("T", 2**64 - 1),
            "F": ("F", {"n": ("V", None)}),
            "V": ("V", None),
        }
    )
    d, _ = decode_table(raw, 0)
    assert d == {
        "t": True,
        "b": -3,
        "B": 200,
        "s": -300,
        "u": 60000,
        "I": -5,
        "i": 2**32 - 1,
        "l": -(2**40),
        "L": 2**64 - 1,
        "f": 0.5,
        "d": 0.25,
        "D": decimal.Decimal("-123.45"),
        "S": "é",
        "S2": b"\xff\xfe",
        "x": b"\x00",
        "A": [1, "a"],
        "T": datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        "T2": 2**64 - 1,
        "F": {"n": None},
        "V": None,
    }
    assert type(d["t"]) is bool
    assert d["T"].tzinfo is datetime.UTC
    assert d["D"].as_tuple().exponent == -2

    typed, _ = decode_table(raw, 0, typed=True)
    assert typed["b"] == Typed("b", -3)
    assert typed["i"] == Typed("i", 2**32 - 1)
    assert typed["l"] == -(2**40)  # outside int32: re-encodes as l anyway
    assert typed["L"] == 2**64 - 1  # outside int64: re-encodes as L anyway
    assert typed["f"] == Typed("f", 0.5)
    assert typed["S2"] == Typed("S", b"\xff\xfe")
    assert typed["T2"] == Typed("T", 2**64 - 1)
    assert typed["t"] is True


def test_nan_payloads_survive_typed_round_trip() -> None:
    snan32 = b"\x7f\x80\x00\x01"
    snan64 = b"\x7f\xf0\x00\x00\x00\x00\x00\x01"
    raw = ref_table({"f": ("f", snan32), "d": ("d", snan64)})
    typed, _ = decode_table(raw, 0, typed=True)
    assert encode_table(typed) == raw
    plain, _ = decode_table(raw, 0)
    assert math.isnan(plain["f"]) and math.isnan(plain["d"])


def test_duplicate_names_first_wins() -> None:
    inner = b"\x01aI\x00\x00\x00\x01\x01aI\x00\x00\x00\x02"
    raw = struct.pack(">I", len(inner)) + inner
    assert decode_table(raw, 0) == ({"a": 1}, len(raw))


def _nested(depth: int) -> bytes:
    raw = b"\x00\x00\x00\x00"
    for _ in range(depth):
        inner = b"\x01nF" + raw
        raw = struct.pack(">I", len(inner)) + inner
    return raw


def test_nesting_limit() -> None:
    decode_table(_nested(MAX_DEPTH), 0)  # 100 levels below the top table: fine
    with pytest.raises(ProtocolError) as err:
        decode_table(_nested(MAX_DEPTH + 1), 0)
    assert err.value.reply_code == 502


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x00\x00",
        b"\x00\x00\x00\x05\x01aI\x00",  # table size beyond the buffer
        b"\x00\x00\x00\x03\x01aZ",  # unknown type letter
        b"\x00\x00\x00\x03\x01\xffV",  # name not UTF-8
        b"\x00\x00\x00\x02\x05a",  # name longer than the table
        b"\x00\x00\x00\x04\x01aI\x00",  # value overruns the table
        b"\x00\x00\x00\x06\x01aI\x00\x00\x00\x00\x00",  # overruns the declared size
        b"\x00\x00\x00\x08\x01aS\x00\x00\x00\x09",  # longstr longer than the table
        b"\x00\x00\x00\x07\x01aF\x00\x00\x00\x09",  # nested table longer than the table
        b"\x00\x00\x00\x07\x01aA\x00\x00\x00\x01",  # nested array truncated
    ],
)
def test_malformed_tables(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_table(raw, 0)
    assert err.value.reply_code == 502


@pytest.mark.parametrize(
    "raw", [b"\x00\x00", b"\x00\x00\x00\x01Z", b"\x00\x00\x00\x02I\x00", b"\x00\x00\x00\x09"]
)
def test_malformed_arrays(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_array(raw, 0)
    assert err.value.reply_code == 502


@SETTINGS
@given(st.binary(max_size=64), st.booleans())
def test_arbitrary_bytes_decode_or_raise_protocol_error(raw: bytes, typed: bool) -> None:
    for decode in (decode_table, decode_array):
        try:
            _, offset = decode(raw, 0, typed)
        except ProtocolError as exc:
            assert exc.reply_code == 502
        else:
            assert 4 <= offset <= len(raw)
