"""pyrabbit2, unchanged, against a real amqpish: the calls its users make most."""

from __future__ import annotations

import uuid

import pytest
from pyrabbit2.api import Client
from pyrabbit2.http import HTTPError

from tests.management.helpers import settle
from tests.support import BrokerProcess


def test_pyrabbit2_common_calls(mgmt_broker: BrokerProcess) -> None:
    c = Client(f"127.0.0.1:{mgmt_broker.http_port}", "guest", "guest")
    vhost = f"pyrabbit-{uuid.uuid4().hex[:6]}"
    assert c.is_alive() is True
    assert c.get_whoami() == {"name": "guest", "tags": ["administrator"]}
    overview = c.get_overview()
    assert overview["rabbitmq_version"] == "3.10.8" and "queue_totals" in overview
    assert [n["name"] for n in c.get_nodes()] == [overview["node"]]
    assert c.create_vhost(vhost) == 201
    try:
        assert vhost in c.get_vhost_names()
        assert c.get_vhost(vhost)["name"] == vhost
        # the vhost's creator already has full permissions (as RabbitMQ): 204, not 201
        assert c.set_vhost_permissions(vhost, "guest", ".*", ".*", ".*") == 204
        assert c.get_permission(vhost, "guest")["read"] == ".*"

        assert c.create_exchange(vhost, "px", "topic", durable=True) is True
        assert c.get_exchange(vhost, "px")["type"] == "topic"
        assert "px" in {e["name"] for e in c.get_exchanges(vhost)}
        assert c.create_queue(vhost, "pq", durable=True, arguments={"x-max-length": 5}) == 201
        assert c.create_queue(vhost, "pq2") == 201
        settle()
        queue = c.get_queue(vhost, "pq")
        assert (queue["durable"], queue["arguments"], queue["messages"]) == (
            True,
            {"x-max-length": 5},
            0,
        )
        assert c.create_binding(vhost, "px", "pq", "a.*") == 201
        assert c.create_binding(vhost, "px", "pq2", "b.#", {"x": 1}) == 201
        assert [(b["source"], b["routing_key"]) for b in c.get_queue_bindings(vhost, "pq")] == [
            ("", "pq"),
            ("px", "a.*"),
        ]
        assert sorted(
            (b["source"], b["destination"], b["routing_key"])
            for b in c.get_bindings()
            if b["vhost"] == vhost
        ) == [("", "pq", "pq"), ("", "pq2", "pq2"), ("px", "pq", "a.*"), ("px", "pq2", "b.#")]

        assert c.publish(vhost, "px", "a.b", "hello", properties={"delivery_mode": 2}) is True
        assert c.publish(vhost, "px", "zzz", "hello") is False
        assert c.publish(vhost, "px", "b.c", "aGk=", payload_enc="base64") is True
        settle()
        assert c.get_queue_depth(vhost, "pq") == 1
        assert sorted((x["name"], x["messages"]) for x in c.get_queues(vhost)) == [
            ("pq", 1),
            ("pq2", 1),
        ]
        # pattern and regex go through pagination (page_count, items)
        assert sorted(x["name"] for x in c.get_queues(vhost, pattern="pq")) == ["pq", "pq2"]
        found = c.get_queues(pattern="^pq2$", regex=True)
        assert [x["name"] for x in found if x["vhost"] == vhost] == ["pq2"]

        got = c.get_messages(vhost, "pq", count=2, requeue=True)
        assert [(m["payload"], m["redelivered"], m["message_count"]) for m in got] == [
            ("hello", False, 0)
        ]
        assert got[0]["properties"] == {"delivery_mode": 2}
        got = c.get_messages(vhost, "pq")
        assert [(m["payload"], m["redelivered"]) for m in got] == [("hello", True)]
        got = c.get_messages(vhost, "pq2", encoding="base64")
        assert [(m["payload"], m["payload_encoding"]) for m in got] == [("aGk=", "base64")]
        settle()
        assert c.get_queue_depth(vhost, "pq") == 0

        c.publish(vhost, "px", "a.b", "x2")
        c.publish(vhost, "px", "b.b", "x3")
        assert c.purge_queue(vhost, "pq") == 204
        settle()
        assert c.get_queue(vhost, "pq")["messages"] == 0
        assert c.purge_queues([("pq2", vhost)]) is True
        settle()
        assert c.get_queue_depth(vhost, "pq2") == 0

        assert c.delete_binding(vhost, "px", "pq", "a.*") == 204
        assert [b["source"] for b in c.get_queue_bindings(vhost, "pq")] == [""]
        assert (
            c.create_policy(vhost, "pp", pattern="^pq$", definition={"max-length": 3}, priority=1)
            == 201
        )
        assert c.get_policy(vhost, "pp")["definition"] == {"max-length": 3}
        assert c.delete_policy(vhost, "pp") == 204
        definitions = c.get_definitions()
        assert vhost in {v["name"] for v in definitions["vhosts"]}

        assert c.delete_queue(vhost, "pq") == 204
        assert c.delete_queue(vhost, "pq2") == 204
        assert c.delete_exchange(vhost, "px") is True
        with pytest.raises(HTTPError) as missing:
            c.get_queue(vhost, "pq")
        assert missing.value.status == 404 and missing.value.detail == "Not Found"
    finally:
        assert c.delete_vhost(vhost) == 204
    with pytest.raises(Exception, match=f"No vhost named '{vhost}'"):
        c.is_alive(vhost)
