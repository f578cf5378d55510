"""Frame encoders: layout, body splitting, and the fast encoders against the generic ones."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.codec import (
    HEARTBEAT_FRAME,
    BasicProperties,
    ContentMessage,
    Decoder,
    Heartbeat,
    MethodFrame,
    encode_basic_ack,
    encode_basic_deliver,
    encode_basic_get_ok,
    encode_basic_nack,
    encode_basic_publish,
    encode_basic_return,
    encode_content,
    encode_method,
    encode_properties,
    spec,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shortstrs = st.text(max_size=20).filter(lambda s: len(s.encode()) <= 255)
channels = st.integers(0, 65535)
tags = st.integers(0, 2**64 - 1)
frame_maxes = st.sampled_from([0, 4096, 131072]) | st.integers(9, 300)
bodies = st.binary(max_size=700)
props = st.sampled_from(
    [
        b"\x00\x00",
        encode_properties(BasicProperties(content_type="text/plain", delivery_mode=2)),
        encode_properties(BasicProperties(headers={"x": 1}, message_id="m")),
    ]
)


def split_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, channel, payload) of each frame; checks sizes and end octets."""
    frames = []
    off = 0
    while off < len(data):
        ftype, channel, size = struct.unpack_from(">BHI", data, off)
        assert data[off + 7 + size] == 0xCE
        frames.append((ftype, channel, data[off + 7 : off + 7 + size]))
        off += 8 + size
    assert off == len(data)
    return frames


def test_heartbeat_frame() -> None:
    assert HEARTBEAT_FRAME == b"\x08\x00\x00\x00\x00\x00\x00\xce"
    assert Decoder(expect_protocol_header=False).feed(HEARTBEAT_FRAME) == [Heartbeat()]


def test_method_frame_layout() -> None:
    frame = encode_method(5, spec.BasicQos(prefetch_count=10))
    assert frame == b"\x01\x00\x05\x00\x00\x00\x0b\x00\x3c\x00\x0a\x00\x00\x00\x00\x00\x0a\x00\xce"
    assert split_frames(encode_method(0, spec.TxSelect())) == [(1, 0, b"\x00\x5a\x00\x0a")]


def test_content_layout_and_splitting() -> None:
    method = spec.BasicPublish(exchange="e", routing_key="r")
    data = encode_content(3, method, b"\x00\x00", b"a" * 25, 18)
    frames = split_frames(data)
    assert [f[:2] for f in frames] == [(1, 3), (2, 3), (3, 3), (3, 3), (3, 3)]
    assert frames[1][2] == struct.pack(">HHQ", 60, 0, 25) + b"\x00\x00"
    assert [f[2] for f in frames[2:]] == [b"a" * 10, b"a" * 10, b"a" * 5]
    # Empty body: no body frame. frame_max 0: one body frame whatever the size.
    assert len(split_frames(encode_content(3, method, b"\x00\x00", b"", 4096))) == 2
    assert len(split_frames(encode_content(3, method, b"\x00\x00", b"x" * 100000, 0))) == 3
    # Exactly frame_max - 8 fits in one frame.
    assert len(split_frames(encode_content(3, method, b"\x00\x00", b"x" * 4088, 4096))) == 3
    assert len(split_frames(encode_content(3, method, b"\x00\x00", b"x" * 4089, 4096))) == 4
    with pytest.raises(ValueError):
        encode_content(3, method, b"\x00\x00", b"x" * 10, 8)


@SETTINGS
@given(channels, props, bodies, frame_maxes)
def test_encode_content_decodes_back(
    channel: int, properties_raw: bytes, body: bytes, frame_max: int
) -> None:
    method = spec.BasicPublish(exchange="ex", routing_key="rk")
    data = encode_content(channel, method, properties_raw, body, frame_max)
    if frame_max:
        assert all(len(payload) <= frame_max - 8 for _, _, payload in split_frames(data)[2:])
    # Tiny frame_max values only split the body; the decoder must still accept the header.
    decoder = Decoder(expect_protocol_header=False, frame_max=frame_max if frame_max > 300 else 0)
    events = decoder.feed(data)
    assert events == [ContentMessage(channel, method, properties_raw, body)]


@SETTINGS
@given(channels, shortstrs, tags, st.booleans(), shortstrs, shortstrs, props, bodies, frame_maxes)
def test_encode_basic_deliver(
    channel: int,
    consumer_tag: str,
    delivery_tag: int,
    redelivered: bool,
    exchange: str,
    routing_key: str,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> None:
    fast = encode_basic_deliver(
        channel,
        consumer_tag.encode(),
        delivery_tag,
        redelivered,
        exchange.encode(),
        routing_key.encode(),
        properties_raw,
        body,
        frame_max,
    )
    method = spec.BasicDeliver(consumer_tag, delivery_tag, redelivered, exchange, routing_key)
    assert fast == encode_content(channel, method, properties_raw, body, frame_max)


@SETTINGS
@given(
    channels,
    tags,
    st.booleans(),
    shortstrs,
    shortstrs,
    st.integers(0, 2**32 - 1),
    props,
    bodies,
    frame_maxes,
)
def test_encode_basic_get_ok(
    channel: int,
    delivery_tag: int,
    redelivered: bool,
    exchange: str,
    routing_key: str,
    message_count: int,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> None:
    fast = encode_basic_get_ok(
        channel,
        delivery_tag,
        redelivered,
        exchange.encode(),
        routing_key.encode(),
        message_count,
        properties_raw,
        body,
        frame_max,
    )
    method = spec.BasicGetOk(delivery_tag, redelivered, exchange, routing_key, message_count)
    assert fast == encode_content(channel, method, properties_raw, body, frame_max)


@SETTINGS
@given(channels, st.integers(0, 65535), shortstrs, shortstrs, shortstrs, props, bodies, frame_maxes)
def test_encode_basic_return(
    channel: int,
    reply_code: int,
    reply_text: str,
    exchange: str,
    routing_key: str,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> None:
    fast = encode_basic_return(
        channel,
        reply_code,
        reply_text,
        exchange.encode(),
        routing_key.encode(),
        properties_raw,
        body,
        frame_max,
    )
    method = spec.BasicReturn(reply_code, reply_text, exchange, routing_key)
    assert fast == encode_content(channel, method, properties_raw, body, frame_max)


@SETTINGS
@given(channels, shortstrs, shortstrs, st.booleans(), st.booleans(), props, bodies, frame_maxes)
def test_encode_basic_publish(
    channel: int,
    exchange: str,
    routing_key: str,
    mandatory: bool,
    immediate: bool,
    properties_raw: bytes,
    body: bytes,
    frame_max: int,
) -> None:
    fast = encode_basic_publish(
        channel,
        exchange.encode(),
        routing_key.encode(),
        mandatory,
        immediate,
        properties_raw,
        body,
        frame_max,
    )
    method = spec.BasicPublish(0, exchange, routing_key, mandatory, immediate)
    assert fast == encode_content(channel, method, properties_raw, body, frame_max)


@SETTINGS
@given(channels, tags, st.booleans(), st.booleans())
def test_encode_ack_and_nack(channel: int, tag: int, multiple: bool, requeue: bool) -> None:
    assert encode_basic_ack(channel, tag, multiple) == encode_method(
        channel, spec.BasicAck(tag, multiple)
    )
    nack = encode_basic_nack(channel, tag, multiple, requeue)
    assert nack == encode_method(channel, spec.BasicNack(tag, multiple, requeue))
    assert Decoder(expect_protocol_header=False).feed(nack) == [
        MethodFrame(channel, spec.BasicNack(tag, multiple, requeue))
    ]


def test_fast_encoders_reject_bad_values() -> None:
    long = b"x" * 256
    with pytest.raises(ValueError):
        encode_basic_deliver(1, long, 1, False, b"", b"", b"\x00\x00", b"", 0)
    with pytest.raises(ValueError):
        encode_basic_deliver(1, b"", 1, False, b"", long, b"\x00\x00", b"", 0)
    with pytest.raises(ValueError):
        encode_basic_deliver(1, b"", -1, False, b"", b"", b"\x00\x00", b"", 0)
    with pytest.raises(ValueError):
        encode_basic_get_ok(1, 1, False, long, b"", 0, b"\x00\x00", b"", 0)
    with pytest.raises(ValueError):
        encode_basic_return(1, 312, "x" * 256, b"", b"", b"\x00\x00", b"", 0)
    with pytest.raises(ValueError):
        encode_basic_publish(1, b"", long, False, False, b"\x00\x00", b"", 0)
    with pytest.raises(ValueError):
        encode_basic_publish(70000, b"", b"", False, False, b"\x00\x00", b"", 0)
