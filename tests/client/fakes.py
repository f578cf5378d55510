"""In-process test peers on real loopback sockets.

* :func:`fake_broker` runs a scripted AMQP server (built on the codec) for what a real
  broker cannot be made to do on demand: stop sending heartbeats, send connection.blocked,
  answer with another protocol header, stop reading.
* :class:`Proxy` forwards TCP (optionally terminating TLS) to a real broker and can cut
  every connection at once, to test reconnection and amqps://.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from urllib.parse import urlsplit

import trio

from amqpish.client import Connection
from amqpish.codec import spec
from amqpish.codec.connection import Decoder
from amqpish.codec.events import Event, Heartbeat, MethodFrame, ProtocolHeader
from amqpish.codec.frames import encode_method


class FakePeer:
    """The server side of one connection to :func:`fake_broker`."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.decoder = Decoder()
        self.events: deque[Event] = deque()
        self.heartbeats = 0
        self.received = bytearray()

    async def next_event(self) -> Event:
        while not self.events:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            self.received += data
            self.events.extend(self.decoder.feed(data))
        return self.events.popleft()

    async def next_method(self) -> MethodFrame:
        while True:
            ev = await self.next_event()
            if isinstance(ev, Heartbeat):
                self.heartbeats += 1
                continue
            assert isinstance(ev, MethodFrame), ev
            return ev

    async def send(self, channel: int, method: spec.Method) -> None:
        await self.stream.send_all(encode_method(channel, method))

    async def handshake(self, *, heartbeat: int = 0) -> None:
        ev = await self.next_event()
        assert isinstance(ev, ProtocolHeader) and ev.ok
        await self.send(
            0,
            spec.ConnectionStart(
                version_major=0,
                version_minor=9,
                server_properties={"product": "fake"},
                mechanisms=b"PLAIN",
                locales=b"en_US",
            ),
        )
        assert isinstance((await self.next_method()).method, spec.ConnectionStartOk)
        await self.send(
            0, spec.ConnectionTune(channel_max=2047, frame_max=131072, heartbeat=heartbeat)
        )
        assert isinstance((await self.next_method()).method, spec.ConnectionTuneOk)
        assert isinstance((await self.next_method()).method, spec.ConnectionOpen)
        await self.send(0, spec.ConnectionOpenOk())

    async def serve_channel_open(self) -> int:
        """Answer one channel.open; returns the channel number."""
        frame = await self.next_method()
        assert isinstance(frame.method, spec.ChannelOpen)
        await self.send(frame.channel, spec.ChannelOpenOk())
        return frame.channel

    async def serve_closes(self) -> None:
        """Answer channel.close and connection.close (ignoring anything else) until closed."""
        while True:
            frame = await self.next_method()
            if isinstance(frame.method, spec.ChannelClose):
                await self.send(frame.channel, spec.ChannelCloseOk())
            elif isinstance(frame.method, spec.ConnectionClose):
                await self.send(0, spec.ConnectionCloseOk())
                return


@contextmanager
def cancel_when_sent(conn: Connection, scope: trio.CancelScope) -> Iterator[None]:
    """Cancel ``scope`` right after the client queues its next frames: the request is then
    certainly on its way and its reply certainly not back (deterministic mid-call cancel)."""
    send = conn._send

    def send_then_cancel(data: bytes | bytearray) -> None:
        send(data)
        scope.cancel()
        conn.__dict__.pop("_send", None)

    conn._send = send_then_cancel  # type: ignore[method-assign]
    try:
        yield
    finally:
        conn.__dict__.pop("_send", None)


Handler = Callable[[FakePeer], Awaitable[None]]


@asynccontextmanager
async def fake_broker(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` for each connection on a free loopback port; yields the URL."""

    async def serve(stream: trio.SocketStream) -> None:
        try:
            await handler(FakePeer(stream))
        except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async with trio.open_nursery() as nursery:
        listeners: list[trio.SocketListener] = await nursery.start(
            partial(trio.serve_tcp, serve, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        yield f"amqp://guest:guest@127.0.0.1:{port}/"
        nursery.cancel_scope.cancel()


class Proxy:
    """TCP forwarder to a broker; ``url`` points at the proxy; ``cut()`` drops everyone."""

    def __init__(self, target_url: str, server_ssl: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self._target_url = parts
        self._server_ssl = server_ssl
        self._scopes: list[trio.CancelScope] = []
        self.url = ""
        self.connections = 0

    async def _pipe(self, src: trio.abc.Stream, dst: trio.abc.Stream) -> None:
        try:
            while data := await src.receive_some(65536):
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _serve(self, client: trio.SocketStream) -> None:
        self.connections += 1
        with trio.CancelScope() as scope:
            self._scopes.append(scope)
            stream: trio.abc.Stream = client
            if self._server_ssl is not None:
                stream = trio.SSLStream(client, self._server_ssl, server_side=True)
            upstream = await trio.open_tcp_stream(*self._target)
            async with upstream, trio.open_nursery() as nursery:
                nursery.start_soon(self._pipe, stream, upstream)
                nursery.start_soon(self._pipe, upstream, stream)
        await trio.aclose_forcefully(client)

    def cut(self) -> None:
        """Drop every proxied connection (both sockets closed, no AMQP goodbye)."""
        for scope in self._scopes:
            scope.cancel()
        self._scopes.clear()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Proxy]:
        async with trio.open_nursery() as nursery:
            listeners: list[trio.SocketListener] = await nursery.start(
                partial(trio.serve_tcp, self._serve, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            p = self._target_url
            scheme = "amqps" if self._server_ssl is not None else "amqp"
            auth = f"{p.username}:{p.password}@" if p.username else ""
            self.url = f"{scheme}://{auth}127.0.0.1:{port}{p.path}"
            yield self
            nursery.cancel_scope.cancel()
