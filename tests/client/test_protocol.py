"""Protocol corners a real broker will not show on demand, against a scripted broker;
plus the error classes and the package's import boundary."""

from __future__ import annotations

import subprocess
import sys

import pytest
import trio
import trio.testing

from amqpish.client import (
    AMQPError,
    ChannelClosed,
    ConnectionClosed,
    FrameError,
    NotFound,
    UnexpectedFrame,
    connect,
)
from amqpish.client.errors import error_for
from amqpish.codec import spec
from amqpish.codec.events import ContentMessage, MethodFrame

from .fakes import FakePeer, cancel_when_sent, fake_broker


def test_error_classes() -> None:
    soft = error_for(ChannelClosed, 404, "NOT_FOUND - no queue 'q'", 50, 10)
    hard = error_for(ConnectionClosed, 404, "NOT_FOUND - odd but possible")
    assert (
        isinstance(soft, NotFound)
        and isinstance(soft, ChannelClosed)
        and not isinstance(soft, ConnectionClosed)
    )
    assert isinstance(hard, NotFound) and isinstance(hard, ConnectionClosed)
    assert type(soft).__name__ == "NotFound" and type(soft) is type(
        error_for(ChannelClosed, 404, "")
    )
    assert str(soft) == "404 NOT_FOUND - no queue 'q' (class 50, method 10)"
    other = error_for(ChannelClosed, 499, "unknown code")
    assert type(other) is ChannelClosed and isinstance(other, AMQPError)


def test_imports_only_the_codec_and_trio() -> None:
    code = "import sys, amqpish.client; print(sorted(m for m in sys.modules if m.startswith('amqpish')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    modules = eval(out)
    assert all(
        m == "amqpish" or m.startswith(("amqpish.client", "amqpish.codec")) for m in modules
    ), modules


async def test_channel_flow_pauses_publishers() -> None:
    got: list[bytes] = []
    resumed = trio.Event()

    async def handler(peer: FakePeer) -> None:
        await peer.handshake()
        channel = await peer.serve_channel_open()
        await peer.send(channel, spec.ChannelFlow(active=False))
        frame = await peer.next_method()
        assert isinstance(frame.method, spec.ChannelFlowOk) and not frame.method.active
        await resumed.wait()
        await peer.send(channel, spec.ChannelFlow(active=True))
        while True:
            ev = await peer.next_event()
            if isinstance(ev, ContentMessage):
                got.append(ev.body)
            elif isinstance(ev, MethodFrame) and isinstance(ev.method, spec.ChannelFlowOk):
                continue
            elif isinstance(ev, MethodFrame):
                await peer.send(ev.channel, spec.ChannelCloseOk())
                await peer.serve_closes()
                return

    async with fake_broker(handler) as url, connect(url) as conn, conn.channel() as ch:
        while ch._flow:  # until the flow frame has been handled
            await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ch.publish, b"paused")
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.WouldBlock):
                ch.publish_nowait(b"nope")
            assert not got
            resumed.set()
    assert got == [b"paused"]


async def test_garbage_from_the_broker_is_a_frame_error() -> None:
    answered: list[spec.Method] = []

    async def handler(peer: FakePeer) -> None:
        await peer.handshake()
        await peer.stream.send_all(
            b"\x01\x00\x00\x00\x00\x00\x04\x00\x14\x00\x28\xff"
        )  # bad frame end
        answered.append((await peer.next_method()).method)

    async with fake_broker(handler) as url:
        with pytest.raises(FrameError) as info:
            async with connect(url):
                await trio.sleep_forever()
    assert info.value.reply_code == 501 and isinstance(info.value, ConnectionClosed)
    assert isinstance(answered[0], spec.ConnectionClose) and answered[0].reply_code == 501


async def test_wrong_reply_is_an_unexpected_frame() -> None:
    async def handler(peer: FakePeer) -> None:
        await peer.handshake()
        channel = await peer.serve_channel_open()
        await peer.next_method()  # queue.declare
        await peer.send(channel, spec.ExchangeDeclareOk())
        await peer.next_method()  # connection.close 505

    async with fake_broker(handler) as url:
        with pytest.raises(UnexpectedFrame):
            async with connect(url) as conn, conn.channel() as ch:
                await ch.queue_declare("q")


async def test_channel_number_is_kept_until_close_ok() -> None:
    """A close that gave up waiting keeps its channel number until close-ok arrives:
    reopening it earlier is a connection error in RabbitMQ."""
    close_ok = trio.Event()

    async def handler(peer: FakePeer) -> None:
        await peer.handshake()
        await peer.serve_channel_open()
        frame = await peer.next_method()
        assert isinstance(frame.method, spec.ChannelClose)
        await close_ok.wait()
        await peer.send(frame.channel, spec.ChannelCloseOk())
        assert await peer.serve_channel_open() == frame.channel
        await peer.serve_closes()

    async with fake_broker(handler) as url, connect(url + "?channel_max=1") as conn:
        ch = await conn.open_channel()
        with trio.CancelScope() as scope, cancel_when_sent(conn, scope):
            await ch.close()
        assert scope.cancelled_caught and ch.is_closed
        with pytest.raises(AMQPError, match="channels are in use"):
            await conn.open_channel()
        close_ok.set()
        while conn._channels:
            await trio.testing.wait_all_tasks_blocked()
        again = await conn.open_channel()
        assert again.channel_id == 1
