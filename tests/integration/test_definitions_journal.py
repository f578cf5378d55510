"""Durable definitions through the journal: what survives a kill -9, what is never
written (transient and exclusive queues), and the journal folded into a snapshot."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pika

from amqpish.codec import spec
from amqpish.codec.frames import encode_method
from tests.integration.test_robustness import RawClient
from tests.support import BrokerProcess, http_api, start_broker


def kill9(bp: BrokerProcess) -> None:
    bp.proc.send_signal(signal.SIGKILL)
    bp.proc.wait()
    bp.stop()


def definitions(bp: BrokerProcess) -> dict[str, Any]:
    doc: dict[str, Any] = http_api(bp, "/api/definitions")
    return doc


def synced(ch: Any) -> None:
    """A confirmed persistent publish: its batch, and the definitions changed before
    it, are on disk."""
    ch.queue_declare("sync", durable=True)
    ch.basic_publish("", "sync", b"x", pika.BasicProperties(delivery_mode=2))


def bindings_of(doc: dict[str, Any], dest: str) -> set[tuple[str, str]]:
    return {(b["source"], b["routing_key"]) for b in doc["bindings"] if b["destination"] == dest}


def test_durable_definitions_survive_kill_9_and_others_are_not_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bp = start_broker(data)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.exchange_declare("dx", "topic", durable=True)
        ch.exchange_declare("tx", "fanout", durable=False)
        ch.queue_declare("dq", durable=True, arguments={"x-max-length": 5})
        ch.queue_declare("tq", durable=False)
        ch.queue_bind("dq", "dx", "a.#")
        ch.queue_bind("dq", "amq.direct", "k")
        ch.queue_bind("dq", "amq.direct", "unbound-later")
        ch.queue_bind("tq", "dx", "t")
        ch.exchange_bind("amq.fanout", "dx", "e2e")
        ch.queue_unbind("dq", "amq.direct", "unbound-later")
        ch.queue_declare("gone", durable=True)
        ch.queue_delete("gone")
        synced(ch)
        journal = data / "definitions.journal"
        size = journal.stat().st_size
        # exclusive (even durable) queues and their bindings are never written
        for i in range(50):
            name = ch.queue_declare(f"ex{i}", durable=True, exclusive=True).method.queue
            ch.queue_bind(name, "amq.topic", "#")
            ch.queue_delete(name)
        synced(ch)
        assert journal.stat().st_size == size
        conn.close()
        kill9(bp)

        bp = start_broker(data)
        doc = definitions(bp)
        queues = {q["name"]: q for q in doc["queues"]}
        assert set(queues) == {"dq", "sync"}
        assert queues["dq"]["arguments"] == {"x-max-length": 5}
        assert {x["name"] for x in doc["exchanges"]} == {"dx"}
        assert bindings_of(doc, "dq") == {("dx", "a.#"), ("amq.direct", "k")}
        assert bindings_of(doc, "amq.fanout") == {("dx", "e2e")}
        # routing works on the recovered bindings
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        ch = conn.channel()
        ch.basic_publish("dx", "a.b.c", b"routed")
        ch.basic_publish("amq.direct", "k", b"routed too")
        assert ch.queue_declare("dq", passive=True, durable=True).method.message_count == 2
        conn.close()
    finally:
        bp.stop()


def test_the_journal_is_folded_into_a_snapshot_as_it_grows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bp = start_broker(data)
    n = 20_000  # ~2 MB of binding records: past the journal's 1 MiB floor
    try:
        c = RawClient.with_channel(bp.port)
        c.send(1, spec.QueueDeclare(queue="many", durable=True))
        c.expect_method(1)
        frames = b"".join(
            encode_method(
                1,
                spec.QueueBind(
                    queue="many", exchange="amq.topic", routing_key=f"k.{i}.#", no_wait=True
                ),
            )
            for i in range(n)
        )
        c.sock.sendall(frames)
        c.close()
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        ch = conn.channel()
        ch.confirm_delivery()
        synced(ch)
        conn.close()
        snapshot = json.loads((data / "definitions.json").read_text())
        assert len(bindings_of(snapshot, "many")) > n // 2, "no snapshot was written"
        assert (data / "definitions.journal").stat().st_size < 1 << 20
        kill9(bp)

        bp = start_broker(data)
        assert len(bindings_of(definitions(bp), "many")) == n
    finally:
        bp.stop()


ALL = {"configure": ".*", "write": ".*", "read": ".*"}


def test_a_vhost_deleted_and_created_again_loses_its_old_objects(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bp = start_broker(data)
    try:
        http_api(bp, "/api/vhosts/tmp", "PUT")
        http_api(bp, "/api/permissions/tmp/guest", "PUT", ALL)
        url = f"amqp://guest:guest@127.0.0.1:{bp.port}/tmp"
        conn = pika.BlockingConnection(pika.URLParameters(url))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("old", durable=True)
        synced(ch)
        conn.close()
        http_api(bp, "/api/vhosts/tmp", "DELETE")
        http_api(bp, "/api/vhosts/tmp", "PUT")
        http_api(bp, "/api/permissions/tmp/guest", "PUT", ALL)
        conn = pika.BlockingConnection(pika.URLParameters(url))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("new", durable=True)
        synced(ch)
        conn.close()
        kill9(bp)

        bp = start_broker(data)
        doc = definitions(bp)
        assert {q["name"] for q in doc["queues"] if q["vhost"] == "tmp"} == {"new", "sync"}
    finally:
        bp.stop()
