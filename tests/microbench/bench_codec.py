"""Micro-benchmarks of the codec's per-message paths (run by `make microbench`, not by pytest).

Frames are encoded and decoded in memory with the sizes a typical publisher
uses: a 256-byte body, a content type and delivery mode, and for the
properties benchmarks a small headers table of the kinds clients send.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from amqpish.codec import (
    BasicProperties,
    ContentMessage,
    Decoder,
    Event,
    decode_properties,
    decode_table,
    encode_basic_ack,
    encode_basic_deliver,
    encode_basic_publish,
    encode_properties,
    encode_table,
    spec,
)

FRAME_MAX = 131072
BODY = bytes(range(256))
EXCHANGE = b"amq.topic"
ROUTING_KEY = b"orders.eu.created"
CONSUMER_TAG = b"amq.ctag-Vq7ZzN3h1w8qgYvJ3mY7Qw"
PROPS_RAW = encode_properties(BasicProperties(content_type="application/json", delivery_mode=2))

# What celery/kombu and tracing clients put in headers: strings, ints, a bool,
# a nested table and an array (the decoder dispatches on each type octet).
HEADERS: dict[str, Any] = {
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "task": "proj.tasks.add",
    "retries": 3,
    "eta": None,
    "ignore_result": False,
    "x-death-count": 1234567890123,
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "origin": {"host": "worker-7", "pid": 4242},
    "route": ["eu", "orders", "created"],
}
HEADERS_RAW = encode_table(HEADERS)
PROPS_WITH_HEADERS = BasicProperties(
    content_type="application/json",
    content_encoding="utf-8",
    headers=HEADERS,
    delivery_mode=2,
    priority=0,
    correlation_id="0f8fad5b-d9cb-469f-a165-70867728950e",
    reply_to="amq.rabbitmq.reply-to",
    message_id="m-000000001",
    timestamp=1_795_000_000,
)
PROPS_WITH_HEADERS_RAW = encode_properties(PROPS_WITH_HEADERS)

N_FRAMES = 1000

# one table per module in the report, each in its own time unit
pytestmark = pytest.mark.benchmark(group="codec, per call")


def test_encode_basic_publish(benchmark: BenchmarkFixture) -> None:
    frames = benchmark(
        encode_basic_publish, 1, EXCHANGE, ROUTING_KEY, False, False, PROPS_RAW, BODY, FRAME_MAX
    )
    # method + header + one body frame, each with 8 bytes of framing
    method_args = 2 + 1 + len(EXCHANGE) + 1 + len(ROUTING_KEY) + 1
    assert len(frames) == 3 * 8 + (4 + method_args) + (12 + len(PROPS_RAW)) + len(BODY)
    assert frames.endswith(BODY + b"\xce")


def test_encode_basic_deliver(benchmark: BenchmarkFixture) -> None:
    frames = benchmark(
        encode_basic_deliver,
        1,
        CONSUMER_TAG,
        123_456,
        False,
        EXCHANGE,
        ROUTING_KEY,
        PROPS_RAW,
        BODY,
        FRAME_MAX,
    )
    method_args = 1 + len(CONSUMER_TAG) + 8 + 1 + 1 + len(EXCHANGE) + 1 + len(ROUTING_KEY)
    assert len(frames) == 3 * 8 + (4 + method_args) + (12 + len(PROPS_RAW)) + len(BODY)
    assert frames.endswith(BODY + b"\xce")


def test_encode_basic_ack(benchmark: BenchmarkFixture) -> None:
    frame = benchmark(encode_basic_ack, 1, 123_456, False)
    assert len(frame) == 8 + 4 + 9


@pytest.mark.benchmark(group="codec, per 1,000 frames")
def test_decode_1000_publish_frames(benchmark: BenchmarkFixture) -> None:
    data = b"".join(
        encode_basic_publish(
            1, EXCHANGE, b"orders.eu.%d" % i, False, False, PROPS_RAW, BODY, FRAME_MAX
        )
        for i in range(N_FRAMES)
    )

    def decode() -> list[Event]:
        # a fresh decoder each time: feed() keeps per-connection state
        return Decoder(expect_protocol_header=False).feed(data)

    events = benchmark(decode)
    assert len(events) == N_FRAMES
    last = events[-1]
    assert isinstance(last, ContentMessage)
    assert isinstance(last.method, spec.BasicPublish)
    assert last.method.routing_key == f"orders.eu.{N_FRAMES - 1}"
    assert last.body == BODY and last.properties_raw == PROPS_RAW


def test_decode_field_table(benchmark: BenchmarkFixture) -> None:
    table, end = benchmark(decode_table, HEADERS_RAW, 0)
    assert end == len(HEADERS_RAW)
    assert table == HEADERS


def test_decode_properties_with_headers(benchmark: BenchmarkFixture) -> None:
    props = benchmark(decode_properties, PROPS_WITH_HEADERS_RAW)
    assert props == PROPS_WITH_HEADERS


def test_encode_properties_with_headers(benchmark: BenchmarkFixture) -> None:
    raw = benchmark(encode_properties, PROPS_WITH_HEADERS)
    assert raw == PROPS_WITH_HEADERS_RAW
