"""The frame decoder: chunking independence, frame_max, every error case, fuzzing."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.codec import (
    HEARTBEAT_FRAME,
    PROTOCOL_HEADER,
    BasicProperties,
    ContentMessage,
    DecodeError,
    Decoder,
    Event,
    Heartbeat,
    MethodFrame,
    ProtocolHeader,
    encode_content,
    encode_method,
    encode_properties,
    spec,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENT_TYPES = (ProtocolHeader, MethodFrame, ContentMessage, Heartbeat, DecodeError)


def frame(ftype: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + bytes([end])


def method_frame(channel: int, class_id: int, method_id: int, args: bytes = b"") -> bytes:
    return frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def header_frame(
    channel: int, body_size: int, props: bytes = b"\x00\x00", class_id: int = 60, weight: int = 0
) -> bytes:
    return frame(2, channel, struct.pack(">HHQ", class_id, weight, body_size) + props)


def body_frame(channel: int, body: bytes) -> bytes:
    return frame(3, channel, body)


PUBLISH = spec.BasicPublish(exchange="amq.direct", routing_key="rk")
PUBLISH_FRAME = encode_method(1, PUBLISH)
PROPS = encode_properties(BasicProperties(content_type="text/plain", delivery_mode=2))


def decoder(**kwargs: Any) -> Decoder:
    kwargs.setdefault("expect_protocol_header", False)
    return Decoder(**kwargs)


def feed_all(d: Decoder, chunks: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events += d.feed(chunk)
    return events


def check_contract(events: list[Event]) -> None:
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    errors = [i for i, e in enumerate(events) if isinstance(e, DecodeError)]
    assert errors in ([], [len(events) - 1])


def error_of(events: list[Event]) -> tuple[int, int, int]:
    assert events, "no events"
    last = events[-1]
    assert isinstance(last, DecodeError), events
    e = last.error
    return e.reply_code, e.class_id, e.method_id


# ------------------------------------------------------------------ valid streams

methods_without_content = st.sampled_from(
    [
        spec.BasicAck(7, True),
        spec.BasicNack(2**64 - 1, False, True),
        spec.QueueDeclare(queue="q", durable=True, arguments={"x-max-length": 10}),
        spec.ChannelOpen(),
        spec.ConnectionTuneOk(2047, 131072, 60),
        spec.BasicConsume(queue="q", consumer_tag="ctag"),
        spec.TxCommit(),
        spec.ConnectionStartOk({"product": "test"}, "PLAIN", b"\x00guest\x00guest", "en_US"),
    ]
)
content_methods = st.sampled_from(
    [
        PUBLISH,
        spec.BasicDeliver("ctag", 1, False, "ex", "rk"),
        spec.BasicReturn(312, "NO_ROUTE", "ex", "rk"),
        spec.BasicGetOk(5, True, "", "q", 0),
    ]
)
channels = st.integers(0, 5) | st.integers(0, 65535)


@st.composite
def items(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    kind = draw(st.sampled_from(["method", "content", "heartbeat"]))
    if kind == "heartbeat":
        return HEARTBEAT_FRAME, [Heartbeat()]
    channel = draw(channels)
    if kind == "method":
        method = draw(methods_without_content)
        return encode_method(channel, method), [MethodFrame(channel, method)]
    method = draw(content_methods)
    props = draw(st.sampled_from([b"\x00\x00", PROPS]))
    body = draw(st.binary(max_size=300))
    frame_max = draw(st.sampled_from([0, 20, 50, 4096]))
    data = encode_content(channel, method, props, body, frame_max)
    return data, [ContentMessage(channel, method, props, body)]


streams = st.lists(items(), min_size=1, max_size=8)


def assemble(parts: list[tuple[bytes, list[Event]]]) -> tuple[bytes, list[Event]]:
    data = PROTOCOL_HEADER + b"".join(p[0] for p in parts)
    expected: list[Event] = [ProtocolHeader(True, 0, 9, 1)]
    for p in parts:
        expected += p[1]
    return data, expected


@SETTINGS
@given(streams, st.data())
def test_random_chunking_gives_the_same_events(
    parts: list[tuple[bytes, list[Event]]], data: st.DataObject
) -> None:
    stream, expected = assemble(parts)
    assert Decoder().feed(stream) == expected
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert feed_all(Decoder(), chunks) == expected


def test_every_split_point_and_single_bytes() -> None:
    stream = (
        PROTOCOL_HEADER
        + encode_method(0, spec.ConnectionTuneOk(2047, 131072, 60))
        + HEARTBEAT_FRAME
        + encode_content(1, PUBLISH, PROPS, b"hello", 4096)
        + encode_content(2, PUBLISH, b"\x00\x00", b"", 4096)
        + encode_content(1, PUBLISH, PROPS, b"x" * 50, 20)
        + encode_method(1, spec.BasicAck(3, False))
    )
    expected = Decoder().feed(stream)
    assert [type(e).__name__ for e in expected] == [
        "ProtocolHeader",
        "MethodFrame",
        "Heartbeat",
        "ContentMessage",
        "ContentMessage",
        "ContentMessage",
        "MethodFrame",
    ]
    for i in range(len(stream) + 1):
        assert feed_all(Decoder(), [stream[:i], stream[i:]]) == expected, i
    assert feed_all(Decoder(), [stream[i : i + 1] for i in range(len(stream))]) == expected


def test_interleaved_content_on_two_channels() -> None:
    stream = (
        encode_method(1, PUBLISH)
        + encode_method(2, PUBLISH)
        + header_frame(2, 3)
        + header_frame(1, 4, PROPS)
        + body_frame(1, b"ab")
        + body_frame(2, b"xyz")
        + body_frame(1, b"cd")
    )
    assert decoder().feed(stream) == [
        ContentMessage(2, PUBLISH, b"\x00\x00", b"xyz"),
        ContentMessage(1, PUBLISH, PROPS, b"abcd"),
    ]


def test_empty_body_frames_are_accepted() -> None:
    stream = PUBLISH_FRAME + header_frame(1, 2) + body_frame(1, b"") + body_frame(1, b"ab")
    assert decoder().feed(stream) == [ContentMessage(1, PUBLISH, b"\x00\x00", b"ab")]


def test_large_frame_arriving_in_many_reads() -> None:
    body = bytes(range(256)) * 1000
    stream = encode_content(1, PUBLISH, PROPS, body, 0)
    d = decoder(frame_max=0)
    events = feed_all(d, [stream[i : i + 1000] for i in range(0, len(stream), 1000)])
    assert events == [ContentMessage(1, PUBLISH, PROPS, body)]


def test_feed_accepts_bytearray_and_memoryview() -> None:
    frame_bytes = encode_method(1, spec.BasicAck(1, False))
    assert decoder().feed(bytearray(frame_bytes)) == decoder().feed(memoryview(frame_bytes))
    assert decoder().feed(b"") == []


# ------------------------------------------------------------------ protocol header


def test_protocol_header() -> None:
    d = Decoder()
    assert d.feed(b"AMQ") == []
    assert d.feed(b"P\x00\x00\x09") == []
    assert d.feed(b"\x01" + HEARTBEAT_FRAME) == [ProtocolHeader(True, 0, 9, 1), Heartbeat()]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"AMQP\x00\x00\x09\x00", ProtocolHeader(False, 0, 9, 0)),
        (b"AMQP\x01\x01\x00\x09", ProtocolHeader(False, 1, 0, 9)),
        (b"AMQP\x03\x01\x00\x00" + HEARTBEAT_FRAME, ProtocolHeader(False, 1, 0, 0)),
        (b"GET / HTTP/1.1", ProtocolHeader(False, 0, 0, 0)),
        (b"\x16", ProtocolHeader(False, 0, 0, 0)),  # TLS: no need to wait for 8 bytes
        (b"AMX", ProtocolHeader(False, 0, 0, 0)),
    ],
)
def test_bad_protocol_header(data: bytes, expected: ProtocolHeader) -> None:
    d = Decoder()
    assert d.feed(data) == [expected]
    assert d.feed(PROTOCOL_HEADER + HEARTBEAT_FRAME) == []


def test_without_protocol_header_a_header_is_a_bad_frame() -> None:
    assert error_of(decoder().feed(PROTOCOL_HEADER)) == (501, 0, 0)


# ------------------------------------------------------------------ frame_max


def test_frame_max() -> None:
    d = decoder(frame_max=4096)
    # RabbitMQ tolerates payloads up to frame_max (8 bytes over frame_max - 8).
    assert d.feed(body_frame(1, b"x" * 4096)) != []
    d = decoder(frame_max=4096)
    d.feed(PUBLISH_FRAME + header_frame(1, 10000))
    assert d.feed(body_frame(1, b"x" * 4096)) == []
    events = d.feed(body_frame(1, b"x" * 4097))
    assert error_of(events) == (501, 0, 0)
    assert events[-1].error.text.startswith("type 3, all octets = <<")  # type: ignore[union-attr]


def test_frame_max_is_checked_on_the_frame_header_alone() -> None:
    d = decoder(frame_max=4096)
    assert error_of(d.feed(struct.pack(">BHI", 3, 1, 10**9))) == (501, 0, 0)


def test_frame_max_zero_is_unlimited_and_the_attribute_is_writable() -> None:
    big = encode_content(1, PUBLISH, b"\x00\x00", b"x" * 200000, 0)
    assert len(decoder(frame_max=0).feed(big)) == 1
    d = decoder()
    assert error_of(d.feed(big)) == (501, 0, 0)
    d = decoder(frame_max=0)
    d.frame_max = 4096
    assert error_of(d.feed(big)) == (501, 0, 0)


def test_max_body_size() -> None:
    d = decoder(max_body_size=10)
    assert error_of(d.feed(PUBLISH_FRAME + header_frame(1, 11))) == (501, 60, 40)
    d = decoder(max_body_size=10)
    assert len(d.feed(PUBLISH_FRAME + header_frame(1, 10) + body_frame(1, b"x" * 10))) == 1


# ------------------------------------------------------------------ error cases

ACK_ARGS = struct.pack(">QB", 1, 0)

ERROR_CASES = {
    "bad end octet": (frame(1, 1, b"\x00\x3c\x00\x50" + ACK_ARGS, end=0), (501, 0, 0)),
    "unknown frame type": (frame(9, 0, b""), (501, 0, 0)),
    "frame type 0": (frame(0, 0, b""), (501, 0, 0)),
    "method frame shorter than 4 bytes": (frame(1, 0, b"\x00\x3c"), (501, 0, 0)),
    "unknown method": (method_frame(1, 60, 99), (540, 60, 99)),
    "unknown class": (method_frame(1, 1234, 10), (540, 1234, 10)),
    "malformed arguments": (method_frame(1, 60, 80, b"\x00"), (501, 60, 80)),
    "trailing argument bytes": (method_frame(1, 60, 80, ACK_ARGS + b"\x00"), (501, 60, 80)),
    "bad utf-8 in shortstr": (
        method_frame(1, 50, 10, b"\x00\x00\x01\xff\x00\x00\x00\x00\x00"),
        (501, 50, 10),
    ),
    "header without method": (header_frame(1, 0), (505, 0, 0)),
    "body without method": (body_frame(1, b"x"), (505, 0, 0)),
    "header on channel 0": (header_frame(0, 0), (505, 0, 0)),
    "method while awaiting header": (
        PUBLISH_FRAME + encode_method(1, spec.BasicAck(1, False)),
        (505, 60, 40),
    ),
    "body while awaiting header": (PUBLISH_FRAME + body_frame(1, b"x"), (505, 60, 40)),
    "method while awaiting body": (
        PUBLISH_FRAME + header_frame(1, 5) + encode_method(1, spec.BasicAck(1, False)),
        (505, 60, 40),
    ),
    "content method while awaiting body": (
        PUBLISH_FRAME + header_frame(1, 5) + PUBLISH_FRAME,
        (505, 60, 40),
    ),
    "header while awaiting body": (
        PUBLISH_FRAME + header_frame(1, 5) + header_frame(1, 5),
        (505, 60, 40),
    ),
    "header of the wrong class": (PUBLISH_FRAME + header_frame(1, 5, class_id=50), (505, 60, 40)),
    "header with a weight": (PUBLISH_FRAME + header_frame(1, 5, weight=1), (505, 60, 40)),
    "header shorter than 12 bytes": (PUBLISH_FRAME + frame(2, 1, b"\x00\x3c"), (501, 0, 0)),
    "body larger than declared": (
        PUBLISH_FRAME + header_frame(1, 3) + body_frame(1, b"abcd"),
        (505, 60, 40),
    ),
    "second body frame too large": (
        PUBLISH_FRAME + header_frame(1, 3) + body_frame(1, b"ab") + body_frame(1, b"cd"),
        (505, 60, 40),
    ),
    "heartbeat on a channel": (frame(8, 1, b""), (505, 0, 0)),
    "heartbeat with a payload": (frame(8, 0, b"x"), (501, 0, 0)),
}


@pytest.mark.parametrize("case", ERROR_CASES, ids=list(ERROR_CASES))
def test_error_cases(case: str) -> None:
    data, expected = ERROR_CASES[case]
    d = decoder()
    prefix = encode_method(3, spec.BasicAck(9, False))
    events = d.feed(prefix + data + HEARTBEAT_FRAME)
    check_contract(events)
    # What came before the error is still delivered.
    assert events[0] == MethodFrame(3, spec.BasicAck(9, False))
    assert error_of(events) == expected
    assert d.feed(HEARTBEAT_FRAME) == []
    assert d.feed(prefix) == []
    # The same bytes one at a time give the same error.
    assert error_of(feed_all(decoder(), [bytes([b]) for b in data])) == expected


def test_error_is_the_last_event_even_after_the_fast_path() -> None:
    stream = encode_content(1, PUBLISH, PROPS, b"body", 4096) + frame(9, 0, b"")
    events = decoder().feed(stream)
    assert events[0] == ContentMessage(1, PUBLISH, PROPS, b"body")
    assert error_of(events) == (501, 0, 0)


# ------------------------------------------------------------------ fuzzing


@SETTINGS
@given(st.binary(max_size=200), st.booleans(), st.sampled_from([0, 4096, 131072]))
def test_arbitrary_bytes(data: bytes, expect_header: bool, frame_max: int) -> None:
    d = Decoder(expect_protocol_header=expect_header, frame_max=frame_max)
    check_contract(d.feed(data))
    check_contract(d.feed(data))


@SETTINGS
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_arbitrary_frames_after_a_valid_header(payloads: list[bytes]) -> None:
    # Well-framed garbage reaches deeper than random bytes: type, channel, payload vary.
    data = PROTOCOL_HEADER + b"".join(
        frame(p[0] % 10 if p else 1, p[1] % 3 if len(p) > 1 else 1, p[2:]) for p in payloads
    )
    check_contract(Decoder().feed(data))


@SETTINGS
@given(streams, st.data())
def test_mutated_valid_streams(parts: list[tuple[bytes, list[Event]]], data: st.DataObject) -> None:
    stream, _ = assemble(parts)
    buf = bytearray(stream)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        i = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[i] = data.draw(st.integers(0, 255))
        elif op == "delete" and buf:
            del buf[i : i + data.draw(st.integers(1, 8))]
        elif op == "insert":
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del buf[i:]
    cuts = sorted(data.draw(st.sets(st.integers(0, len(buf)), max_size=5)))
    chunks = [bytes(buf[a:b]) for a, b in zip([0, *cuts], [*cuts, len(buf)], strict=True)]
    whole = Decoder().feed(bytes(buf))
    check_contract(whole)
    assert feed_all(Decoder(), chunks) == whole


def test_publish_arguments_decoded_once_per_distinct_bytes_and_bounded() -> None:
    """basic.publish methods come from a small cache keyed by their argument bytes:
    every message still gets its own exchange, routing key and flags, and a stream
    of distinct routing keys does not grow the cache without bound."""
    from amqpish.codec.connection import _PUBLISH_CACHE_SIZE
    from amqpish.codec.frames import encode_basic_publish

    d = Decoder(expect_protocol_header=False)
    keys = [f"key.{i % 700}" for i in range(2000)]
    data = b"".join(
        encode_basic_publish(1, b"ex", k.encode(), i % 3 == 0, False, b"\x00\x00", b"b", 131072)
        for i, k in enumerate(keys)
    )
    events = d.feed(data)
    got = [
        (e.method.exchange, e.method.routing_key, e.method.mandatory)  # type: ignore[attr-defined]
        for e in events
    ]
    assert got == [("ex", k, i % 3 == 0) for i, k in enumerate(keys)]
    assert len(d._publish_cache) <= _PUBLISH_CACHE_SIZE
