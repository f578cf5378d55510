"""The state every part of the management view shares, and the helpers they all use.

``ViewCore`` holds the live ``Server``, its broker model and the stats sampler. It
names connections and channels as RabbitMQ does (``peer -> local`` and ``conn (n)``,
cached per connection object), finds objects by those names, looks vhosts and queues
up raising ``amqpish.admin`` errors, checks a user's permissions, and tells the runtime
what a management operation changed through the hooks the AMQP sessions use, so that
durability and replication see management changes too.

The read side (``snapshots``, ``objects``), the admin operations (``operations``,
``messages``) and the definitions (``definitions``) are mixins over this class;
``amqpish.server.view.ServerView`` puts them together.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from amqpish.admin import NotFoundError
from amqpish.broker.errors import AMQPError
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import VHost
from amqpish.server.stats import StatsSampler
from amqpish.server.view.convert import MgmtCounters, translate

if TYPE_CHECKING:
    from amqpish.broker.exchange import Exchange
    from amqpish.server.amqp import AMQPConnection
    from amqpish.server.app import Server
    from amqpish.session.channel import ChannelSession


class ViewCore:
    """Shared state, names, lookups and change hooks of the management view."""

    def __init__(self, server: Server, sampler: StatsSampler | None = None) -> None:
        self.server = server
        self.broker = server.broker
        self.sampler = sampler or StatsSampler()
        self._mgmt: dict[str, MgmtCounters] = {}
        self._names: dict[int, tuple[AMQPConnection, str]] = {}
        self._cluster_name = server.config.cluster_name

    # --- live objects ----------------------------------------------------------------

    def _all_queues(self) -> Iterator[Queue]:
        for vh in list(self.broker.vhosts.values()):
            yield from vh.queues.values()

    def _all_exchanges(self) -> Iterator[Exchange]:
        for vh in list(self.broker.vhosts.values()):
            yield from vh.exchanges.values()

    def _all_channels(self) -> Iterator[ChannelSession]:
        for ac in list(self.server.connections):
            yield from ac.session.channels.values()

    def _vhosts_of(self, vhost: str | None) -> list[VHost]:
        if vhost is None:
            return list(self.broker.vhosts.values())
        vh = self.broker.vhosts.get(vhost)
        return [] if vh is None else [vh]

    # --- names ---------------------------------------------------------------------

    def _conn_name(self, ac: AMQPConnection) -> str:
        cached = self._names.get(id(ac))
        if cached is not None and cached[0] is ac:
            return cached[1]
        peer = ac.session.peer
        local = self._local_address(ac)
        name = f"{peer[0]}:{peer[1]} -> {local[0]}:{local[1]}"
        if len(self._names) > 4 * len(self.server.connections) + 64:
            live = {id(c) for c in self.server.connections}
            self._names = {k: v for k, v in self._names.items() if k in live}
        self._names[id(ac)] = (ac, name)
        return name

    def _local_address(self, ac: AMQPConnection) -> tuple[str, int]:
        s: Any = ac.stream
        while hasattr(s, "transport_stream"):
            s = s.transport_stream
        try:
            addr = s.socket.getsockname()
            return (str(addr[0]), int(addr[1]))
        except (AttributeError, OSError):
            host, port = self.server.addresses.get("amqp", ("?", 0))
            return (str(host), int(port))

    def _session_conn(self, session: Any) -> AMQPConnection | None:
        rt = getattr(session, "runtime", None)
        return rt if rt is not None and hasattr(rt, "session") else None

    def _channel_name(self, ch: ChannelSession) -> str:
        ac = self._session_conn(ch.conn)
        base = self._conn_name(ac) if ac is not None else ch.conn.name
        return f"{base} ({ch.number})"

    def _find_connection(self, name: str) -> AMQPConnection | None:
        for ac in list(self.server.connections):
            if self._conn_name(ac) == name:
                return ac
        return None

    def _find_channel(self, name: str) -> ChannelSession | None:
        conn_name, sep, rest = name.rpartition(" (")
        if not sep or not rest.endswith(")"):
            return None
        ac = self._find_connection(conn_name)
        if ac is None:
            return None
        try:
            number = int(rest[:-1])
        except ValueError:
            return None
        return ac.session.channels.get(number)

    # --- lookups that raise ----------------------------------------------------------

    def _vhost(self, name: str) -> VHost:
        vh = self.broker.vhosts.get(name)
        if vh is None:
            raise NotFoundError(f"no vhost '{name}'")
        return vh

    def _queue(self, vhost: str, name: str) -> tuple[VHost, Queue]:
        vh = self._vhost(vhost)
        q = vh.queues.get(name)
        if q is None:
            raise NotFoundError(f"no queue '{name}' in vhost '{vhost}'")
        return vh, q

    def _check(self, actor: str, vhost: str, perm: str, kind: str, name: str) -> None:
        try:
            self.broker.users.check(actor, vhost, perm, kind, name)
        except AMQPError as e:
            raise translate(e) from None

    # --- telling the runtime what changed ------------------------------------------------

    def _hooks(self) -> Any:
        return self.server.hooks

    def _after_queue_op(self, vh: VHost, q: Queue, now: float) -> None:
        if q.dead_letters:
            vh.dead_letter(q, now)
        if q.wants_delete and not q.deleted:
            self._remove_queue(vh, q)

    def _remove_queue(self, vh: VHost, q: Queue) -> int:
        n, consumers = vh.remove_queue(q)
        for c in consumers:
            c.channel.consumer_cancelled(c)
        hooks = self._hooks()
        hooks.queue_deleted(q)
        hooks.definitions_changed(vh)
        return n


__all__ = ["ViewCore"]
