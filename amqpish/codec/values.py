"""Field tables and field arrays, with every value type RabbitMQ accepts.

How it works: decoding walks one buffer with an integer offset and dispatches on
the type octet through an if-chain ordered by how often clients use each type
(longstr, signed int, bool, table first); nothing is sliced except the final
values. Each table or array is checked once, at its end, to have consumed
exactly its declared size: a value that overruns is caught there, and reads past
the end of the buffer raise IndexError/struct.error, which the public entry
points turn into ``ProtocolError(502)``. Encoding appends pieces to one list
and joins it once; a nested table or array reserves a slot for its length and
fills it in when its items are done.

Decoding is lossy by design in the plain mode (``b``/``s``/``u``/``i`` come back
as ``int`` and would re-encode as ``I``). ``typed=True`` wraps exactly those
values whose plain form would not re-encode to the same bytes in ``Typed``, so
a header table can be decoded, edited and re-encoded byte for byte (the
broker needs this when it rewrites headers, e.g. for dead-lettering). Tables
with duplicate field names are the one thing that cannot round-trip: like
RabbitMQ's ``table_lookup`` the first occurrence wins.

Deviations from RabbitMQ's rabbit_binary_parser, on purpose: ``L`` is decoded as
unsigned 64-bit (RabbitMQ reads it as signed), the decimal's value is a signed
32-bit integer (RabbitMQ: unsigned), and field names must be valid UTF-8.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError

__all__ = ["MAX_DEPTH", "Typed", "decode_array", "decode_table", "encode_array", "encode_table"]

#: Tables/arrays nested deeper than this are rejected (decode: 502, encode: ValueError).
MAX_DEPTH = 100

_SYNTAX_ERROR = 502
_KINDS = frozenset("tbBsuIilLfdDSxATFV")

_UTC = datetime.UTC
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
_SECOND = datetime.timedelta(seconds=1)

_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1

_u32 = struct.Struct(">I").unpack_from
_i32 = struct.Struct(">i").unpack_from
_i8 = struct.Struct(">b").unpack_from
_i16 = struct.Struct(">h").unpack_from
_u16 = struct.Struct(">H").unpack_from
_i64 = struct.Struct(">q").unpack_from
_u64 = struct.Struct(">Q").unpack_from
_f32 = struct.Struct(">f").unpack_from
_f64 = struct.Struct(">d").unpack_from
_dec = struct.Struct(">Bi").unpack_from

_pack_u32 = struct.Struct(">I").pack
_pack_kind_u32 = struct.Struct(">BI").pack
_pack_kind_i32 = struct.Struct(">Bi").pack
_pack_kind_i64 = struct.Struct(">Bq").pack
_pack_kind_u64 = struct.Struct(">BQ").pack
_pack_kind_f64 = struct.Struct(">Bd").pack
_pack_kind_dec = struct.Struct(">BBi").pack
_pack_f32 = struct.Struct(">f").pack
_pack_f64 = struct.Struct(">d").pack

_BYTES = [bytes((i,)) for i in range(256)]

# Typed kinds whose value is one fixed-width number: packer of (kind octet, value).
_FIXED = {
    "b": struct.Struct(">Bb").pack,
    "B": struct.Struct(">BB").pack,
    "s": struct.Struct(">Bh").pack,
    "u": struct.Struct(">BH").pack,
    "I": struct.Struct(">Bi").pack,
    "i": struct.Struct(">BI").pack,
    "l": struct.Struct(">Bq").pack,
    "L": struct.Struct(">BQ").pack,
    "f": struct.Struct(">Bf").pack,
    "d": struct.Struct(">Bd").pack,
}
_RAW_WIDTH = {"f": 4, "d": 8}


@dataclass(frozen=True, slots=True)
class Typed:
    """A field value pinned to a wire type letter (``kind``), e.g. ``Typed("s", 5)``.

    For ``f``/``d`` the value may also be the raw 4/8 bytes (used for NaNs whose
    payload a Python float cannot carry); for ``t`` it may be the raw octet.
    """

    kind: str
    value: Any

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown field value type {self.kind!r}")


def _malformed(text: str) -> ProtocolError:
    return ProtocolError(_SYNTAX_ERROR, text)


# --------------------------------------------------------------------- decode


def decode_table(buf: bytes, offset: int, typed: bool = False) -> tuple[dict[str, Any], int]:
    """Decode the field table (with its 4-byte size) at ``offset``; return it and the new offset."""
    try:
        (size,) = _u32(buf, offset)
        start = offset + 4
        end = start + size
        if end > len(buf):
            raise _malformed("field table truncated")
        return _read_table(buf, start, end, typed, 0), end
    except ProtocolError:
        raise
    except (IndexError, struct.error):
        raise _malformed("field table truncated")
    except UnicodeDecodeError:
        raise _malformed("field table: field name is not valid UTF-8")


def decode_array(buf: bytes, offset: int, typed: bool = False) -> tuple[list[Any], int]:
    """Decode the field array (with its 4-byte size) at ``offset``; return it and the new offset."""
    try:
        (size,) = _u32(buf, offset)
        start = offset + 4
        end = start + size
        if end > len(buf):
            raise _malformed("field array truncated")
        return _read_array(buf, start, end, typed, 0), end
    except ProtocolError:
        raise
    except (IndexError, struct.error):
        raise _malformed("field array truncated")
    except UnicodeDecodeError:
        raise _malformed("field table: field name is not valid UTF-8")


def _read_table(buf: bytes, o: int, end: int, typed: bool, depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise _malformed(f"field tables nested deeper than {MAX_DEPTH}")
    result: dict[str, Any] = {}
    while o < end:
        n = buf[o]
        o += 1
        name = buf[o : o + n].decode()
        o += n
        value, o = _read_value(buf, o + 1, buf[o], typed, depth)
        if name not in result:
            result[name] = value
    if o != end:
        raise _malformed("field table value overruns the table")
    return result


def _read_array(buf: bytes, o: int, end: int, typed: bool, depth: int) -> list[Any]:
    if depth > MAX_DEPTH:
        raise _malformed(f"field arrays nested deeper than {MAX_DEPTH}")
    result: list[Any] = []
    append = result.append
    while o < end:
        value, o = _read_value(buf, o + 1, buf[o], typed, depth)
        append(value)
    if o != end:
        raise _malformed("field array value overruns the array")
    return result


def _read_value(buf: bytes, o: int, kind: int, typed: bool, depth: int) -> tuple[Any, int]:
    value: Any
    if kind == 83:  # S
        (n,) = _u32(buf, o)
        o += 4
        raw = buf[o : o + n]
        try:
            return raw.decode(), o + n
        except UnicodeDecodeError:
            return (Typed("S", raw) if typed else raw), o + n
    if kind == 73:  # I
        return _i32(buf, o)[0], o + 4
    if kind == 116:  # t
        octet = buf[o]
        if typed and octet > 1:
            return Typed("t", octet), o + 1
        return octet != 0, o + 1
    if kind == 70:  # F
        (n,) = _u32(buf, o)
        o += 4
        return _read_table(buf, o, o + n, typed, depth + 1), o + n
    if kind == 108:  # l
        value = _i64(buf, o)[0]
        if typed and _INT32_MIN <= value <= _INT32_MAX:
            value = Typed("l", value)
        return value, o + 8
    if kind == 65:  # A
        (n,) = _u32(buf, o)
        o += 4
        return _read_array(buf, o, o + n, typed, depth + 1), o + n
    if kind == 120:  # x
        (n,) = _u32(buf, o)
        o += 4
        return buf[o : o + n], o + n
    if kind == 84:  # T
        (seconds,) = _u64(buf, o)
        try:
            return _EPOCH + datetime.timedelta(seconds=seconds), o + 8
        except OverflowError:
            # Beyond datetime's range (year 9999): keep the number rather than fail.
            return (Typed("T", seconds) if typed else seconds), o + 8
    if kind == 100:  # d
        value = _f64(buf, o)[0]
        if value != value:  # NaN: only the raw bytes are sure to keep the payload
            raw = buf[o : o + 8]
            if _pack_f64(value) != raw:
                return (Typed("d", raw) if typed else value), o + 8
        return value, o + 8
    if kind == 86:  # V
        return None, o
    if kind == 98:  # b
        value = _i8(buf, o)[0]
        return (Typed("b", value) if typed else value), o + 1
    if kind == 66:  # B
        value = buf[o]
        return (Typed("B", value) if typed else value), o + 1
    if kind == 115:  # s (int16, RabbitMQ's meaning, not a short string)
        value = _i16(buf, o)[0]
        return (Typed("s", value) if typed else value), o + 2
    if kind == 117:  # u
        value = _u16(buf, o)[0]
        return (Typed("u", value) if typed else value), o + 2
    if kind == 105:  # i
        value = _u32(buf, o)[0]
        return (Typed("i", value) if typed else value), o + 4
    if kind == 76:  # L
        value = _u64(buf, o)[0]
        if typed and value <= _INT64_MAX:
            value = Typed("L", value)
        return value, o + 8
    if kind == 102:  # f
        value = _f32(buf, o)[0]
        if typed:
            # float32 -> float64 -> float32 quiets signalling NaNs; keep those raw.
            raw = buf[o : o + 4]
            return Typed("f", raw if _pack_f32(value) != raw else value), o + 4
        return value, o + 4
    if kind == 68:  # D
        scale, unscaled = _dec(buf, o)
        # Built from a string so the exponent is exactly -scale, independent of
        # the thread's decimal context.
        return decimal.Decimal(f"{unscaled}E-{scale}"), o + 5
    raise _malformed(f"unknown field value type {kind:#04x}")


# --------------------------------------------------------------------- encode


def encode_table(d: Mapping[str, Any]) -> bytes:
    """Encode a field table, including its 4-byte size prefix."""
    parts: list[bytes] = []
    _put_table(parts, d, 0)
    return b"".join(parts)


def encode_array(seq: Sequence[Any]) -> bytes:
    """Encode a field array, including its 4-byte size prefix."""
    parts: list[bytes] = []
    _put_array(parts, seq, 0)
    return b"".join(parts)


def _close(parts: list[bytes], slot: int) -> None:
    size = 0
    for i in range(slot + 1, len(parts)):
        size += len(parts[i])
    parts[slot] = _pack_u32(size)


def _put_table(parts: list[bytes], d: Mapping[str, Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"field tables nested deeper than {MAX_DEPTH}")
    slot = len(parts)
    parts.append(b"")
    append = parts.append
    for key, value in d.items():
        if not isinstance(key, str):
            raise TypeError(f"field table names must be str, not {type(key).__name__}")
        raw = key.encode()
        if len(raw) > 255:
            raise ValueError(f"field table name longer than 255 bytes: {key[:40]!r}...")
        append(_BYTES[len(raw)])
        append(raw)
        _put_value(parts, value, depth)
    _close(parts, slot)


def _put_array(parts: list[bytes], seq: Sequence[Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"field arrays nested deeper than {MAX_DEPTH}")
    slot = len(parts)
    parts.append(b"")
    for value in seq:
        _put_value(parts, value, depth)
    _close(parts, slot)


def _put_value(parts: list[bytes], v: Any, depth: int) -> None:
    t = type(v)
    if t is str:
        raw = v.encode()
        parts.append(_pack_kind_u32(83, len(raw)))
        parts.append(raw)
    elif t is int:
        _put_int(parts, v)
    elif t is bool:
        parts.append(b"t\x01" if v else b"t\x00")
    elif t is dict:
        parts.append(b"F")
        _put_table(parts, v, depth + 1)
    elif t is Typed:
        _put_typed(parts, v, depth)
    elif t is bytes:
        parts.append(_pack_kind_u32(120, len(v)))
        parts.append(v)
    elif v is None:
        parts.append(b"V")
    elif t is float:
        parts.append(_pack_kind_f64(100, v))
    elif t is list or t is tuple:
        parts.append(b"A")
        _put_array(parts, v, depth + 1)
    else:
        _put_other(parts, v, depth)


def _put_other(parts: list[bytes], v: Any, depth: int) -> None:
    # The exact-type checks of _put_value missed: subclasses and the rarer types.
    if isinstance(v, bool):
        parts.append(b"t\x01" if v else b"t\x00")
    elif isinstance(v, int):
        _put_int(parts, int(v))
    elif isinstance(v, str):
        raw = str(v).encode()
        parts.append(_pack_kind_u32(83, len(raw)))
        parts.append(raw)
    elif isinstance(v, float):
        parts.append(_pack_kind_f64(100, float(v)))
    elif isinstance(v, decimal.Decimal):
        parts.append(_pack_kind_dec(68, *_decimal_parts(v)))
    elif isinstance(v, datetime.datetime):
        parts.append(_pack_kind_u64(84, _timestamp(v)))
    elif isinstance(v, bytes | bytearray | memoryview):
        raw = bytes(v)
        parts.append(_pack_kind_u32(120, len(raw)))
        parts.append(raw)
    elif isinstance(v, Mapping):
        parts.append(b"F")
        _put_table(parts, v, depth + 1)
    elif isinstance(v, list | tuple):
        parts.append(b"A")
        _put_array(parts, v, depth + 1)
    else:
        raise TypeError(f"cannot encode {type(v).__name__} in a field table")


def _put_int(parts: list[bytes], v: int) -> None:
    if _INT32_MIN <= v <= _INT32_MAX:
        parts.append(_pack_kind_i32(73, v))
    elif _INT64_MIN <= v <= _INT64_MAX:
        parts.append(_pack_kind_i64(108, v))
    elif 0 <= v <= _UINT64_MAX:
        parts.append(_pack_kind_u64(76, v))
    else:
        raise ValueError(f"integer {v} does not fit a field table value (int64/uint64)")


def _put_typed(parts: list[bytes], t: Typed, depth: int) -> None:
    kind = t.kind
    v = t.value
    try:
        if kind == "S" or kind == "x":
            raw = v.encode() if isinstance(v, str) else bytes(v)
            parts.append(_pack_kind_u32(ord(kind), len(raw)))
            parts.append(raw)
        elif kind in _FIXED:
            if kind in _RAW_WIDTH and isinstance(v, bytes | bytearray):
                if len(v) != _RAW_WIDTH[kind]:
                    raise ValueError(f"raw {kind!r} value must be {_RAW_WIDTH[kind]} bytes")
                parts.append(kind.encode() + bytes(v))
            else:
                parts.append(_FIXED[kind](ord(kind), v))
        elif kind == "t":
            octet = 1 if v is True else 0 if v is False else int(v)
            if not 0 <= octet <= 255:
                raise ValueError(f"bool octet {octet} out of range")
            parts.append(b"t" + _BYTES[octet])
        elif kind == "D":
            parts.append(_pack_kind_dec(68, *_decimal_parts(v)))
        elif kind == "T":
            seconds = _timestamp(v) if isinstance(v, datetime.datetime) else int(v)
            parts.append(_pack_kind_u64(84, seconds))
        elif kind == "F":
            parts.append(b"F")
            _put_table(parts, v, depth + 1)
        elif kind == "A":
            parts.append(b"A")
            _put_array(parts, v, depth + 1)
        else:  # "V"
            if v is not None:
                raise ValueError("a void ('V') field value must be None")
            parts.append(b"V")
    except (struct.error, OverflowError, IndexError) as exc:
        raise ValueError(f"cannot encode {v!r} as field type {kind!r}: {exc}") from exc


def _decimal_parts(v: decimal.Decimal) -> tuple[int, int]:
    sign, digits, exponent = v.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"cannot encode {v} as a field table decimal")
    coefficient = int("".join(map(str, digits))) if digits else 0
    if exponent > 0:
        if coefficient and exponent > 10:
            raise ValueError(f"decimal {v} does not fit a field table decimal")
        coefficient *= 10**exponent
        exponent = 0
    unscaled = -coefficient if sign else coefficient
    if -exponent > 255 or not _INT32_MIN <= unscaled <= _INT32_MAX:
        raise ValueError(f"decimal {v} does not fit a field table decimal (scale octet + int32)")
    return -exponent, unscaled


def _timestamp(v: datetime.datetime) -> int:
    # Naive datetimes are taken as UTC: AMQP timestamps have no zone.
    delta = v - (_EPOCH_NAIVE if v.tzinfo is None else _EPOCH)
    seconds = delta // _SECOND
    if not 0 <= seconds <= _UINT64_MAX:
        raise ValueError(f"timestamp {v} is before 1970")
    return seconds
