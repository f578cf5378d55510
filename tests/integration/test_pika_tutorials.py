"""The RabbitMQ tutorials' programs, with pika, against a real amqpish process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from tests.support import BrokerProcess


@pytest.fixture
def conn(broker: BrokerProcess) -> Iterator[pika.BlockingConnection]:
    c = pika.BlockingConnection(pika.URLParameters(broker.url))
    yield c
    if c.is_open:
        c.close()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _drain(
    ch: pika.adapters.blocking_connection.BlockingChannel,
    queue: str,
    n: int,
    ack: bool = True,
    timeout: float = 5,
) -> list[bytes]:
    out: list[bytes] = []
    for method, _props, body in ch.consume(queue, inactivity_timeout=timeout, auto_ack=not ack):
        if method is None:
            break
        out.append(body)
        if ack:
            ch.basic_ack(method.delivery_tag)
        if len(out) == n:
            break
    ch.cancel()
    return out


def test_hello_world(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    q = _name("hello")
    ch.queue_declare(q)
    ch.basic_publish("", q, b"Hello World!")
    assert _drain(ch, q, 1, ack=False) == [b"Hello World!"]
    ch.queue_delete(q)


def test_work_queues_round_robin_with_prefetch_and_ack(broker: BrokerProcess) -> None:
    c1 = pika.BlockingConnection(pika.URLParameters(broker.url))
    c2 = pika.BlockingConnection(pika.URLParameters(broker.url))
    q = _name("tasks")
    ch1, ch2 = c1.channel(), c2.channel()
    ch1.queue_declare(q, durable=True)
    for ch in (ch1, ch2):
        ch.basic_qos(prefetch_count=1)
    got1: list[bytes] = []
    got2: list[bytes] = []
    ch1.basic_consume(q, lambda ch, m, p, b: got1.append(b))
    ch2.basic_consume(q, lambda ch, m, p, b: got2.append(b))
    pub = c1.channel()
    for i in range(4):
        pub.basic_publish("", q, f"task{i}".encode(), pika.BasicProperties(delivery_mode=2))
    # prefetch 1 and no acks: each worker holds exactly one task
    while len(got1) + len(got2) < 2:
        c1.process_data_events(time_limit=0.1)
        c2.process_data_events(time_limit=0.1)
    c1.process_data_events(time_limit=0.2)
    c2.process_data_events(time_limit=0.2)
    assert len(got1) == 1 and len(got2) == 1
    assert sorted(got1 + got2) == [b"task0", b"task1"]
    ok, _, _ = pub.queue_declare(q, durable=True, passive=True), None, None
    assert ok.method.message_count == 2
    c1.close()
    c2.close()
    # the unacked tasks went back to the queue when the workers left
    c3 = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch3 = c3.channel()
    rest = _drain(ch3, q, 4)
    assert sorted(rest) == [b"task0", b"task1", b"task2", b"task3"]
    ch3.queue_delete(q)
    c3.close()


def test_publish_subscribe_fanout(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    ex = _name("logs")
    ch.exchange_declare(ex, exchange_type="fanout")
    queues = []
    for _ in range(3):
        r = ch.queue_declare("", exclusive=True)
        ch.queue_bind(r.method.queue, ex)
        queues.append(r.method.queue)
    assert all(q.startswith("amq.gen-") for q in queues)
    ch.basic_publish(ex, "", b"log line")
    for q in queues:
        assert _drain(ch, q, 1) == [b"log line"]
    ch.exchange_delete(ex)


def test_routing_direct(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    ex = _name("direct_logs")
    ch.exchange_declare(ex, exchange_type="direct")
    qe = ch.queue_declare("", exclusive=True).method.queue
    qa = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(qe, ex, "error")
    for sev in ("info", "warning", "error"):
        ch.queue_bind(qa, ex, sev)
    for sev in ("info", "error", "debug"):
        ch.basic_publish(ex, sev, sev.encode())
    assert _drain(ch, qe, 1) == [b"error"]
    assert _drain(ch, qa, 2) == [b"info", b"error"]
    ch.exchange_delete(ex)


def test_topics(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    ex = _name("topic_logs")
    ch.exchange_declare(ex, exchange_type="topic")
    q1 = ch.queue_declare("", exclusive=True).method.queue
    q2 = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q1, ex, "*.orange.*")
    ch.queue_bind(q2, ex, "*.*.rabbit")
    ch.queue_bind(q2, ex, "lazy.#")
    keys = [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "orange",
        "quick.orange.male.rabbit",
        "lazy.orange.male.rabbit",
        "lazy",
    ]
    for k in keys:
        ch.basic_publish(ex, k, k.encode())
    assert _drain(ch, q1, 3, timeout=1) == [
        b"quick.orange.rabbit",
        b"lazy.orange.elephant",
        b"quick.orange.fox",
    ]
    assert _drain(ch, q2, 6, timeout=1) == [
        b"quick.orange.rabbit",
        b"lazy.orange.elephant",
        b"lazy.brown.fox",
        b"lazy.pink.rabbit",
        b"lazy.orange.male.rabbit",
        b"lazy",
    ]
    ch.exchange_delete(ex)


def test_rpc(broker: BrokerProcess) -> None:
    server = pika.BlockingConnection(pika.URLParameters(broker.url))
    sch = server.channel()
    rpc_q = _name("rpc_queue")
    sch.queue_declare(rpc_q)

    def on_request(ch, method, props, body):  # type: ignore[no-untyped-def]
        n = int(body)
        ch.basic_publish(
            "",
            props.reply_to,
            str(n * 2).encode(),
            pika.BasicProperties(correlation_id=props.correlation_id),
        )
        ch.basic_ack(method.delivery_tag)

    sch.basic_qos(prefetch_count=1)
    sch.basic_consume(rpc_q, on_request)

    client = pika.BlockingConnection(pika.URLParameters(broker.url))
    cch = client.channel()
    callback_q = cch.queue_declare("", exclusive=True).method.queue
    responses: dict[str, bytes] = {}
    cch.basic_consume(
        callback_q, lambda ch, m, p, b: responses.__setitem__(p.correlation_id, b), auto_ack=True
    )
    corr = str(uuid.uuid4())
    cch.basic_publish(
        "", rpc_q, b"21", pika.BasicProperties(reply_to=callback_q, correlation_id=corr)
    )
    while corr not in responses:
        server.process_data_events(time_limit=0.05)
        client.process_data_events(time_limit=0.05)
    assert responses[corr] == b"42"
    sch.queue_delete(rpc_q)
    server.close()
    client.close()


def test_publisher_confirms_and_mandatory_return(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    ch.confirm_delivery()
    q = _name("confirms")
    ch.queue_declare(q)
    for i in range(100):
        ch.basic_publish("", q, str(i).encode())  # raises if nacked
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish("", _name("nowhere"), b"lost", mandatory=True)
    assert ch.queue_declare(q, passive=True).method.message_count == 100
    ch.queue_delete(q)


def test_channel_error_keeps_connection(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_declare(_name("missing"), passive=True)
    assert exc.value.reply_code == 404
    assert exc.value.reply_text.startswith("NOT_FOUND - no queue")
    ch2 = conn.channel()
    ch2.queue_declare(_name("after"), exclusive=True)
    assert conn.is_open


def test_redeclare_inequivalent_is_406(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    q = _name("eq")
    ch.queue_declare(q, durable=False)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_declare(q, durable=True)
    assert exc.value.reply_code == 406
    assert "inequivalent arg 'durable'" in exc.value.reply_text
    conn.channel().queue_delete(q)


def test_exclusive_queue_locked_for_other_connection(
    broker: BrokerProcess, conn: pika.BlockingConnection
) -> None:
    ch = conn.channel()
    q = ch.queue_declare(_name("excl"), exclusive=True).method.queue
    other = pika.BlockingConnection(pika.URLParameters(broker.url))
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        other.channel().basic_consume(q, lambda *a: None)
    assert exc.value.reply_code == 405
    other.close()


def test_bad_password_is_refused(broker: BrokerProcess) -> None:
    params = pika.URLParameters(f"amqp://guest:wrong@127.0.0.1:{broker.port}/")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as exc:
        pika.BlockingConnection(params)
    assert "ACCESS_REFUSED" in str(exc.value)


def test_unknown_vhost_is_530(broker: BrokerProcess) -> None:
    params = pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{broker.port}/nope")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        pika.BlockingConnection(params)


def test_nack_requeue_keeps_position_and_sets_redelivered(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    q = _name("requeue")
    ch.queue_declare(q)
    for i in range(3):
        ch.basic_publish("", q, str(i).encode())
    m0 = ch.basic_get(q)
    m1 = ch.basic_get(q)
    assert m0[2] == b"0" and m1[2] == b"1"
    ch.basic_nack(m1[0].delivery_tag, requeue=True)
    ch.basic_nack(m0[0].delivery_tag, requeue=True)
    got = [ch.basic_get(q, auto_ack=True) for _ in range(3)]
    assert [g[2] for g in got] == [b"0", b"1", b"2"]
    assert [g[0].redelivered for g in got] == [True, True, False]
    ch.queue_delete(q)


def test_transactions_commit_and_rollback(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    q = _name("tx")
    ch.queue_declare(q)
    ch.tx_select()
    ch.basic_publish("", q, b"rolled back")
    ch.tx_rollback()
    ch.basic_publish("", q, b"committed")
    assert ch.queue_declare(q, passive=True).method.message_count == 0
    ch.tx_commit()
    assert ch.queue_declare(q, passive=True).method.message_count == 1
    ch.queue_delete(q)


def test_rpc_with_direct_reply_to(broker: BrokerProcess) -> None:
    server = pika.BlockingConnection(pika.URLParameters(broker.url))
    sch = server.channel()
    rpc_q = _name("rpc_direct")
    sch.queue_declare(rpc_q, exclusive=True)

    def on_request(ch, method, props, body):  # type: ignore[no-untyped-def]
        assert props.reply_to.startswith("amq.rabbitmq.reply-to.")
        ch.basic_publish(
            "",
            props.reply_to,
            body.upper(),
            pika.BasicProperties(correlation_id=props.correlation_id),
        )

    sch.basic_consume(rpc_q, on_request, auto_ack=True)
    client = pika.BlockingConnection(pika.URLParameters(broker.url))
    cch = client.channel()
    replies: list[bytes] = []
    cch.basic_consume("amq.rabbitmq.reply-to", lambda ch, m, p, b: replies.append(b), auto_ack=True)
    cch.basic_publish(
        "",
        rpc_q,
        b"hello",
        pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id="1"),
    )
    while not replies:
        server.process_data_events(time_limit=0.05)
        client.process_data_events(time_limit=0.05)
    assert replies == [b"HELLO"]
    # without the reply consumer, reply_to=amq.rabbitmq.reply-to is a channel error
    ch2 = client.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch2.basic_publish("", rpc_q, b"x", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
        ch2.queue_declare(rpc_q, passive=True)
    assert exc.value.reply_code == 406
    server.close()
    client.close()
