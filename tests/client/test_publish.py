"""Publishing: properties, confirms, returns, nacks, pipelining, cancellation."""

from __future__ import annotations

import random
from functools import partial

import pytest
import trio
import trio.testing

from amqpish.client import (
    BasicProperties,
    ChannelClosed,
    MessageNacked,
    MessageReturned,
    Returned,
    connect,
)
from amqpish.codec import spec
from amqpish.codec.events import ContentMessage, MethodFrame

from .fakes import FakePeer, cancel_when_sent, fake_broker


async def test_properties_round_trip(url: str) -> None:
    props = BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers={"n": 1, "s": "two", "f": True, "nested": {"l": [1, "x"]}, "b": b"raw"},
        delivery_mode=2,
        priority=3,
        correlation_id="c-1",
        reply_to="replies",
        expiration="60000",
        message_id="m-1",
        timestamp=1700000000,
        type="t",
        app_id="tests",
    )
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare("", exclusive=True)).queue
        await ch.publish(b'{"a": 1}', routing_key=q, properties=props)
        await ch.publish(
            "text é", routing_key=q, persistent=True, headers={"k": "v"}, message_id="m-2"
        )
        first = await ch.get(q, no_ack=True)
        second = await ch.get(q, no_ack=True)
        with pytest.raises(TypeError):
            ch.publish_nowait(b"", properties=props, priority=1)
    assert first is not None and second is not None
    assert first.body == b'{"a": 1}'
    p = first.properties
    assert (p.content_type, p.delivery_mode, p.priority, p.correlation_id) == (
        "application/json",
        2,
        3,
        "c-1",
    )
    assert (
        p.headers is not None and p.headers["s"] == "two" and p.headers["nested"] == {"l": [1, "x"]}
    )
    assert (p.expiration, p.message_id, p.timestamp, p.type, p.app_id) == (
        "60000",
        "m-1",
        1700000000,
        "t",
        "tests",
    )
    assert second.body == "text é".encode()
    assert second.properties.delivery_mode == 2 and second.properties.headers == {"k": "v"}


async def test_confirms_with_many_concurrent_publishers(url: str) -> None:
    async with connect(url) as conn, conn.channel(confirm=True, confirm_window=16) as ch:
        q = (await ch.queue_declare("", exclusive=True)).queue

        async def publisher(i: int) -> None:
            for j in range(25):
                await ch.publish(f"{i}-{j}".encode(), routing_key=q)
                assert len(ch._confirms._unsettled) <= 16  # type: ignore[union-attr]

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(publisher, i)
        assert (await ch.queue_declare(q, passive=True)).message_count == 200


async def test_mandatory_unroutable_is_returned(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel(confirm=True) as ch:
        q = (await ch.queue_declare("", exclusive=True)).queue
        with pytest.raises(MessageReturned) as info:
            await ch.publish(b"lost", routing_key=f"{name}-nowhere", mandatory=True, message_id="x")
        r = info.value
        assert (r.reply_code, r.reply_text) == (312, "NO_ROUTE")
        assert (r.exchange, r.routing_key, r.body) == ("", f"{name}-nowhere", b"lost")
        assert r.properties.message_id == "x"
        # Routable mandatory messages, and unroutable non-mandatory ones, are fine.
        await ch.publish(b"ok", routing_key=q, mandatory=True)
        await ch.publish(b"dropped", routing_key=f"{name}-nowhere")
        # Mixed in one pipeline, each outcome lands on its own publish.
        outcomes = [
            await ch.publish(b"m", routing_key=rk, mandatory=True, wait=False)
            for rk in (q, f"{name}-x", q, f"{name}-y", q)
        ]
        with pytest.raises(MessageReturned) as first:
            await ch.wait_for_confirms()
        assert first.value.routing_key == f"{name}-x"
        assert [c.error is None for c in outcomes] == [True, False, True, False, True]


async def test_return_without_confirms_goes_to_on_return(url: str, name: str) -> None:
    returned: list[Returned] = []
    async with connect(url) as conn, conn.channel() as ch:
        ch.on_return = returned.append
        await ch.publish(b"r", routing_key=f"{name}-nowhere", mandatory=True)
        await ch.queue_declare("", exclusive=True)  # a round trip: the return came first
    assert [(r.reply_code, r.body) for r in returned] == [(312, b"r")]


async def test_nack_raises_message_nacked(url: str, name: str) -> None:
    args = {"x-max-length": 1, "x-overflow": "reject-publish"}
    async with connect(url) as conn, conn.channel(confirm=True) as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True, arguments=args)).queue
        await ch.publish(b"fits", routing_key=q)
        with pytest.raises(MessageNacked) as info:
            await ch.publish(b"overflows", routing_key=q)
        assert info.value.seq == 2


async def test_pipelined_publishes_and_wait_for_confirms(url: str) -> None:
    async with connect(url) as conn, conn.channel(confirm=True, confirm_window=50) as ch:
        q = (await ch.queue_declare("", exclusive=True)).queue
        sent = 0
        while sent < 300:
            try:
                ch.publish_nowait(b"%d" % sent, routing_key=q)
                sent += 1
            except trio.WouldBlock:  # the window is full
                await ch.wait_for_confirms()
        confirmations = [await ch.publish(b"late", routing_key=q, wait=False) for _ in range(5)]
        await ch.wait_for_confirms()
        assert all(c.done and c.error is None for c in confirmations)
        await confirmations[0].wait()
        assert (await ch.queue_declare(q, passive=True)).message_count == 305
        with pytest.raises(RuntimeError):
            async with conn.channel() as plain:
                await plain.wait_for_confirms()


async def test_cancelled_publishes_never_leave_partial_messages(url: str) -> None:
    """Publishes of large messages cancelled at random moments: every message that made
    it is whole, and the channel and connection are still fine."""
    body = bytes(range(256)) * 2000  # 512000 bytes, several frames each
    rng = random.Random(7)
    async with connect(url) as conn, conn.channel(confirm=True) as ch:
        q = (await ch.queue_declare("", exclusive=True)).queue

        async def publish(i: int) -> None:
            with trio.move_on_after(rng.choice([0, 0, 0.0001, 0.001, 0.01])):
                await ch.publish(body, routing_key=q, message_id=str(i))

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(publish, i)
        # A publish cancelled while waiting for its confirm still gets confirmed.
        with trio.CancelScope() as scope, cancel_when_sent(conn, scope):
            await ch.publish(body, routing_key=q, message_id="last")
        assert scope.cancelled_caught
        await ch.wait_for_confirms()
        count = (await ch.queue_declare(q, passive=True)).message_count
        ids = set()
        for _ in range(count):
            d = await ch.get(q, no_ack=True)
            assert d is not None and d.body == body
            ids.add(d.properties.message_id)
        assert "last" in ids and len(ids) == count


async def test_publisher_waits_when_the_socket_is_backed_up() -> None:
    """A broker that stops reading: publishers wait once 1 MiB is queued; cancelling one
    then sends nothing of it, and what reaches the broker is whole frames."""
    ready = trio.Event()
    release = trio.Event()
    received: list[object] = []

    async def handler(peer: FakePeer) -> None:
        await peer.handshake()
        await peer.serve_channel_open()
        ready.set()
        await release.wait()
        while True:
            ev = await peer.next_event()
            received.append(ev)
            if isinstance(ev, MethodFrame) and isinstance(ev.method, spec.ChannelClose):
                await peer.send(ev.channel, spec.ChannelCloseOk())
            elif isinstance(ev, MethodFrame) and isinstance(ev.method, spec.ConnectionClose):
                await peer.send(0, spec.ConnectionCloseOk())
                return

    body = b"x" * 100_000
    async with fake_broker(handler) as url, connect(url) as conn, conn.channel() as ch:
        await ready.wait()
        published = 0
        while True:  # fill the socket buffers, then ours up to the high-water mark
            try:
                ch.publish_nowait(body, routing_key="q")
            except trio.WouldBlock:
                break
            published += 1
            await trio.testing.wait_all_tasks_blocked()  # the writer moves what it can
        assert published > 10
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(ch.publish, body, routing_key="q"))
                await trio.testing.wait_all_tasks_blocked()  # it waits for room
                scope.cancel()
        release.set()
        await ch.publish(b"after", routing_key="q")
        await ch.close()
    bodies = [ev.body for ev in received if isinstance(ev, ContentMessage)]
    assert bodies == [body] * published + [b"after"]


async def test_publish_on_closed_channel(url: str) -> None:
    async with connect(url) as conn:
        ch = await conn.open_channel(confirm=True)
        await ch.close()
        with pytest.raises(ChannelClosed):
            await ch.publish(b"x")
        with pytest.raises(ChannelClosed):
            ch.publish_nowait(b"x")
