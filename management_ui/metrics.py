"""Prometheus metrics in the text exposition format, named as RabbitMQ's plugin names them.

``/metrics`` is the aggregated form (one sample per metric, as rabbitmq_prometheus
serves by default); ``/metrics/per-object`` labels queue, channel and connection
metrics with ``vhost``/``queue``/``channel``; ``/metrics/detailed`` answers the
``family=`` filter for queue_coarse_metrics and queue_consumer_count with the
``rabbitmq_detailed_`` prefix. Like RabbitMQ's Prometheus endpoint they need no login.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from management_ui.app import Context
from management_ui.http import Request, Response
from management_ui.routing import Router

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CLASSIC = "rabbit_classic_queue"
QUEUE_TYPES = (CLASSIC, "rabbit_quorum_queue", "rabbit_stream_queue")


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _num(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        self.lines.append(f"# TYPE {name} {kind}")
        self.lines.append(f"# HELP {name} {help_}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {_num(value)}")

    def one(
        self, name: str, kind: str, help_: str, value: float, labels: dict[str, str] | None = None
    ) -> None:
        self.family(name, kind, help_, [(labels or {}, value)])

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


QUEUE_GAUGES = (
    ("messages_ready", "Messages ready to be delivered to consumers"),
    ("messages_unacked", "Messages delivered to consumers but not yet acknowledged"),
    ("messages", "Sum of ready and unacknowledged messages - total queue depth"),
    ("consumers", "Consumers on a queue"),
    ("messages_ready_bytes", "Size in bytes of ready messages"),
    ("messages_unacked_bytes", "Size in bytes of all unacknowledged messages"),
    ("messages_bytes", "Size in bytes of ready and unacknowledged messages"),
    ("messages_persistent", "Persistent messages"),
    ("messages_persistent_bytes", "Size in bytes of persistent messages"),
    ("messages_ram", "Ready and unacknowledged messages stored in memory"),
    ("messages_ram_bytes", "Size of ready and unacknowledged messages stored in memory"),
    ("messages_ready_ram", "Ready messages stored in memory"),
    ("messages_unacked_ram", "Unacknowledged messages stored in memory"),
    ("messages_paged_out", "Messages paged out to disk"),
    ("messages_paged_out_bytes", "Size in bytes of messages paged out to disk"),
)


def _queue_values(q: object) -> dict[str, float]:
    from amqpish.admin import QueueInfo

    assert isinstance(q, QueueInfo)
    return {
        "messages_ready": q.messages_ready,
        "messages_unacked": q.messages_unacknowledged,
        "messages": q.messages,
        "consumers": q.consumers,
        "messages_ready_bytes": q.message_bytes_ready,
        "messages_unacked_bytes": q.message_bytes_unacknowledged,
        "messages_bytes": q.message_bytes,
        "messages_persistent": q.messages_persistent,
        "messages_persistent_bytes": q.message_bytes_persistent,
        "messages_ram": q.messages - q.messages_paged_out,
        "messages_ram_bytes": q.message_bytes - q.message_bytes_paged_out,
        "messages_ready_ram": q.messages_ready - q.messages_paged_out,
        "messages_unacked_ram": q.messages_unacknowledged,
        "messages_paged_out": q.messages_paged_out,
        "messages_paged_out_bytes": q.message_bytes_paged_out,
        "messages_published_total": q.stats["publish"].value,
    }


def _common(ctx: Context, x: Exposition) -> None:
    view = ctx.view
    o = view.overview()
    n = view.node()
    alarms = set(o.alarms)
    x.one(
        "rabbitmq_alarms_file_descriptor_limit",
        "untyped",
        "is 1 if file descriptor limit alarm is in effect",
        0,
    )
    x.one(
        "rabbitmq_alarms_free_disk_space_watermark",
        "untyped",
        "is 1 if free disk space watermark alarm is in effect",
        int("disk" in alarms),
    )
    x.one(
        "rabbitmq_alarms_memory_used_watermark",
        "untyped",
        "is 1 if VM memory watermark alarm is in effect",
        int("memory" in alarms),
    )
    churn = o.churn
    for metric, key, help_ in (
        (
            "rabbitmq_connections_opened_total",
            "connection_created",
            "Total number of connections opened",
        ),
        (
            "rabbitmq_connections_closed_total",
            "connection_closed",
            "Total number of connections closed or terminated",
        ),
        ("rabbitmq_channels_opened_total", "channel_created", "Total number of channels opened"),
        ("rabbitmq_channels_closed_total", "channel_closed", "Total number of channels closed"),
        ("rabbitmq_queues_declared_total", "queue_declared", "Total number of queues declared"),
        ("rabbitmq_queues_created_total", "queue_created", "Total number of queues created"),
        ("rabbitmq_queues_deleted_total", "queue_deleted", "Total number of queues deleted"),
    ):
        x.one(metric, "counter", help_, churn[key].value if key in churn else 0)
    x.one("rabbitmq_process_open_fds", "gauge", "Open file descriptors", n.fd_used)
    x.one("rabbitmq_process_open_tcp_sockets", "gauge", "Open TCP sockets", n.sockets_used)
    x.one("rabbitmq_process_resident_memory_bytes", "gauge", "Memory used in bytes", n.mem_used)
    x.one(
        "rabbitmq_disk_space_available_bytes", "gauge", "Disk space available in bytes", n.disk_free
    )
    x.one("rabbitmq_process_max_fds", "gauge", "Open file descriptors limit", n.fd_total)
    x.one("rabbitmq_process_max_tcp_sockets", "gauge", "Open TCP sockets limit", n.sockets_total)
    x.one(
        "rabbitmq_resident_memory_limit_bytes",
        "gauge",
        "Memory high watermark in bytes",
        n.mem_limit,
    )
    x.one(
        "rabbitmq_disk_space_available_limit_bytes",
        "gauge",
        "Free disk space low watermark in bytes",
        n.disk_free_limit,
    )
    x.one("rabbitmq_erlang_uptime_seconds", "gauge", "Node uptime", n.uptime_ms / 1000.0)
    x.one(
        "rabbitmq_build_info",
        "untyped",
        "RabbitMQ & Erlang/OTP version info",
        1,
        {
            "rabbitmq_version": "3.10.8",
            "product_name": o.product_name,
            "product_version": o.product_version,
        },
    )
    x.one(
        "rabbitmq_identity_info",
        "untyped",
        "RabbitMQ node & cluster identity info",
        1,
        {"rabbitmq_node": o.node, "rabbitmq_cluster": o.cluster_name},
    )


def _aggregated(ctx: Context, x: Exposition) -> None:
    view = ctx.view
    o = view.overview()
    queues = view.queues()
    sums: dict[str, float] = {}
    for q in queues:
        for k, v in _queue_values(q).items():
            sums[k] = sums.get(k, 0) + v
    for name, help_ in QUEUE_GAUGES:
        x.one(f"rabbitmq_queue_{name}", "gauge", help_, sums.get(name, 0))
    channels = view.channels()
    conns = view.connections()
    st = o.stats

    def total(key: str) -> int:
        return st[key].value if key in st else 0

    x.one(
        "rabbitmq_channel_consumers",
        "gauge",
        "Consumers on a channel",
        sum(c.consumer_count for c in channels),
    )
    x.one(
        "rabbitmq_channel_messages_unacked",
        "gauge",
        "Delivered but not yet acknowledged messages",
        sum(c.messages_unacknowledged for c in channels),
    )
    x.one(
        "rabbitmq_channel_messages_unconfirmed",
        "gauge",
        "Published but not yet confirmed messages",
        sum(c.messages_unconfirmed for c in channels),
    )
    x.one(
        "rabbitmq_channel_messages_uncommitted",
        "gauge",
        "Messages received in a transaction but not yet committed",
        sum(c.messages_uncommitted for c in channels),
    )
    x.one(
        "rabbitmq_channel_prefetch",
        "gauge",
        "Total limit of unacknowledged messages for all consumers on a channel",
        sum(c.global_prefetch_count for c in channels),
    )
    x.one(
        "rabbitmq_consumer_prefetch",
        "gauge",
        "Limit of unacknowledged messages for each consumer",
        sum(c.prefetch_count for c in channels),
    )
    for metric, key, help_ in (
        (
            "rabbitmq_channel_messages_published_total",
            "publish",
            "Total number of messages published into an exchange on a channel",
        ),
        (
            "rabbitmq_channel_messages_confirmed_total",
            "confirm",
            "Total number of messages published into an exchange and confirmed on the channel",
        ),
        (
            "rabbitmq_channel_messages_unroutable_returned_total",
            "return_unroutable",
            "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
        ),
        (
            "rabbitmq_channel_messages_unroutable_dropped_total",
            "drop_unroutable",
            "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
        ),
        (
            "rabbitmq_channel_get_ack_total",
            "get",
            "Total number of messages fetched with basic.get in manual acknowledgement mode",
        ),
        (
            "rabbitmq_channel_get_total",
            "get_no_ack",
            "Total number of messages fetched with basic.get in automatic acknowledgement mode",
        ),
        (
            "rabbitmq_channel_messages_delivered_ack_total",
            "deliver",
            "Total number of messages delivered to consumers in manual acknowledgement mode",
        ),
        (
            "rabbitmq_channel_messages_delivered_total",
            "deliver_no_ack",
            "Total number of messages delivered to consumers in automatic acknowledgement mode",
        ),
        (
            "rabbitmq_channel_messages_redelivered_total",
            "redeliver",
            "Total number of messages redelivered to consumers",
        ),
        (
            "rabbitmq_channel_messages_acked_total",
            "ack",
            "Total number of messages acknowledged by consumers",
        ),
        (
            "rabbitmq_channel_get_empty_total",
            "get_empty",
            "Total number of times basic.get operations fetched no message",
        ),
    ):
        x.one(metric, "counter", help_, total(key))
    recv = sum(c.stats["recv_oct"].value for c in conns)
    send = sum(c.stats["send_oct"].value for c in conns)
    x.one(
        "rabbitmq_connection_incoming_bytes_total",
        "counter",
        "Total number of bytes received on a connection",
        recv,
    )
    x.one(
        "rabbitmq_connection_outgoing_bytes_total",
        "counter",
        "Total number of bytes sent on a connection",
        send,
    )
    x.one(
        "rabbitmq_connection_incoming_packets_total",
        "counter",
        "Total number of packets received on a connection",
        sum(c.recv_cnt for c in conns),
    )
    x.one(
        "rabbitmq_connection_outgoing_packets_total",
        "counter",
        "Total number of packets sent on a connection",
        sum(c.send_cnt for c in conns),
    )
    x.one("rabbitmq_connection_channels", "gauge", "Channels on a connection", len(channels))
    x.one(
        "rabbitmq_queue_messages_published_total",
        "counter",
        "Total number of messages published to queues",
        sums.get("messages_published_total", 0),
    )
    totals = o.object_totals
    x.one(
        "rabbitmq_connections", "gauge", "Connections currently open", totals.get("connections", 0)
    )
    x.one("rabbitmq_channels", "gauge", "Channels currently open", totals.get("channels", 0))
    x.one(
        "rabbitmq_consumers", "gauge", "Consumers currently connected", totals.get("consumers", 0)
    )
    x.one("rabbitmq_queues", "gauge", "Queues available", totals.get("queues", 0))
    proto = {"protocol": "amqp091"}
    x.one(
        "rabbitmq_global_consumers",
        "gauge",
        "Current number of consumers",
        totals.get("consumers", 0),
        proto,
    )
    # The families RabbitMQ splits by queue type: every queue here is a classic queue.
    for name, value, help_ in (
        ("acknowledged", total("ack"), "Total number of messages acknowledged by consumers"),
        (
            "delivered_consume_auto_ack",
            total("deliver_no_ack"),
            "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
        ),
        (
            "delivered_consume_manual_ack",
            total("deliver"),
            "Total number of messages delivered to consumers using basic.consume with manual acknowledgment",
        ),
        (
            "delivered_get_auto_ack",
            total("get_no_ack"),
            "Total number of messages delivered to consumers using basic.get with automatic acknowledgment",
        ),
        (
            "delivered_get_manual_ack",
            total("get"),
            "Total number of messages delivered to consumers using basic.get with manual acknowledgment",
        ),
        (
            "delivered",
            total("deliver") + total("deliver_no_ack") + total("get") + total("get_no_ack"),
            "Total number of messages delivered to consumers",
        ),
        (
            "get_empty",
            total("get_empty"),
            "Total number of times basic.get operations fetched no message",
        ),
        ("redelivered", total("redeliver"), "Total number of messages redelivered to consumers"),
    ):
        x.family(
            f"rabbitmq_global_messages_{name}_total",
            "counter",
            help_,
            [({**proto, "queue_type": qt}, value if qt == CLASSIC else 0) for qt in QUEUE_TYPES],
        )
    x.one(
        "rabbitmq_global_messages_confirmed_total",
        "counter",
        "Total number of messages confirmed to publishers",
        total("confirm"),
        proto,
    )
    # Messages still unconfirmed on open channels, plus those confirmed so far: what
    # confirm-mode publishers sent (amqpish confirms every message it accepts).
    x.one(
        "rabbitmq_global_messages_received_confirm_total",
        "counter",
        "Total number of messages received from publishers expecting confirmations",
        total("confirm") + sum(c.messages_unconfirmed for c in channels),
        proto,
    )
    x.one(
        "rabbitmq_global_messages_received_total",
        "counter",
        "Total number of messages received from publishers",
        total("publish"),
        proto,
    )
    x.one(
        "rabbitmq_global_messages_routed_total",
        "counter",
        "Total number of messages routed to queues or streams",
        total("publish") - total("drop_unroutable") - total("return_unroutable"),
        proto,
    )
    x.one(
        "rabbitmq_global_messages_unroutable_dropped_total",
        "counter",
        "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
        total("drop_unroutable"),
        proto,
    )
    x.one(
        "rabbitmq_global_messages_unroutable_returned_total",
        "counter",
        "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
        total("return_unroutable"),
        proto,
    )
    x.one(
        "rabbitmq_global_publishers",
        "gauge",
        "Current number of publishers",
        sum(1 for c in channels if c.stats["publish"].value > 0),
        proto,
    )


def _per_object(
    ctx: Context, x: Exposition, prefix: str = "rabbitmq_queue_", families: set[str] | None = None
) -> None:
    queues = ctx.view.queues()
    rows = [({"vhost": q.vhost, "queue": q.name}, _queue_values(q)) for q in queues]
    wanted = {
        "queue_coarse_metrics": ("messages_ready", "messages_unacked", "messages"),
        "queue_consumer_count": ("consumers",),
    }
    names = [n for n, _ in QUEUE_GAUGES]
    if families is not None:
        names = [n for fam in families for n in wanted.get(fam, ())]
    helps = dict(QUEUE_GAUGES)
    for name in names:
        x.family(f"{prefix}{name}", "gauge", helps[name], [(lbl, vals[name]) for lbl, vals in rows])
    if families is None:
        x.family(
            f"{prefix}messages_published_total",
            "counter",
            "Total number of messages published to queues",
            [(lbl, vals["messages_published_total"]) for lbl, vals in rows],
        )
        chans = ctx.view.channels()
        x.family(
            "rabbitmq_channel_messages_unacked",
            "gauge",
            "Delivered but not yet acknowledged messages",
            [({"vhost": c.vhost, "channel": c.name}, c.messages_unacknowledged) for c in chans],
        )
        x.family(
            "rabbitmq_channel_messages_published_total",
            "counter",
            "Total number of messages published into an exchange on a channel",
            [({"vhost": c.vhost, "channel": c.name}, c.stats["publish"].value) for c in chans],
        )
        conns = ctx.view.connections()
        x.family(
            "rabbitmq_connection_incoming_bytes_total",
            "counter",
            "Total number of bytes received on a connection",
            [({"vhost": c.vhost, "connection": c.name}, c.stats["recv_oct"].value) for c in conns],
        )
        x.family(
            "rabbitmq_connection_outgoing_bytes_total",
            "counter",
            "Total number of bytes sent on a connection",
            [({"vhost": c.vhost, "connection": c.name}, c.stats["send_oct"].value) for c in conns],
        )


def metrics(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    x = Exposition()
    _common(ctx, x)
    _aggregated(ctx, x)
    return Response(200, x.text(), CONTENT_TYPE)


def metrics_per_object(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    x = Exposition()
    _common(ctx, x)
    _per_object(ctx, x)
    return Response(200, x.text(), CONTENT_TYPE)


def metrics_detailed(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    x = Exposition()
    fams = set(req.query.get("family", [])) or {"queue_coarse_metrics", "queue_consumer_count"}
    _per_object(ctx, x, "rabbitmq_detailed_queue_", fams)
    return Response(200, x.text(), CONTENT_TYPE)


def register(r: Router) -> None:
    r.add("GET", "/metrics", metrics, access="none", summary="Prometheus metrics (aggregated)")
    r.add(
        "GET",
        "/metrics/per-object",
        metrics_per_object,
        access="none",
        summary="Prometheus metrics per queue, channel and connection",
    )
    r.add(
        "GET",
        "/metrics/detailed",
        metrics_detailed,
        access="none",
        summary="Prometheus metrics by family=",
    )
