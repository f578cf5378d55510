"""RabbitMQ queue features: dead-lettering (x-death), TTLs, length limits and overflow,
priorities, single active consumer.

TTL waits use 50-200 ms TTLs and poll with a deadline; x-death ``time`` is normalised.
"""

from __future__ import annotations

import time
from typing import Any

from conformance.core import Context, scenario
from conformance.helpers import (
    Collector,
    attempt,
    confirmed_publish,
    get_all,
    publish,
    queue_counts,
    wait_for,
)


def channel(ctx: Context) -> tuple[Any, Any]:
    """A connection and a confirm-mode channel: a publish returns once the message is queued
    (RabbitMQ answers queue.declare-passive counts ahead of queued publishes otherwise)."""
    conn = ctx.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    return conn, ch


def dlx_pair(
    ctx: Context, ch: Any, args: dict[str, Any], dl_key: str | None = None
) -> tuple[str, str, str]:
    """A source queue dead-lettering into a fanout DLX with one bound queue."""
    dlx, dlq, src = ctx.name("dlx"), ctx.name("dlq"), ctx.name("src")
    ch.exchange_declare(dlx, "fanout")
    ch.queue_declare(dlq)
    ch.queue_bind(dlq, dlx)
    qargs = {"x-dead-letter-exchange": dlx, **args}
    if dl_key is not None:
        qargs["x-dead-letter-routing-key"] = dl_key
    ch.queue_declare(src, arguments=qargs)
    return src, dlx, dlq


def poll_get(
    ch: Any, q: str, n: int = 1, timeout: float = 5.0, fields: tuple[str, ...] = ()
) -> list[Any]:
    got: list[Any] = []
    wait_for(lambda: got.extend(get_all(ch, q, fields=fields)) or len(got) >= n, timeout=timeout)
    return got


DL_FIELDS = ("headers", "routing_key", "exchange", "expiration")


# ------------------------------------------------------------------ dead-lettering


@scenario("dlx.reject_no_requeue")
def dlx_reject(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {})
    publish(ch, src, "m", headers={"app": "x"})
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return poll_get(ch, dlq, fields=DL_FIELDS)


@scenario("dlx.nack_no_requeue")
def dlx_nack(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {})
    publish(ch, src, "m1")
    publish(ch, src, "m2")
    ch.basic_get(src)
    m, _, _ = ch.basic_get(src)
    ch.basic_nack(m.delivery_tag, multiple=True, requeue=False)
    return poll_get(ch, dlq, n=2, fields=("headers",))


@scenario("dlx.requeue_does_not_dead_letter")
def dlx_requeue(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {})
    publish(ch, src, "m")
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=True)
    return {"src": get_all(ch, src), "dlq": get_all(ch, dlq)}


@scenario("dlx.routing_key_override")
def dlx_rk(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    dlx = ctx.name("dlx")
    ch.exchange_declare(dlx, "direct")
    dlq = ctx.name("dlq")
    ch.queue_declare(dlq)
    ch.queue_bind(dlq, dlx, "dead")
    src = ctx.name("src")
    ch.queue_declare(
        src, arguments={"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"}
    )
    publish(ch, src, "m")
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return poll_get(ch, dlq, fields=("routing_key", "headers"))


@scenario("dlx.original_routing_key_kept")
def dlx_orig_rk(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    dlx = ctx.name("dlx")
    ch.exchange_declare(dlx, "direct")
    src = ctx.name("src")
    dlq = ctx.name("dlq")
    ch.queue_declare(dlq)
    ch.queue_bind(dlq, dlx, src)
    ch.queue_declare(src, arguments={"x-dead-letter-exchange": dlx})
    publish(ch, src, "m")
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return poll_get(ch, dlq, fields=("routing_key", "exchange"))


@scenario("dlx.default_exchange_as_dlx")
def dlx_default(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    dlq = ctx.name("dlq")
    ch.queue_declare(dlq)
    src = ctx.name("src")
    ch.queue_declare(
        src, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
    )
    publish(ch, src, "m")
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return poll_get(ch, dlq, fields=("routing_key", "exchange"))


@scenario("dlx.missing_exchange_drops")
def dlx_missing(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src = ctx.name("src")
    ch.queue_declare(src, arguments={"x-dead-letter-exchange": ctx.name("missing")})
    publish(ch, src, "m")
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return {"src": queue_counts(ch, src)}


@scenario("dlx.count_increments_through_reject_cycle")
def dlx_count(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    a, b = ctx.name("a"), ctx.name("b")
    ch.queue_declare(a, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": b})
    ch.queue_declare(b, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": a})
    publish(ch, a, "m")
    seen = []
    q = a
    for _ in range(3):
        got = wait_for(lambda q=q: (r := ch.basic_get(q))[0] is not None and r, timeout=5)
        method, props, _ = got
        seen.append(
            {
                "queue": "a" if q == a else "b",
                "x-death": props.headers.get("x-death") if props.headers else None,
            }
        )
        ch.basic_reject(method.delivery_tag, requeue=False)
        q = b if q == a else a
    return seen


@scenario("dlx.expiry_cycle_dropped", timeout=20)
def dlx_cycle(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    a = ctx.name("a")
    ch.queue_declare(
        a,
        arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": a,
            "x-message-ttl": 50,
        },
    )
    confirmed_publish(ch, a, "m")
    # poll until the message has expired at least once and the queue is empty
    empty = wait_for(lambda: queue_counts(ch, a)["messages"] == 0, timeout=5)
    time.sleep(0.3)  # absence check: a cycling message would reappear within a few TTLs
    return {"emptied": bool(empty), "after": queue_counts(ch, a)}


@scenario("dlx.expired_message_reason_and_expiration_removed", timeout=20)
def dlx_expired(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {})
    publish(ch, src, "m", expiration="100")
    return poll_get(ch, dlq, fields=DL_FIELDS)


@scenario("dlx.queue_ttl_expired", timeout=20)
def dlx_queue_ttl(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {"x-message-ttl": 100})
    publish(ch, src, "m")
    return poll_get(ch, dlq, fields=("headers",))


@scenario("dlx.maxlen_drop_head")
def dlx_maxlen(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {"x-max-length": 1})
    publish(ch, src, "old")
    publish(ch, src, "new")
    return {"dlq": poll_get(ch, dlq, fields=("headers",)), "src": get_all(ch, src)}


@scenario("dlx.reject_publish_dlx_overflow")
def dlx_reject_publish_dlx(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {"x-max-length": 1, "x-overflow": "reject-publish-dlx"})
    res = [confirmed_publish(ch, src, "kept"), confirmed_publish(ch, src, "overflow")]
    return {
        "publish": res,
        "src": get_all(ch, src),
        "dlq": poll_get(ch, dlq, timeout=2, fields=("headers",)),
    }


@scenario("dlx.reject_publish_does_not_dead_letter")
def dlx_reject_publish(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {"x-max-length": 1, "x-overflow": "reject-publish"})
    res = [confirmed_publish(ch, src, "kept"), confirmed_publish(ch, src, "overflow")]
    return {"publish": res, "src": get_all(ch, src), "dlq": get_all(ch, dlq)}


@scenario("dlx.properties_preserved")
def dlx_props(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {})
    publish(
        ch,
        src,
        "m",
        content_type="text/plain",
        message_id="id-7",
        priority=4,
        delivery_mode=2,
        correlation_id="c",
    )
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return poll_get(
        ch,
        dlq,
        fields=("content_type", "message_id", "priority", "delivery_mode", "correlation_id"),
    )


@scenario("dlx.cc_routing_keys_in_x_death")
def dlx_cc(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    src, _dlx, dlq = dlx_pair(ctx, ch, {})
    publish(ch, src, "m", headers={"CC": ["also-this"]})
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return poll_get(ch, dlq, fields=("headers",))


@scenario("dlx.via_policy", needs_mgmt=True)
def dlx_policy(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    dlx, dlq = ctx.name("dlx"), ctx.name("dlq")
    ch.exchange_declare(dlx, "fanout")
    ch.queue_declare(dlq)
    ch.queue_bind(dlq, dlx)
    src = ctx.name("src")
    ctx.policy(f"^{src.replace('.', '[.]')}$", {"dead-letter-exchange": dlx})
    ch.queue_declare(src)
    publish(ch, src, "m")
    m, _, _ = ch.basic_get(src)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return poll_get(ch, dlq, fields=("headers",))


# ------------------------------------------------------------------ TTL


def expired(ch: Any, q: str, timeout: float = 5.0) -> bool:
    return bool(wait_for(lambda: queue_counts(ch, q)["messages"] == 0, timeout=timeout))


@scenario("ttl.queue_message_ttl_expires", timeout=20)
def ttl_queue(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-message-ttl": 100})
    publish(ch, q, "m")
    return {"expired": expired(ch, q), "get": get_all(ch, q)}


@scenario("ttl.per_message_expiration", timeout=20)
def ttl_message(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q)
    publish(ch, q, "short", expiration="100")
    return {"expired": expired(ch, q)}


@scenario("ttl.long_ttl_survives_short_wait", timeout=20)
def ttl_long(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-message-ttl": 60000})
    publish(ch, q, "m", expiration="60000")
    return get_all(ch, q, fields=("expiration",))


@scenario("ttl.lower_of_queue_and_message_applies", timeout=20)
def ttl_lower(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-message-ttl": 100})
    publish(ch, q, "m", expiration="60000")
    return {"expired": expired(ch, q)}


@scenario("ttl.zero_dropped_without_consumer")
def ttl_zero_no_consumer(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-message-ttl": 0})
    confirmed_publish(ch, q, "m")
    return {"get": get_all(ch, q)}


@scenario("ttl.zero_delivered_to_waiting_consumer")
def ttl_zero_consumer(ctx: Context) -> Any:
    conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-message-ttl": 0})
    col = Collector(conn)
    col.consume(ch, q, auto_ack=True)
    publish(ch, q, "m")
    col.wait(1)
    return col.bodies()


@scenario("ttl.expiration_zero_string")
def ttl_expiration_zero(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q)
    confirmed_publish(ch, q, "m", expiration="0")
    return get_all(ch, q)


@scenario("ttl.expiry_only_at_head", timeout=20)
def ttl_head(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q)
    publish(ch, q, "long", expiration="60000")
    publish(ch, q, "short", expiration="50")
    time.sleep(0.3)  # the short message's TTL passes while it is behind the long one
    count = queue_counts(ch, q)["messages"]
    return {"count_after_ttl": count, "get": get_all(ch, q)}


@scenario("ttl.invalid_expiration_refused")
def ttl_invalid(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ch.queue_declare("", exclusive=True).method.queue
    return attempt(lambda: publish(ch, q, "m", expiration="soon"), ch)


@scenario("ttl.negative_expiration_refused")
def ttl_negative(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ch.queue_declare("", exclusive=True).method.queue
    return attempt(lambda: publish(ch, q, "m", expiration="-1"), ch)


@scenario("ttl.expired_not_delivered_after_requeue", timeout=20)
def ttl_requeue(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-message-ttl": 100})
    publish(ch, q, "m")
    m, _, _ = ch.basic_get(q)
    time.sleep(0.25)  # the TTL passes while the message is unacknowledged
    ch.basic_reject(m.delivery_tag, requeue=True)
    return {"expired": expired(ch, q)}


@scenario("ttl.via_policy", needs_mgmt=True, timeout=20)
def ttl_policy(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ctx.policy(f"^{q.replace('.', '[.]')}$", {"message-ttl": 100})
    ch.queue_declare(q)
    publish(ch, q, "m")
    return {"expired": expired(ch, q)}


# ------------------------------------------------------------------ length limits


def limited(ctx: Context, n: int, **args: Any) -> tuple[Any, Any, str, list[str]]:
    conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments=args)
    res = [confirmed_publish(ch, q, f"m{i}") for i in range(1, n + 1)]
    return conn, ch, q, res


@scenario("limits.max_length_drop_head")
def max_len_drop_head(ctx: Context) -> Any:
    _conn, ch, q, res = limited(ctx, 5, **{"x-max-length": 3})
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("limits.max_length_reject_publish")
def max_len_reject(ctx: Context) -> Any:
    _conn, ch, q, res = limited(ctx, 5, **{"x-max-length": 3, "x-overflow": "reject-publish"})
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("limits.max_length_zero")
def max_len_zero(ctx: Context) -> Any:
    _conn, ch, q, res = limited(ctx, 2, **{"x-max-length": 0})
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("limits.max_length_zero_reject_publish")
def max_len_zero_reject(ctx: Context) -> Any:
    _conn, ch, q, res = limited(ctx, 2, **{"x-max-length": 0, "x-overflow": "reject-publish"})
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("limits.max_length_bytes_drop_head")
def max_bytes(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-max-length-bytes": 10})
    res = [confirmed_publish(ch, q, b) for b in ("aaaa", "bbbb", "cccc", "dd")]
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("limits.max_length_bytes_reject_publish")
def max_bytes_reject(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-max-length-bytes": 10, "x-overflow": "reject-publish"})
    res = [confirmed_publish(ch, q, b) for b in ("aaaa", "bbbb", "cccc", "dd")]
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("limits.max_length_bytes_single_oversized_message")
def max_bytes_big(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-max-length-bytes": 3})
    return {"publish": confirmed_publish(ch, q, "toolong"), "queue": get_all(ch, q)}


@scenario("limits.unacked_not_counted")
def max_len_unacked(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    res = [confirmed_publish(ch, q, "m1"), confirmed_publish(ch, q, "m2")]
    m, _, _ = ch.basic_get(q)
    res += [confirmed_publish(ch, q, "m3"), confirmed_publish(ch, q, "m4")]
    ch.basic_ack(m.delivery_tag)
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("limits.requeue_may_exceed_limit")
def max_len_requeue(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-max-length": 2})
    confirmed_publish(ch, q, "m1")
    m, _, _ = ch.basic_get(q)
    confirmed_publish(ch, q, "m2")
    confirmed_publish(ch, q, "m3")
    ch.basic_reject(m.delivery_tag, requeue=True)
    return get_all(ch, q)


@scenario("limits.via_policy", needs_mgmt=True)
def max_len_policy(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ctx.policy(f"^{q.replace('.', '[.]')}$", {"max-length": 2})
    ch.queue_declare(q)
    for i in range(1, 5):
        confirmed_publish(ch, q, f"m{i}")
    return get_all(ch, q)


@scenario("limits.argument_and_policy_lower_wins", needs_mgmt=True)
def max_len_both(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ctx.policy(f"^{q.replace('.', '[.]')}$", {"max-length": 3})
    ch.queue_declare(q, arguments={"x-max-length": 1})
    for i in range(1, 5):
        confirmed_publish(ch, q, f"m{i}")
    return get_all(ch, q)


# ------------------------------------------------------------------ priorities


def prio_queue(ctx: Context, max_priority: int | None, priorities: list[int | None]) -> list[Any]:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(
        q, arguments={"x-max-priority": max_priority} if max_priority is not None else None
    )
    for i, p in enumerate(priorities):
        if p is None:
            publish(ch, q, f"m{i}")
        else:
            publish(ch, q, f"m{i}:p{p}", priority=p)
    return get_all(ch, q)


@scenario("priority.higher_first")
def prio_basic(ctx: Context) -> Any:
    return prio_queue(ctx, 10, [1, 5, 3, 9, 0])


@scenario("priority.fifo_within_priority")
def prio_fifo(ctx: Context) -> Any:
    return prio_queue(ctx, 5, [2, 2, 4, 2, 4])


@scenario("priority.above_max_treated_as_max")
def prio_above(ctx: Context) -> Any:
    return prio_queue(ctx, 3, [3, 200, 2, 3])


@scenario("priority.missing_means_zero")
def prio_missing(ctx: Context) -> Any:
    return prio_queue(ctx, 5, [None, 1, None, 0])


@scenario("priority.ignored_without_max_priority")
def prio_plain(ctx: Context) -> Any:
    return prio_queue(ctx, None, [1, 9, 5])


@scenario("priority.max_priority_255_allowed")
def prio_255(ctx: Context) -> Any:
    return prio_queue(ctx, 255, [1, 255, 100])


@scenario("priority.max_priority_zero")
def prio_zero(ctx: Context) -> Any:
    return prio_queue(ctx, 0, [5, 1])


@scenario("priority.requeued_message_keeps_priority")
def prio_requeue(ctx: Context) -> Any:
    _conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-max-priority": 5})
    publish(ch, q, "high", priority=5)
    publish(ch, q, "low", priority=1)
    m, _, _ = ch.basic_get(q)
    publish(ch, q, "mid", priority=3)
    ch.basic_reject(m.delivery_tag, requeue=True)
    return get_all(ch, q, fields=("priority", "redelivered"))


@scenario("priority.consumer_receives_in_priority_order")
def prio_consumer(ctx: Context) -> Any:
    conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-max-priority": 9})
    for i, p in enumerate([1, 8, 4]):
        publish(ch, q, f"m{i}:p{p}", priority=p)
    col = Collector(conn)
    col.consume(ch, q, auto_ack=True)
    col.wait(3)
    return col.bodies()


# ------------------------------------------------------------------ single active consumer


def sac_queue(ctx: Context, conn: Any, ch: Any) -> str:
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-single-active-consumer": True})
    return q


@scenario("sac.only_first_consumer_receives")
def sac_first(ctx: Context) -> Any:
    conn, ch = channel(ctx)
    q = sac_queue(ctx, conn, ch)
    col = Collector(conn)
    col.consume(ch, q, label="first", auto_ack=True)
    col.consume(conn.channel(), q, label="second", auto_ack=True)
    for i in range(4):
        publish(ch, q, f"m{i}")
    col.wait(4)
    return col.view(consumer=True)


@scenario("sac.failover_on_cancel")
def sac_failover(ctx: Context) -> Any:
    conn, ch = channel(ctx)
    q = sac_queue(ctx, conn, ch)
    col = Collector(conn)
    first_ch = conn.channel()
    tag = col.consume(first_ch, q, label="first")
    col.consume(conn.channel(), q, label="second", auto_ack=True)
    publish(ch, q, "m1")
    col.wait(1)
    first_ch.basic_cancel(tag)
    first_ch.close()  # its unacked m1 goes back to the queue
    publish(ch, q, "m2")
    col.wait(3)
    return col.view(consumer=True)


@scenario("sac.consumer_count_includes_waiting")
def sac_counts(ctx: Context) -> Any:
    conn, ch = channel(ctx)
    q = sac_queue(ctx, conn, ch)
    ch.basic_consume(q, lambda *a: None)
    conn.channel().basic_consume(q, lambda *a: None)
    return queue_counts(ch, q)


@scenario("sac.redeclare_mismatch")
def sac_mismatch(ctx: Context) -> Any:
    conn, ch = channel(ctx)
    q = sac_queue(ctx, conn, ch)
    return attempt(lambda: ch.queue_declare(q), ch)


@scenario("sac.exclusive_consume_refused")
def sac_exclusive(ctx: Context) -> Any:
    conn, ch = channel(ctx)
    q = sac_queue(ctx, conn, ch)
    return attempt(lambda: (ch.basic_consume(q, lambda *a: None, exclusive=True), None)[1], ch)


@scenario("sac.false_is_normal_round_robin")
def sac_false(ctx: Context) -> Any:
    conn, ch = channel(ctx)
    q = ctx.name("q")
    ch.queue_declare(q, arguments={"x-single-active-consumer": False})
    col = Collector(conn)
    col.consume(ch, q, label="a", auto_ack=True)
    col.consume(ch, q, label="b", auto_ack=True)
    for i in range(4):
        publish(ch, q, f"m{i}")
    col.wait(4)
    return col.view(consumer=True)
