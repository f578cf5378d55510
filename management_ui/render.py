"""Snapshots rendered as RabbitMQ's management JSON, and the list machinery around it.

Field names, nesting and the odd corners (``properties: []`` for a message without
properties, ``amq.default`` only in URLs, ``message_stats`` present from the start)
follow the recorded RabbitMQ 3.10.8 responses. Per-object counters RabbitMQ measures
and amqpish does not (Erlang reductions, garbage collection) are present with zero
values so that clients reading them keep working.

Lists follow ``rabbit_mgmt_util``: ``sort`` (dotted path, merged with the default
sort) and ``sort_reverse``; pagination with ``page``/``page_size`` (at most 500),
filtering with ``name`` (case-insensitive substring, or a regex with
``use_regex=true``); ``columns`` prunes each item to the dotted paths asked for.
Sorting on the common keys reads the snapshot directly, so a page of 10,000 queues
renders only the rows it returns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from amqpish.admin import (
    BindingInfo,
    ChannelInfo,
    ConnectionInfo,
    ConsumerInfo,
    ExchangeInfo,
    GotMessage,
    NodeInfo,
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
from management_ui.http import Request, bad_request

T = TypeVar("T")

EMULATED_RABBITMQ_VERSION = "3.10.8"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MAX_RANGE = 500

EXCHANGE_TYPE_DESCRIPTIONS = {
    "direct": "AMQP direct exchange, as per the AMQP specification",
    "fanout": "AMQP fanout exchange, as per the AMQP specification",
    "headers": "AMQP headers exchange, as per the AMQP specification",
    "topic": "AMQP topic exchange, as per the AMQP specification",
}
QUEUE_MSG_STATS = (
    "ack",
    "deliver",
    "deliver_get",
    "deliver_no_ack",
    "get",
    "get_empty",
    "get_no_ack",
    "publish",
    "redeliver",
)
OVERVIEW_MSG_STATS = (
    "ack",
    "confirm",
    "deliver",
    "deliver_get",
    "deliver_no_ack",
    "disk_reads",
    "disk_writes",
    "drop_unroutable",
    "get",
    "get_empty",
    "get_no_ack",
    "publish",
    "redeliver",
    "return_unroutable",
)
CHANNEL_MSG_STATS = (
    "ack",
    "confirm",
    "deliver",
    "deliver_get",
    "deliver_no_ack",
    "drop_unroutable",
    "get",
    "get_empty",
    "get_no_ack",
    "publish",
    "redeliver",
    "return_unroutable",
)
GC = {
    "fullsweep_after": 65535,
    "max_heap_size": 0,
    "min_bin_vheap_size": 46422,
    "min_heap_size": 233,
    "minor_gcs": 0,
}
ZERO_RATE = {"rate": 0.0}
LENGTH_KEYS = ("messages", "messages_ready", "messages_unacknowledged")


# --- ranges (lengths_age / msg_rates_age samples) ------------------------------------------


class Ranges:
    """The ``*_age``/``*_incr`` query parameters: which histories to include."""

    def __init__(self, req: Request) -> None:
        self.lengths = self._range(req, "lengths")
        self.msg_rates = self._range(req, "msg_rates")
        self.data_rates = self._range(req, "data_rates")

    @staticmethod
    def _range(req: Request, prefix: str) -> tuple[int, int] | None:
        age_s, incr_s = req.arg(prefix + "_age"), req.arg(prefix + "_incr")
        if age_s is None or incr_s is None:
            return None
        try:
            age, incr = int(age_s), int(incr_s)
        except ValueError:
            age = incr = -1
        if age <= 0 or incr <= 0 or age // incr > MAX_RANGE:
            raise bad_request(
                f"Invalid range parameters: age {age_s}, incr {incr_s}",
                "invalid_range_parameters",
            )
        return age, incr

    @property
    def any(self) -> bool:
        return bool(self.lengths or self.msg_rates or self.data_rates)


def details(rate: Rate, samples: list[Sample] | None = None, name: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {"rate": rate.rate}
    if samples:
        pts = [
            {"sample": s.values.get(name, 0), "timestamp": int(s.timestamp * 1000)} for s in samples
        ]
        values = [p["sample"] for p in pts]
        d["samples"] = pts
        d["avg"] = sum(values) / len(values)
        span = (samples[0].timestamp - samples[-1].timestamp) if len(samples) > 1 else 0.0
        d["avg_rate"] = (values[0] - values[-1]) / span if span > 0 else 0.0
    return d


def add_stat(
    out: dict[str, Any],
    name: str,
    stats: Mapping[str, Rate],
    samples: list[Sample] | None = None,
) -> None:
    r = stats.get(name)
    if r is None:
        r = Rate(0, 0.0)
    out[name] = r.value
    out[name + "_details"] = details(r, samples, name)


def message_stats(
    stats: Mapping[str, Rate], keys: Sequence[str], samples: list[Sample] | None = None
) -> dict[str, Any]:
    s = dict(stats)
    if "deliver_get" in keys and "deliver_get" not in s:
        parts = [s.get(k, Rate(0)) for k in ("deliver", "deliver_no_ack", "get", "get_no_ack")]
        s["deliver_get"] = Rate(sum(p.value for p in parts), round(sum(p.rate for p in parts), 2))
    out: dict[str, Any] = {}
    for k in keys:
        add_stat(out, k, s, samples)
    return out


# --- objects --------------------------------------------------------------------------


def queue_json(
    q: QueueInfo,
    node: str,
    *,
    disable_stats: bool = False,
    queue_totals: bool = False,
    detail: bool = False,
    lengths: list[Sample] | None = None,
    rates: list[Sample] | None = None,
) -> dict[str, Any]:
    if disable_stats:
        d: dict[str, Any] = {
            "arguments": dict(q.arguments),
            "auto_delete": q.auto_delete,
            "durable": q.durable,
            "exclusive": q.exclusive,
            "name": q.name,
            "node": node,
            "state": q.state,
            "type": "classic",
            "vhost": q.vhost,
        }
        if q.policy:
            d["policy"] = q.policy
        if queue_totals:
            d["messages"] = q.messages
            d["messages_ready"] = q.messages_ready
            d["messages_unacknowledged"] = q.messages_unacknowledged
        return d
    st = q.stats
    ingress = st["publish"].rate if "publish" in st else 0.0
    egress = sum(st[k].rate for k in ("deliver", "deliver_no_ack", "get", "get_no_ack") if k in st)
    capacity = 1.0 if q.consumers else 0
    d = {
        "arguments": dict(q.arguments),
        "auto_delete": q.auto_delete,
        "backing_queue_status": {
            "avg_ack_egress_rate": st["ack"].rate if "ack" in st else 0.0,
            "avg_ack_ingress_rate": egress,
            "avg_egress_rate": egress,
            "avg_ingress_rate": ingress,
            "delta": ["delta", "undefined", 0, 0, "undefined"],
            "len": q.messages_ready,
            "mode": "default",
            "next_deliver_seq_id": 0,
            "next_seq_id": 0,
            "q1": 0,
            "q2": 0,
            "q3": 0,
            "q4": q.messages_ready,
            "target_ram_count": "infinity",
            "version": 1,
        },
        "consumer_capacity": capacity,
        "consumer_utilisation": capacity,
        "consumers": q.consumers,
        "durable": q.durable,
        "effective_policy_definition": dict(q.effective_policy_definition),
        "exclusive": q.exclusive,
        "exclusive_consumer_tag": q.exclusive_consumer_tag,
        "garbage_collection": GC,
        "head_message_timestamp": None,
        "memory": 1000 + q.message_bytes,
        "message_bytes": q.message_bytes,
        "message_bytes_paged_out": q.message_bytes_paged_out,
        "message_bytes_persistent": q.message_bytes_persistent,
        "message_bytes_ram": q.message_bytes - q.message_bytes_paged_out,
        "message_bytes_ready": q.message_bytes_ready,
        "message_bytes_unacknowledged": q.message_bytes_unacknowledged,
        "message_stats": message_stats(st, QUEUE_MSG_STATS, rates),
    }
    add_stat(d, "messages", st, lengths)
    d["messages_paged_out"] = q.messages_paged_out
    d["messages_persistent"] = q.messages_persistent
    d["messages_ram"] = q.messages - q.messages_paged_out
    add_stat(d, "messages_ready", st, lengths)
    d["messages_ready_ram"] = q.messages_ready - q.messages_paged_out
    add_stat(d, "messages_unacknowledged", st, lengths)
    d["messages_unacknowledged_ram"] = q.messages_unacknowledged
    d.update(
        {
            "name": q.name,
            "node": node,
            "operator_policy": None,
            "policy": q.policy,
            "recoverable_slaves": None,
            "reductions": 0,
            "reductions_details": ZERO_RATE,
            "single_active_consumer_tag": q.single_active_consumer_tag,
            "state": q.state,
            "type": "classic",
            "vhost": q.vhost,
        }
    )
    if q.owner_connection is not None:
        host, _, port = q.owner_connection.partition(" -> ")[0].rpartition(":")
        d["owner_pid_details"] = {
            "name": q.owner_connection,
            "peer_host": host,
            "peer_port": int(port) if port.isdigit() else 0,
        }
    if detail:
        d["consumer_details"] = [consumer_json(c, node) for c in q.consumer_details]
        d["deliveries"] = []
        d["incoming"] = []
    return d


def consumer_json(c: ConsumerInfo, node: str) -> dict[str, Any]:
    return {
        "arguments": dict(c.arguments),
        "ack_required": c.ack_required,
        "active": c.active,
        "activity_status": "up" if c.active else "waiting",
        "channel_details": {
            "connection_name": c.connection_name,
            "name": c.channel_name,
            "node": node,
            "number": c.channel_number,
            "peer_host": c.peer_host,
            "peer_port": c.peer_port,
            "user": c.user,
        },
        "consumer_tag": c.consumer_tag,
        "exclusive": c.exclusive,
        "prefetch_count": c.prefetch_count,
        "queue": {"name": c.queue, "vhost": c.vhost},
    }


def exchange_json(
    e: ExchangeInfo, *, detail: bool = False, rates: list[Sample] | None = None
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "arguments": dict(e.arguments),
        "auto_delete": e.auto_delete,
        "durable": e.durable,
        "internal": e.internal,
        "message_stats": message_stats(e.stats, ("publish_in", "publish_out"), rates),
        "name": e.name,
        "type": e.type,
        "user_who_performed_action": "",
        "vhost": e.vhost,
    }
    if e.policy:
        d["policy"] = e.policy
    if detail:
        d["incoming"] = []
        d["outgoing"] = []
    return d


def binding_json(b: BindingInfo) -> dict[str, Any]:
    return {
        "source": b.source,
        "vhost": b.vhost,
        "destination": b.destination,
        "destination_type": b.destination_type,
        "routing_key": b.routing_key,
        "arguments": dict(b.arguments),
        "properties_key": b.properties_key,
    }


def connection_json(
    c: ConnectionInfo, node: str, *, rates: list[Sample] | None = None
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "auth_mechanism": c.auth_mechanism,
        "channel_max": c.channel_max,
        "channels": c.channels,
        "client_properties": dict(c.client_properties),
        "connected_at": int(c.connected_at * 1000),
        "frame_max": c.frame_max,
        "garbage_collection": GC,
        "host": c.host,
        "name": c.name,
        "node": node,
        "peer_cert_issuer": None,
        "peer_cert_subject": None,
        "peer_cert_validity": None,
        "peer_host": c.peer_host,
        "peer_port": c.peer_port,
        "port": c.port,
        "protocol": c.protocol,
        "recv_cnt": c.recv_cnt,
    }
    add_stat(d, "recv_oct", c.stats, rates)
    d["reductions"] = 0
    d["reductions_details"] = ZERO_RATE
    d["send_cnt"] = c.send_cnt
    add_stat(d, "send_oct", c.stats, rates)
    d.update(
        {
            "send_pend": 0,
            "ssl": c.ssl,
            "ssl_cipher": None,
            "ssl_hash": None,
            "ssl_key_exchange": None,
            "ssl_protocol": None,
            "state": c.state,
            "timeout": c.timeout,
            "type": "network",
            "user": c.user,
            "user_provided_name": c.user_provided_name,
            "user_who_performed_action": c.user,
            "vhost": c.vhost,
        }
    )
    return d


def channel_json(
    ch: ChannelInfo, node: str, *, detail: bool = False, rates: list[Sample] | None = None
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "acks_uncommitted": ch.acks_uncommitted,
        "confirm": ch.confirm,
        "connection_details": {
            "name": ch.connection_name,
            "peer_host": ch.peer_host,
            "peer_port": ch.peer_port,
        },
        "consumer_count": ch.consumer_count,
        "garbage_collection": GC,
        "global_prefetch_count": ch.global_prefetch_count,
        "message_stats": message_stats(ch.stats, CHANNEL_MSG_STATS, rates),
        "messages_unacknowledged": ch.messages_unacknowledged,
        "messages_uncommitted": ch.messages_uncommitted,
        "messages_unconfirmed": ch.messages_unconfirmed,
        "name": ch.name,
        "node": node,
        "number": ch.number,
        "pending_raft_commands": 0,
        "prefetch_count": ch.prefetch_count,
        "reductions": 0,
        "reductions_details": ZERO_RATE,
        "state": ch.state,
        "transactional": ch.transactional,
        "user": ch.user,
        "user_who_performed_action": ch.user,
        "vhost": ch.vhost,
    }
    if detail:
        d["consumer_details"] = [consumer_json(c, node) for c in ch.consumer_details]
        d["deliveries"] = []
        d["publishes"] = []
    return d


def user_json(u: UserInfo) -> dict[str, Any]:
    return {
        "name": u.name,
        "password_hash": u.password_hash,
        "hashing_algorithm": u.hashing_algorithm,
        "tags": list(u.tags),
        "limits": {},
    }


def permission_json(p: PermissionInfo) -> dict[str, Any]:
    return {
        "user": p.user,
        "vhost": p.vhost,
        "configure": p.configure,
        "write": p.write,
        "read": p.read,
    }


def policy_json(p: PolicyInfo) -> dict[str, Any]:
    return {
        "vhost": p.vhost,
        "name": p.name,
        "pattern": p.pattern,
        "apply-to": p.apply_to,
        "definition": dict(p.definition),
        "priority": p.priority,
    }


def vhost_json(
    v: VHostInfo,
    node: str,
    *,
    lengths: list[Sample] | None = None,
    rates: list[Sample] | None = None,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "cluster_state": {node: "running"},
        "default_queue_type": v.default_queue_type,
        "description": v.description,
        "message_stats": message_stats(v.stats, OVERVIEW_MSG_STATS, rates),
    }
    add_stat(d, "messages", v.stats, lengths)
    add_stat(d, "messages_ready", v.stats, lengths)
    add_stat(d, "messages_unacknowledged", v.stats, lengths)
    d["metadata"] = {"description": v.description, "tags": list(v.tags)}
    d["name"] = v.name
    add_stat(d, "recv_oct", v.stats)
    add_stat(d, "send_oct", v.stats)
    d["tags"] = list(v.tags)
    d["tracing"] = v.tracing
    return d


def exchange_types_json(types: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"name": t, "description": EXCHANGE_TYPE_DESCRIPTIONS.get(t, t), "enabled": True}
        for t in types
    ]


def overview_json(
    o: Overview,
    *,
    lengths: list[Sample] | None = None,
    rates: list[Sample] | None = None,
    visible_totals: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    st = o.stats
    queue_totals: dict[str, Any] = {}
    add_stat(queue_totals, "messages", st, lengths)
    add_stat(queue_totals, "messages_ready", st, lengths)
    add_stat(queue_totals, "messages_unacknowledged", st, lengths)
    churn: dict[str, Any] = {}
    for k in sorted(o.churn):
        add_stat(churn, k, o.churn)
    http = next((lst for lst in o.listeners if lst.protocol == "http"), None)
    return {
        "management_version": EMULATED_RABBITMQ_VERSION,
        "rates_mode": "basic",
        "sample_retention_policies": {
            "global": [600, 3600, 28800, 86400],
            "basic": [600, 3600],
            "detailed": [600],
        },
        "exchange_types": exchange_types_json(o.exchange_types),
        "product_version": o.product_version,
        "product_name": o.product_name,
        "rabbitmq_version": EMULATED_RABBITMQ_VERSION,
        "cluster_name": o.cluster_name,
        "erlang_version": "n/a",
        "erlang_full_version": "n/a (amqpish runs on Python)",
        "release_series_support_status": "supported",
        "disable_stats": False,
        "enable_queue_totals": False,
        "message_stats": message_stats(st, OVERVIEW_MSG_STATS, rates),
        "churn_rates": churn,
        "queue_totals": queue_totals,
        "object_totals": dict(visible_totals or o.object_totals),
        "statistics_db_event_queue": 0,
        "node": o.node,
        "listeners": [
            {
                "node": o.node,
                "protocol": lst.protocol,
                "ip_address": lst.host,
                "port": lst.port,
                "socket_opts": {},
            }
            for lst in o.listeners
        ],
        "contexts": [
            {
                "ssl_opts": [],
                "node": o.node,
                "description": "RabbitMQ Management",
                "path": "/",
                "cowboy_opts": "[]",
                "port": str(http.port if http else 0),
            }
        ],
    }


def node_json(
    n: NodeInfo, exchange_types: Sequence[str], *, memory: bool = False
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "partitions": [],
        "os_pid": str(n.os_pid),
        "fd_total": n.fd_total,
        "sockets_total": n.sockets_total,
        "mem_limit": n.mem_limit,
        "mem_alarm": n.mem_alarm,
        "disk_free_limit": n.disk_free_limit,
        "disk_free_alarm": n.disk_free_alarm,
        "proc_total": n.proc_total,
        "rates_mode": "basic",
        "uptime": n.uptime_ms,
        "run_queue": n.run_queue,
        "processors": n.processors,
        "exchange_types": exchange_types_json(exchange_types),
        "auth_mechanisms": [
            {"name": "AMQPLAIN", "description": "QPid AMQPLAIN mechanism", "enabled": True},
            {
                "name": "PLAIN",
                "description": "SASL PLAIN authentication mechanism",
                "enabled": True,
            },
        ],
        "applications": [
            {"name": "amqpish", "description": "amqpish message broker", "version": ""}
        ],
        "contexts": [],
        "log_files": ["<stderr>"],
        "db_dir": n.data_dir,
        "config_files": [],
        "net_ticktime": 60,
        "enabled_plugins": ["rabbitmq_management", "rabbitmq_prometheus"],
        "mem_calculation_strategy": "rss",
        "name": n.name,
        "type": "disc",
        "running": True,
        "mem_used": n.mem_used,
        "mem_used_details": ZERO_RATE,
        "fd_used": n.fd_used,
        "fd_used_details": ZERO_RATE,
        "sockets_used": n.sockets_used,
        "sockets_used_details": ZERO_RATE,
        "proc_used": n.proc_used,
        "proc_used_details": ZERO_RATE,
        "disk_free": n.disk_free,
        "disk_free_details": ZERO_RATE,
        "cluster_links": [],
    }
    for k in sorted(n.stats):
        add_stat(d, k, n.stats)
    if memory:
        d["memory"] = {
            "strategy": "rss",
            "total": {"erlang": n.mem_used, "rss": n.mem_used, "allocated": n.mem_used},
        }
    return d


def message_json(m: GotMessage, encoding: str, truncate: int | None) -> dict[str, Any]:
    payload = m.payload
    size = len(payload)
    if truncate is not None and truncate >= 0:
        payload = payload[:truncate]
    if encoding == "auto":
        try:
            text: str | None = payload.decode()
        except UnicodeDecodeError:
            text = None
    else:
        text = None
    if text is not None:
        body, enc = text, "string"
    else:
        import base64

        body, enc = base64.b64encode(payload).decode(), "base64"
    return {
        "payload_bytes": size,
        "redelivered": m.redelivered,
        "exchange": m.exchange,
        "routing_key": m.routing_key,
        "message_count": m.message_count,
        # RabbitMQ renders an empty property list as [] (an Erlang quirk clients expect)
        "properties": dict(m.properties) if m.properties else [],
        "payload": body,
        "payload_encoding": enc,
    }


# --- lists: sorting, filtering, pagination, columns ---------------------------------------------


def dotted(item: Mapping[str, Any], path: str) -> Any:
    cur: Any = item
    keys = path.split(".")
    for i, k in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(cur, Mapping) and k in cur:
            cur = cur[k]
        else:
            return 0 if last else []
    return cur


def sort_value(v: Any) -> tuple[int, Any]:
    """A total order like Erlang's terms: numbers < atoms < strings < containers."""
    if isinstance(v, bool) or v is None:
        return (1, str(v))
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (2, v)
    return (3, repr(v))


def columns_of(req: Request) -> list[list[str]] | None:
    raw = req.arg("columns")
    if raw is None:
        return None
    return [c.split(".") for c in raw.split(",") if c]


def prune(item: Any, cols: list[list[str]] | None) -> Any:
    """Keep only the dotted paths in ``cols`` (RabbitMQ's extract_column_items)."""
    if cols is None:
        return item
    if isinstance(item, list):
        return [prune(i, cols) for i in item]
    if not isinstance(item, Mapping):
        return item
    out: dict[str, Any] = {}
    for k, v in item.items():
        wanted = [c for c in cols if c[0] == k]
        if not wanted:
            continue
        if any(len(c) == 1 for c in wanted):
            out[k] = v
        else:
            out[k] = prune(v, [c[1:] for c in wanted])
    return out


class Pagination:
    def __init__(self, req: Request) -> None:
        page_s, size_s = req.arg("page"), req.arg("page_size")
        self.enabled = page_s is not None
        self.name = req.arg("name") or ""
        self.use_regex = (req.arg("use_regex") or "").lower() == "true"
        self.page = 1
        self.page_size = DEFAULT_PAGE_SIZE
        if not self.enabled:
            return
        try:
            self.page = int(page_s or "")
            self.page_size = int(size_s) if size_s not in (None, "") else DEFAULT_PAGE_SIZE
        except ValueError:
            # RabbitMQ's error tag for unparsable numbers is the generic one
            raise bad_request("Pagination parameters are invalid") from None
        if self.page <= 0 or self.page_size <= 0 or self.page_size > MAX_PAGE_SIZE:
            size = self.page_size if size_s not in (None, "") else "undefined"
            raise bad_request(
                f"Invalid pagination parameters: page number {self.page}, page size {size}",
                "invalid_pagination_parameters",
            )
        self.regex: re.Pattern[str] | None = None
        if self.name and self.use_regex:
            try:
                self.regex = re.compile(self.name, re.IGNORECASE)
            except re.error as e:
                raise bad_request(
                    f"invalid regular expression: {e}", "invalid_pagination_parameters"
                ) from None

    def keep(self, name: str) -> bool:
        if not self.enabled or not self.name:
            return True
        if self.regex is not None:
            return self.regex.search(name) is not None
        return self.name.lower() in name.lower()


def reply_list(
    req: Request,
    items: Sequence[T],
    render: Callable[[T], dict[str, Any]],
    *,
    name_of: Callable[[T], str] = lambda x: getattr(x, "name", ""),
    getters: Mapping[str, Callable[[T], Any]] | None = None,
    default_sort: Sequence[str] = ("vhost", "name"),
) -> Any:
    """A list answer with RabbitMQ's sort, filter, pagination and columns semantics."""
    Ranges(req)  # validated as RabbitMQ does, though lists carry no samples
    pag = Pagination(req)
    cols = columns_of(req)
    total = len(items)
    if pag.enabled and pag.name:
        items = [i for i in items if pag.keep(name_of(i))]
    sort_param = req.arg("sort")
    reverse = (req.arg("sort_reverse") or "").lower() == "true"
    if sort_param == "":
        keys: list[str] = []
    else:
        keys = list(dict.fromkeys([*([sort_param] if sort_param else []), *default_sort]))
    getters = getters or {}
    rendered: dict[int, dict[str, Any]] = {}

    def full(i: int, item: T) -> dict[str, Any]:
        r = rendered.get(i)
        if r is None:
            r = rendered[i] = render(item)
        return r

    indexed = list(enumerate(items))
    if keys:
        fast = [getters.get(k) for k in keys]

        def key(pair: tuple[int, T]) -> tuple[Any, ...]:
            i, item = pair
            return tuple(
                sort_value(g(item) if g is not None else dotted(full(i, item), k))
                for g, k in zip(fast, keys, strict=True)
            )

        indexed.sort(key=key)
    if reverse:
        indexed.reverse()
    if not pag.enabled:
        return [prune(full(i, item), cols) for i, item in indexed]
    filtered = len(indexed)
    start = (pag.page - 1) * pag.page_size
    if start > filtered:
        raise bad_request(
            f"Page out of range, page: {pag.page} page size: {pag.page_size}, len: {filtered}",
            "page_out_of_range",
        )
    page_items = indexed[start : start + pag.page_size]
    return {
        "filtered_count": filtered,
        "item_count": len(page_items),
        "items": [prune(full(i, item), cols) for i, item in page_items],
        "page": pag.page,
        "page_count": math.ceil(filtered / pag.page_size) if filtered else 0,
        "page_size": pag.page_size,
        "total_count": total,
    }


KEY_SORTS: dict[str, Callable[[QueueKey], Any]] = {
    "vhost": lambda k: k.vhost,
    "name": lambda k: k.name,
    "messages": lambda k: k.messages,
    "messages_ready": lambda k: k.messages_ready,
    "messages_unacknowledged": lambda k: k.messages_unacknowledged,
    "consumers": lambda k: k.consumers,
}


def reply_page_by_key(
    req: Request,
    keys: Sequence[QueueKey],
    build: Callable[[Sequence[tuple[str, str]]], Sequence[T]],
    render: Callable[[T], dict[str, Any]],
) -> Any | None:
    """The fast path of a paginated queue list sorted by name or by a length.

    Filters, sorts and pages the cheap keys and builds snapshots only for the page.
    Returns None when the request needs another sort (the caller falls back to
    ``reply_list``, which builds every snapshot).
    """
    Ranges(req)
    pag = Pagination(req)
    sort = req.arg("sort") or None
    if not pag.enabled or (sort is not None and sort not in KEY_SORTS):
        return None
    total = len(keys)
    if pag.name:
        keys = [k for k in keys if pag.keep(k.name)]
    order = list(dict.fromkeys([*([sort] if sort else []), "vhost", "name"]))
    getters = [KEY_SORTS[o] for o in order]
    ordered = sorted(keys, key=lambda k: tuple(g(k) for g in getters))
    if (req.arg("sort_reverse") or "").lower() == "true":
        ordered.reverse()
    filtered = len(ordered)
    start = (pag.page - 1) * pag.page_size
    if start > filtered:
        raise bad_request(
            f"Page out of range, page: {pag.page} page size: {pag.page_size}, len: {filtered}",
            "page_out_of_range",
        )
    items = build([(k.vhost, k.name) for k in ordered[start : start + pag.page_size]])
    cols = columns_of(req)
    return {
        "filtered_count": filtered,
        "item_count": len(items),
        "items": [prune(render(i), cols) for i in items],
        "page": pag.page,
        "page_count": math.ceil(filtered / pag.page_size) if filtered else 0,
        "page_size": pag.page_size,
        "total_count": total,
    }


QUEUE_GETTERS: dict[str, Callable[[QueueInfo], Any]] = {
    "name": lambda q: q.name,
    "vhost": lambda q: q.vhost,
    "durable": lambda q: q.durable,
    "auto_delete": lambda q: q.auto_delete,
    "exclusive": lambda q: q.exclusive,
    "state": lambda q: q.state,
    "type": lambda q: "classic",
    "policy": lambda q: q.policy,
    "consumers": lambda q: q.consumers,
    "messages": lambda q: q.messages,
    "messages_ready": lambda q: q.messages_ready,
    "messages_unacknowledged": lambda q: q.messages_unacknowledged,
    "message_bytes": lambda q: q.message_bytes,
    "messages_details.rate": lambda q: q.stats["messages"].rate,
    "messages_ready_details.rate": lambda q: q.stats["messages_ready"].rate,
    "messages_unacknowledged_details.rate": lambda q: q.stats["messages_unacknowledged"].rate,
}
for _k in ("publish", "deliver", "deliver_no_ack", "get", "get_no_ack", "ack", "redeliver"):
    QUEUE_GETTERS[f"message_stats.{_k}"] = lambda q, k=_k: q.stats[k].value  # type: ignore[misc]
    QUEUE_GETTERS[f"message_stats.{_k}_details.rate"] = lambda q, k=_k: q.stats[k].rate  # type: ignore[misc]
