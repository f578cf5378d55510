"""Micro-benchmarks of the queue model's per-message operations (run by `make microbench`).

Each round works on 1,000 messages of 256 bytes with a content type and
delivery mode. The publish, deliver and settle benchmarks reuse prebuilt
messages and get a fresh queue each round (their state would otherwise grow
or run dry); the whole-loop benchmark builds each ``Message`` inside the
timing, properties decoding included, as a channel does per publish. The
consumer sits on a channel that records deliveries instead of encoding
frames, so only the model is timed.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from amqpish.broker.consumers import ChannelCredit, Consumer
from amqpish.broker.message import Entry, Message
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import VHost
from amqpish.codec import BasicProperties, encode_properties

N = 1000
ROUNDS = 200
BODY = bytes(256)
PROPS_RAW = encode_properties(BasicProperties(content_type="application/json", delivery_mode=2))

# one table per module in the report, each in its own time unit
pytestmark = pytest.mark.benchmark(group="queue, per 1,000 messages")

Setup = tuple[tuple[Any, ...], dict[str, Any]]


class RecordingChannel(ChannelCredit):
    """A channel that records deliveries instead of encoding frames."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[Entry] = []

    def deliver(self, consumer: Consumer, queue: Queue, entry: Entry | Message) -> None:
        # consumers here all ack, and the queue hands those an Entry to settle with
        assert isinstance(entry, Entry)
        self.unacked_count += 1
        self.got.append(entry)

    def consumer_cancelled(self, consumer: Consumer) -> None:
        pass


def messages(routing_key: str = "q") -> list[Message]:
    return [Message("", routing_key, PROPS_RAW, BODY) for _ in range(N)]


def test_queue_publish(benchmark: BenchmarkFixture) -> None:
    msgs = messages()

    def setup() -> Setup:
        return (Queue("/", "q"),), {}

    def publish(q: Queue) -> Queue:
        for m in msgs:
            q.publish(m, 0.0)
        return q

    q = benchmark.pedantic(publish, setup=setup, rounds=ROUNDS)  # type: ignore[no-untyped-call]  # unannotated upstream
    assert q.message_count == N
    assert q.ready_bytes == N * len(BODY)


def test_queue_deliver(benchmark: BenchmarkFixture) -> None:
    msgs = messages()

    def setup() -> Setup:
        q = Queue("/", "q")
        for m in msgs:
            q.publish(m, 0.0)
        ch = RecordingChannel()
        # add_consumer does not drain, so the backlog is all still ready here
        c = Consumer("c", q, ch)
        q.add_consumer(c, 0.0)
        return (q, ch), {}

    def deliver(q: Queue, ch: RecordingChannel) -> tuple[Queue, RecordingChannel]:
        q.drain(0.0)
        return q, ch

    q, ch = benchmark.pedantic(deliver, setup=setup, rounds=ROUNDS)  # type: ignore[no-untyped-call]  # unannotated upstream
    assert len(ch.got) == N
    assert q.message_count == 0
    assert q.unacked_count == N


def test_queue_settle(benchmark: BenchmarkFixture) -> None:
    msgs = messages()

    def setup() -> Setup:
        q = Queue("/", "q")
        ch = RecordingChannel()
        c = Consumer("c", q, ch)
        q.add_consumer(c, 0.0)
        for m in msgs:
            q.publish(m, 0.0)
        assert len(ch.got) == N
        return (q, c, ch.got), {}

    def settle(q: Queue, c: Consumer, entries: list[Entry]) -> Queue:
        for e in entries:
            q.settled(e, c)
        return q

    q = benchmark.pedantic(settle, setup=setup, rounds=ROUNDS)  # type: ignore[no-untyped-call]  # unannotated upstream
    assert q.unacked_count == 0
    assert q.unacked_bytes == 0
    assert q.stat_ack == N


def test_publish_route_deliver_ack_loop(benchmark: BenchmarkFixture) -> None:
    """What a channel does per message, minus frames: build, route, enqueue or hand
    over, deliver as prefetch frees up, ack. Prefetch 100 makes 900 of each 1,000
    messages wait in the queue, so both the hand-over and the drain path run."""
    vhost = VHost("/")
    owner = object()
    ex = vhost.get_exchange("amq.topic")
    work, _ = vhost.declare_queue("work", owner=owner, now=0.0)
    vhost.bind("amq.topic", "work", "queue", "orders.*.created", None, owner=owner)
    # bindings the key does not match, so routing has something to tell apart
    for i, key in enumerate(["orders.*.cancelled", "billing.#", "orders.eu.*.x", "#.audit"]):
        vhost.declare_queue(f"other{i}", owner=owner, now=0.0)
        vhost.bind("amq.topic", f"other{i}", "queue", key, None, owner=owner)
    ch = RecordingChannel()
    c = Consumer("c", work, ch, prefetch=100)
    work.add_consumer(c, 0.0)
    rk = "orders.eu.created"
    rk_b = rk.encode()
    exchange_b = ex.name_b

    def loop() -> int:
        got = ch.got
        got.clear()
        acked = 0
        for _ in range(N):
            msg = Message(
                "amq.topic", rk, PROPS_RAW, BODY, exchange_b=exchange_b, routing_key_b=rk_b
            )
            for q in vhost.route(ex, msg, rk):
                q.publish(msg, 0.0)
        # ack everything delivered so far, then let the queue refill the prefetch window
        while acked < len(got):
            for e in got[acked:]:
                work.settled(e, c)
            ch.unacked_count -= len(got) - acked
            acked = len(got)
            work.drain(0.0)
        return acked

    # fixed rounds: calibration alone picked as few as 20 when the machine was busy
    acked = benchmark.pedantic(loop, rounds=ROUNDS)  # type: ignore[no-untyped-call]  # unannotated upstream
    assert acked == N
    assert work.message_count == 0 and work.unacked_count == 0
    assert work.stat_ack == work.stat_publish
    assert all(vhost.queues[f"other{i}"].message_count == 0 for i in range(4))
