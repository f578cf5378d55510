"""Channel and connection exceptions: which one closes, reply code and text, class/method ids.

Each scenario provokes one error through pika and records the close; where the error is a
channel exception it also records that the connection survived (a new channel works).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from conformance.core import Context, scenario
from conformance.helpers import attempt, is_alive, publish, raw_event, raw_until_close, sync


def provoke(
    ctx: Context,
    setup: Callable[[Context, BlockingChannel], Any] | None,
    action: Callable[[Context, BlockingChannel, Any], Any],
    then_sync: bool = False,
) -> dict[str, Any]:
    """Run setup on one channel, then action on a fresh one; record how the action ends."""
    conn = ctx.connect()
    ch = conn.channel()
    state = setup(ctx, ch) if setup else None
    ch2 = conn.channel()
    result = attempt(lambda: action(ctx, ch2, state), ch2, conn)
    if result == "ok" and then_sync:
        result = sync(ch2)
    out = {"result": result}
    if isinstance(result, dict) and result.get("closed") == "channel":
        out["connection_alive"] = is_alive(conn)
    return out


def _q(ctx: Context, ch: BlockingChannel, **kw: Any) -> str:
    q = ctx.name("q")
    ch.queue_declare(q, **kw)
    return q


def _x(ctx: Context, ch: BlockingChannel, type: str = "direct", **kw: Any) -> str:
    x = ctx.name("x")
    ch.exchange_declare(x, type, **kw)
    return x


def case(
    name: str,
    action: Callable[[Context, BlockingChannel, Any], Any],
    setup: Callable[[Context, BlockingChannel], Any] | None = None,
    then_sync: bool = False,
) -> None:
    @scenario(name)
    def run(ctx: Context) -> Any:
        return provoke(ctx, setup, action, then_sync)


# ------------------------------------------------------------------ 404 NOT_FOUND

case(
    "errors.not_found.queue_declare_passive",
    lambda ctx, ch, s: ch.queue_declare(ctx.name("missing"), passive=True),
)
case(
    "errors.not_found.exchange_declare_passive",
    lambda ctx, ch, s: ch.exchange_declare(ctx.name("missing"), passive=True),
)
case(
    "errors.not_found.queue_bind_missing_queue",
    lambda ctx, ch, s: ch.queue_bind(ctx.name("missing"), "amq.direct", "k"),
)
case(
    "errors.not_found.queue_bind_missing_exchange",
    lambda ctx, ch, s: ch.queue_bind(s, ctx.name("missing"), "k"),
    setup=_q,
)
case(
    "errors.not_found.queue_unbind_missing_queue",
    lambda ctx, ch, s: ch.queue_unbind(ctx.name("missing"), "amq.direct", "k"),
)
case(
    "errors.not_found.queue_unbind_missing_exchange",
    lambda ctx, ch, s: ch.queue_unbind(s, ctx.name("missing"), "k"),
    setup=_q,
)
case(
    "errors.not_found.exchange_bind_missing_source",
    lambda ctx, ch, s: ch.exchange_bind(s, ctx.name("missing"), "k"),
    setup=_x,
)
case(
    "errors.not_found.exchange_bind_missing_destination",
    lambda ctx, ch, s: ch.exchange_bind(ctx.name("missing"), s, "k"),
    setup=_x,
)
case(
    "errors.not_found.exchange_unbind_missing_source",
    lambda ctx, ch, s: ch.exchange_unbind(s, ctx.name("missing"), "k"),
    setup=_x,
)
case(
    "errors.not_found.basic_publish_missing_exchange",
    lambda ctx, ch, s: publish(ch, "k", "m", exchange=ctx.name("missing")),
    then_sync=True,
)
case(
    "errors.not_found.basic_consume_missing_queue",
    lambda ctx, ch, s: ch.basic_consume(ctx.name("missing"), lambda *a: None),
)
case(
    "errors.not_found.basic_get_missing_queue", lambda ctx, ch, s: ch.basic_get(ctx.name("missing"))
)
case("errors.not_found.queue_purge_missing", lambda ctx, ch, s: ch.queue_purge(ctx.name("missing")))
case(
    "errors.not_found.queue_delete_missing", lambda ctx, ch, s: ch.queue_delete(ctx.name("missing"))
)
case(
    "errors.not_found.exchange_delete_missing",
    lambda ctx, ch, s: ch.exchange_delete(ctx.name("missing")),
)
case(
    "errors.not_found.queue_bind_empty_name_without_declare",
    lambda ctx, ch, s: ch.queue_bind("", "amq.direct", "k"),
)
case("errors.not_found.basic_get_empty_name_without_declare", lambda ctx, ch, s: ch.basic_get(""))
case(
    "errors.not_found.publish_missing_exchange_mandatory",
    lambda ctx, ch, s: publish(ch, "k", "m", exchange=ctx.name("missing"), mandatory=True),
    then_sync=True,
)

# ------------------------------------------------------------------ 403 ACCESS_REFUSED

case(
    "errors.access_refused.exchange_declare_amq_prefix",
    lambda ctx, ch, s: ch.exchange_declare("amq.custom-" + ctx.suffix, "direct"),
)
case(
    "errors.access_refused.exchange_declare_amq_prefix_passive",
    lambda ctx, ch, s: ch.exchange_declare("amq.custom-" + ctx.suffix, "direct", passive=True),
)
case(
    "errors.access_refused.queue_declare_amq_prefix",
    lambda ctx, ch, s: ch.queue_declare("amq.custom-" + ctx.suffix),
)
case(
    "errors.access_refused.queue_declare_amq_prefix_passive",
    lambda ctx, ch, s: ch.queue_declare("amq.custom-" + ctx.suffix, passive=True),
)
case(
    "errors.access_refused.exchange_delete_amq_direct",
    lambda ctx, ch, s: ch.exchange_delete("amq.direct"),
)
case("errors.access_refused.exchange_delete_default", lambda ctx, ch, s: ch.exchange_delete(""))
case(
    "errors.access_refused.exchange_declare_default",
    lambda ctx, ch, s: ch.exchange_declare("", "direct"),
)
case(
    "errors.access_refused.exchange_declare_default_passive",
    lambda ctx, ch, s: ch.exchange_declare("", "direct", passive=True),
)
case(
    "errors.access_refused.queue_bind_default_exchange",
    lambda ctx, ch, s: ch.queue_bind(s, "", s),
    setup=_q,
)
case(
    "errors.access_refused.queue_unbind_default_exchange",
    lambda ctx, ch, s: ch.queue_unbind(s, "", s),
    setup=_q,
)
case(
    "errors.access_refused.exchange_bind_default_as_source",
    lambda ctx, ch, s: ch.exchange_bind(s, "", "k"),
    setup=_x,
)
case(
    "errors.access_refused.exchange_bind_default_as_destination",
    lambda ctx, ch, s: ch.exchange_bind("", s, "k"),
    setup=_x,
)
case(
    "errors.access_refused.publish_to_internal_exchange",
    lambda ctx, ch, s: publish(ch, "k", "m", exchange=s),
    setup=lambda ctx, ch: _x(ctx, ch, internal=True),
    then_sync=True,
)
case(
    "errors.access_refused.exchange_declare_amq_direct_redeclare",
    lambda ctx, ch, s: ch.exchange_declare("amq.direct", "direct", durable=True),
)
case(
    "errors.access_refused.exchange_declare_amq_direct_other_type",
    lambda ctx, ch, s: ch.exchange_declare("amq.direct", "fanout", durable=True),
)


# ------------------------------------------------------------------ 405 RESOURCE_LOCKED


def _exclusive_elsewhere(ctx: Context, ch: BlockingChannel) -> str:
    other = ctx.connect()
    q = ctx.name("q")
    other.channel().queue_declare(q, exclusive=True)
    return q


case(
    "errors.resource_locked.declare_exclusive_queue_of_other_connection",
    lambda ctx, ch, s: ch.queue_declare(s, exclusive=True),
    setup=_exclusive_elsewhere,
)
case(
    "errors.resource_locked.declare_non_exclusive_over_exclusive",
    lambda ctx, ch, s: ch.queue_declare(s),
    setup=_exclusive_elsewhere,
)
case(
    "errors.resource_locked.passive_declare_exclusive_of_other_connection",
    lambda ctx, ch, s: ch.queue_declare(s, passive=True),
    setup=_exclusive_elsewhere,
)
case(
    "errors.resource_locked.consume_exclusive_of_other_connection",
    lambda ctx, ch, s: ch.basic_consume(s, lambda *a: None),
    setup=_exclusive_elsewhere,
)
case(
    "errors.resource_locked.get_exclusive_of_other_connection",
    lambda ctx, ch, s: ch.basic_get(s),
    setup=_exclusive_elsewhere,
)
case(
    "errors.resource_locked.purge_exclusive_of_other_connection",
    lambda ctx, ch, s: ch.queue_purge(s),
    setup=_exclusive_elsewhere,
)
case(
    "errors.resource_locked.delete_exclusive_of_other_connection",
    lambda ctx, ch, s: ch.queue_delete(s),
    setup=_exclusive_elsewhere,
)
case(
    "errors.resource_locked.bind_exclusive_of_other_connection",
    lambda ctx, ch, s: ch.queue_bind(s, "amq.fanout"),
    setup=_exclusive_elsewhere,
)
case(
    "errors.resource_locked.unbind_exclusive_of_other_connection",
    lambda ctx, ch, s: ch.queue_unbind(s, "amq.fanout"),
    setup=_exclusive_elsewhere,
)


# ------------------------------------------------------------------ 406 PRECONDITION_FAILED

case(
    "errors.precondition.queue_redeclare_durable_mismatch",
    lambda ctx, ch, s: ch.queue_declare(s, durable=True),
    setup=_q,
)
case(
    "errors.precondition.queue_redeclare_auto_delete_mismatch",
    lambda ctx, ch, s: ch.queue_declare(s, auto_delete=True),
    setup=_q,
)
case(
    "errors.precondition.queue_redeclare_ttl_mismatch",
    lambda ctx, ch, s: ch.queue_declare(s, arguments={"x-message-ttl": 2000}),
    setup=lambda ctx, ch: _q(ctx, ch, arguments={"x-message-ttl": 1000}),
)
case(
    "errors.precondition.queue_redeclare_args_missing",
    lambda ctx, ch, s: ch.queue_declare(s),
    setup=lambda ctx, ch: _q(ctx, ch, arguments={"x-max-length": 5}),
)
case(
    "errors.precondition.queue_redeclare_args_added",
    lambda ctx, ch, s: ch.queue_declare(s, arguments={"x-max-length": 5}),
    setup=_q,
)
case(
    "errors.precondition.queue_redeclare_unknown_x_arg_differs",
    lambda ctx, ch, s: ch.queue_declare(s, arguments={"x-custom": "b"}),
    setup=lambda ctx, ch: _q(ctx, ch, arguments={"x-custom": "a"}),
)
case(
    "errors.precondition.queue_redeclare_dlx_mismatch",
    lambda ctx, ch, s: ch.queue_declare(s, arguments={"x-dead-letter-exchange": "b"}),
    setup=lambda ctx, ch: _q(ctx, ch, arguments={"x-dead-letter-exchange": "a"}),
)
case(
    "errors.precondition.queue_redeclare_int_type_width",
    lambda ctx, ch, s: ch.queue_declare(s, arguments={"x-max-length": 5}),
    setup=lambda ctx, ch: _q(ctx, ch, arguments={"x-max-length": 5}),
)
case(
    "errors.precondition.exchange_redeclare_type_mismatch",
    lambda ctx, ch, s: ch.exchange_declare(s, "fanout"),
    setup=_x,
)
case(
    "errors.precondition.exchange_redeclare_durable_mismatch",
    lambda ctx, ch, s: ch.exchange_declare(s, "direct", durable=True),
    setup=_x,
)
case(
    "errors.precondition.exchange_redeclare_auto_delete_mismatch",
    lambda ctx, ch, s: ch.exchange_declare(s, "direct", auto_delete=True),
    setup=_x,
)
case(
    "errors.precondition.exchange_redeclare_internal_mismatch",
    lambda ctx, ch, s: ch.exchange_declare(s, "direct", internal=True),
    setup=_x,
)
case(
    "errors.precondition.exchange_redeclare_alternate_exchange_mismatch",
    lambda ctx, ch, s: ch.exchange_declare(s, "direct", arguments={"alternate-exchange": "b"}),
    setup=lambda ctx, ch: _x(ctx, ch, arguments={"alternate-exchange": "a"}),
)
case(
    "errors.precondition.exchange_passive_declare_type_ignored",
    lambda ctx, ch, s: ch.exchange_declare(s, "fanout", passive=True),
    setup=_x,
)
case(
    "errors.precondition.queue_passive_declare_flags_ignored",
    lambda ctx, ch, s: ch.queue_declare(s, passive=True, durable=True, auto_delete=True),
    setup=_q,
)


def _queue_with_message(ctx: Context, ch: BlockingChannel) -> str:
    ch.confirm_delivery()
    q = _q(ctx, ch)
    publish(ch, q, "m")
    return q


def _queue_with_consumer(ctx: Context, ch: BlockingChannel) -> str:
    q = _q(ctx, ch)
    ch.basic_consume(q, lambda *a: None)
    return q


def _exchange_with_binding(ctx: Context, ch: BlockingChannel) -> str:
    x = _x(ctx, ch)
    q = _q(ctx, ch)
    ch.queue_bind(q, x, "k")
    return x


case(
    "errors.precondition.queue_delete_if_empty_not_empty",
    lambda ctx, ch, s: ch.queue_delete(s, if_empty=True),
    setup=_queue_with_message,
)
case(
    "errors.precondition.queue_delete_if_unused_in_use",
    lambda ctx, ch, s: ch.queue_delete(s, if_unused=True),
    setup=_queue_with_consumer,
)
case(
    "errors.precondition.exchange_delete_if_unused_in_use",
    lambda ctx, ch, s: ch.exchange_delete(s, if_unused=True),
    setup=_exchange_with_binding,
)
case(
    "errors.precondition.exchange_delete_if_unused_as_destination",
    lambda ctx, ch, s: ch.exchange_delete(s, if_unused=True),
    setup=lambda ctx, ch: (lambda x: (ch.exchange_bind(x, "amq.fanout"), x)[1])(_x(ctx, ch)),
)
case(
    "errors.precondition.exchange_delete_if_unused_as_source",
    lambda ctx, ch, s: ch.exchange_delete(s, if_unused=True),
    setup=lambda ctx, ch: (lambda x: (ch.exchange_bind("amq.fanout", x), x)[1])(_x(ctx, ch)),
)
case("errors.precondition.tx_commit_without_select", lambda ctx, ch, s: ch.tx_commit())
case("errors.precondition.tx_rollback_without_select", lambda ctx, ch, s: ch.tx_rollback())
case(
    "errors.precondition.ack_unknown_delivery_tag",
    lambda ctx, ch, s: ch.basic_ack(42),
    then_sync=True,
)
case(
    "errors.precondition.reject_unknown_delivery_tag",
    lambda ctx, ch, s: ch.basic_reject(42),
    then_sync=True,
)
case(
    "errors.precondition.nack_unknown_delivery_tag",
    lambda ctx, ch, s: ch.basic_nack(42),
    then_sync=True,
)
case(
    "errors.precondition.ack_multiple_unknown_delivery_tag",
    lambda ctx, ch, s: ch.basic_ack(42, multiple=True),
    then_sync=True,
)
case(
    "errors.precondition.ack_zero_not_multiple", lambda ctx, ch, s: ch.basic_ack(0), then_sync=True
)
case(
    "errors.precondition.ack_zero_multiple_nothing_outstanding",
    lambda ctx, ch, s: ch.basic_ack(0, multiple=True),
    then_sync=True,
)


def _ack_twice(ctx: Context, ch: BlockingChannel, s: Any) -> Any:
    q = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, q, "m")
    m, _, _ = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.basic_ack(m.delivery_tag)
    return sync(ch)


def _ack_no_ack_delivery(ctx: Context, ch: BlockingChannel, s: Any) -> Any:
    q = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, q, "m")
    m, _, _ = ch.basic_get(q, auto_ack=True)
    ch.basic_ack(m.delivery_tag)
    return sync(ch)


def _ack_from_other_channel(ctx: Context, ch: BlockingChannel, s: Any) -> Any:
    q = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, q, "m")
    m, _, _ = ch.basic_get(q)
    other = ch.connection.channel()
    other.basic_ack(m.delivery_tag)
    return {"other_channel": sync(other), "own_channel": sync(ch)}


def _reject_after_ack(ctx: Context, ch: BlockingChannel, s: Any) -> Any:
    q = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, q, "m")
    m, _, _ = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.basic_reject(m.delivery_tag)
    return sync(ch)


case("errors.precondition.double_ack", _ack_twice)
case("errors.precondition.ack_of_no_ack_delivery", _ack_no_ack_delivery)
case("errors.precondition.ack_on_other_channel", _ack_from_other_channel)
case("errors.precondition.reject_after_ack", _reject_after_ack)


def _confirm_then_tx(ctx: Context, ch: BlockingChannel, s: Any) -> Any:
    ch.confirm_delivery()
    ch.tx_select()


def _tx_then_confirm(ctx: Context, ch: BlockingChannel, s: Any) -> Any:
    ch.tx_select()
    ch.confirm_delivery()


case("errors.precondition.tx_select_in_confirm_mode", _confirm_then_tx)
case("errors.precondition.confirm_select_in_tx_mode", _tx_then_confirm)


def _bad_arg(arg: str, value: Any) -> Callable[[Context, BlockingChannel, Any], Any]:
    return lambda ctx, ch, s: ch.queue_declare(ctx.name("q"), arguments={arg: value})


for _label, _arg, _value in [
    ("max_length_string", "x-max-length", "ten"),
    ("max_length_negative", "x-max-length", -1),
    ("max_length_bytes_negative", "x-max-length-bytes", -1),
    ("message_ttl_string", "x-message-ttl", "1000"),
    ("message_ttl_negative", "x-message-ttl", -1),
    ("expires_zero", "x-expires", 0),
    ("expires_negative", "x-expires", -5),
    ("expires_string", "x-expires", "soon"),
    ("max_priority_string", "x-max-priority", "high"),
    ("max_priority_negative", "x-max-priority", -1),
    ("max_priority_256", "x-max-priority", 256),
    ("overflow_unknown", "x-overflow", "drop-tail"),
    ("overflow_not_string", "x-overflow", 1),
    ("dead_letter_exchange_not_string", "x-dead-letter-exchange", 5),
    ("dead_letter_routing_key_without_exchange", "x-dead-letter-routing-key", "rk"),
    ("single_active_consumer_not_bool", "x-single-active-consumer", "yes"),
    ("queue_type_unknown", "x-queue-type", "banana"),
    ("queue_mode_unknown", "x-queue-mode", "turbo"),
]:
    case(f"errors.precondition.queue_arg_{_label}", _bad_arg(_arg, _value))


# ------------------------------------------------------------------ connection exceptions


@scenario("errors.connection.consumer_tag_reused")
def consume_same_tag(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.rpc(1, "basic.consume", "basic.consume_ok", queue=q, consumer_tag="dup")
    c.send_method(1, "basic.consume", queue=q, consumer_tag="dup")
    return raw_until_close(c, timeout=3.0)


@scenario("errors.channel.consumer_tag_reused_on_other_channel")
def consume_same_tag_other_channel(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.open_channel(2)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.rpc(1, "basic.consume", "basic.consume_ok", queue=q, consumer_tag="dup")
    c.send_method(2, "basic.consume", queue=q, consumer_tag="dup")
    return raw_event(c.read_method())


case(
    "errors.connection.exchange_declare_unknown_type",
    lambda ctx, ch, s: ch.exchange_declare(ctx.name("x"), "no-such-type"),
)
case(
    "errors.connection.qos_prefetch_size_nonzero",
    lambda ctx, ch, s: ch.basic_qos(prefetch_size=1024),
)


def _raw_then_close(ctx: Context, *methods: tuple[str, dict[str, Any]], channel: int = 1) -> Any:
    c = ctx.raw_open()
    c.open_channel(channel)
    for name, args in methods:
        c.send_method(channel, name, **args)
    return raw_until_close(c, timeout=3.0)


@scenario("errors.connection.publish_immediate")
def immediate(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.publish(1, b"m", routing_key="k", immediate=True)
    return raw_until_close(c, timeout=3.0)


@scenario("errors.connection.channel_flow_inactive")
def flow_inactive(ctx: Context) -> Any:
    return _raw_then_close(ctx, ("channel.flow", {"active": False}))


@scenario("errors.channel.flow_active_ok")
def flow_active(ctx: Context) -> Any:
    return _raw_then_close(ctx, ("channel.flow", {"active": True}))[:1]


@scenario("errors.channel.access_request_ok")
def access_request(ctx: Context) -> Any:
    return _raw_then_close(
        ctx, ("access.request", {"realm": "/data", "active": True, "read": True})
    )[:1]


@scenario("errors.channel.recover_async_accepted")
def recover_async(ctx: Context) -> Any:
    return _raw_then_close(
        ctx, ("basic.recover_async", {"requeue": True}), ("basic.qos", {"prefetch_count": 1})
    )[:1]


@scenario("errors.connection.recover_requeue_false")
def recover_no_requeue(ctx: Context) -> Any:
    return _raw_then_close(ctx, ("basic.recover", {"requeue": False}))


@scenario("errors.channel.update_secret_plain")
def update_secret(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(0, "connection.update_secret", new_secret=b"guest", reason="rotate")
    return raw_event(c.read_method())


# ------------------------------------------------------------------ channel lifecycle after errors


@scenario("errors.channel.reopen_number_after_channel_error")
def reopen_after_error(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(1, "queue.declare", queue=ctx.name("missing"), passive=True)
    first = c.read_method()
    c.send_method(1, "channel.close_ok")
    c.send_method(1, "channel.open")
    second = c.read_method()
    return [first[1] if first else None, second[1] if second else None]


@scenario("errors.channel.other_channels_unaffected")
def other_channels(ctx: Context) -> Any:
    conn = ctx.connect()
    a, b = conn.channel(), conn.channel()
    q = ctx.name("q")
    a.queue_declare(q)
    err = attempt(lambda: b.queue_declare(ctx.name("missing"), passive=True), b)
    publish(a, q, "still works")
    _m, _, body = a.basic_get(q, auto_ack=True)
    return {
        "error": err["reply_code"],
        "a_open": a.is_open,
        "b_open": b.is_open,
        "a_get": body.decode(),
    }


@scenario("errors.channel.unacked_requeued_after_channel_error")
def requeue_after_error(ctx: Context) -> Any:
    conn = ctx.connect()
    a = conn.channel()
    q = ctx.name("q")
    a.queue_declare(q)
    publish(a, q, "m1")
    _m, _, _ = a.basic_get(q)
    attempt(lambda: a.queue_declare(ctx.name("missing"), passive=True), a)
    b = conn.channel()
    m2, _, body = b.basic_get(q, auto_ack=True)
    return {"body": body.decode(), "redelivered": m2.redelivered}


@scenario("errors.channel.use_of_closed_channel_in_pika")
def closed_channel_use(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ch.close()
    try:
        ch.queue_declare("", exclusive=True)
        return "ok"
    except pika.exceptions.ChannelWrongStateError:
        return {"client_side": "ChannelWrongStateError", "connection_alive": is_alive(conn)}


@scenario("errors.connection.channels_closed_by_connection_error")
def conn_error_closes_all(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.open_channel(2)
    c.send_method(2, "exchange.declare", exchange=ctx.name("x"), type="bogus")
    return raw_until_close(c, timeout=3.0)


@scenario("errors.not_found.reply_text_truncated_to_255_bytes")
def reply_text_truncated(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(1, "queue.declare", queue="q" * 250, passive=True)
    m = c.read_method()
    assert m is not None
    text = m[2]["reply_text"]
    return {
        "method": m[1],
        "reply_code": m[2]["reply_code"],
        "length": len(text.encode()),
        "ends_with": text[-5:],
    }
