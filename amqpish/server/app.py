"""The composition root: builds the broker model and runs every task under one nursery.

``serve_broker`` starts the timer heap, the memory monitor, the AMQP listener (and
the TLS one when a certificate is configured) and the management UI, reports the
bound addresses through ``task_status``, and runs until cancelled. Shutdown closes
client connections with connection.close 320 CONNECTION_FORCED and a deadline.
"""

from __future__ import annotations

import gc
import os
import shutil
import ssl
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import trio

from amqpish.broker.broker import Broker
from amqpish.broker.message import Message
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import VHost
from amqpish.codec import spec
from amqpish.codec.frames import encode_method
from amqpish.config import Config
from amqpish.server import gcpolicy
from amqpish.server.amqp import AMQPConnection
from amqpish.server.durable import Durability
from amqpish.server.timers import TimerHeap
from amqpish.session.connection import ConnectionSession, SessionHooks

if TYPE_CHECKING:
    from amqpish.server.view import ServerView

log = structlog.get_logger("amqpish.server")


class RuntimeHooks(SessionHooks):
    def __init__(self, server: Server) -> None:
        self.server = server

    def wake(self, conn: ConnectionSession) -> None:
        rt = conn.runtime
        if rt is not None:
            rt.wakeup.set()

    def definitions_changed(self, vhost: VHost) -> None:
        self.server.durability.definitions_changed()

    def message_routed(
        self, conn: ConnectionSession, msg: Message, queues: Collection[Queue]
    ) -> None:
        pass

    def after_sync(self, callback: Callable[[], object]) -> None:
        self.server.durability.persister.after_sync(callback)


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.timers = TimerHeap(self._on_timer)
        self.durability = Durability(
            Path(config.data_dir),
            on_accepting_changed=self._persister_accepting,
            memory_budget=config.queue_memory_budget_bytes(),
        )
        self.broker = Broker(
            schedule=self.timers.schedule, default_user=False, queue_log=self.durability
        )
        self.hooks = RuntimeHooks(self)
        self.connections: set[AMQPConnection] = set()
        # resource alarms ("memory", "disk"): while any is set, publishers are not read
        self.alarms: set[str] = set()
        self.publishers_blocked = False
        self._unblocked = trio.Event()
        self.started_at = time.time()
        self.addresses: dict[str, tuple[str, int]] = {}
        self._stop = trio.Event()

    def stop(self) -> None:
        """Begin a graceful shutdown (SIGTERM/SIGINT)."""
        self._stop.set()

    def _init_users(self, first_boot: bool) -> None:
        """The default user only on first boot (as RabbitMQ), configured ones always."""
        cfg = self.config
        users = self.broker.users
        if cfg.default_user and first_boot:
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

    # --- resource alarms ------------------------------------------------------------------

    async def wait_unblocked(self, s: ConnectionSession) -> None:
        """A publishing connection stops being read until the alarm clears."""
        self._notify_blocked(s)
        await self._unblocked.wait()

    def _notify_blocked(self, s: ConnectionSession) -> None:
        if s.blocked_notify and not s.blocked:
            s.blocked = True
            reason = " & ".join(f"low on {a}" for a in sorted(self.alarms))
            s.write(encode_method(0, spec.ConnectionBlocked(reason)))

    def set_memory_alarm(self, on: bool) -> None:
        self.set_alarm("memory", on)

    def _persister_accepting(self, accepting: bool) -> None:
        self.set_alarm("disk", not accepting)

    def set_alarm(self, name: str, on: bool) -> None:
        if on == (name in self.alarms):
            return
        if on:
            self.alarms.add(name)
        else:
            self.alarms.discard(name)
        log.warning(f"{name}_alarm", state="set" if on else "cleared")
        blocked = bool(self.alarms)
        if blocked == self.publishers_blocked:
            return
        self.publishers_blocked = blocked
        if blocked:
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

    async def _resource_monitor(self) -> None:
        limit = self.config.memory_limit_bytes()
        disk_limit = self.config.disk_free_limit
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            try:
                with open("/proc/self/statm") as fh:
                    rss = int(fh.read().split()[1]) * page
                self.set_memory_alarm(rss > limit)
            except OSError:
                pass
            try:
                free = shutil.disk_usage(self.config.data_dir).free
                if free < disk_limit:
                    self.set_alarm("disk", True)
                elif self.durability.persister.accepting:
                    self.set_alarm("disk", False)
            except OSError:
                pass
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
        from amqpish.server.view import make_view

        view = make_view(self)
        # recovery builds a heap of long-lived objects: collecting while it grows
        # would walk it again and again (most of the start-up time with 100,000
        # bindings); gcpolicy.install collects once at the end
        gc.disable()
        try:
            self._recover(view)
        finally:
            gc.enable()
        # what recovery built is long-lived: out of the collector's way (gcpolicy.py)
        gcpolicy.install()
        try:
            await self._serve(view, task_status)
        finally:
            gcpolicy.uninstall()

    def _recover(self, view: ServerView) -> None:
        durability = self.durability
        first_boot = durability.recover(
            self,
            export=lambda: durability.durable_definitions(view.export_definitions()),
            import_=view.import_definitions,
            export_globals=lambda: view.export_definitions(objects=False),
        )
        self._init_users(first_boot)
        for p in self.config.policies:
            # configured policies are (re)applied at every start, like configured users
            self.broker.add_vhost(p.vhost)
            view.put_policy(
                p.vhost,
                p.name,
                pattern=p.pattern,
                definition=p.definition,
                priority=p.priority,
                apply_to=p.apply_to,
            )

    async def _serve(self, view: ServerView, task_status: Any) -> None:
        cfg = self.config
        durability = self.durability
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gcpolicy.keep)
            await nursery.start(durability.persister.run)
            await nursery.start(self.timers.run)
            if durability.pager is not None:
                await nursery.start(durability.pager.serve, self.broker)
            nursery.start_soon(self._resource_monitor)
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
