"""The composition root: builds the broker model and runs every task under one nursery.

``serve_broker`` starts the timer heap, the memory monitor, the AMQP listener (and
the TLS one when a certificate is configured) and the management UI, reports the
bound addresses through ``task_status``, and runs until cancelled. Shutdown closes
client connections with connection.close 320 CONNECTION_FORCED and a deadline.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Collection
from typing import Any

import structlog
import trio

from amqpish.broker.broker import Broker
from amqpish.broker.message import Message
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import VHost
from amqpish.codec import spec
from amqpish.codec.frames import encode_method
from amqpish.config import Config
from amqpish.server.amqp import AMQPConnection
from amqpish.server.timers import TimerHeap
from amqpish.session.connection import ConnectionSession, SessionHooks

log = structlog.get_logger("amqpish.server")


class RuntimeHooks(SessionHooks):
    def __init__(self, server: Server) -> None:
        self.server = server

    def wake(self, conn: ConnectionSession) -> None:
        rt = conn.runtime
        if rt is not None:
            rt.wakeup.set()

    def definitions_changed(self, vhost: VHost) -> None:
        pass

    def message_routed(
        self, conn: ConnectionSession, msg: Message, queues: Collection[Queue]
    ) -> None:
        pass


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.timers = TimerHeap(self._on_timer)
        self.broker = Broker(schedule=self.timers.schedule, default_user=False)
        self._init_users()
        self.hooks = RuntimeHooks(self)
        self.connections: set[AMQPConnection] = set()
        self.publishers_blocked = False
        self._unblocked = trio.Event()
        self.started_at = time.time()
        self.addresses: dict[str, tuple[str, int]] = {}
        self._stop = trio.Event()

    def stop(self) -> None:
        """Begin a graceful shutdown (SIGTERM/SIGINT)."""
        self._stop.set()

    def _init_users(self) -> None:
        cfg = self.config
        users = self.broker.users
        if cfg.default_user:
            users.add(cfg.default_user, cfg.default_pass, ["administrator"])
            users.set_permissions(cfg.default_user, "/", ".*", ".*", ".*")
        for vh in cfg.vhosts:
            self.broker.add_vhost(vh)
        for u in cfg.users:
            users.add(u.name, u.password, list(u.tags))

    def _on_timer(self, q: Queue, now: float) -> None:
        q.on_timer(now)
        vhost = self.broker.vhosts.get(q.vhost)
        if vhost is None:
            return
        if q.dead_letters:
            vhost.dead_letter(q, now)
        if q.wants_delete and not q.deleted:
            _, consumers = vhost.remove_queue(q)
            for c in consumers:
                c.channel.consumer_cancelled(c)

    # --- memory alarm --------------------------------------------------------------------

    async def wait_unblocked(self, s: ConnectionSession) -> None:
        """A publishing connection stops being read until the alarm clears."""
        self._notify_blocked(s)
        await self._unblocked.wait()

    def _notify_blocked(self, s: ConnectionSession) -> None:
        if s.blocked_notify and not s.blocked:
            s.blocked = True
            s.write(encode_method(0, spec.ConnectionBlocked("low on memory")))

    def set_memory_alarm(self, on: bool) -> None:
        if on == self.publishers_blocked:
            return
        self.publishers_blocked = on
        log.warning("memory_alarm", state="set" if on else "cleared")
        if on:
            self._unblocked = trio.Event()
            # tell publishers now, not at their next read: they may be waiting on us
            for c in list(self.connections):
                if c.session.has_published:
                    self._notify_blocked(c.session)
        else:
            self._unblocked.set()
            for c in list(self.connections):
                s = c.session
                if s.blocked:
                    s.blocked = False
                    s.write(encode_method(0, spec.ConnectionUnblocked()))

    async def _memory_monitor(self) -> None:
        limit = self.config.memory_limit_bytes()
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            try:
                with open("/proc/self/statm") as fh:
                    rss = int(fh.read().split()[1]) * page
            except OSError:
                return
            self.set_memory_alarm(rss > limit)
            await trio.sleep(0.5)

    # --- listeners -------------------------------------------------------------------------

    async def _handle(self, stream: trio.abc.Stream) -> None:
        peer = _peer_of(stream)
        conn = AMQPConnection(self, stream, peer)
        try:
            await conn.run()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        except Exception:
            log.exception("connection_crashed", peer=f"{peer[0]}:{peer[1]}")

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config
        async with trio.open_nursery() as nursery:
            await nursery.start(self.timers.run)
            nursery.start_soon(self._memory_monitor)
            listeners = await trio.open_tcp_listeners(cfg.port, host=cfg.host)
            self.addresses["amqp"] = listeners[0].socket.getsockname()[:2]
            nursery.start_soon(trio.serve_listeners, self._handle, listeners)
            if cfg.tls_cert and cfg.tls_key:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
                tls_listeners = await trio.open_ssl_over_tcp_listeners(
                    cfg.tls_port, ctx, host=cfg.host
                )
                tls_sock: Any = tls_listeners[0].transport_listener
                self.addresses["amqps"] = tls_sock.socket.getsockname()[:2]
                nursery.start_soon(trio.serve_listeners, self._handle, tls_listeners)
            if cfg.http_port >= 0:  # 0: any free port (tests); negative: no management UI
                try:
                    from management_ui.server import serve_management
                except ImportError:
                    serve_management = None  # type: ignore[assignment]
                if serve_management is not None:
                    from amqpish.server.view import make_view

                    view = make_view(self)
                    await nursery.start(view.sampler.serve)
                    addr = await nursery.start(serve_management, view, cfg.http_host, cfg.http_port)
                    self.addresses["http"] = addr
            log.info(
                "broker_ready",
                **{k: f"{h}:{p}" for k, (h, p) in self.addresses.items()},
                data_dir=str(cfg.data_dir),
            )
            task_status.started(self)
            await self._stop.wait()
            await self._shutdown()
            nursery.cancel_scope.cancel()

    async def _shutdown(self) -> None:
        """Tell every client (320 CONNECTION_FORCED) and give the writers a moment."""
        for c in list(self.connections):
            c.session.force_close(
                "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
            )
        with trio.move_on_after(2):
            for c in list(self.connections):
                await c._flush_final()
        log.info("broker_stopped")


def _peer_of(stream: trio.abc.Stream) -> tuple[str, int]:
    s: Any = stream
    while hasattr(s, "transport_stream"):
        s = s.transport_stream
    try:
        addr = s.socket.getpeername()
        return (str(addr[0]), int(addr[1]))
    except (AttributeError, OSError):
        return ("?", 0)


async def serve_broker(config: Config, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    server = Server(config)
    await server.serve(task_status=task_status)
