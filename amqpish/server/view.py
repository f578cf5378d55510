"""The management view: ``amqpish.admin``'s BrokerView and BrokerAdmin over the live Server.

Everything here runs in the broker's Trio thread and calls the synchronous model
directly, so each call sees one consistent instant. Snapshots copy what they show;
their ``stats`` mappings are evaluated lazily (on first access, within the same
request) so that listing ten thousand queues costs a few attribute reads per queue and
the rates are computed only for the rows a page shows.

Operations translate the model's ``AMQPError`` into ``admin`` errors in one place
(``_translate``) and tell the runtime what changed through the same hooks the AMQP
sessions use (``definitions_changed``, ``queue_purged``, ``queue_deleted``,
``message_routed``), so durability and replication see management changes too.

The stats sampler (``amqpish.server.stats``) is created here with one *kind* per
object type; ``make_view`` returns the view, whose ``sampler.serve`` the composition
root starts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import resource
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from amqpish import __version__
from amqpish.admin import (
    ACK_MODES,
    AccessRefusedError,
    AdminError,
    BadRequestError,
    BindingInfo,
    ChannelInfo,
    ConnectionInfo,
    ConsumerInfo,
    ExchangeInfo,
    GotMessage,
    ListenerInfo,
    NodeInfo,
    NotFoundError,
    Overview,
    PermissionInfo,
    PolicyInfo,
    QueueInfo,
    QueueKey,
    Rate,
    Sample,
    UserInfo,
    VHostInfo,
)
from amqpish.broker.auth import HASHING_ALGORITHM, User
from amqpish.broker.errors import AMQPError, Code
from amqpish.broker.message import Entry, Message
from amqpish.broker.policy import match_policy
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import EXCHANGE_TYPES, VHost
from amqpish.codec.properties import BasicProperties, encode_properties
from amqpish.server.stats import Kind, StatsSampler

if TYPE_CHECKING:
    from amqpish.broker.consumers import Consumer
    from amqpish.broker.exchange import Exchange
    from amqpish.server.amqp import AMQPConnection
    from amqpish.server.app import Server
    from amqpish.session.channel import ChannelSession
    from amqpish.session.connection import ConnectionSession

PRODUCT_NAME = "amqpish"
PROTOCOL = "AMQP 0-9-1"
# the RabbitMQ release whose management API and definitions format this one follows
RABBITMQ_COMPAT_VERSION = "3.10.8"
_EMPTY: Mapping[str, Any] = {}

QUEUE_FIELDS = (
    "publish",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "ack",
    "redeliver",
    "messages_ready",
    "messages_unacknowledged",
)
CHANNEL_FIELDS = (
    "publish",
    "confirm",
    "return_unroutable",
    "drop_unroutable",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "get_empty",
    "ack",
    "redeliver",
)
EXCHANGE_FIELDS = ("publish_in", "publish_out")
CONNECTION_FIELDS = ("recv_oct", "send_oct")
MGMT_FIELDS = ("publish", "drop_unroutable")

# Where the overview's (and a vhost's) message_stats come from: publishing side from
# the channels (plus the management API's own publishes), delivery side from the queues.
AGGREGATE_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "publish": (("channel", "publish"), ("management", "publish")),
    "confirm": (("channel", "confirm"),),
    "return_unroutable": (("channel", "return_unroutable"),),
    "drop_unroutable": (("channel", "drop_unroutable"), ("management", "drop_unroutable")),
    "get_empty": (("channel", "get_empty"),),
    "deliver": (("queue", "deliver"),),
    "deliver_no_ack": (("queue", "deliver_no_ack"),),
    "get": (("queue", "get"),),
    "get_no_ack": (("queue", "get_no_ack"),),
    "ack": (("queue", "ack"),),
    "redeliver": (("queue", "redeliver"),),
    "messages_ready": (("queue", "messages_ready"),),
    "messages_unacknowledged": (("queue", "messages_unacknowledged"),),
    "recv_oct": (("connection", "recv_oct"),),
    "send_oct": (("connection", "send_oct"),),
}
CHURN_SOURCES = {
    "connection_created": "connection.created",
    "connection_closed": "connection.removed",
    "channel_created": "channel.created",
    "channel_closed": "channel.removed",
    "queue_created": "queue.created",
    "queue_declared": "queue.created",
    "queue_deleted": "queue.removed",
}

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


class _MgmtCounters:
    """What the management API itself publishes, per vhost (it has no channel)."""

    __slots__ = ("drop_unroutable", "publish", "vhost")

    def __init__(self, vhost: str) -> None:
        self.vhost = vhost
        self.publish = 0
        self.drop_unroutable = 0


class _MgmtOwner:
    """The 'connection' management operations act as, for exclusivity checks."""


_OWNER = _MgmtOwner()


class LazyStats(Mapping[str, Rate]):
    """A stats mapping computed on first access (snapshots are built in bulk)."""

    __slots__ = ("_compute", "_data")

    def __init__(self, compute: Callable[[], dict[str, Rate]]) -> None:
        self._compute: Callable[[], dict[str, Rate]] | None = compute
        self._data: dict[str, Rate] | None = None

    def _get(self) -> dict[str, Rate]:
        if self._data is None:
            assert self._compute is not None
            self._data = self._compute()
            self._compute = None
        return self._data

    def __getitem__(self, key: str) -> Rate:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return f"LazyStats({self._get()!r})"


def properties_key(routing_key: str, arguments: Mapping[str, Any]) -> str:
    """RabbitMQ's binding id in URLs: the quoted key, plus ``~hash`` of the arguments."""
    key = quote(routing_key, safe="")
    if not arguments:
        return key
    canon = json.dumps(jsonable(arguments), sort_keys=True, separators=(",", ":"))
    digest = hashlib.md5(canon.encode(), usedforsecurity=False).digest()[:4]
    return key + "~" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def jsonable(v: Any) -> Any:
    """An AMQP field value as JSON: tables and arrays recursively, bytes as text."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, bytes | bytearray | memoryview):
        raw = bytes(v)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode()
    if hasattr(v, "timestamp") and callable(v.timestamp):  # datetime
        return int(v.timestamp())
    if hasattr(v, "kind") and hasattr(v, "value"):  # codec Typed
        return jsonable(v.value)
    try:
        return float(v)  # Decimal
    except (TypeError, ValueError):
        return str(v)


def _translate(e: AMQPError) -> AdminError:
    if e.code == Code.NOT_FOUND:
        return NotFoundError(e.text)
    if e.code in (Code.ACCESS_REFUSED, Code.NOT_ALLOWED):
        return AccessRefusedError(e.text)
    return BadRequestError(e.text)


def _props_json(p: BasicProperties) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "content_type",
        "content_encoding",
        "headers",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
        "cluster_id",
    ):
        v = getattr(p, name)
        if v is not None:
            out[name] = jsonable(v)
    return out


def _amqp_value(v: Any) -> Any:
    """JSON (from the API) into a value a field table can carry."""
    if isinstance(v, dict):
        return {str(k): _amqp_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_amqp_value(x) for x in v]
    return v


def _opt_int(props: Mapping[str, Any], name: str) -> int | None:
    v = props.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise BadRequestError(f"invalid property '{name}': {v!r}")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise BadRequestError(f"invalid property '{name}': {v!r}")


def _opt_str(props: Mapping[str, Any], name: str) -> str | None:
    v = props.get(name)
    if v is None:
        return None
    if isinstance(v, bool | dict | list):
        raise BadRequestError(f"invalid property '{name}': {v!r}")
    s = str(v)
    if len(s.encode()) > 255:
        raise BadRequestError(f"property '{name}' is longer than 255 bytes")
    return s


def build_properties(props: Mapping[str, Any]) -> BasicProperties:
    """Basic properties from the API's JSON ``properties`` object (loosely typed)."""
    headers = props.get("headers")
    if headers is not None and not isinstance(headers, dict):
        raise BadRequestError("invalid property 'headers': must be an object")
    delivery_mode = _opt_int(props, "delivery_mode")
    if delivery_mode is not None and not 0 <= delivery_mode <= 255:
        raise BadRequestError(f"invalid property 'delivery_mode': {delivery_mode}")
    priority = _opt_int(props, "priority")
    if priority is not None and not 0 <= priority <= 255:
        raise BadRequestError(f"invalid property 'priority': {priority}")
    timestamp = _opt_int(props, "timestamp")
    if timestamp is not None and timestamp < 0:
        raise BadRequestError(f"invalid property 'timestamp': {timestamp}")
    expiration = _opt_str(props, "expiration")
    if expiration is not None and not expiration.isdigit():
        raise BadRequestError(f"invalid expiration '{expiration}'")
    return BasicProperties(
        content_type=_opt_str(props, "content_type"),
        content_encoding=_opt_str(props, "content_encoding"),
        headers=_amqp_value(headers) if headers else None,
        delivery_mode=delivery_mode,
        priority=priority,
        correlation_id=_opt_str(props, "correlation_id"),
        reply_to=_opt_str(props, "reply_to"),
        expiration=expiration,
        message_id=_opt_str(props, "message_id"),
        timestamp=timestamp,
        type=_opt_str(props, "type"),
        user_id=_opt_str(props, "user_id"),
        app_id=_opt_str(props, "app_id"),
        cluster_id=_opt_str(props, "cluster_id"),
    )


def _stat_of(obj: Any, name: str) -> int:
    v = getattr(obj, name, 0)
    return v if isinstance(v, int) else 0


def _read_queue(q: Queue) -> tuple[int, ...]:
    return (
        q.stat_publish,
        q.stat_deliver,
        q.stat_deliver_no_ack,
        q.stat_get,
        q.stat_get_no_ack,
        q.stat_ack,
        q.stat_redeliver,
        len(q.ready),
        q.unacked_count,
    )


def _read_channel(ch: ChannelSession) -> tuple[int, ...]:
    unroutable = ch.stat_unroutable
    returned = _stat_of(ch, "stat_return_unroutable")
    deliver = ch.stat_deliver
    deliver_no_ack = _stat_of(ch, "stat_deliver_no_ack")
    get = ch.stat_get
    get_no_ack = _stat_of(ch, "stat_get_no_ack")
    return (
        ch.stat_publish,
        ch.stat_confirm,
        returned,
        unroutable - returned,
        deliver - deliver_no_ack,
        deliver_no_ack,
        get - get_no_ack,
        get_no_ack,
        _stat_of(ch, "stat_get_empty"),
        ch.stat_ack,
        ch.stat_redeliver,
    )


def _read_exchange(ex: Exchange) -> tuple[int, ...]:
    return (ex.stat_publish_in, ex.stat_publish_out)


def _read_connection(ac: AMQPConnection) -> tuple[int, ...]:
    s = ac.session
    return (s.recv_bytes, s.send_bytes)


def _read_mgmt(m: _MgmtCounters) -> tuple[int, ...]:
    return (m.publish, m.drop_unroutable)


class ServerView:
    """BrokerView and BrokerAdmin over a running ``Server``."""

    def __init__(self, server: Server, sampler: StatsSampler | None = None) -> None:
        self.server = server
        self.broker = server.broker
        self.sampler = sampler or StatsSampler()
        self._mgmt: dict[str, _MgmtCounters] = {}
        self._names: dict[int, tuple[AMQPConnection, str]] = {}
        self._cluster_name = server.config.cluster_name
        self._register_kinds()

    # --- sampler wiring -----------------------------------------------------------

    def _register_kinds(self) -> None:
        s = self.sampler
        s.register(Kind("queue", QUEUE_FIELDS, 7, self._all_queues, _read_queue, lambda q: q.vhost))
        s.register(
            Kind(
                "exchange",
                EXCHANGE_FIELDS,
                2,
                self._all_exchanges,
                _read_exchange,
                lambda e: e.vhost,
            )
        )
        s.register(
            Kind(
                "channel",
                CHANNEL_FIELDS,
                len(CHANNEL_FIELDS),
                self._all_channels,
                _read_channel,
                lambda ch: ch.conn.vhost_name,
            )
        )
        s.register(
            Kind(
                "connection",
                CONNECTION_FIELDS,
                2,
                lambda: list(self.server.connections),
                _read_connection,
                lambda ac: ac.session.vhost_name,
            )
        )
        s.register(
            Kind(
                "management",
                MGMT_FIELDS,
                2,
                lambda: list(self._mgmt.values()),
                _read_mgmt,
                lambda m: m.vhost,
            )
        )

    def _all_queues(self) -> Iterator[Queue]:
        for vh in list(self.broker.vhosts.values()):
            yield from vh.queues.values()

    def _all_exchanges(self) -> Iterator[Exchange]:
        for vh in list(self.broker.vhosts.values()):
            yield from vh.exchanges.values()

    def _all_channels(self) -> Iterator[ChannelSession]:
        for ac in list(self.server.connections):
            yield from ac.session.channels.values()

    def _stats(
        self, kind: str, obj: Any, fields: Sequence[str], values: Sequence[int]
    ) -> LazyStats:
        def compute() -> dict[str, Rate]:
            rates = self.sampler.rates(kind, obj)
            return {f: Rate(v, rates.get(f, 0.0)) for f, v in zip(fields, values, strict=True)}

        return LazyStats(compute)

    def _aggregate_stats(self, group: str, live: Mapping[str, int]) -> LazyStats:
        """message_stats of the overview (group "*") or of one vhost."""

        def compute() -> dict[str, Rate]:
            s = self.sampler
            totals = {k: s.totals(k, group) for k in s.kinds}
            rates = {k: s.rates(k, group=group) for k in s.kinds}
            out: dict[str, Rate] = {}
            for name, sources in AGGREGATE_SOURCES.items():
                value = sum(totals[k][f] for k, f in sources)
                rate = sum(rates[k][f] for k, f in sources)
                out[name] = Rate(live.get(name, value), round(rate, 2))
            ready, unacked = out["messages_ready"], out["messages_unacknowledged"]
            out["messages"] = Rate(ready.value + unacked.value, round(ready.rate + unacked.rate, 2))
            return out

        return LazyStats(compute)

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
            raise _translate(e) from None

    # --- BrokerView: identity and node -------------------------------------------------

    def now(self) -> float:
        return time.time()

    def authenticate(self, name: str, password: str) -> UserInfo | None:
        u = self.broker.users.authenticate(name, password)
        return None if u is None else self._user_info(u)

    def loopback_only(self, user: str) -> bool:
        return user in self.server.config.loopback_users

    def cluster_name(self) -> str:
        return self._cluster_name

    def node_name(self) -> str:
        return self.server.config.cluster_name

    _node_name = node_name

    def _listeners(self) -> tuple[ListenerInfo, ...]:
        return tuple(
            ListenerInfo(proto, str(h), int(p)) for proto, (h, p) in self.server.addresses.items()
        )

    def _alarms(self) -> tuple[str, ...]:
        alarms: list[str] = []
        if self.server.publishers_blocked:
            alarms.append("memory")
        free = self._disk_free()
        if 0 <= free < self.server.config.disk_free_limit:
            alarms.append("disk")
        return tuple(alarms)

    def _disk_free(self) -> int:
        path = str(self.server.config.data_dir)
        while path and not os.path.exists(path):
            path = os.path.dirname(path.rstrip("/")) or "."
        try:
            st = os.statvfs(path or ".")
        except OSError:
            return -1
        return st.f_bavail * st.f_frsize

    def overview(self) -> Overview:
        ready = unacked = consumers = queues = exchanges = 0
        for vh in self.broker.vhosts.values():
            queues += len(vh.queues)
            exchanges += len(vh.exchanges)
            for q in vh.queues.values():
                ready += len(q.ready)
                unacked += q.unacked_count
                consumers += len(q.consumers)
        conns = list(self.server.connections)
        channels = sum(len(ac.session.channels) for ac in conns)
        live = {"messages_ready": ready, "messages_unacknowledged": unacked}
        churn = self._churn()
        return Overview(
            taken_at=self.now(),
            node=self._node_name(),
            cluster_name=self._cluster_name,
            product_name=PRODUCT_NAME,
            product_version=__version__,
            started_at=self.server.started_at,
            listeners=self._listeners(),
            exchange_types=tuple(sorted(EXCHANGE_TYPES)),
            object_totals={
                "channels": channels,
                "connections": len(conns),
                "consumers": consumers,
                "exchanges": exchanges,
                "queues": queues,
            },
            messages_ready=ready,
            messages_unacknowledged=unacked,
            stats=self._aggregate_stats("*", live),
            churn=churn,
            alarms=self._alarms(),
        )

    def _churn(self) -> dict[str, Rate]:
        s = self.sampler
        counts = s.churn
        out: dict[str, Rate] = {}
        for name, key in CHURN_SOURCES.items():
            out[name] = Rate(counts.get(key, 0), 0.0)
        return out

    def node(self) -> NodeInfo:
        page = os.sysconf("SC_PAGE_SIZE")
        try:
            with open("/proc/self/statm") as fh:
                rss = int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            rss = 0
        try:
            fd_used = len(os.listdir("/proc/self/fd"))
        except OSError:
            fd_used = 0
        fd_total = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        cfg = self.server.config
        free = self._disk_free()
        conns = len(self.server.connections)
        return NodeInfo(
            name=self._node_name(),
            uptime_ms=int((time.time() - self.server.started_at) * 1000),
            os_pid=os.getpid(),
            processors=os.cpu_count() or 1,
            mem_used=rss,
            mem_limit=cfg.memory_limit_bytes(),
            mem_alarm=self.server.publishers_blocked,
            disk_free=max(free, 0),
            disk_free_limit=cfg.disk_free_limit,
            disk_free_alarm=0 <= free < cfg.disk_free_limit,
            fd_used=fd_used,
            fd_total=fd_total if fd_total > 0 else 1024,
            sockets_used=conns,
            sockets_total=max(fd_total - 100, 0) if fd_total > 0 else 0,
            proc_used=self._task_count(),
            proc_total=1048576,
            run_queue=0,
            data_dir=str(cfg.data_dir),
            stats=self._churn(),
        )

    def _task_count(self) -> int:
        try:
            import trio

            root = trio.lowlevel.current_root_task()
        except RuntimeError:
            return 0
        if root is None:
            return 0
        n = 0
        stack = [root]
        while stack and n < 1_000_000:
            t = stack.pop()
            n += 1
            for nursery in t.child_nurseries:
                stack.extend(nursery.child_tasks)
        return n

    # --- users, vhosts, permissions, policies -----------------------------------------------

    def _user_info(self, u: User) -> UserInfo:
        return UserInfo(u.name, u.password_hash, HASHING_ALGORITHM, tuple(u.tags))

    def users(self) -> list[UserInfo]:
        return [self._user_info(u) for u in self.broker.users.users.values()]

    def user(self, name: str) -> UserInfo | None:
        u = self.broker.users.users.get(name)
        return None if u is None else self._user_info(u)

    def vhost_names(self) -> list[str]:
        return list(self.broker.vhosts)

    def _vhost_info(self, vh: VHost) -> VHostInfo:
        ready = unacked = 0
        for q in vh.queues.values():
            ready += len(q.ready)
            unacked += q.unacked_count
        live = {"messages_ready": ready, "messages_unacknowledged": unacked}
        recv = send = 0
        for ac in self.server.connections:
            if ac.session.vhost_name == vh.name:
                recv += ac.session.recv_bytes
                send += ac.session.send_bytes
        return VHostInfo(
            name=vh.name,
            description=str(getattr(vh, "description", "")),
            tags=tuple(getattr(vh, "tags", ())),
            default_queue_type=str(getattr(vh, "default_queue_type", "classic")),
            tracing=bool(getattr(vh, "tracing", False)),
            messages_ready=ready,
            messages_unacknowledged=unacked,
            stats=self._aggregate_stats(vh.name, live),
        )

    def vhosts(self) -> list[VHostInfo]:
        return [self._vhost_info(vh) for vh in self.broker.vhosts.values()]

    def vhost(self, name: str) -> VHostInfo | None:
        vh = self.broker.vhosts.get(name)
        return None if vh is None else self._vhost_info(vh)

    def permissions(
        self, *, vhost: str | None = None, user: str | None = None
    ) -> list[PermissionInfo]:
        out: list[PermissionInfo] = []
        for (u, v), p in self.broker.users.permissions.items():
            if (vhost is None or v == vhost) and (user is None or u == user):
                out.append(PermissionInfo(u, v, p.configure, p.write, p.read))
        return out

    def policies(self, vhost: str | None = None) -> list[PolicyInfo]:
        out: list[PolicyInfo] = []
        for vh in self.broker.vhosts.values():
            if vhost is not None and vh.name != vhost:
                continue
            for name, pol in vh.policies.items():
                out.append(
                    PolicyInfo(
                        vh.name,
                        name,
                        str(pol.get("pattern", "")),
                        str(pol.get("apply-to", "all")),
                        dict(pol.get("definition", {})),
                        int(pol.get("priority", 0)),
                    )
                )
        return out

    # --- queues -------------------------------------------------------------------------------

    def _queue_info(self, vh: VHost, q: Queue, *, details: bool = False) -> QueueInfo:
        values = _read_queue(q)
        owner = q.exclusive_owner
        owner_name: str | None = None
        if owner is not None:
            ac = self._session_conn(owner)
            owner_name = self._conn_name(ac) if ac is not None else getattr(owner, "name", "?")
        policy_name: str | None = getattr(q, "policy_name", None)
        if policy_name is None and vh.policies:
            pol = match_policy(vh.policies.values(), q.name, "queues")
            policy_name = None if pol is None else str(pol.get("name", ""))
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
            arguments=dict(q.arguments) if q.arguments else _EMPTY,
            policy=policy_name,
            effective_policy_definition=dict(q.policy) if q.policy else _EMPTY,
            state="running",
            consumers=len(q.consumers),
            messages_ready=values[7],
            messages_unacknowledged=values[8],
            message_bytes_ready=q.ready_bytes,
            message_bytes_unacknowledged=q.unacked_bytes,
            messages_persistent=_stat_of(q, "persistent_count"),
            stats=stats,
            single_active_consumer_tag=active.tag if active is not None else None,
            exclusive_consumer_tag=exclusive_tag,
            idle_since=None if q.consumers else q.last_used,
            consumer_details=tuple(self._consumer_info(c) for c in q.consumers) if details else (),
        )

    def _queue_stats(self, q: Queue, values: tuple[int, ...]) -> LazyStats:
        def compute() -> dict[str, Rate]:
            rates = self.sampler.rates("queue", q)
            out = {f: Rate(v, rates[f]) for f, v in zip(QUEUE_FIELDS, values, strict=True)}
            out["get_empty"] = Rate(_stat_of(q, "stat_get_empty"), 0.0)
            ready, unacked = out["messages_ready"], out["messages_unacknowledged"]
            out["messages"] = Rate(ready.value + unacked.value, round(ready.rate + unacked.rate, 2))
            return out

        return LazyStats(compute)

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

    def _vhosts_of(self, vhost: str | None) -> list[VHost]:
        if vhost is None:
            return list(self.broker.vhosts.values())
        vh = self.broker.vhosts.get(vhost)
        return [] if vh is None else [vh]

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
            arguments=jsonable(c.args) if c.args else _EMPTY,
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
            arguments=jsonable(ex.arguments) if ex.arguments else _EMPTY,
            policy=policy,
            stats=self._stats("exchange", ex, EXCHANGE_FIELDS, _read_exchange(ex)),
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
                    BindingInfo(vh.name, "", n, "queue", n, _EMPTY, quote(n, safe=""))
                    for n in names
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
                args = jsonable(b.arguments) if b.arguments else _EMPTY
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
            stats=self._stats("connection", ac, CONNECTION_FIELDS, _read_connection(ac)),
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
            stats=self._stats("channel", ch, CHANNEL_FIELDS, _read_channel(ch)),
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

    # --- history ---------------------------------------------------------------------------------------

    def history(
        self, kind: str, key: tuple[str, ...], fields: Sequence[str], age: int, incr: int
    ) -> list[Sample]:
        s = self.sampler
        if kind in ("overview", "vhost"):
            group = "*" if kind == "overview" else key[0]
            series: dict[str, list[tuple[float, int]]] = {}
            for f in fields:
                parts: tuple[tuple[str, str], ...]
                if f == "messages":
                    parts = (("queue", "messages_ready"), ("queue", "messages_unacknowledged"))
                else:
                    parts = AGGREGATE_SOURCES.get(f, ())
                summed: list[tuple[float, int]] = []
                for k, field in parts:
                    h = s.history(k, [field], age, incr, group=group)
                    if not summed:
                        summed = [(t, v[0]) for t, v in h]
                    else:
                        summed = [(t, a + v[0]) for (t, a), (_, v) in zip(summed, h, strict=False)]
                series[f] = summed
            return _merge_history(fields, series)
        obj = self._history_object(kind, key)
        if obj is None:
            return []
        own = s.fields(kind)
        wanted = [f for f in fields if f in own]
        extra_messages = kind == "queue" and "messages" in fields
        query = list(
            dict.fromkeys(
                [
                    *wanted,
                    *(("messages_ready", "messages_unacknowledged") if extra_messages else ()),
                ]
            )
        )
        rows = s.history(kind, query, age, incr, obj)
        out = []
        for t, vals in rows:
            d = dict(zip(query, vals, strict=True))
            if extra_messages:
                d["messages"] = d["messages_ready"] + d["messages_unacknowledged"]
            out.append(Sample(t, {f: d.get(f, 0) for f in fields}))
        return out

    def _history_object(self, kind: str, key: tuple[str, ...]) -> Any:
        if kind == "queue":
            vh = self.broker.vhosts.get(key[0])
            return vh.queues.get(key[1]) if vh is not None else None
        if kind == "exchange":
            vh = self.broker.vhosts.get(key[0])
            return vh.exchanges.get(key[1]) if vh is not None else None
        if kind == "connection":
            return self._find_connection(key[0])
        if kind == "channel":
            return self._find_channel(key[0])
        return None

    # --- BrokerAdmin: queues ---------------------------------------------------------------------------

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

    def declare_queue(
        self,
        actor: str,
        vhost: str,
        name: str,
        *,
        durable: bool,
        auto_delete: bool,
        arguments: Mapping[str, Any],
    ) -> bool:
        vh = self._vhost(vhost)
        if not name:
            raise BadRequestError("queue name must not be empty")
        self._check(actor, vhost, "configure", "queue", name)
        try:
            _, created = vh.declare_queue(
                name,
                owner=_OWNER,
                now=time.time(),
                durable=durable,
                auto_delete=auto_delete,
                arguments=_amqp_value(dict(arguments)),
            )
        except AMQPError as e:
            raise _translate(e) from None
        if created:
            self._hooks().definitions_changed(vh)
        return created

    def delete_queue(
        self, actor: str, vhost: str, name: str, *, if_unused: bool = False, if_empty: bool = False
    ) -> int:
        vh, q = self._queue(vhost, name)
        self._check(actor, vhost, "configure", "queue", name)
        if if_unused and q.consumers:
            raise BadRequestError(f"queue '{name}' in vhost '{vhost}' in use")
        if if_empty and (q.message_count or q.unacked_count):
            raise BadRequestError(f"queue '{name}' in vhost '{vhost}' not empty")
        return self._remove_queue(vh, q)

    def purge_queue(self, actor: str, vhost: str, name: str) -> int:
        _, q = self._queue(vhost, name)
        self._check(actor, vhost, "read", "queue", name)
        n = q.purge()
        self._hooks().queue_purged(q)
        return n

    def get_messages(
        self, actor: str, vhost: str, name: str, *, count: int, ackmode: str
    ) -> list[GotMessage]:
        if ackmode not in ACK_MODES:
            raise BadRequestError(
                f"invalid ackmode '{ackmode}': expected one of {', '.join(ACK_MODES)}"
            )
        if count < 0:
            raise BadRequestError("count must not be negative")
        vh, q = self._queue(vhost, name)
        self._check(actor, vhost, "read", "queue", name)
        now = time.time()
        taken: list[Entry] = []
        out: list[GotMessage] = []
        for _ in range(count):
            entry = q.get(now, no_ack=False)
            if entry is None:
                break
            taken.append(entry)
            msg = entry.msg
            try:
                props = _props_json(msg.props)
            except Exception:
                props = {}
            out.append(
                GotMessage(
                    payload=msg.body,
                    redelivered=entry.redelivered,
                    exchange=msg.exchange,
                    routing_key=msg.routing_key,
                    message_count=q.message_count,
                    properties=props,
                )
            )
        if taken:
            if ackmode.endswith("requeue_true"):
                q.requeue(taken, lambda e: None)
                q.drain(now)
            elif ackmode == "ack_requeue_false":
                for e in taken:
                    q.settled(e, None)
            else:
                for e in taken:
                    q.reject_dropped(e, None)
        self._after_queue_op(vh, q, now)
        return out

    def move_messages(
        self, actor: str, vhost: str, source: str, destination: str, *, count: int | None = None
    ) -> int:
        vh, sq = self._queue(vhost, source)
        _, dq = self._queue(vhost, destination)
        if sq is dq:
            raise BadRequestError("source and destination are the same queue")
        self._check(actor, vhost, "read", "queue", source)
        self._check(actor, vhost, "write", "queue", destination)
        now = time.time()
        limit = sq.message_count if count is None else min(count, sq.message_count)
        moved = 0
        hooks = self._hooks()
        while moved < limit:
            entry = sq.get(now, no_ack=True)
            if entry is None:
                break
            msg = entry.msg
            dq.publish(msg, now)
            if msg.persistent:
                hooks.message_routed(None, msg, (dq,))
            moved += 1
        self._after_queue_op(vh, sq, now)
        self._after_queue_op(vh, dq, now)
        return moved

    # --- BrokerAdmin: exchanges, bindings, publish ---------------------------------------------------

    def declare_exchange(
        self,
        actor: str,
        vhost: str,
        name: str,
        *,
        type: str,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: Mapping[str, Any],
    ) -> bool:
        vh = self._vhost(vhost)
        if not name:
            raise AccessRefusedError("operation not permitted on the default exchange")
        self._check(actor, vhost, "configure", "exchange", name)
        existed = name in vh.exchanges
        try:
            vh.declare_exchange(
                name,
                type,
                durable=durable,
                auto_delete=auto_delete,
                internal=internal,
                arguments=_amqp_value(dict(arguments)),
            )
        except AMQPError as e:
            if e.code == Code.COMMAND_INVALID:
                raise BadRequestError(f"invalid exchange type '{type}'") from None
            raise _translate(e) from None
        if not existed:
            self._hooks().definitions_changed(vh)
        return not existed

    def delete_exchange(
        self, actor: str, vhost: str, name: str, *, if_unused: bool = False
    ) -> None:
        vh = self._vhost(vhost)
        if name not in vh.exchanges:
            raise NotFoundError(f"no exchange '{name}' in vhost '{vhost}'")
        self._check(actor, vhost, "configure", "exchange", name)
        try:
            vh.delete_exchange(name, if_unused=if_unused)
        except AMQPError as e:
            raise _translate(e) from None
        self._hooks().definitions_changed(vh)

    def bind(
        self,
        actor: str,
        vhost: str,
        source: str,
        destination_type: str,
        destination: str,
        routing_key: str,
        arguments: Mapping[str, Any],
    ) -> BindingInfo:
        vh = self._vhost(vhost)
        if destination_type not in ("queue", "exchange"):
            raise BadRequestError(f"invalid destination type '{destination_type}'")
        if source not in vh.exchanges:
            raise NotFoundError(f"no exchange '{source}' in vhost '{vhost}'")
        known = vh.queues if destination_type == "queue" else vh.exchanges
        if destination not in known:
            raise NotFoundError(f"no {destination_type} '{destination}' in vhost '{vhost}'")
        self._check(actor, vhost, "write", destination_type, destination)
        self._check(actor, vhost, "read", "exchange", source)
        args = _amqp_value(dict(arguments))
        try:
            vh.bind(source, destination, destination_type, routing_key, args, owner=_OWNER)
        except AMQPError as e:
            raise _translate(e) from None
        self._hooks().definitions_changed(vh)
        return BindingInfo(
            vhost,
            source,
            destination,
            destination_type,
            routing_key,
            jsonable(args) if args else _EMPTY,
            properties_key(routing_key, args),
        )

    def unbind(
        self,
        actor: str,
        vhost: str,
        source: str,
        destination_type: str,
        destination: str,
        properties_key_: str,
    ) -> None:
        vh = self._vhost(vhost)
        # the key as listed ("orders.%23"), or once more decoded by the URL ("orders.#")
        wanted = {properties_key_, quote(properties_key_, safe="~")}
        for b in list(vh.bindings_from(source)):
            if (
                b.destination_type == destination_type
                and b.destination == destination
                and properties_key(b.routing_key, b.arguments) in wanted
            ):
                self._check(actor, vhost, "write", destination_type, destination)
                self._check(actor, vhost, "read", "exchange", source)
                try:
                    vh.unbind(
                        source,
                        destination,
                        destination_type,
                        b.routing_key,
                        b.arguments,
                        owner=_OWNER,
                    )
                except AMQPError as e:
                    raise _translate(e) from None
                self._hooks().definitions_changed(vh)
                return
        raise NotFoundError("binding not found")

    def publish(
        self,
        actor: str,
        vhost: str,
        exchange: str,
        routing_key: str,
        payload: bytes,
        properties: Mapping[str, Any],
    ) -> bool:
        vh = self._vhost(vhost)
        ex = vh.exchanges.get(exchange)
        if ex is None:
            raise NotFoundError(f"no exchange '{exchange}' in vhost '{vhost}'")
        self._check(actor, vhost, "write", "exchange", exchange)
        props = build_properties(properties)
        if props.user_id is not None and props.user_id != actor:
            raise BadRequestError(
                f"user_id property set to '{props.user_id}' but authenticated user was '{actor}'"
            )
        try:
            raw = encode_properties(props)
            msg = Message(exchange, routing_key, raw, payload, 0, props)
        except ValueError as e:
            raise BadRequestError(str(e)) from None
        counters = self._mgmt.get(vhost)
        if counters is None:
            counters = self._mgmt[vhost] = _MgmtCounters(vhost)
        counters.publish += 1
        ex.stat_publish_in += 1
        queues = vh.route(ex, msg)
        if not queues:
            counters.drop_unroutable += 1
            vh.stat_unroutable += 1
            return False
        ex.stat_publish_out += 1
        now = time.time()
        for q in queues:
            q.publish(msg, now)
            self._after_queue_op(vh, q, now)
        if msg.persistent:
            self._hooks().message_routed(None, msg, queues)
        return True

    # --- BrokerAdmin: connections ---------------------------------------------------------------------

    def close_connection(self, name: str, reason: str) -> None:
        ac = self._find_connection(name)
        if ac is None:
            raise NotFoundError(f"no connection '{name}'")
        reason = " ".join(reason.split()) or "Closed via management plugin"
        ac.session.force_close(f"CONNECTION_FORCED - {reason}")

    # --- BrokerAdmin: users, vhosts, permissions, policies ------------------------------------------------

    def put_user(
        self,
        name: str,
        *,
        password: str | None,
        password_hash: str | None,
        tags: Sequence[str],
    ) -> bool:
        if not name:
            raise BadRequestError("user name must not be empty")
        users = self.broker.users
        existing = users.users.get(name)
        clean_tags = [t for t in (x.strip() for x in tags) if t]
        if password is not None:
            users.add(name, password, clean_tags)
        elif password_hash is not None:
            if password_hash:
                try:
                    if len(base64.b64decode(password_hash, validate=True)) < 5:
                        raise ValueError
                except ValueError:
                    raise BadRequestError("invalid password_hash") from None
            users.users[name] = User(name, password_hash, clean_tags)
        elif existing is not None:
            existing.tags = clean_tags
        else:
            users.users[name] = User(name, "", clean_tags)
        return existing is None

    def delete_user(self, name: str) -> None:
        users = self.broker.users
        if name not in users.users:
            raise NotFoundError(f"no user '{name}'")
        del users.users[name]
        for key in [k for k in users.permissions if k[0] == name]:
            del users.permissions[key]

    def put_vhost(
        self, name: str, *, description: str = "", tags: Sequence[str] = (), tracing: bool = False
    ) -> bool:
        if not name:
            raise BadRequestError("vhost name must not be empty")
        created = name not in self.broker.vhosts
        vh = self.broker.add_vhost(name)
        # VHost has no metadata of its own yet: kept as plain attributes
        vh.description = description  # type: ignore[attr-defined]
        vh.tags = tuple(t for t in (x.strip() for x in tags) if t)  # type: ignore[attr-defined]
        vh.tracing = tracing  # type: ignore[attr-defined]
        if created:
            self._hooks().definitions_changed(vh)
        return created

    def delete_vhost(self, name: str) -> None:
        vh = self._vhost(name)
        for ac in list(self.server.connections):
            if ac.session.vhost_name == name:
                ac.session.force_close(f"CONNECTION_FORCED - vhost '{name}' is deleted")
        for q in list(vh.queues.values()):
            self._remove_queue(vh, q)
        try:
            self.broker.delete_vhost(name)
        except AMQPError as e:
            raise _translate(e) from None
        self._mgmt.pop(name, None)
        self._hooks().definitions_changed(vh)

    def set_permissions(
        self, user: str, vhost: str, *, configure: str, write: str, read: str
    ) -> bool:
        users = self.broker.users
        if user not in users.users:
            raise BadRequestError(f"no user '{user}'")
        self._vhost(vhost)
        for what, rx in (("configure", configure), ("write", write), ("read", read)):
            try:
                re.compile(rx)
            except re.error as e:
                raise BadRequestError(f"invalid regular expression for {what}: {e}") from None
        created = (user, vhost) not in users.permissions
        users.set_permissions(user, vhost, configure, write, read)
        return created

    def clear_permissions(self, user: str, vhost: str) -> None:
        users = self.broker.users
        if (user, vhost) not in users.permissions:
            raise NotFoundError(f"no permissions for user '{user}' in vhost '{vhost}'")
        users.clear_permissions(user, vhost)

    def put_policy(
        self,
        vhost: str,
        name: str,
        *,
        pattern: str,
        definition: Mapping[str, Any],
        priority: int = 0,
        apply_to: str = "all",
    ) -> bool:
        vh = self._vhost(vhost)
        if not name:
            raise BadRequestError("policy name must not be empty")
        try:
            re.compile(pattern)
        except re.error as e:
            raise BadRequestError(f"invalid pattern '{pattern}': {e}") from None
        if apply_to not in (
            "all",
            "queues",
            "exchanges",
            "classic_queues",
            "quorum_queues",
            "streams",
        ):
            raise BadRequestError(f"invalid apply-to '{apply_to}'")
        if not definition:
            raise BadRequestError("policy definition must not be empty")
        created = name not in vh.policies
        vh.policies[name] = {
            "vhost": vhost,
            "name": name,
            "pattern": pattern,
            "apply-to": "queues"
            if apply_to.endswith("queues") or apply_to == "streams"
            else apply_to,
            "definition": dict(definition),
            "priority": priority,
        }
        vh.apply_policies()
        self._hooks().definitions_changed(vh)
        return created

    def delete_policy(self, vhost: str, name: str) -> None:
        vh = self._vhost(vhost)
        if name not in vh.policies:
            raise NotFoundError(f"no policy '{name}' in vhost '{vhost}'")
        del vh.policies[name]
        vh.apply_policies()
        self._hooks().definitions_changed(vh)

    def set_cluster_name(self, name: str) -> None:
        if not name:
            raise BadRequestError("cluster name must not be empty")
        self._cluster_name = name

    def aliveness_test(self, vhost: str) -> None:
        vh = self._vhost(vhost)
        now = time.time()
        try:
            q, _ = vh.declare_queue("aliveness-test", owner=_OWNER, now=now)
        except AMQPError as e:
            raise _translate(e) from None
        props = BasicProperties()
        msg = Message("", q.name, encode_properties(props), b"test_message", 0, props)
        q.publish(msg, now)
        got = q.get(now, no_ack=True)
        while got is not None and got.msg is not msg:
            got = q.get(now, no_ack=True)
        if got is None:
            raise BadRequestError("aliveness test failed")

    # --- definitions -----------------------------------------------------------------------------------------

    def export_definitions(self, vhost: str | None = None) -> dict[str, Any]:
        return _export_definitions(self, vhost)

    def import_definitions(self, definitions: Mapping[str, Any], vhost: str | None = None) -> None:
        _import_definitions(self, definitions, vhost)


def _merge_history(
    fields: Sequence[str], series: Mapping[str, list[tuple[float, int]]]
) -> list[Sample]:
    n = min((len(v) for v in series.values()), default=0)
    out = []
    for i in range(n):
        t = next(iter(series.values()))[i][0]
        out.append(Sample(t, {f: series[f][i][1] for f in fields}))
    return out


# --- definitions (RabbitMQ's format) ---------------------------------------------------------

_STANDARD_EXCHANGE_PREFIX = "amq."


def _export_definitions(view: ServerView, vhost: str | None) -> dict[str, Any]:
    broker = view.broker
    vhosts = view._vhosts_of(vhost)
    if vhost is not None and not vhosts:
        raise NotFoundError(f"no vhost '{vhost}'")
    with_vhost = vhost is None

    def tag(d: dict[str, Any], vh: VHost) -> dict[str, Any]:
        return {**d, "vhost": vh.name} if with_vhost else d

    queues: list[dict[str, Any]] = []
    exchanges: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    policies: list[dict[str, Any]] = []
    for vh in vhosts:
        for q in vh.queues.values():
            if q.exclusive_owner is not None:
                continue
            d = {"name": q.name}
            queues.append(
                tag(d, vh)
                | {
                    "durable": q.durable,
                    "auto_delete": q.auto_delete,
                    "arguments": jsonable(q.arguments),
                }
            )
        for ex in vh.exchanges.values():
            if ex.name == "" or ex.name.startswith(_STANDARD_EXCHANGE_PREFIX):
                continue
            exchanges.append(
                tag({"name": ex.name}, vh)
                | {
                    "type": ex.type,
                    "durable": ex.durable,
                    "auto_delete": ex.auto_delete,
                    "internal": ex.internal,
                    "arguments": jsonable(ex.arguments),
                }
            )
        for b in vh.bindings.values():
            bindings.append(
                tag({"source": b.source}, vh)
                | {
                    "destination": b.destination,
                    "destination_type": b.destination_type,
                    "routing_key": b.routing_key,
                    "arguments": jsonable(b.arguments),
                }
            )
        for p in view.policies(vh.name):
            policies.append(
                {
                    "vhost": p.vhost,
                    "name": p.name,
                    "pattern": p.pattern,
                    "apply-to": p.apply_to,
                    "definition": jsonable(p.definition),
                    "priority": p.priority,
                }
            )
    out: dict[str, Any] = {"rabbit_version": RABBITMQ_COMPAT_VERSION}
    if with_vhost:
        out.update(
            {
                "rabbitmq_version": RABBITMQ_COMPAT_VERSION,
                "product_name": PRODUCT_NAME,
                "product_version": __version__,
                "users": [
                    {
                        "name": u.name,
                        "password_hash": u.password_hash,
                        "hashing_algorithm": HASHING_ALGORITHM,
                        "tags": list(u.tags),
                        "limits": {},
                    }
                    for u in broker.users.users.values()
                ],
                "vhosts": [{"name": vh.name} for vh in broker.vhosts.values()],
                "permissions": [
                    {
                        "user": p.user,
                        "vhost": p.vhost,
                        "configure": p.configure,
                        "write": p.write,
                        "read": p.read,
                    }
                    for p in view.permissions()
                ],
                "topic_permissions": [],
                "parameters": [],
                "global_parameters": [{"name": "cluster_name", "value": view.cluster_name()}],
            }
        )
    else:
        out["parameters"] = []
    out["policies"] = policies
    out["queues"] = queues
    out["exchanges"] = exchanges
    out["bindings"] = bindings
    return out


def _items(defs: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = defs.get(key, [])
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadRequestError(f"'{key}' must be a list of objects")
    return items


def _need(item: Mapping[str, Any], key: str, what: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in item:
        raise BadRequestError(f"{what} definition is missing '{key}': {json.dumps(item)[:200]}")
    v = item[key]
    if not isinstance(v, kind):
        raise BadRequestError(f"{what} definition has an invalid '{key}': {json.dumps(item)[:200]}")
    return v


def _flag(item: Mapping[str, Any], key: str, default: bool = False) -> bool:
    v = item.get(key, default)
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    if not isinstance(v, bool):
        raise BadRequestError(f"'{key}' must be a boolean, got {v!r}")
    return v


def _args(item: Mapping[str, Any]) -> dict[str, Any]:
    a = item.get("arguments") or {}
    if not isinstance(a, dict):
        raise BadRequestError(f"'arguments' must be an object, got {a!r}")
    out: dict[str, Any] = _amqp_value(a)
    return out


def _import_definitions(view: ServerView, defs: Mapping[str, Any], vhost: str | None) -> None:
    if not isinstance(defs, Mapping):
        raise BadRequestError("definitions must be a JSON object")
    broker = view.broker
    if vhost is not None:
        view._vhost(vhost)
    # Validate the shape of everything before changing anything.
    lists = {
        k: _items(defs, k)
        for k in ("users", "vhosts", "permissions", "policies", "exchanges", "queues", "bindings")
    }
    if vhost is not None:
        for k in ("users", "vhosts", "permissions"):
            lists[k] = []

    def vh_of(item: Mapping[str, Any], what: str) -> VHost:
        name = vhost if vhost is not None else _need(item, "vhost", what)
        vh = broker.vhosts.get(name)
        if vh is None:
            raise BadRequestError(f"{what} refers to vhost '{name}' that does not exist")
        return vh

    for u in lists["users"]:
        name = _need(u, "name", "user")
        tags = u.get("tags", [])
        tag_list = tags.split(",") if isinstance(tags, str) else list(tags or [])
        if "password_hash" in u:
            view.put_user(name, password=None, password_hash=str(u["password_hash"]), tags=tag_list)
        else:
            view.put_user(name, password=u.get("password"), password_hash=None, tags=tag_list)
    for v in lists["vhosts"]:
        meta = v.get("metadata") if isinstance(v.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        view.put_vhost(
            _need(v, "name", "vhost"),
            description=str(v.get("description", meta.get("description", ""))),
            tags=[str(t) for t in (v.get("tags") or meta.get("tags") or []) if isinstance(t, str)],
        )
    for p in lists["permissions"]:
        view.set_permissions(
            _need(p, "user", "permission"),
            _need(p, "vhost", "permission"),
            configure=_need(p, "configure", "permission"),
            write=_need(p, "write", "permission"),
            read=_need(p, "read", "permission"),
        )
    for p in lists["policies"]:
        vh = vh_of(p, "policy")
        prio = p.get("priority", 0)
        try:
            prio = int(prio)
        except (TypeError, ValueError):
            raise BadRequestError(f"invalid policy priority {prio!r}") from None
        view.put_policy(
            vh.name,
            _need(p, "name", "policy"),
            pattern=_need(p, "pattern", "policy"),
            definition=_need(p, "definition", "policy", dict),
            priority=prio,
            apply_to=str(p.get("apply-to", "all")),
        )
    now = time.time()
    for e in lists["exchanges"]:
        vh = vh_of(e, "exchange")
        try:
            vh.declare_exchange(
                _need(e, "name", "exchange"),
                _need(e, "type", "exchange"),
                durable=_flag(e, "durable", True),
                auto_delete=_flag(e, "auto_delete"),
                internal=_flag(e, "internal"),
                arguments=_args(e),
            )
        except AMQPError as err:
            raise BadRequestError(err.text) from None
        view._hooks().definitions_changed(vh)
    for q in lists["queues"]:
        vh = vh_of(q, "queue")
        try:
            vh.declare_queue(
                _need(q, "name", "queue"),
                owner=_OWNER,
                now=now,
                durable=_flag(q, "durable", True),
                auto_delete=_flag(q, "auto_delete"),
                arguments=_args(q),
            )
        except AMQPError as err:
            raise BadRequestError(err.text) from None
        view._hooks().definitions_changed(vh)
    for b in lists["bindings"]:
        vh = vh_of(b, "binding")
        dtype = _need(b, "destination_type", "binding")
        if dtype not in ("queue", "exchange"):
            raise BadRequestError(f"invalid destination_type '{dtype}'")
        try:
            vh.bind(
                _need(b, "source", "binding"),
                _need(b, "destination", "binding"),
                dtype,
                str(b.get("routing_key", "")),
                _args(b),
                owner=_OWNER,
            )
        except AMQPError as err:
            raise BadRequestError(err.text) from None
        view._hooks().definitions_changed(vh)
    for g in _items(defs, "global_parameters") if vhost is None else []:
        if g.get("name") == "cluster_name" and isinstance(g.get("value"), str) and g["value"]:
            view.set_cluster_name(g["value"])


def make_view(server: Server) -> ServerView:
    """The admin view of ``server``; start ``view.sampler.serve`` alongside the UI."""
    return ServerView(server)


__all__ = ["LazyStats", "ServerView", "build_properties", "jsonable", "make_view", "properties_key"]
