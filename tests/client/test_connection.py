"""Connections: handshake, errors, heartbeats, blocking, TLS, limits."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import trio
import trio.testing
import trustme

from amqpish.client import (
    AccessRefused,
    AMQPError,
    ChannelClosed,
    CommandInvalid,
    ConnectionClosed,
    ConnectionLost,
    NotAllowed,
    ProtocolHeaderRejected,
    connect,
)
from amqpish.codec import spec

from .fakes import FakePeer, Proxy, fake_broker


def _with(url: str, **parts: str) -> str:
    """``url`` with its user, password or vhost replaced."""
    scheme, rest = url.split("://", 1)
    auth, hostpath = rest.split("@", 1)
    user, password = auth.split(":", 1)
    host = hostpath.split("/", 1)[0]
    vhost = parts.get("vhost", hostpath.split("/", 1)[1] if "/" in hostpath else "")
    return f"{scheme}://{parts.get('user', user)}:{parts.get('password', password)}@{host}/{vhost}"


async def test_connect_and_open_channels(url: str) -> None:
    async with connect(url, name="client-test") as conn:
        assert conn.server_properties["product"] in ("RabbitMQ", "amqpish")
        assert conn.frame_max == 131072 and conn.channel_max > 0
        async with conn.channel() as a, conn.channel() as b:
            assert a.channel_id != b.channel_id
            await a.queue_declare("", exclusive=True)
        assert a.is_closed and b.is_closed
        ch = await conn.open_channel()
        await ch.close()
        await ch.close()  # idempotent
    assert conn.is_closed


async def test_vhost_percent_encoded(url: str) -> None:
    async with connect(_with(url, vhost="%2f")) as conn, conn.channel() as ch:
        await ch.queue_declare("", exclusive=True)


async def test_wrong_password(url: str) -> None:
    with pytest.raises(AccessRefused) as info:
        async with connect(_with(url, password="wrong")):
            pytest.fail("connected with a wrong password")
    assert isinstance(info.value, ConnectionClosed) and not isinstance(info.value, ChannelClosed)
    assert info.value.reply_code == 403


async def test_unknown_vhost(url: str) -> None:
    with pytest.raises(NotAllowed) as info:
        async with connect(_with(url, vhost="no-such-vhost")):
            pytest.fail("connected to a missing vhost")
    assert info.value.reply_code == 530 and isinstance(info.value, ConnectionClosed)


async def test_connection_refused() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with pytest.raises(ConnectionLost, match="could not connect"):
        async with connect(f"amqp://guest:guest@127.0.0.1:{port}/"):
            pass


async def test_body_exceptions_come_out_unwrapped(url: str) -> None:
    with pytest.raises(KeyError):
        async with connect(url):
            raise KeyError("mine")


async def test_hard_error_from_broker_ends_the_block(url: str) -> None:
    """An unknown exchange type is a connection error (503) in RabbitMQ."""
    with pytest.raises(CommandInvalid) as outer:
        async with connect(url) as conn, conn.channel() as ch:
            with pytest.raises(CommandInvalid) as inner:
                await ch.exchange_declare("t-bad-type", "no-such-type")
            assert inner.value.reply_code == 503
            assert conn.is_closed
            await trio.sleep_forever()  # the failed connection cancels the body
    assert isinstance(outer.value, ConnectionClosed)


async def test_client_close_inside_the_body(url: str) -> None:
    async with connect(url) as conn:
        ch = await conn.open_channel()
        await conn.close()
        with pytest.raises(ConnectionClosed):
            await ch.queue_declare("", exclusive=True)
        with pytest.raises(ConnectionClosed):
            await conn.open_channel()


async def test_channel_max(url: str) -> None:
    async with connect(url + "?channel_max=2") as conn:
        assert conn.channel_max == 2
        async with conn.channel(), conn.channel():
            with pytest.raises(AMQPError, match="channels are in use"):
                await conn.open_channel()
        async with conn.channel() as ch:  # ids are reused
            await ch.queue_declare("", exclusive=True)


async def test_small_frame_max_splits_bodies(url: str) -> None:
    body = bytes(range(256)) * 1000  # 256000 bytes: 63 body frames of 4088
    async with connect(url + "?frame_max=4096") as conn, conn.channel() as ch:
        assert conn.frame_max == 4096
        q = await ch.queue_declare("", exclusive=True)
        await ch.publish(body, routing_key=q.queue)
        d = await ch.get(q.queue, no_ack=True)
        assert d is not None and d.body == body


async def test_heartbeats_keep_an_idle_connection(url: str) -> None:
    async with connect(url, heartbeat=1) as conn, conn.channel() as ch:
        assert conn.heartbeat == 1
        await trio.sleep(2.5)  # the broker gives up after two silent intervals
        await ch.queue_declare("", exclusive=True)


async def test_tls(url: str) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with Proxy(url, server_ssl=server_ctx).running() as proxy:
        assert proxy.url.startswith("amqps://")
        async with connect(proxy.url, ssl_context=client_ctx) as conn, conn.channel() as ch:
            q = await ch.queue_declare("", exclusive=True)
            await ch.publish(b"secret", routing_key=q.queue)
            d = await ch.get(q.queue, no_ack=True)
            assert d is not None and d.body == b"secret"
        with pytest.raises(ValueError, match="amqps"):
            connect(url, ssl_context=client_ctx)


# ---------------------------------------------------------------- scripted broker


async def test_protocol_header_rejected() -> None:
    async def handler(peer: FakePeer) -> None:
        await peer.stream.receive_some(8)
        await peer.stream.send_all(b"AMQP\x01\x01\x00\x0a")

    async with fake_broker(handler) as url:
        with pytest.raises(ProtocolHeaderRejected, match="AMQP"):
            async with connect(url):
                pass


async def test_missed_heartbeats_end_the_connection(autojump_clock: trio.testing.MockClock) -> None:
    async def handler(peer: FakePeer) -> None:
        await peer.handshake(heartbeat=2)
        await trio.sleep_forever()  # never a heartbeat

    async with fake_broker(handler) as url:
        start = trio.current_time()
        with pytest.raises(ConnectionLost, match="missed heartbeats"):
            async with connect(url) as conn:
                assert conn.heartbeat == 2
                await trio.sleep_forever()
        assert 4 <= trio.current_time() - start <= 6


async def test_client_sends_heartbeats_when_idle(autojump_clock: trio.testing.MockClock) -> None:
    seen: list[int] = []

    async def handler(peer: FakePeer) -> None:
        await peer.handshake(heartbeat=2)
        with trio.move_on_after(10.5):
            while True:
                await peer.next_event()
                peer.heartbeats += 1
                await peer.stream.send_all(b"\x08\x00\x00\x00\x00\x00\x00\xce")
        seen.append(peer.heartbeats)
        await trio.sleep_forever()

    async with fake_broker(handler) as url, connect(url):
        await trio.sleep(11)
    assert seen and 9 <= seen[0] <= 11  # one per second (half the interval)


async def test_connection_blocked_holds_publishers() -> None:
    published = trio.Event()
    state: dict[str, Any] = {}

    async def handler(peer: FakePeer) -> None:
        await peer.handshake()
        channel = await peer.serve_channel_open()
        await peer.send(0, spec.ConnectionBlocked(reason="low on memory"))
        # The client answers nothing to blocked; a queue.declare round trip proves it
        # has seen the blocked frame before the test publishes.
        frame = await peer.next_method()
        assert isinstance(frame.method, spec.QueueDeclare)
        await peer.send(channel, spec.QueueDeclareOk(queue="q"))
        await state["released"].wait()
        await peer.send(0, spec.ConnectionUnblocked())
        ev = await peer.next_event()
        state["publish"] = ev
        published.set()
        await peer.serve_closes()

    state["released"] = trio.Event()
    async with fake_broker(handler) as url, connect(url) as conn, conn.channel() as ch:
        await ch.queue_declare("q")
        assert conn.blocked and conn.blocked_reason == "low on memory"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                ch.publish,
                b"held",
            )
            await trio.testing.wait_all_tasks_blocked()
            assert "publish" not in state
            with pytest.raises(trio.WouldBlock):
                ch.publish_nowait(b"nope")
            state["released"].set()
        await published.wait()
        assert not conn.blocked
        assert state["publish"].body == b"held"
