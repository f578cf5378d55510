"""The management boundary: immutable snapshots of the broker and the two protocols
the management UI is written against.

``BrokerView`` answers questions with frozen snapshots taken at one instant (the
broker model is single-threaded, so a snapshot is consistent); ``BrokerAdmin``
adds the operations an operator may perform (declare, delete, bind, purge, publish,
get, close a connection, users/vhosts/permissions/policies, definitions). The
runtime implements both in ``amqpish.server.view``; the UI imports nothing else from
the broker, so it can be tested against a fake.

Counters come with a rate: ``Rate(value, rate)``, the rate being messages (or bytes)
per second over the sampler's last few seconds. Every snapshot carries its stats from
the moment the object exists; a stat the broker does not count is simply absent.

Errors are raised as ``AdminError`` subclasses that name their meaning, not an HTTP
status; the HTTP layer translates them in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "ACK_MODES",
    "AccessRefusedError",
    "AdminError",
    "BadRequestError",
    "BindingInfo",
    "BrokerAdmin",
    "BrokerView",
    "ChannelInfo",
    "ConnectionInfo",
    "ConsumerInfo",
    "ExchangeInfo",
    "GotMessage",
    "ListenerInfo",
    "NodeInfo",
    "NotFoundError",
    "Overview",
    "PermissionInfo",
    "PolicyInfo",
    "QueueInfo",
    "QueueKey",
    "Rate",
    "Sample",
    "UserInfo",
    "VHostInfo",
]

ACK_MODES = ("ack_requeue_true", "ack_requeue_false", "reject_requeue_true", "reject_requeue_false")


# --- errors ------------------------------------------------------------------------------


class AdminError(Exception):
    """An operation that cannot be performed; ``reason`` is RabbitMQ's text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFoundError(AdminError):
    """The object (vhost, queue, exchange, user, connection, ...) does not exist."""


class BadRequestError(AdminError):
    """Invalid input or a failed precondition (inequivalent redeclare, in use, not empty)."""


class AccessRefusedError(AdminError):
    """The acting user lacks the permission the operation needs."""


# --- values --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """A counter (or gauge) and how fast it changes, per second."""

    value: int
    rate: float = 0.0


ZERO = Rate(0, 0.0)

# message_stats and lengths: name -> Rate
Stats = Mapping[str, Rate]


@dataclass(frozen=True, slots=True)
class Sample:
    """One point of history: unix time in seconds and the values of the fields asked for."""

    timestamp: float
    values: Mapping[str, int]


# --- snapshots -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListenerInfo:
    protocol: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    consumer_tag: str
    vhost: str
    queue: str
    channel_name: str
    connection_name: str
    channel_number: int
    peer_host: str
    peer_port: int
    user: str
    ack_required: bool
    exclusive: bool
    prefetch_count: int
    active: bool
    arguments: Mapping[str, Any]


class QueueKey(NamedTuple):
    """A queue's identity and lengths: cheap enough to list 10,000 of, to sort and page."""

    vhost: str
    name: str
    messages_ready: int
    messages_unacknowledged: int
    consumers: int

    @property
    def messages(self) -> int:
        return self.messages_ready + self.messages_unacknowledged


@dataclass(frozen=True, slots=True)
class QueueInfo:
    vhost: str
    name: str
    durable: bool
    auto_delete: bool
    exclusive: bool
    owner_connection: str | None
    arguments: Mapping[str, Any]
    policy: str | None
    effective_policy_definition: Mapping[str, Any]
    state: str
    consumers: int
    messages_ready: int
    messages_unacknowledged: int
    message_bytes_ready: int
    message_bytes_unacknowledged: int
    messages_persistent: int
    # publish, deliver, deliver_no_ack, get, get_no_ack, get_empty, ack, redeliver, and the
    # lengths messages, messages_ready, messages_unacknowledged
    stats: Stats
    single_active_consumer_tag: str | None = None
    exclusive_consumer_tag: str | None = None
    idle_since: float | None = None
    consumer_details: Sequence[ConsumerInfo] = ()
    message_bytes_persistent: int = 0
    # ready messages whose bodies are paged out to disk (the queue-memory budget)
    messages_paged_out: int = 0
    message_bytes_paged_out: int = 0

    @property
    def messages(self) -> int:
        return self.messages_ready + self.messages_unacknowledged

    @property
    def message_bytes(self) -> int:
        return self.message_bytes_ready + self.message_bytes_unacknowledged


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    vhost: str
    name: str
    type: str
    durable: bool
    auto_delete: bool
    internal: bool
    arguments: Mapping[str, Any]
    policy: str | None
    stats: Stats  # publish_in, publish_out


@dataclass(frozen=True, slots=True)
class BindingInfo:
    vhost: str
    source: str
    destination: str
    destination_type: str  # "queue" or "exchange"
    routing_key: str
    arguments: Mapping[str, Any]
    properties_key: str


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    name: str
    connection_name: str
    number: int
    vhost: str
    user: str
    peer_host: str
    peer_port: int
    state: str
    consumer_count: int
    prefetch_count: int
    global_prefetch_count: int
    messages_unacknowledged: int
    messages_unconfirmed: int
    messages_uncommitted: int
    acks_uncommitted: int
    confirm: bool
    transactional: bool
    # publish, confirm, return_unroutable, drop_unroutable, deliver, deliver_no_ack, get,
    # get_no_ack, get_empty, ack, redeliver
    stats: Stats
    consumer_details: Sequence[ConsumerInfo] = ()


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    name: str
    vhost: str
    user: str
    peer_host: str
    peer_port: int
    host: str
    port: int
    protocol: str
    state: str
    channels: int
    channel_max: int
    frame_max: int
    timeout: int
    auth_mechanism: str
    client_properties: Mapping[str, Any]
    connected_at: float
    ssl: bool
    stats: Stats  # recv_oct, send_oct
    recv_cnt: int = 0  # reads from the socket
    send_cnt: int = 0  # writes to the socket

    @property
    def user_provided_name(self) -> str | None:
        v = self.client_properties.get("connection_name")
        return v if isinstance(v, str) else None


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    password_hash: str
    hashing_algorithm: str
    tags: tuple[str, ...]

    @property
    def is_administrator(self) -> bool:
        return "administrator" in self.tags

    @property
    def is_monitor(self) -> bool:
        """RabbitMQ's monitors see every vhost and every user's connections."""
        return bool({"administrator", "monitoring"} & set(self.tags))

    @property
    def is_policymaker(self) -> bool:
        return bool({"administrator", "policymaker"} & set(self.tags))

    @property
    def may_use_management(self) -> bool:
        return bool({"administrator", "monitoring", "policymaker", "management"} & set(self.tags))


@dataclass(frozen=True, slots=True)
class PermissionInfo:
    user: str
    vhost: str
    configure: str
    write: str
    read: str


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    vhost: str
    name: str
    pattern: str
    apply_to: str
    definition: Mapping[str, Any]
    priority: int


@dataclass(frozen=True, slots=True)
class VHostInfo:
    name: str
    description: str
    tags: tuple[str, ...]
    default_queue_type: str
    tracing: bool
    messages_ready: int
    messages_unacknowledged: int
    # message_stats (as the overview) plus messages*, recv_oct, send_oct
    stats: Stats

    @property
    def messages(self) -> int:
        return self.messages_ready + self.messages_unacknowledged


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    uptime_ms: int
    os_pid: int
    processors: int
    mem_used: int
    mem_limit: int
    mem_alarm: bool
    disk_free: int
    disk_free_limit: int
    disk_free_alarm: bool
    fd_used: int
    fd_total: int
    sockets_used: int
    sockets_total: int
    proc_used: int
    proc_total: int
    run_queue: int
    data_dir: str
    stats: Stats  # mem_used, connection_created, ... (churn)


@dataclass(frozen=True, slots=True)
class Overview:
    taken_at: float
    node: str
    cluster_name: str
    product_name: str
    product_version: str
    started_at: float
    listeners: tuple[ListenerInfo, ...]
    exchange_types: tuple[str, ...]
    object_totals: Mapping[str, int]  # connections, channels, exchanges, queues, consumers
    messages_ready: int
    messages_unacknowledged: int
    # message_stats: publish, confirm, return_unroutable, drop_unroutable, deliver,
    # deliver_no_ack, get, get_no_ack, get_empty, ack, redeliver; lengths: messages,
    # messages_ready, messages_unacknowledged
    stats: Stats
    churn: Stats  # connection_created, connection_closed, channel_*, queue_*
    alarms: tuple[str, ...] = ()

    @property
    def messages(self) -> int:
        return self.messages_ready + self.messages_unacknowledged


@dataclass(frozen=True, slots=True)
class GotMessage:
    """A message fetched through the management API (queue get)."""

    payload: bytes
    redelivered: bool
    exchange: str
    routing_key: str
    message_count: int
    properties: Mapping[str, Any] = field(default_factory=dict)


# --- the protocols -------------------------------------------------------------------

# History is addressed by (kind, key): ("overview", ()), ("vhost", (name,)),
# ("queue", (vhost, name)), ("exchange", (vhost, name)), ("connection", (name,)),
# ("channel", (name,)).
HistoryKey = tuple[str, tuple[str, ...]]


@runtime_checkable
class BrokerView(Protocol):
    """Read-only snapshots of the live broker."""

    def now(self) -> float: ...

    def authenticate(self, name: str, password: str) -> UserInfo | None: ...

    def loopback_only(self, user: str) -> bool:
        """True when ``user`` may only log in from a loopback address (guest)."""
        ...

    def overview(self) -> Overview: ...

    def node(self) -> NodeInfo: ...

    def cluster_name(self) -> str: ...

    def node_name(self) -> str: ...

    def users(self) -> list[UserInfo]: ...

    def user(self, name: str) -> UserInfo | None: ...

    def vhosts(self) -> list[VHostInfo]: ...

    def vhost(self, name: str) -> VHostInfo | None: ...

    def vhost_names(self) -> list[str]: ...

    def permissions(
        self, *, vhost: str | None = None, user: str | None = None
    ) -> list[PermissionInfo]: ...

    def policies(self, vhost: str | None = None) -> list[PolicyInfo]: ...

    def queues(self, vhost: str | None = None) -> list[QueueInfo]: ...

    def queue(self, vhost: str, name: str) -> QueueInfo | None: ...

    def queue_keys(self, vhost: str | None = None) -> list[QueueKey]:
        """Every queue's key and lengths: cheap, for filtering and paging before snapshots."""
        ...

    def queues_by_key(self, keys: Sequence[tuple[str, str]]) -> list[QueueInfo]:
        """Snapshots of the given queues, in order; queues gone meanwhile are skipped."""
        ...

    def exchanges(self, vhost: str | None = None) -> list[ExchangeInfo]: ...

    def exchange(self, vhost: str, name: str) -> ExchangeInfo | None: ...

    def bindings(
        self,
        vhost: str | None = None,
        *,
        source: str | None = None,
        destination: str | None = None,
        destination_type: str | None = None,
    ) -> list[BindingInfo]: ...

    def connections(self, vhost: str | None = None) -> list[ConnectionInfo]: ...

    def connection(self, name: str) -> ConnectionInfo | None: ...

    def channels(
        self, vhost: str | None = None, *, connection: str | None = None
    ) -> list[ChannelInfo]: ...

    def channel(self, name: str) -> ChannelInfo | None: ...

    def consumers(self, vhost: str | None = None) -> list[ConsumerInfo]: ...

    def history(
        self, kind: str, key: tuple[str, ...], fields: Sequence[str], age: int, incr: int
    ) -> list[Sample]:
        """Samples newest first, ``incr`` seconds apart, over the last ``age`` seconds."""
        ...

    def export_definitions(self, vhost: str | None = None) -> dict[str, Any]: ...


@runtime_checkable
class BrokerAdmin(BrokerView, Protocol):
    """Operations on behalf of an authenticated management user (``actor``)."""

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
        """True when created, False when an equivalent queue existed."""
        ...

    def delete_queue(
        self, actor: str, vhost: str, name: str, *, if_unused: bool = False, if_empty: bool = False
    ) -> int: ...

    def purge_queue(self, actor: str, vhost: str, name: str) -> int: ...

    def get_messages(
        self, actor: str, vhost: str, name: str, *, count: int, ackmode: str
    ) -> list[GotMessage]: ...

    def move_messages(
        self, actor: str, vhost: str, source: str, destination: str, *, count: int | None = None
    ) -> int: ...

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
    ) -> bool: ...

    def delete_exchange(
        self, actor: str, vhost: str, name: str, *, if_unused: bool = False
    ) -> None: ...

    def bind(
        self,
        actor: str,
        vhost: str,
        source: str,
        destination_type: str,
        destination: str,
        routing_key: str,
        arguments: Mapping[str, Any],
    ) -> BindingInfo: ...

    def unbind(
        self,
        actor: str,
        vhost: str,
        source: str,
        destination_type: str,
        destination: str,
        properties_key: str,
    ) -> None: ...

    def publish(
        self,
        actor: str,
        vhost: str,
        exchange: str,
        routing_key: str,
        payload: bytes,
        properties: Mapping[str, Any],
    ) -> bool:
        """True when the message reached at least one queue."""
        ...

    def close_connection(self, name: str, reason: str) -> None: ...

    def put_user(
        self,
        name: str,
        *,
        password: str | None,
        password_hash: str | None,
        tags: Sequence[str],
    ) -> bool: ...

    def delete_user(self, name: str) -> None: ...

    def put_vhost(
        self, name: str, *, description: str = "", tags: Sequence[str] = (), tracing: bool = False
    ) -> bool: ...

    def delete_vhost(self, name: str) -> None: ...

    def set_permissions(
        self, user: str, vhost: str, *, configure: str, write: str, read: str
    ) -> bool: ...

    def clear_permissions(self, user: str, vhost: str) -> None: ...

    def put_policy(
        self,
        vhost: str,
        name: str,
        *,
        pattern: str,
        definition: Mapping[str, Any],
        priority: int = 0,
        apply_to: str = "all",
    ) -> bool: ...

    def delete_policy(self, vhost: str, name: str) -> None: ...

    def import_definitions(
        self, definitions: Mapping[str, Any], vhost: str | None = None
    ) -> None: ...

    def set_cluster_name(self, name: str) -> None: ...

    def aliveness_test(self, vhost: str) -> None: ...
