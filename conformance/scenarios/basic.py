"""basic.*: get, consume, ack/nack/reject, recover, redelivery, round-robin, cancel,
exclusive and prioritised consumers, message properties; plus qos (prefetch)."""

from __future__ import annotations

from typing import Any

from conformance.core import Context, scenario
from conformance.helpers import (
    Collector,
    attempt,
    get_all,
    publish,
    queue_counts,
    raw_event,
    settle,
    sync,
)


def fill(ctx: Context, n: int, label: str = "q", **declare: Any) -> tuple[Any, Any, str]:
    conn = ctx.connect()
    ch = conn.channel()
    ch.confirm_delivery()  # so every message is queued before the scenario goes on
    q = ctx.name(label)
    ch.queue_declare(q, **declare)
    for i in range(1, n + 1):
        publish(ch, q, f"m{i}")
    return conn, ch, q


# ------------------------------------------------------------------ basic.get


@scenario("basic.get.empty_queue")
def get_empty(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.send_method(1, "basic.get", queue=q)
    return raw_event(c.read_method())


@scenario("basic.get.fields_and_message_count")
def get_fields(ctx: Context) -> Any:
    _conn, ch, q = fill(ctx, 3)
    return get_all(
        ch, q, fields=("delivery_tag", "redelivered", "exchange", "routing_key", "message_count")
    )


@scenario("basic.get.no_ack_removes_message")
def get_no_ack(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 2)
    ch.basic_get(q, auto_ack=True)
    ch.close()
    ch2 = conn.channel()
    return {"remaining": get_all(ch2, q)}


@scenario("basic.get.unacked_requeued_on_channel_close")
def get_requeue_close(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 3)
    ch.basic_get(q)
    ch.basic_get(q)
    ch.close()
    ch2 = conn.channel()
    return get_all(ch2, q, fields=("redelivered",))


@scenario("basic.get.unacked_requeued_on_connection_close")
def get_requeue_conn_close(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 3)
    ch.basic_get(q)
    conn.close()
    ch2 = ctx.connect().channel()
    return get_all(ch2, q, fields=("redelivered",))


@scenario("basic.get.delivery_tags_shared_with_consumers")
def get_tags_shared(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 4)
    first = ch.basic_get(q)[0].delivery_tag
    col = Collector(conn, fields=("delivery_tag",))
    col.consume(ch, q)
    col.wait(3)
    return {"get": first, "consumed": col.view()}


# ------------------------------------------------------------------ consume


@scenario("basic.consume.fifo_order_and_fields")
def consume_fifo(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 5)
    col = Collector(conn, fields=("delivery_tag", "redelivered", "exchange", "routing_key"))
    col.consume(ch, q, auto_ack=True)
    col.wait(5)
    return col.view()


@scenario("basic.consume.server_generated_tag")
def consume_server_tag(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    return c.rpc(1, "basic.consume", "basic.consume_ok", queue=q, consumer_tag="")


@scenario("basic.consume.client_tag_echoed")
def consume_client_tag(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    ok = c.rpc(1, "basic.consume", "basic.consume_ok", queue=q, consumer_tag="my-tag")
    c.publish(1, b"m", routing_key=q)
    return {"consume_ok": ok, "deliver": raw_event(c.next_event())}


@scenario("basic.consume.existing_messages_delivered")
def consume_existing(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 3)
    col = Collector(conn)
    col.consume(ch, q, auto_ack=True)
    col.wait(3)
    publish(ch, q, "m4")
    col.wait(4)
    return col.bodies()


@scenario("basic.consume.round_robin_two_consumers")
def round_robin(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    col = Collector(conn)
    col.consume(ch, q, label="a", auto_ack=True)
    col.consume(ch, q, label="b", auto_ack=True)
    for i in range(1, 7):
        publish(ch, q, f"m{i}")
    col.wait(6)
    return col.view(consumer=True)


@scenario("basic.consume.round_robin_across_channels")
def round_robin_channels(ctx: Context) -> Any:
    conn = ctx.connect()
    q = ctx.name("q")
    conn.channel().queue_declare(q)
    col = Collector(conn)
    for label in ("a", "b", "c"):
        col.consume(conn.channel(), q, label=label, auto_ack=True)
    pch = conn.channel()
    for i in range(1, 7):
        publish(pch, q, f"m{i}")
    col.wait(6)
    return sorted(col.view(consumer=True), key=lambda d: d["body"])


@scenario("basic.consume.cancel_stops_deliveries")
def cancel_stops(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    col = Collector(conn)
    tag = col.consume(ch, q, auto_ack=True)
    publish(ch, q, "before")
    col.wait(1)
    ch.basic_cancel(tag)
    publish(ch, q, "after")
    return {"delivered": col.bodies(), "left": get_all(ch, q)}


@scenario("basic.consume.cancel_unknown_tag_ok")
def cancel_unknown(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    return c.rpc(1, "basic.cancel", "basic.cancel_ok", consumer_tag="never-existed")


@scenario("basic.consume.unacked_survive_cancel")
def unacked_after_cancel(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 2)
    col = Collector(conn)
    tag = col.consume(ch, q)
    col.wait(2)
    ch.basic_cancel(tag)
    counts = queue_counts(ch, q)
    col.ack(col.items[0])
    col.ack(col.items[1])
    return {"after_cancel": counts, "acks": sync(ch), "after_acks": queue_counts(ch, q)}


@scenario("basic.consume.no_local_ignored")
def no_local(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.rpc(
        1,
        "basic.consume",
        "basic.consume_ok",
        queue=q,
        consumer_tag="t",
        no_local=True,
        no_ack=True,
    )
    c.publish(1, b"own", routing_key=q)
    return raw_event(c.next_event())


@scenario("basic.consume.nowait")
def consume_nowait(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.send_method(1, "basic.consume", queue=q, consumer_tag="t", no_ack=True, nowait=True)
    c.publish(1, b"m", routing_key=q)
    return raw_event(c.next_event())


@scenario("basic.consume.exclusive_blocks_second_consumer")
def exclusive_consumer(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.basic_consume(q, lambda *a: None, exclusive=True)
    ch2 = conn.channel()
    return attempt(lambda: ch2.basic_consume(q, lambda *a: None), ch2)


@scenario("basic.consume.exclusive_refused_when_consumers_exist")
def exclusive_refused(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.basic_consume(q, lambda *a: None)
    ch2 = conn.channel()
    return attempt(lambda: ch2.basic_consume(q, lambda *a: None, exclusive=True), ch2)


@scenario("basic.consume.exclusive_released_on_cancel")
def exclusive_released(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    tag = ch.basic_consume(q, lambda *a: None, exclusive=True)
    ch.basic_cancel(tag)
    return attempt(lambda: (ch.basic_consume(q, lambda *a: None), None)[1], ch)


@scenario("basic.consume.exclusive_consumer_basic_get_allowed")
def exclusive_get(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 1)
    ch.basic_consume(q, lambda *a: None, exclusive=True)
    ch2 = conn.channel()
    return attempt(lambda: get_all(ch2, q), ch2)


@scenario("basic.consume.priority_higher_first")
def consumer_priority(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    col = Collector(conn)
    col.consume(ch, q, label="low", auto_ack=True, arguments={"x-priority": 1})
    col.consume(ch, q, label="high", auto_ack=True, arguments={"x-priority": 10})
    for i in range(1, 5):
        publish(ch, q, f"m{i}")
    col.wait(4)
    return col.view(consumer=True)


@scenario("basic.consume.priority_falls_back_when_blocked")
def consumer_priority_blocked(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.basic_qos(prefetch_count=1)
    col = Collector(conn)
    col.consume(ch, q, label="low", arguments={"x-priority": 1})
    col.consume(ch, q, label="high", arguments={"x-priority": 10})
    for i in range(1, 4):
        publish(ch, q, f"m{i}")
    col.wait(2)
    state = settle(col, ch, q)
    return {"delivered": col.view(consumer=True), "ready": state["ready"]}


@scenario("basic.consume.priority_invalid_type")
def consumer_priority_invalid(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    return attempt(
        lambda: ch.basic_consume(q, lambda *a: None, arguments={"x-priority": "high"}), ch
    )


# ------------------------------------------------------------------ ack / nack / reject / recover


@scenario("basic.ack.multiple")
def ack_multiple(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 5)
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(4)]
    ch.basic_ack(tags[2], multiple=True)
    ch.close()
    return get_all(conn.channel(), q, fields=("redelivered",))


@scenario("basic.ack.zero_multiple_acks_all")
def ack_zero_multiple(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 3)
    for _ in range(3):
        ch.basic_get(q)
    ch.basic_ack(0, multiple=True)
    ch.close()
    return get_all(conn.channel(), q)


@scenario("basic.ack.out_of_order")
def ack_out_of_order(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 3)
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(3)]
    ch.basic_ack(tags[2])
    ch.basic_ack(tags[0])
    ch.close()
    return get_all(conn.channel(), q, fields=("redelivered",))


@scenario("basic.reject.requeue_goes_to_head_redelivered")
def reject_requeue(ctx: Context) -> Any:
    _conn, ch, q = fill(ctx, 3)
    m, _, _ = ch.basic_get(q)
    ch.basic_reject(m.delivery_tag, requeue=True)
    return get_all(ch, q, fields=("redelivered",))


@scenario("basic.reject.no_requeue_discards")
def reject_discard(ctx: Context) -> Any:
    _conn, ch, q = fill(ctx, 2)
    m, _, _ = ch.basic_get(q)
    ch.basic_reject(m.delivery_tag, requeue=False)
    return get_all(ch, q)


@scenario("basic.nack.multiple_requeue_keeps_order")
def nack_multiple(ctx: Context) -> Any:
    _conn, ch, q = fill(ctx, 5)
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(3)]
    ch.basic_nack(tags[-1], multiple=True, requeue=True)
    return get_all(ch, q, fields=("redelivered",))


@scenario("basic.nack.single_no_requeue")
def nack_single(ctx: Context) -> Any:
    _conn, ch, q = fill(ctx, 3)
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(2)]
    ch.basic_nack(tags[0], requeue=False)
    ch.basic_nack(tags[1], requeue=True)
    return get_all(ch, q, fields=("redelivered",))


@scenario("basic.nack.zero_multiple_requeues_all")
def nack_zero(ctx: Context) -> Any:
    _conn, ch, q = fill(ctx, 3)
    for _ in range(3):
        ch.basic_get(q)
    ch.basic_nack(0, multiple=True, requeue=True)
    return get_all(ch, q, fields=("redelivered",))


@scenario("basic.nack.requeue_out_of_order_restores_queue_order")
def nack_out_of_order(ctx: Context) -> Any:
    _conn, ch, q = fill(ctx, 4)
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(3)]
    ch.basic_nack(tags[2], requeue=True)
    ch.basic_nack(tags[0], requeue=True)
    ch.basic_nack(tags[1], requeue=True)
    return get_all(ch, q, fields=("redelivered",))


@scenario("basic.recover.requeue_true_redelivers")
def recover(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 3)
    col = Collector(conn, fields=("redelivered", "delivery_tag"))
    col.consume(ch, q)
    col.wait(3)
    ch.basic_recover(requeue=True)
    col.wait(6)
    return col.view()


@scenario("basic.redelivered.consumer_after_channel_close")
def redelivered_consumer(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 2)
    col = Collector(conn)
    col.consume(ch, q)
    col.wait(2)
    ch.close()
    ch2 = conn.channel()
    col2 = Collector(conn, fields=("redelivered",))
    col2.consume(ch2, q, auto_ack=True)
    col2.wait(2)
    return col2.view()


@scenario("basic.redelivered.requeued_behind_new_consumer_deliveries")
def requeue_order_consumer(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 4)
    ch.basic_qos(prefetch_count=2)
    col = Collector(conn, fields=("redelivered",))
    col.consume(ch, q)
    col.wait(2)
    ch.basic_nack(col.items[0]["_tag"], requeue=True)
    col.wait(3)
    for item in list(col.items[1:]):
        col.ack(item)
    col.wait(5)
    return col.view()


# ------------------------------------------------------------------ properties


@scenario("basic.properties.all_roundtrip")
def props_roundtrip(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    props = {
        "content_type": "application/json",
        "content_encoding": "gzip",
        "headers": {"h": "v", "n": 7},
        "delivery_mode": 2,
        "priority": 3,
        "correlation_id": "corr-1",
        "reply_to": "reply-q",
        "expiration": "600000",
        "message_id": "msg-1",
        "timestamp": 1700000000,
        "type": "event",
        "user_id": ctx.user,
        "app_id": "conformance",
        "cluster_id": "cluster-x",
    }
    c.publish(1, b"{}", routing_key=q, properties=props)
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    return raw_event(c.next_event())


@scenario("basic.properties.none_set")
def props_none(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    q = c.rpc(1, "queue.declare", "queue.declare_ok", queue="", exclusive=True)["queue"]
    c.publish(1, b"x", routing_key=q)
    c.send_method(1, "basic.get", queue=q, no_ack=True)
    return raw_event(c.next_event())


@scenario("basic.properties.user_id_mismatch_refused")
def user_id_mismatch(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, q, "m", user_id="someone-else")
    return sync(ch)


@scenario("basic.properties.empty_body_and_binary_body")
def binary_body(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"")
    ch.basic_publish("", q, bytes(range(256)))
    out = []
    for _ in range(2):
        _, _, body = ch.basic_get(q, auto_ack=True)
        out.append({"length": len(body), "intact": body in (b"", bytes(range(256)))})
    return out


@scenario("basic.publish.cc_and_bcc_headers")
def cc_bcc(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    qs = {label: ctx.name(label) for label in ("main", "cc", "bcc")}
    for q in qs.values():
        ch.queue_declare(q)
    ch.confirm_delivery()
    publish(ch, qs["main"], "m", headers={"CC": [qs["cc"]], "BCC": [qs["bcc"]]})
    return {label: get_all(ch, q, fields=("headers", "routing_key")) for label, q in qs.items()}


# ------------------------------------------------------------------ qos (prefetch)


@scenario("qos.prefetch_count_limits_unacked")
def qos_limit(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 5)
    ch.basic_qos(prefetch_count=2)
    col = Collector(conn)
    col.consume(ch, q)
    col.wait(2)
    ready = settle(col, ch, q)["ready"]
    col.ack(col.items[0])
    col.wait(3)
    return {"first": col.bodies()[:2], "ready_while_full": ready, "after_one_ack": col.bodies()}


@scenario("qos.ack_multiple_releases_window")
def qos_ack_multiple(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 6)
    ch.basic_qos(prefetch_count=3)
    col = Collector(conn)
    col.consume(ch, q)
    col.wait(3)
    col.ack(col.items[2], multiple=True)
    col.wait(6)
    return col.bodies()


@scenario("qos.per_consumer_default")
def qos_per_consumer(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 6)
    ch.basic_qos(prefetch_count=2)
    col = Collector(conn)
    col.consume(ch, q, label="a")
    col.consume(ch, q, label="b")
    col.wait(4)
    return settle(col, ch, q)


@scenario("qos.global_shared_by_channel")
def qos_global(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 6)
    ch.basic_qos(prefetch_count=3, global_qos=True)
    col = Collector(conn)
    col.consume(ch, q, label="a")
    col.consume(ch, q, label="b")
    col.wait(3)
    return settle(col, ch, q)


@scenario("qos.global_and_per_consumer_combined")
def qos_both(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 10)
    ch.basic_qos(prefetch_count=3, global_qos=True)
    ch.basic_qos(prefetch_count=2, global_qos=False)
    col = Collector(conn)
    col.consume(ch, q, label="a")
    col.consume(ch, q, label="b")
    col.wait(3)
    return settle(col, ch, q)


@scenario("qos.change_applies_to_new_consumers_only")
def qos_change(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 6)
    ch.basic_qos(prefetch_count=1)
    col = Collector(conn)
    col.consume(ch, q, label="a")
    col.wait(1)
    ch.basic_qos(prefetch_count=3)
    after_change = settle(col, ch, q)
    col.consume(ch, q, label="b")
    col.wait(4)
    return {"after_change": after_change, "after_b": settle(col, ch, q)}


@scenario("qos.zero_means_unlimited")
def qos_zero(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 20)
    ch.basic_qos(prefetch_count=0)
    col = Collector(conn)
    col.consume(ch, q)
    col.wait(20)
    return len(col.items)


@scenario("qos.ignored_for_no_ack_consumers")
def qos_no_ack(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 10)
    ch.basic_qos(prefetch_count=1)
    col = Collector(conn)
    col.consume(ch, q, auto_ack=True)
    col.wait(10)
    return len(col.items)


@scenario("qos.basic_get_not_limited")
def qos_get(ctx: Context) -> Any:
    _conn, ch, q = fill(ctx, 4)
    ch.basic_qos(prefetch_count=1)
    got = [ch.basic_get(q)[2] for _ in range(3)]
    return [b.decode() if b else None for b in got]


@scenario("qos.reject_requeue_redelivered_within_window")
def qos_reject(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 3)
    ch.basic_qos(prefetch_count=1)
    col = Collector(conn, fields=("redelivered",))
    col.consume(ch, q)
    col.wait(1)
    ch.basic_reject(col.items[0]["_tag"], requeue=True)
    col.wait(2)
    return col.view()


@scenario("qos.prefetch_max_value")
def qos_max(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    return attempt(lambda: ch.basic_qos(prefetch_count=65535), ch)


@scenario("qos.global_after_consumers_exist")
def qos_global_late(ctx: Context) -> Any:
    conn, ch, q = fill(ctx, 6)
    col = Collector(conn)
    ch.basic_qos(prefetch_count=1)
    col.consume(ch, q, label="a")
    col.wait(1)
    ch.basic_qos(prefetch_count=1, global_qos=True)
    col.consume(ch, q, label="b")
    col.wait(2)
    return settle(col, ch, q)
