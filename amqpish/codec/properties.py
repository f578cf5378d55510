"""Basic-class content properties (the tail of a content header frame).

How it works: the property-flags word has one bit per property, most
significant first, and only present properties follow it on the wire. Decoding
tests each flag in turn against one buffer offset; encoding appends the
present properties to a list joined once. The most common header carries no
properties at all (``b"\\x00\\x00"``), so that case returns a shared instance
without parsing anything; decoded properties are therefore to be treated as
read-only (build a new BasicProperties to change one).

The flag word's lowest bit announces another flags word. Basic has only 14
properties, so encoding never sets it; decoding follows continuation words
as the spec describes but rejects any property bit in them, since their types
are unknown. Bit 1 of the first word is ignored, as RabbitMQ ignores it.
"""

from __future__ import annotations

import struct
from typing import Any

from .errors import ProtocolError
from .values import decode_table, encode_table

__all__ = ["EMPTY_PROPERTIES_RAW", "BasicProperties", "decode_properties", "encode_properties"]

EMPTY_PROPERTIES_RAW = b"\x00\x00"

_SYNTAX_ERROR = 502
_CLASS_BASIC = 60

_u16 = struct.Struct(">H").unpack_from
_u64 = struct.Struct(">Q").unpack_from
_pack_u8 = struct.Struct(">B").pack
_pack_u16 = struct.Struct(">H").pack
_pack_u64 = struct.Struct(">Q").pack
_BYTES = [bytes((i,)) for i in range(256)]
_new = object.__new__

# Flag bits, in wire order.
_CONTENT_TYPE = 0x8000
_CONTENT_ENCODING = 0x4000
_HEADERS = 0x2000
_DELIVERY_MODE = 0x1000
_PRIORITY = 0x0800
_CORRELATION_ID = 0x0400
_REPLY_TO = 0x0200
_EXPIRATION = 0x0100
_MESSAGE_ID = 0x0080
_TIMESTAMP = 0x0040
_TYPE = 0x0020
_USER_ID = 0x0010
_APP_ID = 0x0008
_CLUSTER_ID = 0x0004

_FIELDS = (
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
)


class BasicProperties:
    """The 14 properties of a basic-class message; None means absent."""

    __slots__ = _FIELDS

    content_type: str | None
    content_encoding: str | None
    headers: dict[str, Any] | None
    delivery_mode: int | None
    priority: int | None
    correlation_id: str | None
    reply_to: str | None
    expiration: str | None
    message_id: str | None
    timestamp: int | None
    type: str | None
    user_id: str | None
    app_id: str | None
    cluster_id: str | None

    def __init__(
        self,
        content_type: str | None = None,
        content_encoding: str | None = None,
        headers: dict[str, Any] | None = None,
        delivery_mode: int | None = None,
        priority: int | None = None,
        correlation_id: str | None = None,
        reply_to: str | None = None,
        expiration: str | None = None,
        message_id: str | None = None,
        timestamp: int | None = None,
        type: str | None = None,
        user_id: str | None = None,
        app_id: str | None = None,
        cluster_id: str | None = None,
    ) -> None:
        self.content_type = content_type
        self.content_encoding = content_encoding
        self.headers = headers
        self.delivery_mode = delivery_mode
        self.priority = priority
        self.correlation_id = correlation_id
        self.reply_to = reply_to
        self.expiration = expiration
        self.message_id = message_id
        self.timestamp = timestamp
        self.type = type
        self.user_id = user_id
        self.app_id = app_id
        self.cluster_id = cluster_id

    def __eq__(self, other: object) -> bool:
        if type(other) is not BasicProperties:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    def __repr__(self) -> str:
        present = ", ".join(
            f"{f}={getattr(self, f)!r}" for f in _FIELDS if getattr(self, f) is not None
        )
        return f"BasicProperties({present})"


_EMPTY = BasicProperties()


def _shortstr(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError(f"property value longer than 255 bytes: {value[:40]!r}...")
    return _BYTES[len(raw)] + raw


def encode_properties(p: BasicProperties) -> bytes:
    """Property flags + property list of a content header (what follows the body size)."""
    flags = 0
    parts: list[bytes] = [b""]
    append = parts.append
    if p.content_type is not None:
        flags |= _CONTENT_TYPE
        append(_shortstr(p.content_type))
    if p.content_encoding is not None:
        flags |= _CONTENT_ENCODING
        append(_shortstr(p.content_encoding))
    if p.headers is not None:
        flags |= _HEADERS
        append(encode_table(p.headers))
    try:
        if p.delivery_mode is not None:
            flags |= _DELIVERY_MODE
            append(_pack_u8(p.delivery_mode))
        if p.priority is not None:
            flags |= _PRIORITY
            append(_pack_u8(p.priority))
    except struct.error as exc:
        raise ValueError(f"delivery_mode and priority must be octets: {exc}") from exc
    if p.correlation_id is not None:
        flags |= _CORRELATION_ID
        append(_shortstr(p.correlation_id))
    if p.reply_to is not None:
        flags |= _REPLY_TO
        append(_shortstr(p.reply_to))
    if p.expiration is not None:
        flags |= _EXPIRATION
        append(_shortstr(p.expiration))
    if p.message_id is not None:
        flags |= _MESSAGE_ID
        append(_shortstr(p.message_id))
    if p.timestamp is not None:
        flags |= _TIMESTAMP
        try:
            append(_pack_u64(p.timestamp))
        except struct.error as exc:
            raise ValueError(f"timestamp must be a uint64: {exc}") from exc
    if p.type is not None:
        flags |= _TYPE
        append(_shortstr(p.type))
    if p.user_id is not None:
        flags |= _USER_ID
        append(_shortstr(p.user_id))
    if p.app_id is not None:
        flags |= _APP_ID
        append(_shortstr(p.app_id))
    if p.cluster_id is not None:
        flags |= _CLUSTER_ID
        append(_shortstr(p.cluster_id))
    if not flags:
        return EMPTY_PROPERTIES_RAW
    parts[0] = _pack_u16(flags)
    return b"".join(parts)


def decode_properties(raw: bytes, typed: bool = False) -> BasicProperties:
    """Parse property flags + property list (``typed`` as for ``decode_table``, for headers).

    The result may be a shared instance: do not mutate it.
    """
    if raw == EMPTY_PROPERTIES_RAW:
        return _EMPTY
    try:
        return _decode(raw, typed)
    except ProtocolError as exc:
        raise ProtocolError(_SYNTAX_ERROR, f"content properties: {exc.text}", _CLASS_BASIC)
    except (IndexError, struct.error):
        raise ProtocolError(_SYNTAX_ERROR, "content properties truncated", _CLASS_BASIC)
    except UnicodeDecodeError:
        raise ProtocolError(
            _SYNTAX_ERROR, "content properties: malformed UTF-8 in shortstr", _CLASS_BASIC
        )


def _decode(raw: bytes, typed: bool) -> BasicProperties:
    (flags,) = _u16(raw, 0)
    o = 2
    more = flags & 1
    while more:
        (extra,) = _u16(raw, o)
        o += 2
        if extra & 0xFFFE:
            raise ProtocolError(_SYNTAX_ERROR, "unknown property in a continuation flags word")
        more = extra & 1
    # Bit 1 (a 15th property that basic does not have) is ignored, as RabbitMQ does.

    p: BasicProperties = _new(BasicProperties)
    if flags & _CONTENT_TYPE:
        n = raw[o]
        o += 1
        p.content_type = raw[o : o + n].decode()
        o += n
    else:
        p.content_type = None
    if flags & _CONTENT_ENCODING:
        n = raw[o]
        o += 1
        p.content_encoding = raw[o : o + n].decode()
        o += n
    else:
        p.content_encoding = None
    if flags & _HEADERS:
        p.headers, o = decode_table(raw, o, typed)
    else:
        p.headers = None
    if flags & _DELIVERY_MODE:
        p.delivery_mode = raw[o]
        o += 1
    else:
        p.delivery_mode = None
    if flags & _PRIORITY:
        p.priority = raw[o]
        o += 1
    else:
        p.priority = None
    if flags & _CORRELATION_ID:
        n = raw[o]
        o += 1
        p.correlation_id = raw[o : o + n].decode()
        o += n
    else:
        p.correlation_id = None
    if flags & _REPLY_TO:
        n = raw[o]
        o += 1
        p.reply_to = raw[o : o + n].decode()
        o += n
    else:
        p.reply_to = None
    if flags & _EXPIRATION:
        n = raw[o]
        o += 1
        p.expiration = raw[o : o + n].decode()
        o += n
    else:
        p.expiration = None
    if flags & _MESSAGE_ID:
        n = raw[o]
        o += 1
        p.message_id = raw[o : o + n].decode()
        o += n
    else:
        p.message_id = None
    if flags & _TIMESTAMP:
        (p.timestamp,) = _u64(raw, o)
        o += 8
    else:
        p.timestamp = None
    if flags & _TYPE:
        n = raw[o]
        o += 1
        p.type = raw[o : o + n].decode()
        o += n
    else:
        p.type = None
    if flags & _USER_ID:
        n = raw[o]
        o += 1
        p.user_id = raw[o : o + n].decode()
        o += n
    else:
        p.user_id = None
    if flags & _APP_ID:
        n = raw[o]
        o += 1
        p.app_id = raw[o : o + n].decode()
        o += n
    else:
        p.app_id = None
    if flags & _CLUSTER_ID:
        n = raw[o]
        o += 1
        p.cluster_id = raw[o : o + n].decode()
        o += n
    else:
        p.cluster_id = None
    if o != len(raw):
        raise ProtocolError(
            _SYNTAX_ERROR, "truncated" if o > len(raw) else f"{len(raw) - o} bytes after the list"
        )
    return p
