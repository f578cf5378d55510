"""The RabbitMQ-compatible HTTP API: overview, nodes, queues, exchanges, bindings,
connections, channels, consumers, health checks.

Each handler parses its input loosely, as RabbitMQ does (``"true"`` for true, numbers
as strings), asks the admin view, and renders with ``render``. The default exchange is
``amq.default`` in URLs and ``""`` everywhere else. Users, vhosts, permissions, policies
and definitions live in ``api_admin``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from amqpish.admin import ACK_MODES, NotFoundError, QueueInfo, Rate, Sample
from management_ui import render
from management_ui.app import Context, not_authorised
from management_ui.http import (
    HTTPError,
    Request,
    Response,
    bad_request,
    created,
    json_response,
    no_content,
    not_found,
)
from management_ui.routing import Router

DEFAULT_EXCHANGE = "amq.default"
RATE_FIELDS = {
    "queue": ("publish", "deliver", "deliver_no_ack", "get", "get_no_ack", "ack", "redeliver"),
    "exchange": ("publish_in", "publish_out"),
    "channel": (
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
    ),
    "connection": ("recv_oct", "send_oct"),
    "overview": (
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
    ),
}
RATE_FIELDS["vhost"] = RATE_FIELDS["overview"]
LENGTH_FIELDS = ("messages", "messages_ready", "messages_unacknowledged")


# --- loose input -----------------------------------------------------------------------------


def as_bool(body: Mapping[str, Any], key: str, default: bool = False) -> bool:
    v = body.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise bad_request(f"invalid value for '{key}': expected true or false, got {v!r}")


def as_int(body: Mapping[str, Any], key: str, default: int | None = None) -> int:
    v = body.get(key, default)
    if v is None:
        raise bad_request(f"key_missing: {key}")
    if isinstance(v, bool):
        raise bad_request(f"invalid value for '{key}': expected an integer, got {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    raise bad_request(f"invalid value for '{key}': expected an integer, got {v!r}")


def as_str(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    v = body.get(key, default)
    if v is None:
        raise bad_request(f"key_missing: {key}")
    if isinstance(v, bool | dict | list):
        raise bad_request(f"invalid value for '{key}': expected a string, got {v!r}")
    return str(v)


def as_object(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    v = body.get(key)
    if v is None or v == [] or v == "":
        return {}
    if not isinstance(v, dict):
        raise bad_request(f"invalid value for '{key}': expected an object, got {v!r}")
    return v


def exchange_param(name: str) -> str:
    return "" if name == DEFAULT_EXCHANGE else name


def actor(req: Request) -> str:
    assert req.user is not None
    return req.user.name


# --- history ------------------------------------------------------------------------------


def histories(
    ctx: Context, req: Request, kind: str, key: tuple[str, ...]
) -> tuple[list[Sample] | None, list[Sample] | None]:
    """(lengths, message rates) samples when the request asks for them."""
    ranges = render.Ranges(req)
    lengths = rates = None
    if ranges.lengths and kind in ("queue", "overview", "vhost"):
        lengths = ctx.view.history(kind, key, LENGTH_FIELDS, *ranges.lengths)
    fields = RATE_FIELDS.get(kind, ())
    rng = ranges.data_rates if kind == "connection" else ranges.msg_rates
    if rng and fields:
        raw = ctx.view.history(kind, key, fields, *rng)
        rates = []
        for s in raw:
            v = dict(s.values)
            v["deliver_get"] = sum(
                v.get(k, 0) for k in ("deliver", "deliver_no_ack", "get", "get_no_ack")
            )
            rates.append(Sample(s.timestamp, v))
    return lengths, rates


# --- overview, node, misc ----------------------------------------------------------------------


def get_overview(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    o = ctx.view.overview()
    lengths, rates = histories(ctx, req, "overview", ())
    user = req.user
    assert user is not None
    body = render.overview_json(o, lengths=lengths, rates=rates)
    if not user.is_monitor:
        # A plain management user sees the totals of its own vhosts only.
        visible = set(ctx.visible_vhosts(req))
        vhs = [v for v in ctx.view.vhosts() if v.name in visible]
        totals: dict[str, Any] = {}
        for name in render.LENGTH_KEYS:
            val = sum(v.stats[name].value for v in vhs if name in v.stats)
            rate = sum(v.stats[name].rate for v in vhs if name in v.stats)
            render.add_stat(totals, name, {name: Rate(val, round(rate, 2))})
        body["queue_totals"] = totals
        stats: dict[str, Rate] = {}
        for k in render.OVERVIEW_MSG_STATS:
            stats[k] = Rate(
                sum(v.stats[k].value for v in vhs if k in v.stats),
                round(sum(v.stats[k].rate for v in vhs if k in v.stats), 2),
            )
        body["message_stats"] = render.message_stats(stats, render.OVERVIEW_MSG_STATS)
        queues = [q for q in ctx.view.queues() if q.vhost in visible]
        body["object_totals"] = {
            "channels": len([c for c in ctx.view.channels() if ctx.sees_user(req, c.user)]),
            "connections": len([c for c in ctx.view.connections() if ctx.sees_user(req, c.user)]),
            "consumers": sum(q.consumers for q in queues),
            "exchanges": len([e for e in ctx.view.exchanges() if e.vhost in visible]),
            "queues": len(queues),
        }
    return json_response(render.prune(body, render.columns_of(req)))


def get_whoami(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    assert req.user is not None
    return json_response({"name": req.user.name, "tags": list(req.user.tags)})


def get_auth(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return json_response({"enable_uaa": False, "uaa_client_id": "", "uaa_location": ""})


def get_cluster_name(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return json_response({"name": ctx.view.cluster_name()})


def put_cluster_name(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.view.set_cluster_name(as_str(req.json(), "name"))
    return no_content()


def get_nodes(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    n = ctx.view.node()
    types = ctx.view.overview().exchange_types
    return json_response(
        render.reply_list(req, [n], lambda x: render.node_json(x, types), default_sort=("name",))
    )


def get_node(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    n = ctx.view.node()
    if p["node"] != n.name:
        raise not_found()
    types = ctx.view.overview().exchange_types
    body = render.node_json(n, types, memory=req.flag("memory"))
    return json_response(render.prune(body, render.columns_of(req)))


def get_empty_list(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return json_response([])


def get_feature_flags(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return json_response(
        [
            {
                "name": name,
                "desc": desc,
                "doc_url": "",
                "state": "enabled",
                "stability": "stable",
                "provided_by": "amqpish",
            }
            for name, desc in (
                ("drop_unroutable_metric", "Count unroutable publishes to be dropped in stats"),
                ("empty_basic_get_metric", "Count AMQP `basic.get` on empty queues in stats"),
                ("implicit_default_bindings", "Default bindings are implicit"),
            )
        ]
    )


def get_global_parameters(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return json_response([{"name": "cluster_name", "value": ctx.view.cluster_name()}])


# --- health -----------------------------------------------------------------------------------


def _ok(extra: dict[str, Any] | None = None) -> Response:
    return json_response({"status": "ok", **(extra or {})})


def _failed(reason: str, extra: dict[str, Any] | None = None) -> Response:
    return json_response({"status": "failed", "reason": reason, **(extra or {})}, 503)


def health_alarms(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    o = ctx.view.overview()
    if o.alarms:
        return _failed(
            "resource alarm(s) in effect in the cluster",
            {"alarms": [{"node": o.node, "resource": a} for a in o.alarms]},
        )
    return _ok()


def health_local_alarms(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    o = ctx.view.overview()
    if o.alarms:
        return _failed(
            "resource alarm(s) in effect on the node",
            {"alarms": [{"node": o.node, "resource": a} for a in o.alarms]},
        )
    return _ok()


def health_virtual_hosts(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _ok()


def health_node(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    """RabbitMQ's deprecated /api/healthchecks/node[/{node}], still used by clients."""
    node = p.get("node")
    o = ctx.view.overview()
    if node is not None and node != o.node:
        return json_response({"error": "not_found", "reason": f"no node '{node}'"}, 404)
    if o.alarms:
        return _failed("resource alarm(s) in effect: " + ", ".join(o.alarms))
    return _ok()


def health_single_node(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _ok({"reason": "single node cluster"})


def health_port_listener(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    try:
        port = int(p["port"])
    except ValueError:
        raise bad_request(f"invalid port '{p['port']}'") from None
    ports = sorted(lst.port for lst in ctx.view.overview().listeners)
    if port in ports:
        return _ok({"port": port})
    return _failed("No active listener", {"missing": port, "ports": ports})


def health_protocol_listener(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    protocols = [lst.protocol for lst in ctx.view.overview().listeners]
    want = p["protocol"].lower()
    aliases = {"amqp091": "amqp", "amqp0.9.1": "amqp", "amqp0-9-1": "amqp", "https": "http"}
    if aliases.get(want, want) in protocols:
        return _ok({"protocol": p["protocol"]})
    return _failed("No active listener", {"missing": p["protocol"], "protocols": protocols})


def health_certificates(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    if not p["within"].isdigit() or p["unit"] not in ("days", "weeks", "months", "years"):
        raise bad_request("invalid certificate expiration check parameters")
    return _ok()


def aliveness_test(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.check_vhost(req, p["vhost"])
    ctx.view.aliveness_test(p["vhost"])
    return _ok()


# --- queues -----------------------------------------------------------------------------------------


def _queue_list(ctx: Context, req: Request, vhost: str | None) -> Response:
    if vhost is not None:
        ctx.check_vhost(req, vhost)
        visible = {vhost}
    else:
        visible = set(ctx.visible_vhosts(req))
    node = ctx.view.node_name()
    disable = req.flag("disable_stats")
    totals = req.flag("enable_queue_totals")

    def one(q: QueueInfo) -> dict[str, Any]:
        return render.queue_json(q, node, disable_stats=disable, queue_totals=totals)

    keys = [k for k in ctx.view.queue_keys(vhost) if k[0] in visible]
    fast = render.reply_page_by_key(req, keys, ctx.view.queues_by_key, one)
    if fast is not None:
        return json_response(fast)
    items = [q for q in ctx.view.queues(vhost) if q.vhost in visible]
    return json_response(render.reply_list(req, items, one, getters=render.QUEUE_GETTERS))


def list_queues(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _queue_list(ctx, req, None)


def list_vhost_queues(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _queue_list(ctx, req, p["vhost"])


def get_queue(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], p["name"]
    ctx.check_vhost(req, vhost)
    q = ctx.view.queue(vhost, name)
    if q is None:
        raise not_found()
    lengths, rates = histories(ctx, req, "queue", (vhost, name))
    body = render.queue_json(
        q,
        ctx.view.node_name(),
        detail=True,
        disable_stats=req.flag("disable_stats"),
        queue_totals=req.flag("enable_queue_totals"),
        lengths=lengths,
        rates=rates,
    )
    return json_response(render.prune(body, render.columns_of(req)))


def put_queue(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], p["name"]
    ctx.check_vhost(req, vhost)
    body = req.json()
    was_created = ctx.view.declare_queue(
        actor(req),
        vhost,
        name,
        durable=as_bool(body, "durable", False),
        auto_delete=as_bool(body, "auto_delete", False),
        arguments=as_object(body, "arguments"),
    )
    return created() if was_created else no_content()


def delete_queue(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], p["name"]
    ctx.check_vhost(req, vhost)
    ctx.view.delete_queue(
        actor(req),
        vhost,
        name,
        if_unused=req.flag("if-unused"),
        if_empty=req.flag("if-empty"),
    )
    return no_content()


def purge_queue(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.check_vhost(req, p["vhost"])
    ctx.view.purge_queue(actor(req), p["vhost"], p["name"])
    return no_content()


def queue_get(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], p["name"]
    ctx.check_vhost(req, vhost)
    body = req.json()
    count = as_int(body, "count")
    ackmode = as_str(body, "ackmode")
    if ackmode not in ACK_MODES:
        raise bad_request(f"invalid ackmode '{ackmode}': expected one of {', '.join(ACK_MODES)}")
    encoding = as_str(body, "encoding", "auto")
    if encoding not in ("auto", "base64"):
        raise bad_request(f"invalid encoding '{encoding}': expected auto or base64")
    truncate = as_int(body, "truncate") if body.get("truncate") not in (None, "") else None
    got = ctx.view.get_messages(actor(req), vhost, name, count=count, ackmode=ackmode)
    return json_response([render.message_json(m, encoding, truncate) for m in got])


def queue_bindings(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], p["name"]
    ctx.check_vhost(req, vhost)
    if ctx.view.queue(vhost, name) is None:
        raise not_found()
    items = ctx.view.bindings(vhost, destination=name, destination_type="queue")
    return _binding_list(req, items)


# --- exchanges ----------------------------------------------------------------------------------------


def _exchange_list(ctx: Context, req: Request, vhost: str | None) -> Response:
    if vhost is not None:
        ctx.check_vhost(req, vhost)
        items = ctx.view.exchanges(vhost)
    else:
        visible = set(ctx.visible_vhosts(req))
        items = [e for e in ctx.view.exchanges() if e.vhost in visible]
    return json_response(render.reply_list(req, items, render.exchange_json))


def list_exchanges(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _exchange_list(ctx, req, None)


def list_vhost_exchanges(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _exchange_list(ctx, req, p["vhost"])


def get_exchange(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], exchange_param(p["name"])
    ctx.check_vhost(req, vhost)
    e = ctx.view.exchange(vhost, name)
    if e is None:
        raise not_found()
    _, rates = histories(ctx, req, "exchange", (vhost, name))
    body = render.exchange_json(e, detail=True, rates=rates)
    return json_response(render.prune(body, render.columns_of(req)))


def put_exchange(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], exchange_param(p["name"])
    ctx.check_vhost(req, vhost)
    body = req.json()
    was_created = ctx.view.declare_exchange(
        actor(req),
        vhost,
        name,
        type=as_str(body, "type", "direct"),
        durable=as_bool(body, "durable", False),
        auto_delete=as_bool(body, "auto_delete", False),
        internal=as_bool(body, "internal", False),
        arguments=as_object(body, "arguments"),
    )
    return created() if was_created else no_content()


def delete_exchange(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], exchange_param(p["name"])
    ctx.check_vhost(req, vhost)
    ctx.view.delete_exchange(actor(req), vhost, name, if_unused=req.flag("if-unused"))
    return no_content()


def decode_payload(body: Mapping[str, Any]) -> bytes:
    payload = as_str(body, "payload")
    encoding = as_str(body, "payload_encoding", "string")
    if encoding == "string":
        return payload.encode()
    if encoding == "base64":
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("payload is not valid base64") from None
    raise bad_request(f"invalid payload_encoding '{encoding}': expected string or base64")


def publish(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], exchange_param(p["name"])
    ctx.check_vhost(req, vhost)
    body = req.json()
    routing_key = as_str(body, "routing_key")
    payload = decode_payload(body)
    props = as_object(body, "properties")
    try:
        routed = ctx.view.publish(actor(req), vhost, name, routing_key, payload, props)
    except NotFoundError as e:
        # RabbitMQ publishes through a channel, whose 404 channel error becomes a 400
        raise bad_request(f"404 NOT_FOUND - {e.reason}") from None
    return json_response({"routed": routed})


def exchange_bindings(direction: str) -> Any:
    def handler(ctx: Context, req: Request, p: dict[str, str]) -> Response:
        vhost, name = p["vhost"], exchange_param(p["name"])
        ctx.check_vhost(req, vhost)
        if ctx.view.exchange(vhost, name) is None:
            raise not_found()
        if direction == "source":
            items = ctx.view.bindings(vhost, source=name)
        else:
            items = ctx.view.bindings(vhost, destination=name, destination_type="exchange")
        return _binding_list(req, items)

    return handler


# --- bindings -----------------------------------------------------------------------------------


def _binding_list(req: Request, items: Sequence[Any]) -> Response:
    return json_response(
        render.reply_list(
            req,
            items,
            render.binding_json,
            name_of=lambda b: b.routing_key,
            default_sort=(),
        )
    )


def list_bindings(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    visible = set(ctx.visible_vhosts(req))
    return _binding_list(req, [b for b in ctx.view.bindings() if b.vhost in visible])


def list_vhost_bindings(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.check_vhost(req, p["vhost"])
    return _binding_list(req, ctx.view.bindings(p["vhost"]))


def _dtype(p: dict[str, str]) -> str:
    return "queue" if p["dtype"] == "q" else "exchange"


def _between(ctx: Context, req: Request, p: dict[str, str]) -> list[Any]:
    vhost = p["vhost"]
    ctx.check_vhost(req, vhost)
    source = exchange_param(p["source"])
    dtype = _dtype(p)
    dest = p["destination"] if dtype == "queue" else exchange_param(p["destination"])
    if ctx.view.exchange(vhost, source) is None:
        raise not_found()
    exists = (
        ctx.view.queue(vhost, dest) if dtype == "queue" else ctx.view.exchange(vhost, dest)
    ) is not None
    if not exists:
        raise not_found()
    return [
        b
        for b in ctx.view.bindings(vhost, source=source)
        if b.destination == dest and b.destination_type == dtype
    ]


def list_between(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _binding_list(req, _between(ctx, req, p))


def create_binding(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost = p["vhost"]
    ctx.check_vhost(req, vhost)
    body = req.json()
    dtype = _dtype(p)
    dest = p["destination"] if dtype == "queue" else exchange_param(p["destination"])
    b = ctx.view.bind(
        actor(req),
        vhost,
        exchange_param(p["source"]),
        dtype,
        dest,
        as_str(body, "routing_key", ""),
        as_object(body, "arguments"),
    )
    return created([("location", f"{quote(b.destination, safe='')}/{b.properties_key}")])


def get_binding(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    wanted = {p["props"], quote(p["props"], safe="~")}
    for b in _between(ctx, req, p):
        if b.properties_key in wanted:
            return json_response(render.binding_json(b))
    raise not_found()


def delete_binding(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost = p["vhost"]
    ctx.check_vhost(req, vhost)
    dtype = _dtype(p)
    dest = p["destination"] if dtype == "queue" else exchange_param(p["destination"])
    try:
        ctx.view.unbind(actor(req), vhost, exchange_param(p["source"]), dtype, dest, p["props"])
    except NotFoundError:
        raise not_found() from None
    return no_content()


# --- connections, channels, consumers ---------------------------------------------------------------


def _connections(ctx: Context, req: Request, vhost: str | None) -> Response:
    if vhost is not None:
        ctx.check_vhost(req, vhost)
    node = ctx.view.node_name()
    items = [c for c in ctx.view.connections(vhost) if ctx.sees_user(req, c.user)]
    return json_response(
        render.reply_list(req, items, lambda c: render.connection_json(c, node), default_sort=())
    )


def list_connections(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _connections(ctx, req, None)


def list_vhost_connections(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _connections(ctx, req, p["vhost"])


def _connection(ctx: Context, req: Request, name: str) -> Any:
    c = ctx.view.connection(name)
    if c is None:
        raise not_found()
    if not ctx.sees_user(req, c.user):
        raise not_authorised("User not authorised to access object")
    return c


def get_connection(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    c = _connection(ctx, req, p["name"])
    _, rates = histories(ctx, req, "connection", (c.name,))
    body = render.connection_json(c, ctx.view.node_name(), rates=rates)
    return json_response(render.prune(body, render.columns_of(req)))


def delete_connection(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    c = _connection(ctx, req, p["name"])
    assert req.user is not None
    if not req.user.is_administrator and req.user.name != c.user:
        raise not_authorised("User not authorised to access object")
    reason = req.headers.get("x-reason", "") or "Closed via management plugin"
    ctx.view.close_connection(c.name, reason)
    return no_content()


def connection_channels(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    c = _connection(ctx, req, p["name"])
    node = ctx.view.node_name()
    items = ctx.view.channels(connection=c.name)
    return json_response(
        render.reply_list(req, items, lambda ch: render.channel_json(ch, node), default_sort=())
    )


def _channels(ctx: Context, req: Request, vhost: str | None) -> Response:
    if vhost is not None:
        ctx.check_vhost(req, vhost)
    node = ctx.view.node_name()
    items = [c for c in ctx.view.channels(vhost) if ctx.sees_user(req, c.user)]
    return json_response(
        render.reply_list(req, items, lambda ch: render.channel_json(ch, node), default_sort=())
    )


def list_channels(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _channels(ctx, req, None)


def list_vhost_channels(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _channels(ctx, req, p["vhost"])


def get_channel(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ch = ctx.view.channel(p["name"])
    if ch is None:
        raise not_found()
    if not ctx.sees_user(req, ch.user):
        raise not_authorised("User not authorised to access object")
    _, rates = histories(ctx, req, "channel", (ch.name,))
    body = render.channel_json(ch, ctx.view.node_name(), detail=True, rates=rates)
    return json_response(render.prune(body, render.columns_of(req)))


def _consumers(ctx: Context, req: Request, vhost: str | None) -> Response:
    if vhost is not None:
        ctx.check_vhost(req, vhost)
        items = ctx.view.consumers(vhost)
    else:
        visible = set(ctx.visible_vhosts(req))
        items = [c for c in ctx.view.consumers() if c.vhost in visible]
    node = ctx.view.node_name()
    return json_response(
        render.reply_list(
            req,
            items,
            lambda c: render.consumer_json(c, node),
            name_of=lambda c: c.consumer_tag,
            default_sort=(),
        )
    )


def list_consumers(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _consumers(ctx, req, None)


def list_vhost_consumers(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _consumers(ctx, req, p["vhost"])


def openapi(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    from management_ui import openapi as doc

    return json_response(doc.describe(ctx))


# --- the table ----------------------------------------------------------------------------------


def register(r: Router) -> None:
    add = r.add
    add("GET", "/api/openapi.json", openapi, access="none", summary="This OpenAPI description")
    add("GET", "/api/auth", get_auth, access="none", summary="Authentication settings")
    add("GET", "/api/overview", get_overview, summary="Cluster-wide totals, rates and listeners")
    add("GET", "/api/whoami", get_whoami, summary="The authenticated user")
    add("GET", "/api/cluster-name", get_cluster_name, summary="The cluster name")
    add(
        "PUT",
        "/api/cluster-name",
        put_cluster_name,
        access="admin",
        summary="Rename the cluster",
        body="{name}",
    )
    add("GET", "/api/nodes", get_nodes, access="monitor", summary="Nodes (one)")
    add("GET", "/api/nodes/{node}", get_node, access="monitor", summary="A node; ?memory=true")
    add("GET", "/api/extensions", get_empty_list, summary="UI extensions (none)")
    add("GET", "/api/feature-flags", get_feature_flags, summary="Feature flags")
    add("GET", "/api/vhost-limits", get_empty_list, summary="Vhost limits (none)")
    add("GET", "/api/user-limits", get_empty_list, summary="User limits (none)")
    add("GET", "/api/parameters", get_empty_list, summary="Runtime parameters (none)")
    add("GET", "/api/operator-policies", get_empty_list, summary="Operator policies (none)")
    add("GET", "/api/global-parameters", get_global_parameters, summary="Global parameters")
    add(
        "GET",
        "/api/aliveness-test/{vhost}",
        aliveness_test,
        summary="Declare, publish to and get from a test queue",
    )
    add("GET", "/api/healthchecks/node", health_node, summary="Deprecated node health check")
    add(
        "GET",
        "/api/healthchecks/node/{node}",
        health_node,
        summary="Deprecated node health check",
    )
    add(
        "GET",
        "/api/health/checks/alarms",
        health_alarms,
        summary="503 while a resource alarm is in effect",
    )
    add(
        "GET",
        "/api/health/checks/local-alarms",
        health_local_alarms,
        summary="503 while a local resource alarm is in effect",
    )
    add(
        "GET",
        "/api/health/checks/virtual-hosts",
        health_virtual_hosts,
        summary="All vhosts running",
    )
    add(
        "GET",
        "/api/health/checks/node-is-quorum-critical",
        health_single_node,
        summary="Quorum-critical check",
    )
    add(
        "GET",
        "/api/health/checks/node-is-mirror-sync-critical",
        health_single_node,
        summary="Mirror-sync check",
    )
    add(
        "GET",
        "/api/health/checks/port-listener/{port}",
        health_port_listener,
        summary="503 unless a listener is on the port",
    )
    add(
        "GET",
        "/api/health/checks/protocol-listener/{protocol}",
        health_protocol_listener,
        summary="503 unless the protocol has a listener",
    )
    add(
        "GET",
        "/api/health/checks/certificate-expiration/{within}/{unit}",
        health_certificates,
        summary="Certificate expiry check",
    )

    add("GET", "/api/queues", list_queues, summary="Queues; pagination, sort, columns")
    add("GET", "/api/queues/{vhost}", list_vhost_queues, summary="Queues of a vhost")
    add(
        "GET",
        "/api/queues/{vhost}/{name}",
        get_queue,
        summary="A queue, with consumers; ?lengths_age etc.",
    )
    add(
        "PUT",
        "/api/queues/{vhost}/{name}",
        put_queue,
        summary="Declare a queue (201 created, 204 existed)",
        body="{durable, auto_delete, arguments}",
    )
    add(
        "DELETE",
        "/api/queues/{vhost}/{name}",
        delete_queue,
        summary="Delete a queue; ?if-unused, ?if-empty",
    )
    add("DELETE", "/api/queues/{vhost}/{name}/contents", purge_queue, summary="Purge a queue")
    add(
        "POST",
        "/api/queues/{vhost}/{name}/get",
        queue_get,
        summary="Get messages",
        body="{count, ackmode, encoding, truncate}",
    )
    add("GET", "/api/queues/{vhost}/{name}/bindings", queue_bindings, summary="Bindings to a queue")

    add("GET", "/api/exchanges", list_exchanges, summary="Exchanges")
    add("GET", "/api/exchanges/{vhost}", list_vhost_exchanges, summary="Exchanges of a vhost")
    add(
        "GET",
        "/api/exchanges/{vhost}/{name}",
        get_exchange,
        summary="An exchange (amq.default for the default)",
    )
    add(
        "PUT",
        "/api/exchanges/{vhost}/{name}",
        put_exchange,
        summary="Declare an exchange",
        body="{type, durable, auto_delete, internal, arguments}",
    )
    add(
        "DELETE",
        "/api/exchanges/{vhost}/{name}",
        delete_exchange,
        summary="Delete an exchange; ?if-unused",
    )
    add(
        "POST",
        "/api/exchanges/{vhost}/{name}/publish",
        publish,
        summary="Publish a message",
        body="{routing_key, payload, payload_encoding, properties}",
    )
    add(
        "GET",
        "/api/exchanges/{vhost}/{name}/bindings/source",
        exchange_bindings("source"),
        summary="Bindings from an exchange",
    )
    add(
        "GET",
        "/api/exchanges/{vhost}/{name}/bindings/destination",
        exchange_bindings("destination"),
        summary="Bindings to an exchange",
    )

    add("GET", "/api/bindings", list_bindings, summary="Bindings")
    add("GET", "/api/bindings/{vhost}", list_vhost_bindings, summary="Bindings of a vhost")
    for d in ("q", "e"):
        base = f"/api/bindings/{{vhost}}/e/{{source}}/{d}/{{destination}}"
        what = "queue" if d == "q" else "exchange"
        # the destination type is fixed by the literal; expose it to the handler
        add(
            "GET",
            base,
            _with_dtype(list_between, d),
            summary=f"Bindings between an exchange and a {what}",
        )
        add(
            "POST",
            base,
            _with_dtype(create_binding, d),
            summary=f"Bind a {what} (201, Location: props key)",
            body="{routing_key, arguments}",
        )
        add(
            "GET",
            base + "/{props}",
            _with_dtype(get_binding, d),
            summary="One binding by properties key",
        )
        add(
            "DELETE",
            base + "/{props}",
            _with_dtype(delete_binding, d),
            summary="Unbind by properties key",
        )

    add("GET", "/api/connections", list_connections, summary="Connections")
    add(
        "GET",
        "/api/vhosts/{vhost}/connections",
        list_vhost_connections,
        summary="Connections of a vhost",
    )
    add("GET", "/api/connections/{name}", get_connection, summary="A connection")
    add(
        "DELETE",
        "/api/connections/{name}",
        delete_connection,
        summary="Close a connection (X-Reason header)",
    )
    add(
        "GET",
        "/api/connections/{name}/channels",
        connection_channels,
        summary="Channels of a connection",
    )
    add("GET", "/api/channels", list_channels, summary="Channels")
    add("GET", "/api/vhosts/{vhost}/channels", list_vhost_channels, summary="Channels of a vhost")
    add("GET", "/api/channels/{name}", get_channel, summary="A channel, with consumers")
    add("GET", "/api/consumers", list_consumers, summary="Consumers")
    add("GET", "/api/consumers/{vhost}", list_vhost_consumers, summary="Consumers of a vhost")


def _with_dtype(handler: Any, dtype: str) -> Any:
    def wrapped(ctx: Context, req: Request, p: dict[str, str]) -> Response:
        return handler(ctx, req, {**p, "dtype": dtype})  # type: ignore[no-any-return]

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


__all__ = ["HTTPError", "register"]
