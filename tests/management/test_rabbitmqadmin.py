"""rabbitmqadmin, the unmodified script Debian's rabbitmq-server 3.10.8 ships, against
a real amqpish: declare, bind, publish, get, list, purge, close, export, import, delete.

The outputs asserted here are the ones RabbitMQ 3.10.8 prints for the same commands
(recorded side by side against a private RabbitMQ node), except where RabbitMQ's
statistics lag: amqpish reports queue lengths and channel counts at once, RabbitMQ up
to 5 s later. Binding ids of bindings *with arguments* (``key~hash``) use a hash of
their own; clients take them from the listing, as they must with RabbitMQ.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest

from tests.management.helpers import q, settle
from tests.support import BrokerProcess

RABBITMQADMIN = shutil.which("rabbitmqadmin") or "/usr/bin/rabbitmqadmin"

STANDARD_EXCHANGES = [
    ("", "direct"),
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
    ("amq.rabbitmq.trace", "topic"),
    ("amq.topic", "topic"),
]


class RabbitmqAdmin:
    """Runs the unmodified rabbitmqadmin script with this interpreter."""

    def __init__(self, http_port: int, vhost: str | None = None) -> None:
        self.port = http_port
        self.vhost = vhost or "/"
        self.base = [
            sys.executable,
            RABBITMQADMIN,
            "--host",
            "127.0.0.1",
            "--port",
            str(http_port),
            "--username",
            "guest",
            "--password",
            "guest",
        ]
        if vhost is not None:
            self.base += ["--vhost", vhost]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, timeout=60
        )

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        r = self.run(*args, stdin=stdin)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    def fails(self, *args: str) -> str:
        r = self.run(*args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        return r.stderr.strip()

    def tsv(self, *args: str) -> list[list[str]]:
        out = self("-f", "tsv", *args)
        return [line.split("\t") for line in out.splitlines()]


@pytest.fixture
def admin(mgmt_broker: BrokerProcess) -> Iterator[RabbitmqAdmin]:
    if not Path(RABBITMQADMIN).exists():
        pytest.skip("rabbitmqadmin is not installed (Debian package rabbitmq-server)")
    vhost = f"radmin-{uuid.uuid4().hex[:6]}"
    top = RabbitmqAdmin(mgmt_broker.http_port)
    assert top("declare", "vhost", f"name={vhost}") == "vhost declared\n"
    try:
        yield RabbitmqAdmin(mgmt_broker.http_port, vhost)
    finally:
        top.run("delete", "vhost", f"name={vhost}")


def test_rabbitmqadmin_declare_publish_get_list(admin: RabbitmqAdmin) -> None:
    assert admin("declare", "exchange", "name=ex1", "type=topic") == "exchange declared\n"
    assert admin("declare", "exchange", "name=ex2", "type=fanout") == "exchange declared\n"
    assert admin("declare", "queue", "name=q1", "durable=true") == "queue declared\n"
    assert (
        admin("declare", "queue", "name=q2", "durable=false", 'arguments={"x-max-length": 10}')
        == "queue declared\n"
    )
    for binding in (
        ("source=ex1", "destination=q1", "routing_key=orders.#"),
        ("source=ex1", "destination=q2", "routing_key=c", 'arguments={"k": "v"}'),
        ("source=ex1", "destination=ex2", "destination_type=exchange", "routing_key=x"),
    ):
        assert admin("declare", "binding", *binding) == "binding declared\n"
    # redeclaring with other properties: RabbitMQ's reason, printed as it prints it
    assert admin.fails("declare", "exchange", "name=ex1", "type=direct") == (
        f"*** inequivalent arg 'type' for exchange 'ex1' in vhost '{admin.vhost}': "
        "received 'direct' but current is 'topic'"
    )

    assert admin("publish", "exchange=ex1", "routing_key=orders.new", "payload=hello world") == (
        "Message published\n"
    )
    props = '{"content_type": "text/plain", "headers": {"h": 1}, "delivery_mode": 2}'
    assert (
        admin(
            "publish",
            "exchange=amq.default",
            "routing_key=q2",
            "payload=second",
            f"properties={props}",
        )
        == "Message published\n"
    )
    assert admin("publish", "exchange=ex1", "routing_key=nowhere", "payload=x") == (
        "Message published but NOT routed\n"
    )
    # without payload= it reads standard input and sends it base64-encoded
    assert admin("publish", "routing_key=q1", stdin="from stdin") == "Message published\n"
    assert admin.fails("publish", "exchange=nope", "routing_key=x", "payload=x") == (
        f"*** 404 NOT_FOUND - no exchange 'nope' in vhost '{admin.vhost}'"
    )

    settle()
    assert admin.tsv("list", "queues", "name", "messages", "messages_ready", "durable") == [
        ["name", "messages", "messages_ready", "durable"],
        ["q1", "2", "2", "True"],
        ["q2", "1", "1", "False"],
    ]
    assert admin.tsv("list", "exchanges", "name", "type", "durable", "auto_delete") == [
        ["name", "type", "durable", "auto_delete"],
        *[[n, t, "True", "False"] for n, t in STANDARD_EXCHANGES],
        ["ex1", "topic", "True", "False"],
        ["ex2", "fanout", "True", "False"],
    ]
    rows = admin.tsv(
        "list",
        "bindings",
        "source",
        "destination",
        "destination_type",
        "routing_key",
        "properties_key",
    )
    assert rows[0] == ["source", "destination", "destination_type", "routing_key", "properties_key"]
    assert rows[1:4] == [
        ["", "q1", "queue", "q1", "q1"],
        ["", "q2", "queue", "q2", "q2"],
        ["ex1", "ex2", "exchange", "x", "x"],
    ]
    assert rows[4] == ["ex1", "q1", "queue", "orders.#", "orders.%23"]
    assert rows[5][:4] == ["ex1", "q2", "queue", "c"] and rows[5][4].startswith("c~")
    assert len(rows) == 6
    # the default table format, exactly
    settle()
    assert admin("list", "queues") == (
        "+------+----------+\n"
        "| name | messages |\n"
        "+------+----------+\n"
        "| q1   | 2        |\n"
        "| q2   | 1        |\n"
        "+------+----------+\n"
    )

    got = json.loads(admin("-f", "raw_json", "get", "queue=q2"))
    assert got == [
        {
            "payload_bytes": 6,
            "redelivered": False,
            "exchange": "",
            "routing_key": "q2",
            "message_count": 0,
            "properties": {"content_type": "text/plain", "headers": {"h": 1}, "delivery_mode": 2},
            "payload": "second",
            "payload_encoding": "string",
        }
    ]
    # the default ackmode requeues: the message is still there, now redelivered
    again = admin.tsv("get", "queue=q2", "count=5")
    assert again[1][again[0].index("redelivered")] == "True"
    taken = admin.tsv("get", "queue=q1", "count=5", "ackmode=ack_requeue_false")
    payload = taken[0].index("payload")
    assert [r[payload] for r in taken[1:]] == ["hello world", "from stdin"]
    assert admin("get", "queue=q1") == "No items\n"
    assert (
        admin.fails("get", "queue=nope") == f"*** Not found: /api/queues/{q(admin.vhost)}/nope/get"
    )

    assert admin("purge", "queue", "name=q2") == "queue purged\n"
    settle()
    assert admin.tsv("list", "queues", "name", "messages") == [
        ["name", "messages"],
        ["q1", "0"],
        ["q2", "0"],
    ]
    overview = admin.tsv("show", "overview")
    assert overview[0] == [
        "rabbitmq_version",
        "cluster_name",
        "queue_totals.messages",
        "object_totals.queues",
    ]
    assert overview[1][0] == "3.10.8"
    assert admin.tsv("list", "vhosts", "name")[1:].count([admin.vhost]) == 1
    assert ["guest", admin.vhost] in [
        r[:2] for r in admin.tsv("list", "permissions", "user", "vhost")
    ]


def test_rabbitmqadmin_connections_and_close(
    admin: RabbitmqAdmin, mgmt_broker: BrokerProcess
) -> None:
    vhost = admin.vhost
    label = f"radmin-conn-{uuid.uuid4().hex[:6]}"
    conn = pika.BlockingConnection(
        pika.ConnectionParameters(
            "127.0.0.1", mgmt_broker.port, vhost, client_properties={"connection_name": label}
        )
    )
    try:
        ch = conn.channel()
        ch.queue_declare("cq")
        ch.basic_consume("cq", lambda *a: None, consumer_tag="radmin-ctag")
        settle()
        rows = admin.tsv(
            "list", "connections", "name", "user", "channels", "vhost", "user_provided_name"
        )
        mine = [r for r in rows[1:] if r[4] == label]
        assert len(mine) == 1 and mine[0][1:4] == ["guest", "1", vhost]
        name = mine[0][0]
        assert " -> 127.0.0.1:" in name
        chans = admin.tsv("list", "channels", "name", "user", "consumer_count")
        assert [f"{name} (1)", "guest", "1"] in chans
        consumers = admin.tsv("list", "consumers", "consumer_tag", "queue.name")
        assert consumers[1:] == [["radmin-ctag", "cq"]]
        assert admin("close", "connection", f"name={name}") == "connection closed\n"
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.1)
        assert closed.value.reply_code == 320
        assert "Closed via management plugin" in closed.value.reply_text
        assert admin.fails("close", "connection", f"name={name}") == (
            f"*** Not found: /api/connections/{q(name)}"
        )
    finally:
        if conn.is_open:
            conn.close()


def test_rabbitmqadmin_export_delete_import(admin: RabbitmqAdmin, tmp_path: Path) -> None:
    vhost = admin.vhost
    admin("declare", "exchange", "name=ex1", "type=topic")
    admin("declare", "queue", "name=q1")
    admin("declare", "queue", "name=q2", 'arguments={"x-message-ttl": 60000}')
    admin("declare", "binding", "source=ex1", "destination=q1", "routing_key=a.*")
    admin(
        "declare", "binding", "source=ex1", "destination=q2", "routing_key=b", 'arguments={"x": 1}'
    )
    listed = admin.tsv("list", "bindings", "source", "destination", "routing_key", "properties_key")

    out = tmp_path / "vhost.json"
    assert admin("export", str(out)) == f'Exported definitions for 127.0.0.1 to "{out}"\n'
    defs = json.loads(out.read_text())
    assert {x["name"] for x in defs["queues"]} == {"q1", "q2"}
    assert [x["name"] for x in defs["exchanges"]] == ["ex1"]
    assert sorted((b["destination"], b["routing_key"]) for b in defs["bindings"]) == [
        ("q1", "a.*"),
        ("q2", "b"),
    ]
    assert "users" not in defs and "vhost" not in defs["queues"][0]

    whole = tmp_path / "all.json"
    RabbitmqAdmin(admin.port)("export", str(whole))
    everything = json.loads(whole.read_text())
    assert vhost in {v["name"] for v in everything["vhosts"]}
    assert "guest" in {u["name"] for u in everything["users"]}
    assert {"q1", "q2"} <= {x["name"] for x in everything["queues"] if x["vhost"] == vhost}

    # delete everything through rabbitmqadmin, by the binding ids the listing gave
    for source, dest, _key, props in listed[1:]:
        if source:
            assert (
                admin(
                    "delete",
                    "binding",
                    f"source={source}",
                    f"destination={dest}",
                    "destination_type=queue",
                    f"properties_key={props}",
                )
                == "binding deleted\n"
            )
    assert admin.fails(
        "delete",
        "binding",
        "source=ex1",
        "destination=q1",
        "destination_type=queue",
        "properties_key=nope",
    ).startswith("*** Not found: ")
    assert admin("delete", "queue", "name=q1") == "queue deleted\n"
    assert admin("delete", "queue", "name=q2") == "queue deleted\n"
    assert admin("delete", "exchange", "name=ex1") == "exchange deleted\n"
    assert admin.fails("delete", "queue", "name=q1").startswith("*** Not found: ")
    assert admin("list", "queues") == "No items\n"

    assert admin("import", str(out)).startswith("Uploaded definitions from")
    assert admin.tsv("list", "queues", "name", "arguments.x-message-ttl") == [
        ["name", "arguments.x-message-ttl"],
        ["q1", ""],
        ["q2", "60000"],
    ]
    assert (
        admin.tsv("list", "bindings", "source", "destination", "routing_key", "properties_key")
        == listed
    )

    # a broker-wide file (as the whole export) creates vhosts and users too
    other = f"{vhost}-imported"
    whole.write_text(
        json.dumps(
            {
                "vhosts": [{"name": other}],
                "users": [{"name": f"{other}-user", "password": "pw", "tags": "monitoring"}],
                "permissions": [
                    {
                        "user": "guest",
                        "vhost": other,
                        "configure": ".*",
                        "write": ".*",
                        "read": ".*",
                    }
                ],
                "queues": [
                    {
                        "name": "iq",
                        "vhost": other,
                        "durable": True,
                        "auto_delete": False,
                        "arguments": {},
                    }
                ],
            }
        )
    )
    top = RabbitmqAdmin(admin.port)
    top("import", str(whole))
    try:
        assert RabbitmqAdmin(admin.port, other).tsv("list", "queues", "name") == [
            ["name"],
            ["iq"],
        ]
        users = top.tsv("list", "users", "name", "tags")
        assert [f"{other}-user", "monitoring"] in users
    finally:
        top.run("delete", "vhost", f"name={other}")
        top.run("delete", "user", f"name={other}-user")
