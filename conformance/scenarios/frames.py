"""Framing: malformed, oversized, unexpected and interleaved frames; content splitting.

All raw. Each scenario opens a connection (and channel 1), sends the frames under test and
records how the server answers: usually a connection.close with a 50x code, then EOF.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import pika

from conformance.core import Context, scenario
from conformance.helpers import raw_event, raw_until_close
from conformance.raw import (
    FRAME_BODY,
    FRAME_HEADER,
    FRAME_METHOD,
    PROTOCOL_HEADER,
    RawConnection,
    Typed,
    frame,
    header_payload,
    method_payload,
)


def opened(ctx: Context, **kw: Any) -> RawConnection:
    c = ctx.raw_open(**kw)
    c.open_channel(1)
    return c


def send_and_watch(ctx: Context, data: bytes, **kw: Any) -> Any:
    c = opened(ctx, **kw)
    c.send(data)
    return raw_until_close(c, timeout=3.0)


def publish_frames(exchange: str = "", routing_key: str = "", channel: int = 1) -> bytes:
    return frame(
        FRAME_METHOD,
        channel,
        method_payload("basic.publish", exchange=exchange, routing_key=routing_key),
    )


def with_queue(ctx: Context, **kw: Any) -> tuple[RawConnection, str]:
    c = opened(ctx, **kw)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    return c, q


def get(c: RawConnection, q: str) -> Any:
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    ev = c.next_event()
    if ev is None or isinstance(ev, tuple):
        return raw_event(ev)
    return {"body": ev.body, "body_frames": ev.body_frames, "properties": ev.properties}


# ------------------------------------------------------------------ malformed frames


@scenario("frames.unknown_frame_type")
def unknown_type(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(9, 0, b""))


@scenario("frames.unknown_frame_type_on_channel")
def unknown_type_ch(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(4, 1, b"abc"))


@scenario("frames.bad_frame_end")
def bad_end(ctx: Context) -> Any:
    payload = method_payload("queue.declare", queue="", exclusive=True)
    return send_and_watch(ctx, frame(FRAME_METHOD, 1, payload, end=0x00))


@scenario("frames.oversized_body_frame")
def oversized_body(ctx: Context) -> Any:
    body = b"x" * 5000
    data = (
        publish_frames()
        + frame(FRAME_HEADER, 1, header_payload(len(body)))
        + frame(FRAME_BODY, 1, body)
    )
    return send_and_watch(ctx, data, frame_max=4096)


@scenario("frames.oversized_method_frame")
def oversized_method(ctx: Context) -> Any:
    args = {f"k{i}": "v" * 100 for i in range(50)}
    payload = method_payload("queue.declare", queue="", exclusive=True, arguments=args)
    return send_and_watch(ctx, frame(FRAME_METHOD, 1, payload), frame_max=4096)


@scenario("frames.frame_exactly_frame_max")
def exact_frame_max(ctx: Context) -> Any:
    c, q = with_queue(ctx, frame_max=4096)
    body = b"y" * (4096 - 8)
    c.send(
        publish_frames(routing_key=q)
        + frame(FRAME_HEADER, 1, header_payload(len(body)))
        + frame(FRAME_BODY, 1, body)
    )
    got = get(c, q)
    return {"body_len": len(got["body"]), "body_frames": got["body_frames"]}


@scenario("frames.method_frame_too_short")
def method_too_short(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(FRAME_METHOD, 1, b"\x00\x32"))


@scenario("frames.truncated_method_arguments")
def truncated_args(ctx: Context) -> Any:
    payload = method_payload("queue.declare", queue="some-queue-name", exclusive=True)
    return send_and_watch(ctx, frame(FRAME_METHOD, 1, payload[:9]))


@scenario("frames.method_arguments_trailing_bytes")
def trailing_args(ctx: Context) -> Any:
    payload = method_payload("exchange.declare", exchange="amq.direct", type="direct", passive=True)
    c = opened(ctx)
    c.send(frame(FRAME_METHOD, 1, payload + b"\x00\x00\x00"))
    return raw_event(c.read_method(3))


@scenario("frames.unknown_class")
def unknown_class(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(FRAME_METHOD, 1, struct.pack(">HH", 99, 10)))


@scenario("frames.unknown_method_in_known_class")
def unknown_method(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(FRAME_METHOD, 1, struct.pack(">HH", 50, 99)))


@scenario("frames.unknown_method_on_channel_zero")
def unknown_method_ch0(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(FRAME_METHOD, 0, struct.pack(">HH", 10, 99)))


@scenario("frames.server_only_method_from_client")
def server_method(ctx: Context) -> Any:
    payload = method_payload(
        "basic.deliver", consumer_tag="x", delivery_tag=1, exchange="", routing_key="q"
    )
    c = opened(ctx)
    c.send(frame(FRAME_METHOD, 1, payload))
    c.send_method(1, "exchange.declare", exchange="amq.direct", type="direct", passive=True)
    return raw_until_close(c, 3.0)[:1]


@scenario("frames.queue_method_on_channel_zero")
def queue_on_zero(ctx: Context) -> Any:
    return send_and_watch(
        ctx, frame(FRAME_METHOD, 0, method_payload("queue.declare", queue="", exclusive=True))
    )


@scenario("frames.connection_method_on_channel_one")
def connection_on_one(ctx: Context) -> Any:
    payload = method_payload("connection.close", reply_code=200, reply_text="x")
    return send_and_watch(ctx, frame(FRAME_METHOD, 1, payload))


@scenario("frames.publish_on_channel_zero")
def publish_on_zero(ctx: Context) -> Any:
    return send_and_watch(
        ctx, publish_frames(channel=0) + frame(FRAME_HEADER, 0, header_payload(0))
    )


# ------------------------------------------------------------------ content sequencing


@scenario("frames.content_header_without_method")
def header_without_method(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(FRAME_HEADER, 1, header_payload(3)))


@scenario("frames.body_without_method")
def body_without_method(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(FRAME_BODY, 1, b"abc"))


@scenario("frames.body_without_header")
def body_without_header(ctx: Context) -> Any:
    return send_and_watch(ctx, publish_frames(routing_key="x") + frame(FRAME_BODY, 1, b"abc"))


@scenario("frames.method_while_expecting_header")
def method_expecting_header(ctx: Context) -> Any:
    return send_and_watch(
        ctx,
        publish_frames(routing_key="x")
        + frame(FRAME_METHOD, 1, method_payload("basic.qos", prefetch_count=1)),
    )


@scenario("frames.method_while_expecting_body")
def method_expecting_body(ctx: Context) -> Any:
    return send_and_watch(
        ctx,
        publish_frames(routing_key="x")
        + frame(FRAME_HEADER, 1, header_payload(10))
        + frame(FRAME_BODY, 1, b"abc")
        + frame(FRAME_METHOD, 1, method_payload("basic.qos", prefetch_count=1)),
    )


@scenario("frames.header_wrong_class")
def header_wrong_class(ctx: Context) -> Any:
    return send_and_watch(
        ctx,
        publish_frames(routing_key="x") + frame(FRAME_HEADER, 1, header_payload(3, class_id=50)),
    )


@scenario("frames.header_nonzero_weight")
def header_weight(ctx: Context) -> Any:
    c, q = with_queue(ctx)
    hp = bytearray(header_payload(2))
    hp[2:4] = b"\x00\x07"
    c.send(
        publish_frames(routing_key=q)
        + frame(FRAME_HEADER, 1, bytes(hp))
        + frame(FRAME_BODY, 1, b"ok")
    )
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    ev = c.next_event(3)
    if isinstance(ev, tuple):
        return raw_until_close(c, 3.0, first=ev)
    return raw_event(ev)


def send_then_get(ctx: Context, make: Any) -> Any:
    """Send frames built by make(queue), then basic.get: what arrives (a close, or the message)."""
    c, q = with_queue(ctx)
    c.send(make(q))
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    ev = c.next_event(3)
    if isinstance(ev, tuple):
        return raw_until_close(c, 3.0, first=ev)
    return raw_event(ev)


@scenario("frames.body_larger_than_declared")
def body_too_large(ctx: Context) -> Any:
    return send_then_get(
        ctx,
        lambda q: (
            publish_frames(routing_key=q)
            + frame(FRAME_HEADER, 1, header_payload(3))
            + frame(FRAME_BODY, 1, b"abcdef")
        ),
    )


@scenario("frames.body_frame_after_zero_size_header")
def body_after_zero(ctx: Context) -> Any:
    return send_and_watch(
        ctx,
        publish_frames(routing_key="x")
        + frame(FRAME_HEADER, 1, header_payload(0))
        + frame(FRAME_BODY, 1, b"abc"),
    )


@scenario("frames.header_on_channel_zero")
def header_on_zero(ctx: Context) -> Any:
    return send_and_watch(ctx, frame(FRAME_HEADER, 0, header_payload(3)))


@scenario("frames.content_on_unopened_channel")
def content_unopened(ctx: Context) -> Any:
    return send_and_watch(
        ctx, publish_frames(routing_key="x", channel=7) + frame(FRAME_HEADER, 7, header_payload(0))
    )


@scenario("frames.property_flags_continuation_bit")
def flags_continuation(ctx: Context) -> Any:
    hp = struct.pack(">HHQH", 60, 0, 0, 0x0001) + struct.pack(">H", 0)
    return send_then_get(ctx, lambda q: publish_frames(routing_key=q) + frame(FRAME_HEADER, 1, hp))


@scenario("frames.header_truncated_properties")
def header_truncated(ctx: Context) -> Any:
    hp = struct.pack(">HHQH", 60, 0, 0, 0x8000) + b"\x0a"  # content-type of 10 bytes, none sent
    return send_and_watch(ctx, publish_frames(routing_key="x") + frame(FRAME_HEADER, 1, hp))


@scenario("frames.zero_size_body_needs_no_body_frame")
def zero_size_body(ctx: Context) -> Any:
    c, q = with_queue(ctx)
    c.send(publish_frames(routing_key=q) + frame(FRAME_HEADER, 1, header_payload(0)))
    return get(c, q)


@scenario("frames.empty_body_frame_in_content")
def empty_body_frame(ctx: Context) -> Any:
    c, q = with_queue(ctx)
    c.send(
        publish_frames(routing_key=q)
        + frame(FRAME_HEADER, 1, header_payload(6))
        + frame(FRAME_BODY, 1, b"abc")
        + frame(FRAME_BODY, 1, b"")
        + frame(FRAME_BODY, 1, b"def")
    )
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    ev = c.next_event(3)
    if isinstance(ev, tuple):
        return raw_until_close(c, 3.0, first=ev)
    return raw_event(ev)


@scenario("frames.many_small_body_frames")
def many_small(ctx: Context) -> Any:
    c, q = with_queue(ctx)
    body = bytes(range(256)) * 4
    data = publish_frames(routing_key=q) + frame(FRAME_HEADER, 1, header_payload(len(body)))
    for i in range(0, len(body), 10):
        data += frame(FRAME_BODY, 1, body[i : i + 10])
    c.send(data)
    got = get(c, q)
    return {"intact": got["body"] == body, "body_frames": got["body_frames"]}


@scenario("frames.interleaved_content_on_two_channels")
def interleaved(ctx: Context) -> Any:
    c, q = with_queue(ctx)
    c.open_channel(2)
    c.send(
        publish_frames(routing_key=q, channel=1)
        + frame(FRAME_HEADER, 1, header_payload(6))
        + frame(FRAME_BODY, 1, b"one-")
        + publish_frames(routing_key=q, channel=2)
        + frame(FRAME_HEADER, 2, header_payload(3))
        + frame(FRAME_BODY, 2, b"two")
        + frame(FRAME_BODY, 1, b"a!")
    )
    first = get(c, q)
    second = get(c, q)
    # two channels publish independently: which is queued first is not defined
    return sorted([first["body"], second["body"]])


@scenario("frames.delivery_split_at_negotiated_frame_max")
def split_delivery(ctx: Context) -> Any:
    c, q = with_queue(ctx, frame_max=4096)
    c.publish(1, b"z" * 10000, routing_key=q)
    got = get(c, q)
    return {"body_len": len(got["body"]), "body_frames": got["body_frames"]}


@scenario("frames.delivery_split_at_default_frame_max")
def split_default(ctx: Context) -> Any:
    c, q = with_queue(ctx)
    c.publish(1, b"w" * 300000, routing_key=q, frame_max=4096)
    got = get(c, q)
    return {"body_len": len(got["body"]), "body_frames": got["body_frames"]}


@scenario("frames.large_message_roundtrip_pika")
def large_pika(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    body = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB
    ch.basic_publish("", q, body)
    _, _, got = ch.basic_get(q, auto_ack=True)
    return {
        "length": len(got or b""),
        "sha256_equal": hashlib.sha256(got or b"").digest() == hashlib.sha256(body).digest(),
    }


@scenario("frames.large_message_16mb_pika", timeout=60)
def large_16mb(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    body = bytes(range(256)) * 65536
    ch.basic_publish("", q, body, pika.BasicProperties(content_type="application/octet-stream"))
    _m, p, got = ch.basic_get(q, auto_ack=True)
    return {"length": len(got or b""), "equal": got == body, "content_type": p.content_type}


# ------------------------------------------------------------------ field tables


ALL_TYPES = {
    "bool": Typed("t", True),
    "int8": Typed("b", -5),
    "uint8": Typed("B", 250),
    "int16": Typed("s", -300),
    "uint16": Typed("u", 65000),
    "int32": Typed("I", -70000),
    "uint32": Typed("i", 4000000000),
    "int64": Typed("l", -(2**40)),
    "float": Typed("f", 1.5),
    "double": Typed("d", 2.25),
    "decimal": Typed("D", (2, 12345)),
    "longstr": Typed("S", "text"),
    "bytes": Typed("x", b"\x00\x01"),
    "array": Typed("A", [Typed("l", 1), Typed("S", "two")]),
    "table": Typed("F", {"inner": Typed("t", False)}),
    "void": Typed("V", None),
    "timestamp": Typed("T", 1700000000),
}


def _typed_roundtrip(ctx: Context, headers: dict[str, Any]) -> Any:
    c = ctx.raw_open(typed=True)
    c.open_channel(1)
    c.send_method(1, "queue.declare", queue="", exclusive=True)
    ok = c.expect("queue.declare_ok", 1)
    q = ok["queue"]
    c.publish(1, b"t", routing_key=q, properties={"headers": headers})
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    ev = c.next_event()
    if ev is None or isinstance(ev, tuple):
        return raw_event(ev)
    return ev.properties.get("headers")


@scenario("frames.field_table_types_roundtrip")
def table_types(ctx: Context) -> Any:
    return _typed_roundtrip(ctx, ALL_TYPES)


@scenario("frames.field_table_unknown_type_tag")
def table_bad_tag(ctx: Context) -> Any:
    c = opened(ctx)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    hp = bytearray(header_payload(1, {"headers": {"k": "v"}}))
    i = hp.index(b"S\x00\x00\x00\x01v")
    hp[i : i + 1] = b"Z"
    c.send(
        publish_frames(routing_key=q)
        + frame(FRAME_HEADER, 1, bytes(hp))
        + frame(FRAME_BODY, 1, b"x")
    )
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    ev = c.next_event(3)
    if isinstance(ev, tuple):
        return raw_until_close(c, 3.0, first=ev)
    return raw_event(ev)


@scenario("frames.queue_declare_bad_argument_table")
def declare_bad_table(ctx: Context) -> Any:
    payload = bytearray(
        method_payload("queue.declare", queue="", exclusive=True, arguments={"x-a": "v"})
    )
    i = payload.index(b"S\x00\x00\x00\x01v")
    payload[i : i + 1] = b"Z"
    return send_and_watch(ctx, frame(FRAME_METHOD, 1, bytes(payload)))


@scenario("frames.garbage_after_protocol_header")
def garbage_after_header(ctx: Context) -> Any:
    c = ctx.raw()
    c.send(PROTOCOL_HEADER)
    c.expect("connection.start", 0)
    c.send(b"\xff" * 16)
    return raw_until_close(c, timeout=8.0)
