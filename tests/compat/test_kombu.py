"""kombu (py-amqp transport) used directly against a real amqpish process.

Producer/Consumer with serialisation, the exchange types through kombu's Queue and
Exchange declarations (direct, fanout, topic, headers), requeue and dead-lettering,
priorities, SimpleQueue and basic.get. Waits are ``drain_events`` with deadlines;
a test that must show a message did *not* arrive publishes a sentinel after it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import amqp.exceptions
import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.message import Message


@pytest.fixture
def conn(broker_url: str) -> Iterator[Connection]:
    with Connection(broker_url, transport_options={"confirm_publish": True}) as c:
        c.ensure_connection(max_retries=1)
        yield c


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Collector:
    def __init__(self) -> None:
        self.got: list[tuple[Any, Message]] = []

    def __call__(self, body: Any, message: Message) -> None:
        self.got.append((body, message))


def drain_until(conn: Connection, done: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("expected messages did not arrive")
        try:
            conn.drain_events(timeout=min(left, 1.0))
        except TimeoutError:
            continue


def bodies_until(conn: Connection, c: Collector, sentinel: Any) -> list[Any]:
    drain_until(conn, lambda: bool(c.got) and c.got[-1][0] == sentinel)
    return [b for b, _ in c.got]


def test_producer_consumer_direct_json(conn: Connection) -> None:
    ex = Exchange(_name("kombu-direct"), type="direct", auto_delete=True)
    q = Queue(_name("kombu-q"), ex, routing_key="tasks", auto_delete=True)
    producer = Producer(conn.channel(), exchange=ex, serializer="json")
    for i in range(3):
        producer.publish({"n": i, "text": "héllo"}, routing_key="tasks", declare=[q],
                         headers={"attempt": i}, correlation_id=f"c{i}")  # fmt: skip
    c = Collector()
    with Consumer(conn, queues=[q], callbacks=[c], accept=["json"], prefetch_count=10):
        drain_until(conn, lambda: len(c.got) == 3)
        for i, (body, m) in enumerate(c.got):
            assert body == {"n": i, "text": "héllo"}
            assert m.content_type == "application/json" and m.content_encoding == "utf-8"
            assert m.headers == {"attempt": i}
            assert m.properties["correlation_id"] == f"c{i}"
            assert m.delivery_info["exchange"] == ex.name
            assert m.delivery_info["routing_key"] == "tasks"
            assert m.delivery_info["redelivered"] is False
            m.ack()
        assert q(conn.channel()).queue_declare(passive=True).message_count == 0
    # auto-delete: the queue went away with its last consumer
    with pytest.raises(amqp.exceptions.NotFound):
        q(conn.channel()).queue_declare(passive=True)


def test_fanout_and_topic_exchanges(conn: Connection) -> None:
    fan = Exchange(_name("kombu-fanout"), type="fanout", auto_delete=True)
    topic = Exchange(_name("kombu-topic"), type="topic", auto_delete=True)
    f1 = Queue(_name("f1"), fan, exclusive=True)
    f2 = Queue(_name("f2"), fan, exclusive=True)
    t_star = Queue(_name("t-star"), topic, routing_key="stock.*.nyse", exclusive=True)
    t_hash = Queue(_name("t-hash"), topic, routing_key="stock.#", exclusive=True)
    cs = {q.name: Collector() for q in (f1, f2, t_star, t_hash)}
    consumers = [Consumer(conn, queues=[q], callbacks=[cs[q.name]], accept=["json"], no_ack=True)
                 for q in (f1, f2, t_star, t_hash)]  # fmt: skip
    for c in consumers:
        c.consume()
    producer = Producer(conn.channel(), serializer="json")
    producer.publish("to all", exchange=fan, routing_key="ignored")
    producer.publish("end", exchange=fan)
    assert bodies_until(conn, cs[f1.name], "end") == ["to all", "end"]
    assert bodies_until(conn, cs[f2.name], "end") == ["to all", "end"]
    for key in ("stock.ibm.nyse", "stock.ibm.lse", "stock", "stock.a.b.nyse", "bonds.x.nyse"):
        producer.publish(key, exchange=topic, routing_key=key)
    producer.publish("end", exchange=topic, routing_key="stock.end.nyse")
    assert bodies_until(conn, cs[t_star.name], "end") == ["stock.ibm.nyse", "end"]
    assert bodies_until(conn, cs[t_hash.name], "end") == [
        "stock.ibm.nyse", "stock.ibm.lse", "stock", "stock.a.b.nyse", "end",
    ]  # fmt: skip
    for c in consumers:
        c.cancel()


def test_headers_exchange(conn: Connection) -> None:
    ex = Exchange(_name("kombu-headers"), type="headers", auto_delete=True)
    all_q = Queue(_name("h-all"), ex, exclusive=True,
                  binding_arguments={"x-match": "all", "format": "pdf", "type": "report"})  # fmt: skip
    any_q = Queue(_name("h-any"), ex, exclusive=True,
                  binding_arguments={"x-match": "any", "format": "pdf", "type": "log"})  # fmt: skip
    c_all, c_any = Collector(), Collector()
    consumers = [
        Consumer(conn, queues=[all_q], callbacks=[c_all], accept=["json"], no_ack=True),
        Consumer(conn, queues=[any_q], callbacks=[c_any], accept=["json"], no_ack=True),
    ]
    for c in consumers:
        c.consume()
    producer = Producer(conn.channel(), exchange=ex, serializer="json")
    cases = [
        ("pdf report", {"format": "pdf", "type": "report"}),  # both
        ("pdf only", {"format": "pdf"}),  # any
        ("zip report", {"format": "zip", "type": "report"}),  # none
        ("zip log", {"format": "zip", "type": "log"}),  # any
        ("extra", {"format": "pdf", "type": "report", "x": 1}),  # both
    ]
    for body, headers in cases:
        producer.publish(body, headers=headers)
    producer.publish("end", headers={"format": "pdf", "type": "report"})
    assert bodies_until(conn, c_all, "end") == ["pdf report", "extra", "end"]
    assert bodies_until(conn, c_any, "end") == ["pdf report", "pdf only", "zip log", "extra", "end"]
    for c in consumers:
        c.cancel()


def test_requeue_and_dead_letter(conn: Connection) -> None:
    dlx = Exchange(_name("kombu-dlx"), type="fanout", auto_delete=True)
    dead = Queue(_name("dead"), dlx, exclusive=True)
    work = Queue(_name("work"), exclusive=True,
                 queue_arguments={"x-dead-letter-exchange": dlx.name})  # fmt: skip
    ch = conn.channel()
    dead(ch).declare()
    work(ch).declare()
    Producer(ch, serializer="json").publish({"job": 1}, routing_key=work.name)
    c = Collector()
    with Consumer(conn, queues=[work], callbacks=[c], accept=["json"], prefetch_count=1):
        drain_until(conn, lambda: len(c.got) == 1)
        c.got[0][1].requeue()
        drain_until(conn, lambda: len(c.got) == 2)
        body, m = c.got[1]
        assert body == {"job": 1} and m.delivery_info["redelivered"] is True
        m.reject()  # requeue=False: dead-lettered
    d = Collector()
    with Consumer(conn, queues=[dead], callbacks=[d], accept=["json"], no_ack=True):
        drain_until(conn, lambda: len(d.got) == 1)
    payload, got = d.got[0]
    assert payload == {"job": 1}
    (death,) = got.headers["x-death"]
    assert (death["reason"], death["queue"], death["count"]) == ("rejected", work.name, 1)
    assert death["exchange"] == "" and death["routing-keys"] == [work.name]
    assert got.delivery_info["exchange"] == dlx.name


def test_priority_queue(conn: Connection) -> None:
    q = Queue(_name("prio"), exclusive=True, max_priority=10)
    ch = conn.channel()
    q(ch).declare()
    producer = Producer(ch, serializer="json")
    for prio in (1, 9, 5, 0, 9):
        producer.publish(f"p{prio}", routing_key=q.name, priority=prio)
    bound = q(ch)
    order = [bound.get(no_ack=True).payload for _ in range(5)]
    assert order == ["p9", "p9", "p5", "p1", "p0"]
    assert bound.get(no_ack=True) is None


def test_simple_queue_and_basic_get(conn: Connection) -> None:
    name = _name("simple")
    with conn.SimpleQueue(name, queue_opts={"auto_delete": True}) as sq:
        sq.put({"a": 1})
        sq.put({"a": 2})
        assert sq.qsize() == 2
        m = sq.get(timeout=5)
        assert m.payload == {"a": 1}
        m.ack()
        m = sq.get(timeout=5)
        assert m.payload == {"a": 2}
        m.requeue()
        m = sq.get(timeout=5)
        assert m.payload == {"a": 2} and m.delivery_info["redelivered"] is True
        m.ack()
        assert sq.qsize() == 0
        with pytest.raises(sq.Empty):
            sq.get_nowait()
    other = _name("purge")
    with conn.SimpleQueue(other) as sq:
        for i in range(3):
            sq.put(i)
        assert sq.clear() == 3  # queue.purge: the purged count
        assert sq.qsize() == 0
        assert sq.queue.delete() == 0
    # SimpleQueue declared a direct exchange named after each queue
    ch = conn.channel()
    for ex in (name, other):
        ch.exchange_delete(ex)


def test_publish_to_missing_exchange_closes_the_channel(conn: Connection) -> None:
    missing = _name("no-such-exchange")
    ch = conn.channel()
    producer = Producer(ch, exchange=Exchange(missing, type="direct"), auto_declare=False)
    # with confirm_publish the publish waits for its confirm and gets channel.close instead
    with pytest.raises(amqp.exceptions.NotFound) as e:
        producer.publish("x", routing_key="k", declare=[])
    assert e.value.reply_code == 404
    assert e.value.reply_text == f"NOT_FOUND - no exchange '{missing}' in vhost '/'"
    # the connection survives a channel error
    Queue(_name("after"), exclusive=True)(conn.channel()).declare()


def test_bind_with_both_ends_missing_names_the_source(conn: Connection) -> None:
    # RabbitMQ looks the source exchange up first (rabbit_binding:add reports missing
    # resources source first), so when neither end exists the error names the exchange.
    queue, source, dest = _name("no-queue"), _name("no-source"), _name("no-dest")
    with pytest.raises(amqp.exceptions.NotFound) as e:
        conn.channel().queue_bind(queue=queue, exchange=source, routing_key="k")
    assert e.value.reply_text == f"NOT_FOUND - no exchange '{source}' in vhost '/'"
    with pytest.raises(amqp.exceptions.NotFound) as e:
        conn.channel().exchange_bind(destination=dest, source=source, routing_key="k")
    assert e.value.reply_text == f"NOT_FOUND - no exchange '{source}' in vhost '/'"
