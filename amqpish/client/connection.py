"""One AMQP connection: the handshake, then three tasks in the connection's nursery.

* The **reader** is the only task that reads the socket. It feeds bytes to the codec's
  decoder and dispatches each event synchronously to its channel; the only place it ever
  waits is a full consumer buffer (``no_ack`` consumers, or prefetch 0), which is how a
  slow consumer stops the socket from being read instead of buffering without bound.
* The **writer** is the only task that writes the socket. Everyone else appends whole
  encoded frames to one output buffer with a plain synchronous call, so frames of
  different channels never interleave and a cancelled caller can never leave half a
  message behind: either all of its bytes are in the buffer or none are. The writer takes
  the whole buffer at once, which batches the frames of many concurrent publishers into
  one ``send_all``. Publishers wait (before encoding anything) while the buffer is above
  a high-water mark, while the broker has sent connection.blocked, or while the channel
  is paused by channel.flow.
* The **heartbeat** task sends a heartbeat frame when nothing else was written for half
  the negotiated interval, and declares the connection lost when nothing at all was
  received for two intervals.

A failure (socket error, EOF, missed heartbeats, connection.close from the broker) is
recorded once: every waiter on the connection and its channels wakes with the error,
and the body of ``async with connect(...)`` is cancelled so that the error comes out of
the ``async with`` itself.
"""

from __future__ import annotations

import platform
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import trio
from trio.lowlevel import ParkingLot

from amqpish.codec import spec
from amqpish.codec.connection import Decoder
from amqpish.codec.events import ContentMessage, DecodeError, Event, MethodFrame
from amqpish.codec.frames import HEARTBEAT_FRAME, encode_method

from ._util import open_service_nursery
from .errors import AMQPError, ConnectionClosed, ConnectionLost, ProtocolHeaderRejected, error_for
from .url import ConnectionParameters, parse_url

if TYPE_CHECKING:
    from .channel import Channel, ChannelContext

__all__ = ["Connection", "connect"]

HIGH_WATER = 1 << 20
"""Publishers wait while more than this many bytes are queued for the socket."""
RECEIVE_SIZE = 1 << 16
FLUSH_TIMEOUT = 1.0
"""How long a failing connection may take to send its last frames."""
BATCH_BYTES = 1 << 18
"""The writer stops waiting for more frames to batch at this size."""
CLIENT_VERSION = "0.1.0"


def _negotiate(client: int, server: int) -> int:
    """channel_max / frame_max: 0 means "no limit", otherwise the smaller value wins."""
    if client == 0 or server == 0:
        return max(client, server)
    return min(client, server)


class Connection:
    """An open AMQP connection. Made by :func:`connect`; use it only inside that block."""

    server_properties: dict[str, Any]
    channel_max: int
    frame_max: int
    heartbeat: int
    """The negotiated values (heartbeat in seconds, 0 when disabled)."""

    def __init__(
        self, params: ConnectionParameters, stream: trio.abc.Stream, name: str | None
    ) -> None:
        self.params = params
        self._stream = stream
        self._name = name
        self._decoder = Decoder(
            frame_max=max(params.frame_max, 131072), expect_protocol_header=False
        )
        self.server_properties = {}
        self.channel_max = params.channel_max
        self.frame_max = params.frame_max
        self.heartbeat = 0
        self._out = bytearray()
        self._writer_lot = ParkingLot()
        self._space_lot = ParkingLot()  # publishers waiting for buffer space or unblock
        self._channels: dict[int, Channel] = {}
        self._next_channel_id = 1
        self._error: AMQPError | None = None
        self._lost = False  # failed on its own (not closed by us)
        self._closing = False
        self._close_ok = trio.Event()
        self._blocked_reason: str | None = None
        self._wrote = False  # something was written since the last heartbeat tick
        self._last_received = 0.0
        self._nursery: trio.Nursery | None = None
        # The background tasks run shielded: when the user's code is cancelled, the
        # clean-up it does on the way out (basic.cancel, channel.close, connection.close,
        # each under a deadline) still needs the reader and the writer.
        self._task_scopes: list[tuple[Callable[[], Any], trio.CancelScope]] = []
        self._tasks_stopped = False
        self._flush_deadline: float | None = None
        self._handshake_events: list[Event] = []

    # ------------------------------------------------------------------ public surface

    @property
    def is_closed(self) -> bool:
        return self._error is not None

    @property
    def blocked(self) -> bool:
        """True while the broker has blocked publishing (connection.blocked)."""
        return self._blocked_reason is not None

    @property
    def blocked_reason(self) -> str | None:
        return self._blocked_reason

    def channel(self, *, confirm: bool = False, confirm_window: int = 1000) -> ChannelContext:
        """``async with conn.channel() as ch:`` opens a channel and closes it afterwards.

        ``confirm=True`` puts it in publisher-confirm mode; at most ``confirm_window``
        publishes are then unconfirmed at once (further publishers wait).
        """
        from .channel import ChannelContext

        return ChannelContext(self, confirm, confirm_window)

    async def open_channel(self, *, confirm: bool = False, confirm_window: int = 1000) -> Channel:
        """Open a channel; close it with ``await ch.close()`` (or ``async with ch:``)."""
        from .channel import Channel

        self._check_open()
        channel_id = self._allocate_channel_id()
        ch = Channel(self, channel_id, confirm_window)
        self._channels[channel_id] = ch
        try:
            await ch._open()
            if confirm:
                await ch.confirm_select()
        except BaseException:
            with trio.CancelScope(shield=True):
                await ch._close_quietly()
            raise
        return ch

    async def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None:
        """Close the connection (connection.close / close-ok). Idempotent."""
        if self._error is not None or self._closing:
            await trio.lowlevel.checkpoint()
            return
        self._closing = True
        # Channels end now: their late frames are ignored, and a consumer buffer that made
        # the reader wait no longer holds it (the reader must see close-ok).
        closed = ConnectionClosed(reply_code, "connection closed by the client")
        for ch in list(self._channels.values()):
            ch._fail(closed)
        self._channels.clear()
        self._send(
            encode_method(0, spec.ConnectionClose(reply_code=reply_code, reply_text=reply_text))
        )
        try:
            with trio.move_on_after(self.params.connection_timeout):
                await self._close_ok.wait()
        finally:
            self._fail(closed, lost=False)

    def __repr__(self) -> str:
        state = "closed" if self._error else "open"
        return f"<Connection {self.params.display()} {state}>"

    # ------------------------------------------------------------------ channel support

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error.fresh()
        if self._closing:
            raise ConnectionClosed(200, "connection is closing")

    def _allocate_channel_id(self) -> int:
        limit = self.channel_max or 65535
        for _ in range(limit):
            cid = self._next_channel_id
            self._next_channel_id = cid % limit + 1
            if cid not in self._channels:
                return cid
        raise AMQPError(0, f"all {limit} channels are in use")

    def _release_channel(self, channel_id: int, ch: Channel) -> None:
        if self._channels.get(channel_id) is ch:
            del self._channels[channel_id]

    def _send(self, data: bytes | bytearray) -> None:
        """Queue whole frames for the writer. Synchronous, so never half done."""
        if self._error is not None:
            raise self._error.fresh()
        if not self._out:
            self._writer_lot.unpark()
        self._out += data

    def _writable(self) -> bool:
        """May a publisher write now? (Raises if the connection is closed.)"""
        self._check_open()
        return self._blocked_reason is None and len(self._out) <= HIGH_WATER

    async def _wait_writable(self) -> None:
        """Wait until publishing may go on: not blocked, buffer below the high-water mark."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while self._error is None and (
            self._blocked_reason is not None or len(self._out) > HIGH_WATER
        ):
            await self._space_lot.park()
        if self._error is not None:
            raise self._error.fresh()

    # ------------------------------------------------------------------ failure

    def _fail(self, exc: AMQPError, *, lost: bool) -> None:
        """Record the connection's end once; wake every waiter with ``exc``."""
        if self._error is not None:
            return
        self._error = exc
        self._lost = lost
        for ch in list(self._channels.values()):
            ch._fail(exc)
        self._channels.clear()
        self._space_lot.unpark_all()
        self._writer_lot.unpark_all()
        self._close_ok.set()
        if lost:
            self._stop_tasks(flush=True)
            if self._nursery is not None:
                self._nursery.cancel_scope.cancel()

    def _stop_tasks(self, *, flush: bool = False) -> None:
        """End the background tasks; with ``flush`` the writer gets a moment to send what
        is queued (the connection.close that tells the broker why)."""
        if self._tasks_stopped:
            return  # already stopping (perhaps letting the writer flush)
        self._tasks_stopped = True
        deadline = trio.current_time() + FLUSH_TIMEOUT
        if flush:
            self._flush_deadline = deadline
        for fn, scope in self._task_scopes:
            if flush and fn == self._writer:
                scope.deadline = deadline
            else:
                scope.cancel()

    def _abort(self, reply_code: int, reply_text: str) -> None:
        """A protocol violation by the peer: tell it (connection.close) and fail."""
        if self._error is None:
            self._send(
                encode_method(0, spec.ConnectionClose(reply_code=reply_code, reply_text=reply_text))
            )
        self._fail(error_for(ConnectionClosed, reply_code, reply_text), lost=True)

    # ------------------------------------------------------------------ handshake

    async def _receive(self) -> list[Event]:
        data = await self._stream.receive_some(RECEIVE_SIZE)
        if not data:
            raise ConnectionLost("the broker closed the connection")
        self._last_received = trio.current_time()
        return self._decoder.feed(bytes(data) if type(data) is not bytes else data)

    async def _next_handshake_method(self) -> spec.Method:
        while True:
            if not self._handshake_events:
                data = await self._stream.receive_some(RECEIVE_SIZE)
                if not data:
                    raise ConnectionLost(
                        "the broker closed the connection during the handshake "
                        "(wrong credentials or vhost?)"
                    )
                if data.startswith(b"AMQP") or (len(data) < 4 and b"AMQP".startswith(data)):
                    raise ProtocolHeaderRejected(
                        f"the broker rejected the protocol header; it answered {bytes(data[:8])!r} "
                        "(it does not speak AMQP 0-9-1)"
                    )
                self._handshake_events.extend(self._decoder.feed(bytes(data)))
            ev = self._handshake_events.pop(0)
            if isinstance(ev, DecodeError):
                raise error_for(ConnectionClosed, ev.error.reply_code, ev.error.text)
            if isinstance(ev, MethodFrame) and ev.channel == 0:
                method = ev.method
                if isinstance(method, spec.ConnectionClose):
                    await self._stream.send_all(encode_method(0, spec.ConnectionCloseOk()))
                    raise error_for(
                        ConnectionClosed,
                        method.reply_code,
                        method.reply_text,
                        method.class_id,
                        method.method_id,
                    )
                return method

    async def _handshake(self) -> None:
        p = self.params
        await self._stream.send_all(spec.PROTOCOL_HEADER)
        start = await self._next_handshake_method()
        if not isinstance(start, spec.ConnectionStart):
            raise ConnectionLost(f"expected connection.start, got {start.NAME}")
        self.server_properties = dict(start.server_properties)
        mechanisms = bytes(start.mechanisms).split()
        if b"PLAIN" not in mechanisms:
            raise ConnectionLost(
                f"the broker does not offer PLAIN authentication ({start.mechanisms!r})"
            )
        props: dict[str, Any] = {
            "product": "amqpish",
            "version": CLIENT_VERSION,
            "platform": f"Python {platform.python_version()} (Trio {trio.__version__})",
            "information": "amqpish.client",
            "capabilities": {
                "publisher_confirms": True,
                "consumer_cancel_notify": True,
                "exchange_exchange_bindings": True,
                "basic.nack": True,
                "connection.blocked": True,
                "authentication_failure_close": True,
                "per_consumer_qos": True,
            },
        }
        if self._name:
            props["connection_name"] = self._name
        response = b"\0" + p.username.encode() + b"\0" + p.password.encode()
        await self._stream.send_all(
            encode_method(
                0,
                spec.ConnectionStartOk(
                    client_properties=props, mechanism="PLAIN", response=response, locale="en_US"
                ),
            )
        )
        tune = await self._next_handshake_method()
        if not isinstance(tune, spec.ConnectionTune):
            raise ConnectionLost(
                f"expected connection.tune, got {tune.NAME} (only PLAIN is supported)"
            )
        self.channel_max = _negotiate(p.channel_max, tune.channel_max)
        self.frame_max = _negotiate(p.frame_max, tune.frame_max)
        self._decoder.frame_max = max(self.frame_max, 131072) if self.frame_max else 0
        if p.heartbeat is None:
            self.heartbeat = tune.heartbeat
        elif p.heartbeat == 0 or tune.heartbeat == 0:
            self.heartbeat = p.heartbeat
        else:
            self.heartbeat = min(p.heartbeat, tune.heartbeat)
        await self._stream.send_all(
            encode_method(
                0,
                spec.ConnectionTuneOk(
                    channel_max=self.channel_max, frame_max=self.frame_max, heartbeat=self.heartbeat
                ),
            )
            + encode_method(0, spec.ConnectionOpen(virtual_host=p.vhost))
        )
        open_ok = await self._next_handshake_method()
        if not isinstance(open_ok, spec.ConnectionOpenOk):
            raise ConnectionLost(f"expected connection.open-ok, got {open_ok.NAME}")
        self._last_received = trio.current_time()

    # ------------------------------------------------------------------ tasks

    def _start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        nursery.start_soon(self._run_task, self._reader)
        nursery.start_soon(self._run_task, self._writer)
        if self.heartbeat:
            nursery.start_soon(self._run_task, self._heartbeater)

    async def _run_task(self, fn: Callable[[], Any]) -> None:
        """Background tasks end the connection instead of raising into the user's code."""
        try:
            with trio.CancelScope(shield=True) as scope:
                self._task_scopes.append((fn, scope))
                if self._tasks_stopped:
                    if fn != self._writer or self._flush_deadline is None:
                        return
                    scope.deadline = self._flush_deadline
                await fn()
        except AMQPError as e:
            self._fail(e, lost=True)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            if self._error is None:
                err = ConnectionLost(f"connection lost: {e or type(e).__name__}")
                err.__cause__ = e
                self._fail(err, lost=True)
        except Exception as e:
            err = ConnectionLost(f"client internal error: {e!r}")
            err.__cause__ = e
            self._fail(err, lost=True)

    async def _reader(self) -> None:
        pending = self._handshake_events
        self._handshake_events = []
        events: list[Any] = pending
        while True:
            for ev in events:
                t = type(ev)
                if t is ContentMessage or t is MethodFrame:
                    if ev.channel == 0:
                        await self._on_connection_method(ev.method)
                        continue
                    ch = self._channels.get(ev.channel)
                    if ch is None:
                        continue  # a late frame for a channel that is gone
                    if t is ContentMessage:
                        blocked = ch._on_content(ev)
                        if blocked is not None:
                            await blocked
                    else:
                        ch._on_method(ev.method)
                elif t is DecodeError:
                    self._abort(ev.error.reply_code, ev.error.text)
                    return
            if self._error is not None and self._close_ok.is_set():
                return
            events = await self._receive()

    async def _on_connection_method(self, method: spec.Method) -> None:
        t = type(method)
        if t is spec.ConnectionClose:
            m: Any = method
            self._send(encode_method(0, spec.ConnectionCloseOk()))
            with trio.move_on_after(1):
                await self._flush()
            code = m.reply_code
            self._fail(
                error_for(ConnectionClosed, code, m.reply_text, m.class_id, m.method_id), lost=True
            )
        elif t is spec.ConnectionCloseOk:
            self._close_ok.set()
        elif t is spec.ConnectionBlocked:
            self._blocked_reason = getattr(method, "reason", "") or "blocked"
        elif t is spec.ConnectionUnblocked:
            self._blocked_reason = None
            self._space_lot.unpark_all()

    async def _flush(self) -> None:
        while self._out and self._error is None:
            await self._space_lot.park()

    async def _writer(self) -> None:
        stream = self._stream
        while True:
            if not self._out:
                if self._error is not None:
                    return
                await self._writer_lot.park()
                continue
            # Let tasks that are ready to run add their frames first: one send for many
            # messages. It costs a scheduling round, and ends as soon as nothing is added.
            size = -1
            while size != len(self._out) < BATCH_BYTES:
                size = len(self._out)
                await trio.lowlevel.cancel_shielded_checkpoint()
            data = self._out
            self._out = bytearray()
            await stream.send_all(data)
            if len(data) != 8 or data != HEARTBEAT_FRAME:
                self._wrote = True  # our own heartbeat does not count as traffic
            if self._space_lot and len(self._out) <= HIGH_WATER:
                self._space_lot.unpark_all()

    async def _heartbeater(self) -> None:
        interval = self.heartbeat
        while True:
            await trio.sleep(interval / 2)
            if trio.current_time() - self._last_received > 2 * interval:
                raise ConnectionLost(f"missed heartbeats from the broker (interval {interval} s)")
            if not self._wrote and not self._out:
                self._send(HEARTBEAT_FRAME)
            self._wrote = False


async def _open_stream(
    params: ConnectionParameters, ssl_context: ssl.SSLContext | None
) -> trio.abc.Stream:
    tcp = await trio.open_tcp_stream(params.host, params.port)
    try:
        tcp.setsockopt(6, 1, 1)  # TCP_NODELAY: the writer already batches
    except OSError:
        pass
    if not params.tls:
        return tcp
    ctx = ssl_context if ssl_context is not None else ssl.create_default_context()
    tls = trio.SSLStream(tcp, ctx, server_hostname=params.host)
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise
    return tls


def connect(
    url: str = "amqp://guest:guest@localhost:5672/",
    *,
    ssl_context: ssl.SSLContext | None = None,
    name: str | None = None,
    heartbeat: int | None = None,
    connection_timeout: float | None = None,
) -> AbstractAsyncContextManager[Connection]:
    """Connect to a broker: ``async with connect(url) as conn: ...``.

    ``url`` is an AMQP URI (see :mod:`amqpish.client.url`). ``ssl_context`` is used for
    ``amqps://`` URLs (default: ``ssl.create_default_context()``). ``name`` is shown by the
    broker's management tools. ``heartbeat`` and ``connection_timeout`` (seconds) override
    the URL's values. Failing to connect raises :class:`ConnectionClosed` (a subclass for
    the reply code, e.g. :class:`AccessRefused` for bad credentials) or
    :class:`ConnectionLost` for network errors and timeouts.
    """
    params = parse_url(url)
    if heartbeat is not None:
        params = replace(params, heartbeat=heartbeat)
    if connection_timeout is not None:
        params = replace(params, connection_timeout=connection_timeout)
    if ssl_context is not None and not params.tls:
        raise ValueError("ssl_context was given for an amqp:// URL; use amqps://")
    return _connect(params, ssl_context, name)


@asynccontextmanager
async def _connect(
    params: ConnectionParameters, ssl_context: ssl.SSLContext | None, name: str | None
) -> AsyncIterator[Connection]:
    conn: Connection | None = None
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(params.connection_timeout):
            stream = await _open_stream(params, ssl_context)
            conn = Connection(params, stream, name)
            await conn._handshake()
    except trio.TooSlowError:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise ConnectionLost(
            f"could not connect to {params.display()} within {params.connection_timeout:g} s"
        ) from None
    except (OSError, trio.BrokenResourceError) as e:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        reason = (e.strerror if isinstance(e, OSError) else None) or e.__cause__ or e
        raise ConnectionLost(f"could not connect to {params.display()}: {reason}") from e
    except BaseException:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise
    assert conn is not None and stream is not None
    body_done = False
    try:
        async with open_service_nursery() as nursery:
            conn._start(nursery)
            try:
                yield conn
                body_done = True
            finally:
                with trio.CancelScope(shield=True):
                    await conn.close()
                conn._stop_tasks()
                nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)
    if conn._lost and not body_done and conn._error is not None:
        raise conn._error.fresh()
