"""Rates and counters under real AMQP traffic (pika), and force-closing a connection."""

from __future__ import annotations

import threading
import time
import uuid

import pika
import pika.exceptions

from tests.management.helpers import Api, q, wait_for
from tests.support import BrokerProcess


def test_rates_rise_while_a_producer_runs_and_fall_after(
    api: Api, mgmt_broker: BrokerProcess
) -> None:
    name = f"rate-{uuid.uuid4().hex[:6]}"
    stop = threading.Event()
    published = [0]

    def produce() -> None:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", mgmt_broker.port))
        ch = conn.channel()
        ch.queue_declare(name)
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            ch.basic_publish("", name, b"x" * 100)
            published[0] += 1
            if published[0] % 200 == 0:
                conn.process_data_events(time_limit=0)
                time.sleep(0.01)
        conn.close()

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        path = f"/api/queues/%2F/{name}"
        wait_for(lambda: api.get(path).status == 200, what="queue declared")
        wait_for(
            lambda: api.ok(path)["message_stats"]["publish_details"]["rate"] > 100,
            what="queue publish rate",
        )
        wait_for(
            lambda: api.ok("/api/overview")["message_stats"]["publish_details"]["rate"] > 100,
            what="overview publish rate",
        )
        wait_for(lambda: api.ok(path)["messages_details"]["rate"] > 0, what="queue growth rate")
        chans = api.ok("/api/channels")
        assert any(c["message_stats"]["publish_details"]["rate"] > 0 for c in chans)
        conns = api.ok("/api/connections")
        assert any(c["recv_oct_details"]["rate"] > 0 for c in conns)
    finally:
        stop.set()
        t.join(30)
    wait_for(
        lambda: api.ok(path)["message_stats"]["publish_details"]["rate"] == 0.0,
        timeout=20,
        what="rate back to 0",
    )
    final = api.ok(path)
    assert final["message_stats"]["publish"] == published[0] == final["messages"]
    history = api.ok(f"{path}?msg_rates_age=30&msg_rates_incr=1&lengths_age=30&lengths_incr=1")
    pts = history["message_stats"]["publish_details"]["samples"]
    assert pts[0]["sample"] == published[0] and len(pts) >= 5
    assert pts[0]["timestamp"] > pts[-1]["timestamp"]
    api.delete(path)


def test_consumer_rates_prefetch_and_unacked(api: Api, mgmt_broker: BrokerProcess) -> None:
    name = f"cons-{uuid.uuid4().hex[:6]}"
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", mgmt_broker.port))
    ch = conn.channel()
    ch.queue_declare(name)
    for i in range(50):
        ch.basic_publish("", name, str(i).encode())
    cch = conn.channel()
    cch.basic_qos(prefetch_count=7)
    cch.basic_consume(name, lambda *a: None)
    conn.process_data_events(time_limit=0.3)
    path = f"/api/queues/%2F/{name}"
    detail = api.ok(path)
    assert detail["messages_unacknowledged"] == 7 and detail["messages_ready"] == 43
    assert detail["consumer_details"][0]["prefetch_count"] == 7
    assert detail["message_stats"]["deliver"] == 7
    channel = next(
        c
        for c in api.ok("/api/channels")
        if c["prefetch_count"] == 7 and c["messages_unacknowledged"] == 7
    )
    assert channel["consumer_count"] == 1
    wait_for(
        lambda: api.ok("/api/overview")["queue_totals"]["messages_unacknowledged"] >= 7,
        what="totals",
    )
    conn.close()
    wait_for(lambda: api.ok(path)["messages_unacknowledged"] == 0, what="requeue on close")
    api.delete(path)


def test_force_close_with_reason(api: Api, mgmt_broker: BrokerProcess) -> None:
    label = f"victim-{uuid.uuid4().hex[:6]}"
    conn = pika.BlockingConnection(
        pika.ConnectionParameters(
            "127.0.0.1", mgmt_broker.port, client_properties={"connection_name": label}
        )
    )
    conn.channel()
    c = next(x for x in api.ok("/api/connections") if x["user_provided_name"] == label)
    r = api.delete(f"/api/connections/{q(c['name'])}", headers={"X-Reason": "maintenance window"})
    assert r.status == 204
    err: list[BaseException] = []
    deadline = time.monotonic() + 10
    while conn.is_open and time.monotonic() < deadline:
        try:
            conn.process_data_events(time_limit=0.1)
        except pika.exceptions.AMQPError as e:
            err.append(e)
            break
    assert err, "connection was not closed"
    assert "maintenance window" in str(err[0]) and "320" in str(err[0])
    wait_for(
        lambda: not any(x["user_provided_name"] == label for x in api.ok("/api/connections")),
        what="gone",
    )
