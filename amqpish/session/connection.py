"""One AMQP connection: handshake, channel table, error translation; sans-IO.

Bytes come in through ``receive_data(data, now)``; everything to send is appended
to ``out`` (a list of encoded frames the runtime joins and writes in one call), and
``hooks.wake(self)`` is called when ``out`` goes from empty to non-empty, so the
runtime's writer runs once per batch, not once per frame.

Handshake states, in order::

    HEADER -> START_OK -> (SECURE_OK) -> TUNE_OK -> OPEN -> RUNNING
    any state --error/close--> CLOSING (wait for close-ok) -> CLOSED

Errors from the model and codec are translated here, at one boundary: a soft
reply code closes only the channel (channel.close; frames on that channel are
ignored until channel.close-ok), a hard one closes the connection (connection.close;
everything but close-ok is ignored, then ``closed`` tells the runtime to drop the
socket).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Collection, Iterable
from enum import Enum
from functools import partial
from typing import Any

import structlog

from amqpish import __version__
from amqpish.broker.broker import Broker
from amqpish.broker.consumers import Consumer
from amqpish.broker.errors import AMQPError, Code
from amqpish.broker.message import Message
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import VHost
from amqpish.codec import Decoder, ProtocolError, spec
from amqpish.codec.events import ContentMessage, DecodeError, Heartbeat, MethodFrame, ProtocolHeader
from amqpish.codec.frames import encode_method
from amqpish.codec.values import decode_table
from amqpish.session.channel import HANDLERS, ChannelSession

log = structlog.get_logger("amqpish.connection")

WRITE_HIGH = 4 * 1024 * 1024
WRITE_LOW = 1024 * 1024


class State(Enum):
    HEADER = "header"
    START_OK = "start_ok"
    SECURE_OK = "secure_ok"
    TUNE_OK = "tune_ok"
    OPEN = "open"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


class SessionHooks:
    """What a session asks of the runtime; the defaults do nothing (for tests)."""

    def wake(self, conn: ConnectionSession) -> None:
        pass

    def definitions_changed(self, vhost: VHost) -> None:
        pass

    def message_routed(
        self, conn: ConnectionSession, msg: Message, queues: Collection[Queue]
    ) -> None:
        pass

    def queue_purged(self, queue: Queue) -> None:
        pass

    def queue_deleted(self, queue: Queue) -> None:
        pass

    def connection_closed(self, conn: ConnectionSession) -> None:
        pass

    def after_sync(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once everything recorded so far is durable."""
        callback()


SERVER_CAPABILITIES = {
    "publisher_confirms": True,
    "exchange_exchange_bindings": True,
    "basic.nack": True,
    "consumer_cancel_notify": True,
    "connection.blocked": True,
    "consumer_priorities": True,
    "authentication_failure_close": True,
    "per_consumer_qos": True,
    "direct_reply_to": True,
}


def server_properties(cluster_name: str) -> dict[str, Any]:
    return {
        "capabilities": SERVER_CAPABILITIES,
        "cluster_name": cluster_name,
        "copyright": "Copyright (c) the amqpish authors",
        "information": "Licensed under the MIT License",
        "platform": f"Python {platform.python_version()}",
        "product": "amqpish",
        "version": __version__,
    }


class ConnectionSession:
    __slots__ = (
        "auth_failure_close",
        "auth_mechanism",
        "blocked",
        "blocked_notify",
        "broker",
        "cancel_notify",
        "channel_max",
        "channels",
        "client_properties",
        "close_reason",
        "closed",
        "closing_channels",
        "cluster_name",
        "connected_at",
        "decoder",
        "dirty",
        "exclusive_queues",
        "frame_max",
        "has_published",
        "heartbeat",
        "hooks",
        "loopback",
        "loopback_users",
        "name",
        "now",
        "out",
        "out_bytes",
        "peer",
        "pending_confirms",
        "pending_syncs",
        "recv_bytes",
        "recv_cnt",
        "runtime",
        "send_bytes",
        "send_cnt",
        "server_channel_max",
        "server_frame_max",
        "server_heartbeat",
        "state",
        "user",
        "vhost",
        "vhost_name",
        "write_blocked",
    )

    def __init__(
        self,
        broker: Broker,
        *,
        peer: tuple[str, int] = ("127.0.0.1", 0),
        loopback: bool = True,
        hooks: SessionHooks | None = None,
        channel_max: int = 2047,
        frame_max: int = 131072,
        heartbeat: int = 60,
        cluster_name: str = "amqpish@localhost",
        loopback_users: Collection[str] = ("guest",),
        name: str = "",
    ) -> None:
        self.broker = broker
        self.peer = peer
        self.loopback = loopback
        self.hooks = hooks or SessionHooks()
        self.server_channel_max = channel_max
        self.server_frame_max = frame_max
        self.server_heartbeat = heartbeat
        self.cluster_name = cluster_name
        self.loopback_users = loopback_users
        self.name = name or f"{peer[0]}:{peer[1]}"
        self.decoder = Decoder(frame_max=frame_max, expect_protocol_header=True)
        self.state = State.HEADER
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.dirty = False
        self.write_blocked = False
        self.closed = False  # the runtime should flush ``out`` and drop the socket
        self.now = 0.0
        self.channels: dict[int, ChannelSession] = {}
        self.closing_channels: set[int] = set()
        self.pending_confirms: set[ChannelSession] = set()
        # channels whose confirms wait for an fsync of what this batch recorded
        self.pending_syncs: set[ChannelSession] = set()
        self.exclusive_queues: list[Queue] = []
        self.user = ""
        self.vhost: VHost = broker.vhosts.get("/") or next(iter(broker.vhosts.values()))
        self.vhost_name = ""
        self.client_properties: dict[str, Any] = {}
        self.cancel_notify = False
        self.auth_failure_close = False
        self.blocked_notify = False
        self.channel_max = channel_max
        self.frame_max = frame_max
        self.heartbeat = heartbeat
        self.auth_mechanism = ""
        self.close_reason: tuple[int, str] | None = None
        self.recv_bytes = 0
        self.recv_cnt = 0
        self.send_cnt = 0
        self.send_bytes = 0
        self.connected_at = 0.0
        self.blocked = False  # connection.blocked sent: publishes are not read
        self.has_published = False
        self.runtime: Any = None  # the Trio side's per-connection object, for the runtime

    # --- output ----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.out.append(data)
        self.out_bytes += len(data)
        if not self.dirty:
            self.dirty = True
            self.hooks.wake(self)
        if self.out_bytes > WRITE_HIGH and not self.write_blocked:
            self.write_blocked = True
            for ch in self.channels.values():
                ch.write_blocked = True

    def take_output(self) -> bytes:
        """Everything to send, as one buffer; called by the runtime's writer."""
        out = self.out
        if not out:
            self.dirty = False
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self.send_bytes += len(data)
        self.send_cnt += 1
        self.out_bytes = 0
        self.dirty = False
        return data

    def output_sent(self, now: float) -> None:
        """The runtime finished a write: lift write backpressure if it was on."""
        if self.write_blocked and self.out_bytes < WRITE_LOW:
            self.now = now
            self.write_blocked = False
            for ch in list(self.channels.values()):
                ch.write_blocked = False
                ch.drain()

    def send_method(self, channel: int, method: spec.Method) -> None:
        self.write(encode_method(channel, method))

    # --- input -----------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        self.now = now
        self.recv_bytes += len(data)
        self.recv_cnt += 1
        if self.state is State.CLOSED:
            return
        try:
            self._dispatch(self.decoder.feed(data))
        except Exception:
            # A bug must cost one connection, never the broker: 541 and a logged traceback.
            log.exception("internal_error", peer=self.name, code=541)
            self.connection_error(Code.INTERNAL_ERROR, "")
        self.end_of_batch()

    def _dispatch(self, events: list[Any]) -> None:
        # events are typed by the codec; Any keeps the per-message dispatch free of casts
        channels = self.channels
        for ev in events:
            t = type(ev)
            if t is ContentMessage:
                ch = channels.get(ev.channel)
                if ch is None or self.state is not State.RUNNING:
                    self._on_orphan(ev.channel, ev.method)
                    continue
                m = ev.method
                try:
                    if type(m) is not spec.BasicPublish:
                        raise AMQPError(Code.COMMAND_INVALID, "unimplemented method")
                    ch.publish(m, ev.properties_raw, ev.body)
                except AMQPError as e:
                    self._error(e, ch, m)
                except ProtocolError:
                    # RabbitMQ's channel crashes on undecodable properties: 541, no text
                    self.connection_error(Code.INTERNAL_ERROR, "")
            elif t is MethodFrame:
                self._on_method(ev.channel, ev.method)
            elif t is Heartbeat:
                pass
            elif t is ProtocolHeader:
                self._on_header(ev)
            elif t is DecodeError:
                err = ev.error
                self.connection_error(err.reply_code, err.text, err.class_id, err.method_id)
            if self.state is State.CLOSED:
                break

    def end_of_batch(self) -> None:
        """Work deferred to the end of a read batch: drains and coalesced confirms."""
        for ch in list(self.channels.values()):
            if ch.needs_drain:
                ch.drain()
        if self.pending_confirms:
            for ch in self.pending_confirms:
                ch.flush_confirms()
            self.pending_confirms.clear()
        if self.pending_syncs:
            after_sync = self.hooks.after_sync
            for ch in self.pending_syncs:
                after_sync(partial(ch.synced, ch.sync_upto))
            self.pending_syncs.clear()

    def _on_header(self, ev: ProtocolHeader) -> None:
        if not ev.ok or self.state is not State.HEADER:
            self.write(spec.PROTOCOL_HEADER)
            self._set_closed()
            return
        self.state = State.START_OK
        self.send_method(
            0,
            spec.ConnectionStart(
                version_major=0,
                version_minor=9,
                server_properties=server_properties(self.cluster_name),
                mechanisms=b"PLAIN AMQPLAIN",
                locales=b"en_US",
            ),
        )

    def _on_orphan(self, channel: int, method: spec.Method) -> None:
        if self.state is State.CLOSING:
            return
        if channel in self.closing_channels:
            return
        if self.state is not State.RUNNING:
            # frames on a channel before connection.open-ok (RabbitMQ's text)
            self.connection_error(
                Code.UNEXPECTED_FRAME, f"type 1, all octets = <<{method.encode_args().hex()}>>"
            )
            return
        if channel == 0:
            self.connection_error(
                Code.CHANNEL_ERROR,
                "unexpected method in connection state running",
                method.CLASS_ID,
                method.METHOD_ID,
            )
            return
        self.connection_error(
            Code.CHANNEL_ERROR,
            "expected 'channel.open'",
            method.CLASS_ID,
            method.METHOD_ID,
        )

    def _on_method(self, channel: int, m: spec.Method) -> None:
        state = self.state
        if state is State.CLOSING:
            if type(m) is spec.ConnectionCloseOk:
                self._set_closed()
            elif type(m) is spec.ConnectionClose:
                self.send_method(0, spec.ConnectionCloseOk())
            return
        if channel == 0:
            try:
                self._on_connection_method(m)
            except AMQPError as e:
                self.connection_error(e.code, e.text, m.CLASS_ID, m.METHOD_ID)
            return
        if state is not State.RUNNING:
            self._on_orphan(channel, m)
            return
        if channel in self.closing_channels:
            if type(m) is spec.ChannelCloseOk:
                self.closing_channels.discard(channel)
            elif type(m) is spec.ChannelClose:
                self.send_method(channel, spec.ChannelCloseOk())
            return
        ch = self.channels.get(channel)
        if ch is None:
            if type(m) is spec.ChannelOpen:
                # RabbitMQ limits how many channels are open, not their numbers
                if self.channel_max and len(self.channels) >= self.channel_max:
                    self.connection_error(
                        Code.NOT_ALLOWED,
                        f"number of channels opened ({len(self.channels)}) has reached "
                        f"the negotiated channel_max ({self.channel_max})",
                    )
                    return
                self.channels[channel] = ChannelSession(self, channel)
                self.send_method(channel, spec.ChannelOpenOk())
                return
            self._on_orphan(channel, m)
            return
        handler = HANDLERS.get(m.INDEX)
        try:
            if handler is not None:
                handler(ch, m)
            elif type(m) is spec.ChannelClose:
                self._release_channel(ch)
                self.send_method(channel, spec.ChannelCloseOk())
            elif type(m) is spec.ChannelOpen:
                raise AMQPError(Code.CHANNEL_ERROR, "second 'channel.open' seen")
            elif type(m) is spec.AccessRequest:
                # a 0-8 leftover that clients still send; RabbitMQ answers ticket 1
                self.send_method(channel, spec.AccessRequestOk(reserved_1=1))
            else:
                # includes an unsolicited channel.close-ok and connection methods
                raise AMQPError(Code.COMMAND_INVALID, "unimplemented method")
        except AMQPError as e:
            self._error(e, ch, m)

    # --- connection class -------------------------------------------------------------

    def _on_connection_method(self, m: spec.Method) -> None:
        state = self.state
        t = type(m)
        if isinstance(m, spec.ConnectionStartOk) and state is State.START_OK:
            self._start_ok(m)
        elif isinstance(m, spec.ConnectionTuneOk) and state is State.TUNE_OK:
            self._tune_ok(m)
        elif isinstance(m, spec.ConnectionOpen) and state is State.OPEN:
            self._open(m)
        elif isinstance(m, spec.ConnectionClose):
            self.send_method(0, spec.ConnectionCloseOk())
            self._set_closed(f"client closed: {m.reply_code} {m.reply_text}")
        elif t is spec.ConnectionCloseOk:
            self._set_closed()
        elif t is spec.ConnectionBlocked or t is spec.ConnectionUnblocked:
            raise AMQPError(Code.COMMAND_INVALID, f"unexpected method {m.NAME}")
        elif state is State.RUNNING and t is spec.ConnectionUpdateSecret:
            self.send_method(0, spec.ConnectionUpdateSecretOk())
        elif state is State.RUNNING:
            raise AMQPError(Code.CHANNEL_ERROR, "unexpected method in connection state running")
        else:
            raise AMQPError(
                Code.COMMAND_INVALID, f"unexpected method {m.NAME} in state {state.value}"
            )

    def _start_ok(self, m: spec.ConnectionStartOk) -> None:
        self.client_properties = m.client_properties
        caps = m.client_properties.get("capabilities")
        if isinstance(caps, dict):
            self.cancel_notify = bool(caps.get("consumer_cancel_notify"))
            self.blocked_notify = bool(caps.get("connection.blocked"))
            self.auth_failure_close = bool(caps.get("authentication_failure_close"))
        self.auth_mechanism = m.mechanism
        if m.mechanism == "PLAIN":
            parts = m.response.split(b"\x00")
            if len(parts) != 3 or parts[0] or not parts[1]:
                # a malformed response is a handshake error, closed without a word
                self._set_closed("malformed PLAIN response")
                return
            username, password = (
                parts[1].decode(errors="replace"),
                parts[2].decode(errors="replace"),
            )
        elif m.mechanism == "AMQPLAIN":
            try:
                resp = m.response
                table, _ = decode_table(len(resp).to_bytes(4, "big") + resp, 0)
            except Exception:
                self._auth_failed(m.mechanism)
                return
            if "LOGIN" not in table or "PASSWORD" not in table:
                self._set_closed("malformed AMQPLAIN response")
                return
            username = _as_str(table.get("LOGIN"))
            password = _as_str(table.get("PASSWORD"))
        else:
            raise AMQPError(
                Code.COMMAND_INVALID,
                f"unknown authentication mechanism '{m.mechanism}'",
            )
        user = self.broker.users.authenticate(username, password)
        if user is None:
            self._auth_failed(m.mechanism, username)
            return
        if not self.loopback and username in self.loopback_users:
            self._auth_failed(m.mechanism, username)
            return
        self.user = username
        self.state = State.TUNE_OK
        self.send_method(
            0,
            spec.ConnectionTune(
                channel_max=self.server_channel_max,
                frame_max=self.server_frame_max,
                heartbeat=self.server_heartbeat,
            ),
        )

    def _auth_failed(self, mechanism: str, username: str = "") -> None:
        log.warning("auth_failed", peer=self.name, user=username, mechanism=mechanism, code=403)
        if self.auth_failure_close:
            # only clients that announce authentication_failure_close get a reason
            text = AMQPError(
                Code.ACCESS_REFUSED,
                f"Login was refused using authentication mechanism {mechanism}. "
                "For details see the broker logfile.",
            ).reply_text
            self.send_method(0, spec.ConnectionClose(Code.ACCESS_REFUSED, text, 0, 0))
            # the peer answers close-ok: wait for it (bounded by the runtime) so that its
            # write does not meet a reset socket and hide the 403
            self.close_reason = (Code.ACCESS_REFUSED, text)
            self.state = State.CLOSING
            return
        self._set_closed("authentication failed")

    def _tune_ok(self, m: spec.ConnectionTuneOk) -> None:
        cmax = m.channel_max or 65535
        if cmax > self.server_channel_max and self.server_channel_max:
            raise AMQPError(
                Code.NOT_ALLOWED,
                f"negotiated channel_max = {cmax} is higher than the maximum allowed value "
                f"({self.server_channel_max})",
            )
        fmax = m.frame_max
        if fmax and fmax < spec.FRAME_MIN_SIZE:
            raise AMQPError(
                Code.NOT_ALLOWED,
                f"frame_max={fmax} < {spec.FRAME_MIN_SIZE} min size",
            )
        if fmax == 0 and self.server_frame_max:
            # 0 asks for "no limit", which is more than the server allows
            raise AMQPError(Code.NOT_ALLOWED, f"frame_max=0 > {self.server_frame_max} max size")
        if fmax == 0 or fmax > self.server_frame_max:
            if fmax > self.server_frame_max:
                raise AMQPError(
                    Code.NOT_ALLOWED,
                    f"frame_max={fmax} > {self.server_frame_max} max size",
                )
            fmax = self.server_frame_max
        self.channel_max = min(cmax, self.server_channel_max or cmax)
        self.frame_max = fmax
        self.decoder.frame_max = fmax
        self.heartbeat = m.heartbeat
        self.state = State.OPEN

    def _open(self, m: spec.ConnectionOpen) -> None:
        vh = self.broker.vhosts.get(m.virtual_host)
        if vh is None:
            raise AMQPError(Code.NOT_ALLOWED, f"vhost {m.virtual_host} not found")
        if not self.broker.users.can_access_vhost(self.user, vh.name):
            raise AMQPError(
                Code.NOT_ALLOWED,
                f"access to vhost '{vh.name}' refused for user '{self.user}'",
            )
        self.vhost = vh
        self.vhost_name = vh.name
        self.state = State.RUNNING
        self.send_method(0, spec.ConnectionOpenOk())
        log.info(
            "connection_opened",
            peer=self.name,
            user=self.user,
            vhost=vh.name,
            client=_as_str(self.client_properties.get("product")),
        )

    # --- errors and closing ------------------------------------------------------------

    def _error(self, e: AMQPError, ch: ChannelSession, m: spec.Method) -> None:
        if e.hard:
            self.connection_error(e.code, e.text, m.CLASS_ID, m.METHOD_ID)
        else:
            self.channel_error(ch, e.code, e.text, m.CLASS_ID, m.METHOD_ID)

    def channel_error(
        self, ch: ChannelSession, code: int, text: str, class_id: int = 0, method_id: int = 0
    ) -> None:
        reply = AMQPError(code, text).reply_text
        log.info("channel_error", peer=self.name, channel=ch.number, code=code, text=reply)
        self._release_channel(ch)
        self.closing_channels.add(ch.number)
        self.send_method(ch.number, spec.ChannelClose(code, reply, class_id, method_id))

    def connection_error(self, code: int, text: str, class_id: int = 0, method_id: int = 0) -> None:
        if self.state in (State.CLOSING, State.CLOSED):
            return
        reply = AMQPError(code, text).reply_text
        if self.state in (State.HEADER, State.START_OK, State.SECURE_OK, State.TUNE_OK):
            # Before tune-ok RabbitMQ closes the socket without a word: the peer is not
            # trusted yet and may not even speak AMQP.
            log.warning("handshake_error", peer=self.name, code=code, text=reply)
            self._set_closed()
            return
        log.warning("connection_error", peer=self.name, user=self.user, code=code, text=reply)
        self.close_reason = (code, reply)
        self._release_all()
        self.send_method(0, spec.ConnectionClose(code, reply, class_id, method_id))
        self.state = State.CLOSING

    def force_close(self, reason: str = "CONNECTION_FORCED - Closed via management plugin") -> None:
        """Close from the broker side (management UI, shutdown)."""
        if self.state is State.RUNNING:
            self.connection_error(Code.CONNECTION_FORCED, reason.split(" - ", 1)[-1])
        else:
            self._set_closed()

    def _set_closed(self, cause: str = "") -> None:
        if self.state is State.CLOSED:
            return
        was = self.state
        if cause or was in (State.RUNNING, State.CLOSING):
            log.info(
                "connection_closed",
                peer=self.name,
                user=self.user,
                vhost=self.vhost_name,
                reason=cause or (self.close_reason[1] if self.close_reason else "closed"),
                recv_bytes=self.recv_bytes,
                send_bytes=self.send_bytes,
            )
        self._release_all()
        self.state = State.CLOSED
        self.closed = True
        self.hooks.wake(self)

    def _release_channel(self, ch: ChannelSession) -> None:
        self.channels.pop(ch.number, None)
        self.pending_confirms.discard(ch)
        self.pending_syncs.discard(ch)
        ch.close()

    def _release_all(self) -> None:
        for ch in list(self.channels.values()):
            self._release_channel(ch)
        for q in self.exclusive_queues:
            if not q.deleted and self.vhost.queues.get(q.name) is q:
                _, consumers = self.vhost.remove_queue(q)
                self._notify_cancelled(consumers)
                self.hooks.queue_deleted(q)
        self.exclusive_queues.clear()

    def connection_lost(self) -> None:
        """The socket went away (or the runtime gave up on it)."""
        self._set_closed("socket closed" if self.state is State.RUNNING else "")

    # --- hooks used by channels ------------------------------------------------------------

    def after_queue_op(self, q: Queue) -> None:
        if q.dead_letters:
            self.vhost.dead_letter(q, self.now)
        if q.wants_delete and not q.deleted:
            _, consumers = self.vhost.remove_queue(q)
            self.queue_deleted(q, consumers)

    def queue_deleted(self, q: Queue, consumers: Iterable[Consumer]) -> None:
        self._notify_cancelled(consumers)
        self.hooks.queue_deleted(q)
        self.hooks.definitions_changed(self.vhost)

    def _notify_cancelled(self, consumers: Iterable[Consumer]) -> None:
        for c in consumers:
            c.channel.consumer_cancelled(c)

    def queue_purged(self, q: Queue) -> None:
        self.hooks.queue_purged(q)

    def definitions_changed(self) -> None:
        self.hooks.definitions_changed(self.vhost)

    def message_routed(self, msg: Message, queues: Collection[Queue]) -> None:
        if msg.persistent:
            self.hooks.message_routed(self, msg, queues)


def _as_str(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return "" if v is None else str(v)
