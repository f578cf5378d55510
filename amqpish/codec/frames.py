"""Frame encoders: every function returns one bytes object ready to write.

How it works: a frame is ``type octet, channel short, size long, payload,
0xCE``. The encoders build a list of pieces and join it once, so the body is
copied exactly once (into the joined result); adjacent fixed-width fields,
including the end octet of one frame and the header of the next, are packed
by one precompiled ``struct.Struct`` call. The per-message encoders
(``encode_basic_deliver`` and friends) skip Method objects altogether and take
the string fields already UTF-8 encoded, since the broker encodes exchange
names and consumer tags once and reuses them.

A body larger than ``frame_max - 8`` is split into several body frames,
sliced through a memoryview so the split costs no extra copy; ``frame_max``
0 means no limit. An empty body produces no body frame at all.
"""

from __future__ import annotations

import struct

from .spec import Method

__all__ = [
    "HEARTBEAT_FRAME",
    "encode_basic_ack",
    "encode_basic_deliver",
    "encode_basic_get_ok",
    "encode_basic_nack",
    "encode_basic_publish",
    "encode_basic_return",
    "encode_content",
    "encode_method",
]

HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"

_END = b"\xce"
_Parts = list[bytes | memoryview]
_BYTES = [bytes((i,)) for i in range(256)]

# type, channel, size, class-id, method-id
_pack_method_head = struct.Struct(">BHIHH").pack
# end of the method frame, then the content header frame up to its properties:
# 0xCE, type 2, channel, size, class-id 60, weight 0, body size
_pack_header = struct.Struct(">BBHIHHQ").pack
# 0xCE ending the header frame, then the body frame's type, channel, size
_pack_body_head = struct.Struct(">BBHI").pack
_pack_frame_head = struct.Struct(">BHI").pack

# basic.deliver: frame head, class/method, consumer-tag length
_pack_deliver_head = struct.Struct(">BHIHHB").pack
# delivery-tag, redelivered, exchange length
_pack_tag_bit_len = struct.Struct(">QBB").pack
# basic.get-ok: frame head, class/method, delivery-tag, redelivered, exchange length
_pack_get_ok_head = struct.Struct(">BHIHHQBB").pack
# routing-key ends get-ok; then message-count
_pack_u32 = struct.Struct(">I").pack
# basic.return: frame head, class/method, reply-code, reply-text length
_pack_return_head = struct.Struct(">BHIHHHB").pack
# basic.publish: frame head, class/method, reserved-1, exchange length
_pack_publish_head = struct.Struct(">BHIHHHB").pack
# routing-key length is _BYTES; bits, 0xCE, header frame type, channel, size, class, weight, size
_pack_publish_tail = struct.Struct(">BBBHIHHQ").pack
# complete ack frame: head, class/method, delivery-tag, bits, 0xCE
_pack_ack = struct.Struct(">BHIHHQBB").pack


def encode_method(channel: int, method: Method) -> bytes:
    """A complete method frame."""
    args = method.encode_args()
    return b"".join(
        (
            _pack_method_head(1, channel, len(args) + 4, method.CLASS_ID, method.METHOD_ID),
            args,
            _END,
        )
    )


def _append_body(parts: _Parts, channel: int, body: bytes, frame_max: int) -> None:
    # Each body frame head starts with the 0xCE that ends the previous frame
    # (the header frame, or the previous body frame); the caller adds the last one.
    size = len(body)
    if not size:
        return
    chunk = frame_max - 8
    if frame_max <= 0 or size <= chunk:
        parts.append(_pack_body_head(206, 3, channel, size))
        parts.append(body)
        return
    if chunk <= 0:
        raise ValueError(f"frame_max {frame_max} leaves no room for a body")
    view = memoryview(body)
    for start in range(0, size, chunk):
        piece = view[start : start + chunk]
        parts.append(_pack_body_head(206, 3, channel, len(piece)))
        # bytes.join takes any buffer: the memoryview slice is copied only by the join.
        parts.append(piece)


def _frames(
    parts: _Parts, channel: int, properties_raw: bytes, body: bytes, frame_max: int
) -> bytes:
    # parts ends with the method frame's payload; close it, add header and body frames.
    parts.append(_pack_header(206, 2, channel, 12 + len(properties_raw), 60, 0, len(body)))
    parts.append(properties_raw)
    _append_body(parts, channel, body, frame_max)
    parts.append(_END)
    return b"".join(parts)


def encode_content(
    channel: int, method: Method, properties_raw: bytes, body: bytes, frame_max: int
) -> bytes:
    """Method frame + content header frame (properties verbatim) + body frames."""
    args = method.encode_args()
    parts: _Parts = [
        _pack_method_head(1, channel, len(args) + 4, method.CLASS_ID, method.METHOD_ID),
        args,
    ]
    return _frames(parts, channel, properties_raw, body, frame_max)


def encode_basic_deliver(
    channel: int,
    consumer_tag: bytes,
    delivery_tag: int,
    redelivered: bool,
    exchange: bytes,
    routing_key: bytes,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> bytes:
    """basic.deliver with its content; the shortstr fields come UTF-8 encoded."""
    try:
        size = 16 + len(consumer_tag) + len(exchange) + len(routing_key)
        parts: _Parts = [
            _pack_deliver_head(1, channel, size, 60, 60, len(consumer_tag)),
            consumer_tag,
            _pack_tag_bit_len(delivery_tag, 1 if redelivered else 0, len(exchange)),
            exchange,
            _BYTES[len(routing_key)],
            routing_key,
        ]
    except (struct.error, IndexError) as exc:
        raise ValueError(f"cannot encode basic.deliver: {exc}") from exc
    return _frames(parts, channel, properties_raw, body, frame_max)


def encode_basic_get_ok(
    channel: int,
    delivery_tag: int,
    redelivered: bool,
    exchange: bytes,
    routing_key: bytes,
    message_count: int,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> bytes:
    """basic.get-ok with its content; the shortstr fields come UTF-8 encoded."""
    try:
        size = 19 + len(exchange) + len(routing_key)
        parts: _Parts = [
            _pack_get_ok_head(
                1, channel, size, 60, 71, delivery_tag, 1 if redelivered else 0, len(exchange)
            ),
            exchange,
            _BYTES[len(routing_key)],
            routing_key,
            _pack_u32(message_count),
        ]
    except (struct.error, IndexError) as exc:
        raise ValueError(f"cannot encode basic.get-ok: {exc}") from exc
    return _frames(parts, channel, properties_raw, body, frame_max)


def encode_basic_return(
    channel: int,
    reply_code: int,
    reply_text: str,
    exchange: bytes,
    routing_key: bytes,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> bytes:
    """basic.return with its content; exchange and routing key come UTF-8 encoded."""
    text = reply_text.encode()
    try:
        size = 9 + len(text) + len(exchange) + len(routing_key)
        parts: _Parts = [
            _pack_return_head(1, channel, size, 60, 50, reply_code, len(text)),
            text,
            _BYTES[len(exchange)],
            exchange,
            _BYTES[len(routing_key)],
            routing_key,
        ]
    except (struct.error, IndexError) as exc:
        raise ValueError(f"cannot encode basic.return: {exc}") from exc
    return _frames(parts, channel, properties_raw, body, frame_max)


def encode_basic_publish(
    channel: int,
    exchange: bytes,
    routing_key: bytes,
    mandatory: bool,
    immediate: bool,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> bytes:
    """basic.publish with its content (the client's hot path)."""
    bits = (1 if mandatory else 0) | (2 if immediate else 0)
    try:
        parts: _Parts = [
            _pack_publish_head(
                1, channel, 9 + len(exchange) + len(routing_key), 60, 40, 0, len(exchange)
            ),
            exchange,
            _BYTES[len(routing_key)],
            routing_key,
            _pack_publish_tail(bits, 206, 2, channel, 12 + len(properties_raw), 60, 0, len(body)),
            properties_raw,
        ]
    except (struct.error, IndexError) as exc:
        raise ValueError(f"cannot encode basic.publish: {exc}") from exc
    _append_body(parts, channel, body, frame_max)
    parts.append(_END)
    return b"".join(parts)


def encode_basic_ack(channel: int, delivery_tag: int, multiple: bool) -> bytes:
    """A complete basic.ack frame."""
    return _pack_ack(1, channel, 13, 60, 80, delivery_tag, 1 if multiple else 0, 206)


def encode_basic_nack(channel: int, delivery_tag: int, multiple: bool, requeue: bool) -> bytes:
    """A complete basic.nack frame."""
    bits = (1 if multiple else 0) | (2 if requeue else 0)
    return _pack_ack(1, channel, 13, 60, 120, delivery_tag, bits, 206)
