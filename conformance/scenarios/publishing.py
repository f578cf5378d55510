"""Publisher confirms, mandatory returns and transactions.

Confirms are read raw: which delivery tags were acked/nacked is recorded as expanded tag lists
(a broker may coalesce acks with ``multiple`` however it likes), and where the order of a
basic.return relative to its ack matters, the frame order.
"""

from __future__ import annotations

import time
from typing import Any

from conformance.core import Context, scenario
from conformance.helpers import (
    attempt,
    confirmed_publish,
    get_all,
    publish,
    queue_counts,
    raw_event,
    sync,
)
from conformance.raw import Content, RawConnection


def confirm_channel(ctx: Context) -> RawConnection:
    c = ctx.raw_open()
    c.open_channel(1)
    c.rpc(1, "confirm.select", "confirm.select_ok")
    return c


def collect_confirms(c: RawConnection, n: int, timeout: float = 5.0) -> dict[str, Any]:
    """Read until tags 1..n are all confirmed; expanded acked/nacked tag lists and returns."""
    acked: set[int] = set()
    nacked: set[int] = set()
    returns: list[Any] = []
    order: list[str] = []
    deadline = time.monotonic() + timeout
    while len(acked | nacked) < n and time.monotonic() < deadline:
        ev = c.next_event(max(0.0, deadline - time.monotonic()))
        if ev is None:
            break
        if isinstance(ev, Content):
            returns.append({k: v for k, v in raw_event(ev).items() if k != "method"})
            order.append("return")
            continue
        _, name, args = ev
        if name in ("basic.ack", "basic.nack"):
            target = acked if name == "basic.ack" else nacked
            tag = args["delivery_tag"]
            pending = [t for t in range(1, n + 1) if t not in acked and t not in nacked]
            target.update(t for t in pending if t <= tag) if args["multiple"] else target.add(tag)
            order.append(name.split(".")[1])
        else:
            returns.append(raw_event(ev))
            break
    out: dict[str, Any] = {"acked": sorted(acked), "nacked": sorted(nacked), "returns": returns}
    if returns and "return" in order:
        # how acks are coalesced is the broker's choice; only a return's place is recorded
        out["return_before_its_ack"] = order.index("return") < next(
            (i for i, o in enumerate(order) if o != "return"), len(order)
        )
    return out


# ------------------------------------------------------------------ confirms


@scenario("confirm.select_ok")
def select_ok(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    return raw_event((1, "confirm.select_ok", c.rpc(1, "confirm.select", "confirm.select_ok")))


@scenario("confirm.select_twice_ok")
def select_twice(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    return c.rpc(1, "confirm.select", "confirm.select_ok")


@scenario("confirm.select_nowait")
def select_nowait(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(1, "confirm.select", nowait=True)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.publish(1, b"m", routing_key=q)
    return collect_confirms(c, 1)


@scenario("confirm.acks_routed_messages_in_tag_order")
def acks_routed(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    for i in range(10):
        c.publish(1, f"m{i}", routing_key=q)
    return collect_confirms(c, 10)["acked"]


@scenario("confirm.acks_unroutable_messages")
def acks_unroutable(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    c.publish(1, b"m", routing_key=ctx.name("nowhere"))
    return collect_confirms(c, 1)


@scenario("confirm.mandatory_return_precedes_ack")
def return_before_ack(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    c.publish(1, b"m", routing_key=ctx.name("nowhere"), mandatory=True)
    return collect_confirms(c, 1)


@scenario("confirm.mixed_routed_and_returned")
def mixed(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.publish(1, b"a", routing_key=q, mandatory=True)
    c.publish(1, b"b", routing_key=ctx.name("nowhere"), mandatory=True)
    c.publish(1, b"c", routing_key=q, mandatory=True)
    out = collect_confirms(c, 3)
    return {
        "acked": out["acked"],
        "nacked": out["nacked"],
        "returned": [r["body"] for r in out["returns"]],
    }


@scenario("confirm.tags_count_only_publishes")
def tags_only_publishes(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.publish(1, b"a", routing_key=q)
    first = collect_confirms(c, 1)["acked"]
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    got = c.next_event()
    c.publish(1, b"b", routing_key=q)
    second = collect_confirms(c, 2)
    return {"first": first, "get_tag": raw_event(got)["delivery_tag"], "second": second["acked"]}


@scenario("confirm.persistent_to_durable_queue")
def persistent_durable(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    q = ctx.name("q")
    c.rpc(1, "queue.declare", "queue.declare_ok", queue=q, durable=True)
    for i in range(3):
        c.publish(1, f"p{i}", routing_key=q, properties={"delivery_mode": 2})
    return collect_confirms(c, 3)


@scenario("confirm.nack_on_reject_publish_overflow")
def nack_overflow(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    q = ctx.name("q")
    c.rpc(
        1,
        "queue.declare",
        "queue.declare_ok",
        queue=q,
        arguments={"x-max-length": 2, "x-overflow": "reject-publish"},
    )
    for i in range(4):
        c.publish(1, f"m{i}", routing_key=q)
    return collect_confirms(c, 4)


@scenario("confirm.fanout_to_several_queues_one_ack")
def fanout_one_ack(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    x = ctx.name("x")
    c.rpc(1, "exchange.declare", "exchange.declare_ok", exchange=x, type="fanout")
    for _ in range(3):
        q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
        c.rpc(1, "queue.bind", "queue.bind_ok", queue=q, exchange=x)
    c.publish(1, b"m", exchange=x)
    return collect_confirms(c, 1)


@scenario("confirm.pika_publish_returns")
def pika_confirms(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    return [
        confirmed_publish(ch, q, "a", mandatory=True),
        confirmed_publish(ch, ctx.name("none"), "b", mandatory=True),
        confirmed_publish(ch, ctx.name("none"), "c"),
    ]


@scenario("confirm.channel_error_after_publishes")
def confirm_then_error(ctx: Context) -> Any:
    c = confirm_channel(ctx)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.publish(1, b"a", routing_key=q)
    collect_confirms(c, 1)
    c.publish(1, b"b", exchange=ctx.name("missing"))
    events = []
    for _ in range(3):
        ev = c.next_event(2)
        if ev is None:
            break
        events.append(raw_event(ev))
        if isinstance(ev, tuple) and ev[1] == "channel.close":
            break
    return events


# ------------------------------------------------------------------ mandatory


@scenario("mandatory.unroutable_returned_with_312")
def mandatory_return(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    x = ctx.name("x")
    c.rpc(1, "exchange.declare", "exchange.declare_ok", exchange=x, type="direct")
    c.publish(
        1,
        b"lost",
        exchange=x,
        routing_key="rk",
        mandatory=True,
        properties={"message_id": "id-1", "headers": {"h": 1}},
    )
    return raw_event(c.next_event())


@scenario("mandatory.default_exchange_missing_queue")
def mandatory_default(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.publish(1, b"lost", routing_key=ctx.name("missing"), mandatory=True)
    return raw_event(c.next_event())


@scenario("mandatory.routed_not_returned")
def mandatory_routed(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.publish(1, b"ok", routing_key=q, mandatory=True)
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    return raw_event(c.next_event())["method"]


@scenario("mandatory.not_set_unroutable_dropped_silently")
def not_mandatory(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.publish(1, b"lost", routing_key=ctx.name("missing"))
    c.send_method(1, "basic.qos", prefetch_count=1)
    return raw_event(c.next_event())


@scenario("mandatory.return_large_body_intact")
def mandatory_large(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    body = bytes(range(256)) * 1200
    c.publish(1, body, routing_key=ctx.name("missing"), mandatory=True)
    ev = c.next_event()
    assert isinstance(ev, Content)
    return {
        "method": ev.method,
        "reply_code": ev.args["reply_code"],
        "intact": ev.body == body,
        "body_frames": ev.body_frames,
    }


@scenario("mandatory.fanout_without_bindings")
def mandatory_fanout(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.publish(1, b"lost", exchange="amq.fanout", routing_key="", mandatory=True)
    ev = raw_event(c.next_event(2))
    return (
        ev
        if ev == "eof"
        else {
            k: v for k, v in ev.items() if k in ("method", "reply_code", "reply_text", "exchange")
        }
    )


@scenario("mandatory.e2e_route_to_nothing")
def mandatory_e2e(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    src, dst = ctx.name("src"), ctx.name("dst")
    ch.exchange_declare(src, "fanout")
    ch.exchange_declare(dst, "direct")
    ch.exchange_bind(dst, src)
    ch.confirm_delivery()
    return confirmed_publish(ch, "k", "m", exchange=src, mandatory=True)


@scenario("mandatory.pika_return_callback")
def mandatory_pika(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    returned: list[Any] = []
    ch.add_on_return_callback(
        lambda c, m, p, b: returned.append(
            {
                "reply_code": m.reply_code,
                "reply_text": m.reply_text,
                "routing_key": m.routing_key,
                "body": b.decode(),
            }
        )
    )
    publish(ch, ctx.name("missing"), "m", mandatory=True)
    deadline = time.monotonic() + 5
    while not returned and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    return returned


# ------------------------------------------------------------------ transactions


def tx_channel(ctx: Context) -> tuple[Any, Any, str]:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.tx_select()
    return conn, ch, q


@scenario("tx.publish_invisible_until_commit")
def tx_commit(ctx: Context) -> Any:
    conn, ch, q = tx_channel(ctx)
    publish(ch, q, "a")
    publish(ch, q, "b")
    observer = conn.channel()
    before = queue_counts(observer, q)
    ch.tx_commit()
    return {"before_commit": before, "after_commit": get_all(observer, q)}


@scenario("tx.rollback_discards_publishes")
def tx_rollback(ctx: Context) -> Any:
    conn, ch, q = tx_channel(ctx)
    publish(ch, q, "a")
    ch.tx_rollback()
    publish(ch, q, "b")
    ch.tx_commit()
    return get_all(conn.channel(), q)


@scenario("tx.ack_applied_on_commit")
def tx_ack_commit(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    publish(ch, q, "a")
    ch.tx_select()
    m, _, _ = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.tx_commit()
    ch.close()
    return get_all(conn.channel(), q)


@scenario("tx.ack_rolled_back_stays_unacked")
def tx_ack_rollback(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    publish(ch, q, "a")
    publish(ch, q, "b")
    ch.tx_select()
    m, _, _ = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.tx_rollback()
    counts = queue_counts(ch, q)
    ch.close()
    return {
        "after_rollback": counts,
        "after_channel_close": get_all(conn.channel(), q, fields=("redelivered",)),
    }


@scenario("tx.reject_applied_on_commit")
def tx_reject(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    publish(ch, q, "a")
    ch.tx_select()
    m, _, _ = ch.basic_get(q)
    ch.basic_reject(m.delivery_tag, requeue=True)
    before = queue_counts(ch, q)
    ch.tx_commit()
    return {"before_commit": before, "after_commit": get_all(ch, q, fields=("redelivered",))}


@scenario("tx.nack_rolled_back")
def tx_nack_rollback(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    publish(ch, q, "a")
    ch.tx_select()
    m, _, _ = ch.basic_get(q)
    ch.basic_nack(m.delivery_tag, requeue=False)
    ch.tx_rollback()
    ch.tx_commit()
    return {
        "ready": queue_counts(ch, q),
        "ack_still_valid": attempt(
            lambda: (ch.basic_ack(m.delivery_tag), ch.tx_commit(), None)[2], ch
        ),
    }


@scenario("tx.commit_twice_ok")
def tx_commit_twice(ctx: Context) -> Any:
    conn, ch, q = tx_channel(ctx)
    publish(ch, q, "a")
    ch.tx_commit()
    r = attempt(lambda: ch.tx_commit(), ch)
    return {"second_commit": r, "queue": get_all(conn.channel(), q)}


@scenario("tx.select_twice_ok")
def tx_select_twice(ctx: Context) -> Any:
    _conn, ch, _q = tx_channel(ctx)
    return attempt(lambda: ch.tx_select(), ch)


@scenario("tx.mandatory_return_on_commit")
def tx_mandatory(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.rpc(1, "tx.select", "tx.select_ok")
    c.publish(1, b"lost", routing_key=ctx.name("missing"), mandatory=True)
    c.send_method(1, "tx.commit")
    events = [raw_event(c.next_event())]
    if events[0].get("method") == "basic.return":
        events.append(raw_event(c.next_event()))
    return [e["method"] if isinstance(e, dict) else e for e in events]


@scenario("tx.publish_to_missing_exchange_fails_at_publish")
def tx_missing_exchange(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ch.tx_select()
    publish(ch, "k", "m", exchange=ctx.name("missing"))
    return attempt(lambda: ch.tx_commit(), ch)


@scenario("tx.uncommitted_discarded_on_channel_close")
def tx_close(ctx: Context) -> Any:
    conn, ch, q = tx_channel(ctx)
    publish(ch, q, "a")
    ch.close()
    return get_all(conn.channel(), q)


@scenario("tx.multiple_queues_atomic_commit")
def tx_multi(ctx: Context) -> Any:
    conn, ch, q = tx_channel(ctx)
    q2 = ctx.name("q2")
    conn.channel().queue_declare(q2)
    publish(ch, q, "a")
    publish(ch, q2, "b")
    observer = conn.channel()
    before = [queue_counts(observer, q)["messages"], queue_counts(observer, q2)["messages"]]
    ch.tx_commit()
    return {"before": before, "after": [get_all(observer, q), get_all(observer, q2)]}


@scenario("tx.empty_commit_and_rollback")
def tx_empty(ctx: Context) -> Any:
    _conn, ch, _q = tx_channel(ctx)
    return [attempt(lambda: ch.tx_commit(), ch), attempt(lambda: ch.tx_rollback(), ch), sync(ch)]
