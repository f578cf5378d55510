"""`amqpish users|vhosts|permissions|policies|definitions`, offline and against a broker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pika
import pika.exceptions
import pytest

from tests.support import ROOT, BrokerProcess, start_broker

UNREACHABLE = "http://guest:guest@127.0.0.1:1"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amqpish", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_users_and_vhosts_prepared_offline_before_first_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    off = ["--data-dir", str(data), "--mgmt-url", UNREACHABLE]
    assert cli("users", "add", "alice", "s3cret", "--tags", "management", *off).returncode == 0
    assert cli("vhosts", "add", "/dev", *off).returncode == 0
    assert cli("permissions", "set", "alice", "--vhost", "/dev", *off).returncode == 0
    listed = cli("users", "list", "--json", *off)
    assert {u["name"] for u in json.loads(listed.stdout)} == {"guest", "alice"}
    bp = start_broker(data)
    try:
        conn = pika.BlockingConnection(
            pika.URLParameters(f"amqp://alice:s3cret@127.0.0.1:{bp.port}/%2Fdev")
        )
        conn.channel().queue_declare("", exclusive=True)
        conn.close()
        # guest (created with the file) still works on /
        pika.BlockingConnection(pika.URLParameters(bp.url)).close()
    finally:
        bp.stop()


def test_users_permissions_and_policies_on_a_running_broker(broker: BrokerProcess) -> None:
    on = ["--mgmt-url", f"http://guest:guest@127.0.0.1:{broker.http_port}"]
    url = f"amqp://bob:pw@127.0.0.1:{broker.port}/"
    assert cli("users", "add", "bob", "pw", *on).returncode == 0
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        pika.BlockingConnection(pika.URLParameters(url))
    r = cli("permissions", "set", "bob", "--read", "^$", *on)
    assert r.returncode == 0, r.stderr
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    q = ch.queue_declare("bob-q", exclusive=True).method.queue
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_get(q)
    assert exc.value.reply_code == 403
    conn.close()

    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("capped.q")
    for i in range(5):
        ch.basic_publish("", "capped.q", str(i).encode())
    assert ch.queue_declare("capped.q", passive=True).method.message_count == 5
    # a policy applies to existing queues at once, as in RabbitMQ (drop-head)
    r = cli(
        "policies", "set", "cap", "^capped\\.", '{"max-length": 2}', "--apply-to", "queues", *on
    )
    assert r.returncode == 0, r.stderr
    assert ch.queue_declare("capped.q", passive=True).method.message_count == 2
    assert ch.basic_get("capped.q", auto_ack=True)[2] == b"3"
    assert cli("policies", "clear", "cap", *on).returncode == 0
    ch.queue_delete("capped.q")
    conn.close()
    bad = cli("policies", "set", "x", ".*", "not json", *on)
    assert bad.returncode == 1 and "not JSON" in bad.stderr and "Traceback" not in bad.stderr
    assert cli("users", "delete", "bob", *on).returncode == 0


def test_definitions_export_and_import_move_a_topology(tmp_path: Path) -> None:
    src = start_broker(tmp_path / "a")
    dst = start_broker(tmp_path / "b")
    try:
        conn = pika.BlockingConnection(pika.URLParameters(src.url))
        ch = conn.channel()
        ch.exchange_declare("orders", "topic", durable=True)
        ch.queue_declare("orders.eu", durable=True, arguments={"x-max-length": 10})
        ch.queue_bind("orders.eu", "orders", "eu.#")
        conn.close()
        f = tmp_path / "defs.json"
        mg = lambda bp: ["--mgmt-url", f"http://guest:guest@127.0.0.1:{bp.http_port}"]  # noqa: E731
        assert cli("definitions", "export", str(f), *mg(src)).returncode == 0
        doc = json.loads(f.read_text())
        assert any(q["name"] == "orders.eu" for q in doc["queues"])
        r = cli("definitions", "import", str(f), *mg(dst))
        assert r.returncode == 0, r.stderr
        conn = pika.BlockingConnection(pika.URLParameters(dst.url))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("orders", "eu.paris", b"order", mandatory=True)
        ok = ch.queue_declare("orders.eu", durable=True, passive=True)
        assert ok.method.message_count == 1
        conn.close()
    finally:
        src.stop()
        dst.stop()
