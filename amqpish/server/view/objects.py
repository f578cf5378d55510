"""The read side, part two: queues, consumers, exchanges, bindings, connections, channels.

Snapshots copy what they show; ``details=True`` adds the consumers of one queue or
channel. The default exchange's implicit bindings are listed as RabbitMQ lists them,
and a binding's ``properties_key`` is the id RabbitMQ uses for it in URLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from amqpish.admin import (
    BindingInfo,
    ChannelInfo,
    ConnectionInfo,
    ConsumerInfo,
    ExchangeInfo,
    QueueInfo,
    QueueKey,
)
from amqpish.broker.policy import match_policy
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import VHost
from amqpish.server.view.convert import EMPTY, PROTOCOL, jsonable, properties_key
from amqpish.server.view.sampling import (
    CHANNEL_FIELDS,
    CONNECTION_FIELDS,
    EXCHANGE_FIELDS,
    Sampling,
    read_channel,
    read_connection,
    read_exchange,
    read_queue,
)

if TYPE_CHECKING:
    from amqpish.broker.consumers import Consumer
    from amqpish.broker.exchange import Exchange
    from amqpish.server.amqp import AMQPConnection
    from amqpish.session.channel import ChannelSession
    from amqpish.session.connection import ConnectionSession

_STATE_NAMES = {
    "header": "starting",
    "start_ok": "starting",
    "secure_ok": "starting",
    "tune_ok": "tuning",
    "open": "opening",
    "running": "running",
    "closing": "closing",
    "closed": "closed",
}


class ObjectSnapshots(Sampling):
    """BrokerView: the messaging objects, as lists and one at a time."""

    # --- queues -------------------------------------------------------------------------------

    def _queue_info(self, vh: VHost, q: Queue, *, details: bool = False) -> QueueInfo:
        values = read_queue(q)
        owner = q.exclusive_owner
        owner_name: str | None = None
        if owner is not None:
            ac = self._session_conn(owner)
            owner_name = self._conn_name(ac) if ac is not None else getattr(owner, "name", "?")
        policy_name = q.policy_name
        consumers = q.consumers
        active = q.active_consumer if consumers else None
        exclusive_tag = next((c.tag for c in consumers if c.exclusive), None) if consumers else None
        stats = self._queue_stats(q, values)
        return QueueInfo(
            vhost=vh.name,
            name=q.name,
            durable=q.durable,
            auto_delete=q.auto_delete,
            exclusive=owner is not None,
            owner_connection=owner_name,
            arguments=dict(q.arguments) if q.arguments else EMPTY,
            policy=policy_name,
            effective_policy_definition=dict(q.policy) if q.policy else EMPTY,
            state="running",
            consumers=len(q.consumers),
            messages_ready=values[7],
            messages_unacknowledged=values[8],
            message_bytes_ready=q.ready_bytes,
            message_bytes_unacknowledged=q.unacked_bytes,
            messages_persistent=q.persistent_count,
            message_bytes_persistent=q.persistent_bytes,
            messages_paged_out=q.paged_count,
            message_bytes_paged_out=q.paged_bytes,
            stats=stats,
            single_active_consumer_tag=active.tag if active is not None else None,
            exclusive_consumer_tag=exclusive_tag,
            idle_since=None if q.consumers else q.last_used,
            consumer_details=tuple(self._consumer_info(c) for c in q.consumers) if details else (),
        )

    def queues(self, vhost: str | None = None) -> list[QueueInfo]:
        out: list[QueueInfo] = []
        for vh in self._vhosts_of(vhost):
            info = self._queue_info
            out.extend(info(vh, q) for q in vh.queues.values())
        return out

    def queue_keys(self, vhost: str | None = None) -> list[QueueKey]:
        return [
            QueueKey(vh.name, n, len(q.ready), q.unacked_count, len(q.consumers))
            for vh in self._vhosts_of(vhost)
            for n, q in vh.queues.items()
        ]

    def queues_by_key(self, keys: Sequence[tuple[str, str]]) -> list[QueueInfo]:
        out: list[QueueInfo] = []
        vhosts = self.broker.vhosts
        for vname, qname in keys:
            vh = vhosts.get(vname)
            q = vh.queues.get(qname) if vh is not None else None
            if vh is not None and q is not None:
                out.append(self._queue_info(vh, q))
        return out

    def queue(self, vhost: str, name: str) -> QueueInfo | None:
        vh = self.broker.vhosts.get(vhost)
        q = vh.queues.get(name) if vh is not None else None
        if vh is None or q is None:
            return None
        return self._queue_info(vh, q, details=True)

    # --- consumers ----------------------------------------------------------------------------

    def _consumer_info(self, c: Consumer) -> ConsumerInfo:
        ch: Any = c.channel
        conn = getattr(ch, "conn", None)
        ac = self._session_conn(conn) if conn is not None else None
        conn_name = self._conn_name(ac) if ac is not None else getattr(conn, "name", "")
        peer = getattr(conn, "peer", ("", 0))
        number = int(getattr(ch, "number", 0))
        return ConsumerInfo(
            consumer_tag=c.tag,
            vhost=c.queue.vhost,
            queue=c.queue.name,
            channel_name=f"{conn_name} ({number})",
            connection_name=conn_name,
            channel_number=number,
            peer_host=str(peer[0]),
            peer_port=int(peer[1]),
            user=str(getattr(conn, "user", "")),
            ack_required=not c.no_ack,
            exclusive=c.exclusive,
            prefetch_count=c.prefetch,
            active=c.active,
            arguments=jsonable(c.args) if c.args else EMPTY,
        )

    def consumers(self, vhost: str | None = None) -> list[ConsumerInfo]:
        out: list[ConsumerInfo] = []
        for vh in self._vhosts_of(vhost):
            for q in vh.queues.values():
                out.extend(self._consumer_info(c) for c in q.consumers)
        return out

    # --- exchanges and bindings -----------------------------------------------------------------

    def _exchange_info(self, vh: VHost, ex: Exchange) -> ExchangeInfo:
        policy: str | None = None
        if vh.policies:
            pol = match_policy(vh.policies.values(), ex.name, "exchanges")
            policy = None if pol is None else str(pol.get("name", ""))
        return ExchangeInfo(
            vhost=vh.name,
            name=ex.name,
            type=ex.type,
            durable=ex.durable,
            auto_delete=ex.auto_delete,
            internal=ex.internal,
            arguments=jsonable(ex.arguments) if ex.arguments else EMPTY,
            policy=policy,
            stats=self._stats("exchange", ex, EXCHANGE_FIELDS, read_exchange(ex)),
        )

    def exchanges(self, vhost: str | None = None) -> list[ExchangeInfo]:
        return [
            self._exchange_info(vh, ex)
            for vh in self._vhosts_of(vhost)
            for ex in vh.exchanges.values()
        ]

    def exchange(self, vhost: str, name: str) -> ExchangeInfo | None:
        vh = self.broker.vhosts.get(vhost)
        ex = vh.exchanges.get(name) if vh is not None else None
        if vh is None or ex is None:
            return None
        return self._exchange_info(vh, ex)

    def bindings(
        self,
        vhost: str | None = None,
        *,
        source: str | None = None,
        destination: str | None = None,
        destination_type: str | None = None,
    ) -> list[BindingInfo]:
        out: list[BindingInfo] = []
        for vh in self._vhosts_of(vhost):
            if source is not None:
                found: Iterable[Any] = list(vh.bindings_from(source))
            elif destination is not None and destination_type is not None:
                found = list(vh.bindings_to(destination_type, destination))
            else:
                found = list(vh.bindings.values())
            # The default exchange's implicit bindings, listed as RabbitMQ lists them.
            implicit: list[BindingInfo] = []
            if source in (None, "") and destination_type in (None, "queue"):
                names = (
                    [destination]
                    if destination is not None and destination in vh.queues
                    else ([] if destination is not None else list(vh.queues))
                )
                implicit = [
                    BindingInfo(vh.name, "", n, "queue", n, EMPTY, quote(n, safe="")) for n in names
                ]
            out.extend(implicit)
            for b in sorted(
                found,
                key=lambda b: (b.source, b.destination_type, b.destination, b.routing_key),
            ):
                if destination is not None and b.destination != destination:
                    continue
                if destination_type is not None and b.destination_type != destination_type:
                    continue
                args = jsonable(b.arguments) if b.arguments else EMPTY
                out.append(
                    BindingInfo(
                        vh.name,
                        b.source,
                        b.destination,
                        b.destination_type,
                        b.routing_key,
                        args,
                        properties_key(b.routing_key, b.arguments),
                    )
                )
        return out

    # --- connections and channels ------------------------------------------------------------------

    def _connection_info(self, ac: AMQPConnection) -> ConnectionInfo:
        s: ConnectionSession = ac.session
        local = self._local_address(ac)
        state = _STATE_NAMES.get(s.state.value, s.state.value)
        if state == "running" and s.blocked:
            state = "blocked"
        return ConnectionInfo(
            name=self._conn_name(ac),
            vhost=s.vhost_name,
            user=s.user,
            peer_host=str(s.peer[0]),
            peer_port=int(s.peer[1]),
            host=local[0],
            port=local[1],
            protocol=PROTOCOL,
            state=state,
            channels=len(s.channels),
            channel_max=s.channel_max,
            frame_max=s.frame_max,
            timeout=s.heartbeat,
            auth_mechanism=s.auth_mechanism,
            client_properties=jsonable(s.client_properties),
            connected_at=s.connected_at,
            ssl=hasattr(ac.stream, "transport_stream"),
            stats=self._stats("connection", ac, CONNECTION_FIELDS, read_connection(ac)),
            recv_cnt=s.recv_cnt,
            send_cnt=s.send_cnt,
        )

    def connections(self, vhost: str | None = None) -> list[ConnectionInfo]:
        return [
            self._connection_info(ac)
            for ac in list(self.server.connections)
            if vhost is None or ac.session.vhost_name == vhost
        ]

    def connection(self, name: str) -> ConnectionInfo | None:
        ac = self._find_connection(name)
        return None if ac is None else self._connection_info(ac)

    def _channel_info(self, ch: ChannelSession, *, details: bool = False) -> ChannelInfo:
        conn = ch.conn
        ac = self._session_conn(conn)
        conn_name = self._conn_name(ac) if ac is not None else conn.name
        if not ch.flow_active:
            state = "flow"
        elif ch.consumers or ch.unacked_count:
            state = "running"
        else:
            state = "idle"
        unconfirmed = max(0, ch.publish_seq - ch.confirm_upto) if ch.confirm else 0
        return ChannelInfo(
            name=f"{conn_name} ({ch.number})",
            connection_name=conn_name,
            number=ch.number,
            vhost=conn.vhost_name,
            user=conn.user,
            peer_host=str(conn.peer[0]),
            peer_port=int(conn.peer[1]),
            state=state,
            consumer_count=len(ch.consumers),
            prefetch_count=ch.consumer_prefetch,
            global_prefetch_count=ch.global_prefetch,
            messages_unacknowledged=ch.unacked_count,
            messages_unconfirmed=unconfirmed,
            messages_uncommitted=len(ch.tx_pending) if ch.tx else 0,
            acks_uncommitted=0,
            confirm=ch.confirm,
            transactional=ch.tx,
            stats=self._stats("channel", ch, CHANNEL_FIELDS, read_channel(ch)),
            consumer_details=(
                tuple(self._consumer_info(c) for c in ch.consumers.values()) if details else ()
            ),
        )

    def channels(
        self, vhost: str | None = None, *, connection: str | None = None
    ) -> list[ChannelInfo]:
        out: list[ChannelInfo] = []
        for ac in list(self.server.connections):
            s = ac.session
            if vhost is not None and s.vhost_name != vhost:
                continue
            if connection is not None and self._conn_name(ac) != connection:
                continue
            out.extend(self._channel_info(ch) for ch in s.channels.values())
        return out

    def channel(self, name: str) -> ChannelInfo | None:
        ch = self._find_channel(name)
        return None if ch is None else self._channel_info(ch, details=True)


__all__ = ["ObjectSnapshots"]
