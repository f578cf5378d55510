"""Trio runtime for one AMQP connection: a reader, a writer and a heartbeat task.

The reader feeds whole socket reads into the sans-IO session, which routes and
delivers synchronously and leaves encoded frames in the output buffers of the
connections concerned. A connection's writer sleeps until its buffer becomes
non-empty and then writes everything in one ``send_all``: one task switch and one
syscall per batch, never per message. Writes run in a shielded scope so a frame is
never half-written when the connection is cancelled.

Backpressure: the session stops delivering to a connection whose buffer is over a
high-water mark and resumes after the writer drained it; while the broker is above
its memory watermark, connections that publish are not read (connection.blocked).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog
import trio

from amqpish.codec.frames import HEARTBEAT_FRAME
from amqpish.session.connection import ConnectionSession, State

if TYPE_CHECKING:
    from amqpish.server.app import Server

log = structlog.get_logger("amqpish.server")

READ_SIZE = 256 * 1024
CLOSE_TIMEOUT = 5.0


class AMQPConnection:
    def __init__(self, server: Server, stream: trio.abc.Stream, peer: tuple[str, int]) -> None:
        self.server = server
        self.stream = stream
        self.peer = peer
        loopback = peer[0].startswith("127.") or peer[0] in ("::1", "localhost")
        cfg = server.config
        self.session = ConnectionSession(
            server.broker,
            peer=peer,
            loopback=loopback,
            hooks=server.hooks,
            channel_max=cfg.channel_max,
            frame_max=cfg.frame_max,
            heartbeat=cfg.heartbeat,
            cluster_name=cfg.cluster_name,
            loopback_users=cfg.loopback_users,
        )
        self.session.runtime = self
        self.wakeup = trio.Event()
        self.last_send = time.monotonic()
        # the reader is parked while publishers are blocked (see _heartbeat)
        self.read_paused = False
        self.cancel_scope = trio.CancelScope()

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self) -> None:
        s = self.session
        s.connected_at = time.time()
        self.server.connections.add(self)
        try:
            with self.cancel_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer, nursery.cancel_scope)
                    nursery.start_soon(self._heartbeat)
                    # handshake must complete in time, as RabbitMQ's 10 s handshake_timeout
                    await self._reader()
                    nursery.cancel_scope.cancel()
        finally:
            self.server.connections.discard(self)
            s.connection_lost()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self.stream.aclose()

    async def _reader(self) -> None:
        try:
            await self._read_loop()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            # the peer reset or vanished: an ordinary end, logged as connection_closed
            return

    async def _read_loop(self) -> None:
        s = self.session
        stream = self.stream
        server = self.server
        handshake_deadline = trio.current_time() + 10
        while not s.closed:
            if s.state is State.CLOSING:
                with trio.move_on_after(CLOSE_TIMEOUT) as scope:
                    data = await stream.receive_some(READ_SIZE)
                if scope.cancelled_caught:
                    return
            elif s.state is not State.RUNNING:
                with trio.move_on_at(handshake_deadline) as scope:
                    data = await stream.receive_some(READ_SIZE)
                if scope.cancelled_caught:
                    log.info("handshake_timeout", peer=s.name)
                    return
            else:
                if server.publishers_blocked and s.has_published:
                    # not reading, so not seeing its heartbeats either: RabbitMQ pauses
                    # the heartbeat monitor of a blocked connection too
                    self.read_paused = True
                    try:
                        await server.wait_unblocked(s)
                    finally:
                        self.read_paused = False
                data = await stream.receive_some(READ_SIZE)
            if not data:
                return
            s.receive_data(bytes(data) if type(data) is not bytes else data, time.time())
        # let the writer flush the final frames (close-ok, protocol header)
        await self._flush_final()

    async def _flush_final(self) -> None:
        with trio.move_on_after(2):
            while self.session.out or self.session.dirty:
                await self.flushed.wait()

    @property
    def flushed(self) -> trio.Event:
        ev = getattr(self, "_flushed", None)
        if ev is None or ev.is_set():
            ev = self._flushed = trio.Event()
        return ev

    async def _writer(self, scope: trio.CancelScope) -> None:
        s = self.session
        stream = self.stream
        try:
            while True:
                await self.wakeup.wait()
                self.wakeup = trio.Event()
                data = s.take_output()
                if data:
                    with trio.CancelScope(shield=True):
                        await stream.send_all(data)
                    self.last_send = time.monotonic()
                    s.output_sent(time.time())
                ev = getattr(self, "_flushed", None)
                if ev is not None and not s.out:
                    ev.set()
                if s.closed and not s.out:
                    scope.cancel()
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            scope.cancel()

    async def _heartbeat(self) -> None:
        s = self.session
        while s.state is not State.RUNNING or not s.heartbeat:
            await trio.sleep(1)
            if s.state is State.RUNNING and not s.heartbeat:
                return
        interval = s.heartbeat
        last_recv_bytes = s.recv_bytes
        last_recv_at = time.monotonic()
        while True:
            await trio.sleep(interval / 2)
            now = time.monotonic()
            if now - self.last_send >= interval / 2 and not s.out:
                s.write(HEARTBEAT_FRAME)
            if s.recv_bytes != last_recv_bytes or self.read_paused:
                last_recv_bytes = s.recv_bytes
                last_recv_at = now
            elif now - last_recv_at > interval * 2:
                log.warning("missed_heartbeats", peer=s.name, user=s.user, timeout=interval)
                self.cancel_scope.cancel()
                return
