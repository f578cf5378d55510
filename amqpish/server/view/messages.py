"""Messages through the management API: publish, get, move, and the aliveness test.

The API's JSON ``properties`` become ``BasicProperties`` here, loosely typed as
RabbitMQ accepts them (numbers as strings) but checked, so bad input is a 400 and
never a crash. A get takes messages with acknowledgement and then settles them as the
``ackmode`` says, so the counters and ``redelivered`` flags are exactly an AMQP
client's. The management API's own publishes are counted per vhost (``MgmtCounters``)
because they have no channel.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from amqpish.admin import ACK_MODES, BadRequestError, GotMessage, NotFoundError
from amqpish.broker.errors import AMQPError
from amqpish.broker.message import Entry, Message
from amqpish.codec.properties import BasicProperties, encode_properties
from amqpish.server.view.convert import OWNER, MgmtCounters, amqp_value, jsonable, translate
from amqpish.server.view.core import ViewCore


def props_json(p: BasicProperties) -> dict[str, Any]:
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


def opt_int(props: Mapping[str, Any], name: str) -> int | None:
    v = props.get(name)
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise BadRequestError(f"invalid property '{name}': {v!r}")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise BadRequestError(f"invalid property '{name}': {v!r}")


def opt_str(props: Mapping[str, Any], name: str) -> str | None:
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
    delivery_mode = opt_int(props, "delivery_mode")
    if delivery_mode is not None and not 0 <= delivery_mode <= 255:
        raise BadRequestError(f"invalid property 'delivery_mode': {delivery_mode}")
    priority = opt_int(props, "priority")
    if priority is not None and not 0 <= priority <= 255:
        raise BadRequestError(f"invalid property 'priority': {priority}")
    timestamp = opt_int(props, "timestamp")
    if timestamp is not None and timestamp < 0:
        raise BadRequestError(f"invalid property 'timestamp': {timestamp}")
    expiration = opt_str(props, "expiration")
    if expiration is not None and not expiration.isdigit():
        raise BadRequestError(f"invalid expiration '{expiration}'")
    return BasicProperties(
        content_type=opt_str(props, "content_type"),
        content_encoding=opt_str(props, "content_encoding"),
        headers=amqp_value(headers) if headers else None,
        delivery_mode=delivery_mode,
        priority=priority,
        correlation_id=opt_str(props, "correlation_id"),
        reply_to=opt_str(props, "reply_to"),
        expiration=expiration,
        message_id=opt_str(props, "message_id"),
        timestamp=timestamp,
        type=opt_str(props, "type"),
        user_id=opt_str(props, "user_id"),
        app_id=opt_str(props, "app_id"),
        cluster_id=opt_str(props, "cluster_id"),
    )


class MessageOperations(ViewCore):
    """BrokerAdmin: publish, get and move messages; the aliveness test."""

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
            counters = self._mgmt[vhost] = MgmtCounters(vhost)
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
                props = props_json(msg.props)
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

    def aliveness_test(self, vhost: str) -> None:
        vh = self._vhost(vhost)
        now = time.time()
        try:
            q, _ = vh.declare_queue("aliveness-test", owner=OWNER, now=now)
        except AMQPError as e:
            raise translate(e) from None
        props = BasicProperties()
        msg = Message("", q.name, encode_properties(props), b"test_message", 0, props)
        q.publish(msg, now)
        got = q.get(now, no_ack=True)
        while got is not None and got.msg is not msg:
            got = q.get(now, no_ack=True)
        if got is None:
            raise BadRequestError("aliveness test failed")


__all__ = ["MessageOperations", "build_properties", "props_json"]
