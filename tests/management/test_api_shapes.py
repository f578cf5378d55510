"""The HTTP API's answers, field by field against RabbitMQ 3.10.8's recorded ones."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pika
import pytest

from tests.management.helpers import Api, keys_missing, q, sample, wait_for
from tests.support import BrokerProcess

# Erlang/cluster internals that have no counterpart here are still present (as zeros);
# these are the only keys allowed to be absent, each for a stated reason.
NOT_APPLICABLE = {
    "idle_since",  # only while idle, as in RabbitMQ
}


@pytest.fixture(scope="module")
def world(mgmt_broker: BrokerProcess) -> Iterator[dict[str, str]]:
    """A vhost with a topic exchange, a queue with a consumer, and some traffic."""
    api = Api(mgmt_broker.http_port)
    tag = uuid.uuid4().hex[:6]
    vhost = f"shape-{tag}"
    assert (
        api.put(f"/api/vhosts/{q(vhost)}", {"description": "shape tests", "tags": "a,b"}).status
        == 201
    )
    # creating the vhost gave guest full permissions in it, as RabbitMQ does
    assert api.ok(f"/api/permissions/{q(vhost)}/guest")["configure"] == ".*"
    params = pika.ConnectionParameters(
        "127.0.0.1", mgmt_broker.port, vhost, client_properties={"connection_name": "shape-probe"}
    )
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.exchange_declare("x-topic", "topic", durable=True)
    ch.queue_declare("q-work", durable=True, arguments={"x-max-length": 100000})
    ch.queue_bind("q-work", "x-topic", "orders.#")
    for i in range(20):
        ch.basic_publish(
            "x-topic", "orders.new", f"order {i}".encode(), pika.BasicProperties(delivery_mode=2)
        )
    consumer = conn.channel()
    consumer.basic_qos(prefetch_count=5)
    consumer.basic_consume("q-work", lambda *a: None, consumer_tag="shape-ctag")
    conn.process_data_events(time_limit=0.3)
    try:
        yield {"vhost": vhost, "queue": "q-work", "exchange": "x-topic"}
    finally:
        if conn.is_open:
            conn.close()
        api.delete(f"/api/vhosts/{q(vhost)}")


def test_overview(api: Api, world: dict[str, str]) -> None:
    ours = api.ok("/api/overview")
    theirs = sample("overview.json")["response"]
    assert keys_missing(theirs, ours) == []
    assert ours["object_totals"]["queues"] >= 1
    assert ours["queue_totals"]["messages"] >= 0
    for k in (
        "publish",
        "confirm",
        "deliver",
        "ack",
        "redeliver",
        "get",
        "return_unroutable",
        "drop_unroutable",
    ):
        assert isinstance(ours["message_stats"][k + "_details"]["rate"], float)
    with_samples = api.ok(
        "/api/overview?lengths_age=60&lengths_incr=5&msg_rates_age=60&msg_rates_incr=5"
    )
    d = with_samples["message_stats"]["publish_details"]
    assert {"rate", "samples", "avg", "avg_rate"} <= set(d)
    assert {"sample", "timestamp"} == set(d["samples"][0])


def test_queue_list_detail_paginated_columns(api: Api, world: dict[str, str]) -> None:
    v, name = q(world["vhost"]), world["queue"]
    listed = api.ok(f"/api/queues/{v}")
    theirs_item = sample("queues-list.json")["response"][2]  # the classic queue with a consumer
    assert keys_missing(theirs_item, listed[0]) == []
    detail = api.ok(f"/api/queues/{v}/{name}")
    theirs = sample("queue-detail.json")["response"]
    assert keys_missing(theirs, detail) == []
    assert detail["consumers"] == 1
    assert keys_missing(theirs["consumer_details"][0], detail["consumer_details"][0]) == []
    cd = detail["consumer_details"][0]
    assert (
        cd["prefetch_count"] == 5
        and cd["ack_required"] is True
        and cd["consumer_tag"] == "shape-ctag"
    )
    assert detail["messages"] == detail["messages_ready"] + detail["messages_unacknowledged"]
    assert detail["message_stats"]["publish"] == 20
    assert detail["arguments"] == {"x-max-length": 100000}

    paged = api.ok(f"/api/queues/{v}?page=1&page_size=2&name=q-&use_regex=false&pagination=true")
    assert set(paged) == set(sample("queues-paginated.json")["response"])
    assert (
        paged["filtered_count"] == 1
        and paged["page_count"] == 1
        and paged["items"][0]["name"] == name
    )

    cols = api.ok(
        f"/api/queues/{v}?columns=name,messages,messages_ready,message_stats.publish_details.rate"
    )
    assert set(cols[0]) == {"name", "messages", "messages_ready", "message_stats"}
    assert set(cols[0]["message_stats"]) == {"publish_details"}
    assert set(cols[0]["message_stats"]["publish_details"]) == {"rate"}

    nostats = api.ok(f"/api/queues/{v}?disable_stats=true&enable_queue_totals=true")
    assert (
        keys_missing(sample("queues-disable-stats.json")["response"][0], nostats[0]) == ["policy"]
        or keys_missing(sample("queues-disable-stats.json")["response"][2], nostats[0]) == []
    )

    with_samples = api.ok(
        f"/api/queues/{v}/{name}?lengths_age=60&lengths_incr=5&msg_rates_age=60&msg_rates_incr=5"
    )
    assert "samples" in with_samples["messages_details"]
    assert "samples" in with_samples["message_stats"]["publish_details"]

    bindings = api.ok(f"/api/queues/{v}/{name}/bindings")
    theirs_b = sample("queue-bindings.json")["response"]
    assert [set(b) for b in bindings] == [set(theirs_b[0])] * len(bindings)
    assert {b["source"] for b in bindings} == {"", "x-topic"}


def test_exchanges_and_bindings(api: Api, world: dict[str, str]) -> None:
    v = q(world["vhost"])
    listed = api.ok(f"/api/exchanges/{v}")
    names = {e["name"] for e in listed}
    assert {
        "",
        "amq.direct",
        "amq.fanout",
        "amq.topic",
        "amq.headers",
        "amq.match",
        "x-topic",
    } <= names
    theirs = sample("exchanges-list.json")["response"][-1]
    ours = next(e for e in listed if e["name"] == "x-topic")
    assert keys_missing(theirs, ours) == []
    for e in listed:
        assert "message_stats" in e  # present from the start, unlike RabbitMQ
    detail = api.ok(
        f"/api/exchanges/{v}/x-topic?lengths_age=60&lengths_incr=5&msg_rates_age=60&msg_rates_incr=5"
    )
    assert keys_missing(sample("exchange-detail.json")["response"], detail) == []
    assert detail["message_stats"]["publish_in"] == 20
    default = api.ok(f"/api/exchanges/{v}/amq.default")
    assert default["name"] == "" and default["type"] == "direct"
    src = api.ok(f"/api/exchanges/{v}/x-topic/bindings/source")
    assert src[0]["routing_key"] == "orders.#" and src[0]["properties_key"] == "orders.%23"
    assert set(src[0]) == set(sample("exchange-bindings-source.json")["response"][0])
    everything = api.ok(f"/api/bindings/{v}")
    assert set(everything[0]) == set(sample("bindings-list.json")["response"][0])


def test_binding_create_get_delete(api: Api, world: dict[str, str]) -> None:
    v = q(world["vhost"])
    base = f"/api/bindings/{v}/e/amq.direct/q/q-work"
    r = api.post(base, {"routing_key": "rk1", "arguments": {}})
    assert r.status == 201 and r.headers["location"] == "q-work/rk1"
    r2 = api.post(base, {"routing_key": "rk2", "arguments": {"x-match": "any", "n": 1}})
    assert r2.status == 201
    props = r2.headers["location"].split("/", 1)[1]
    assert props.startswith("rk2~")
    listed = api.ok(base)
    assert {b["properties_key"] for b in listed} == {"rk1", props}
    assert api.ok(f"{base}/{props}")["arguments"] == {"x-match": "any", "n": 1}
    assert api.delete(f"{base}/rk1").status == 204
    assert api.delete(f"{base}/{props}").status == 204
    assert api.get(f"{base}/rk1").status == 404
    assert api.delete(f"{base}/rk1").status == 404
    # exchange to exchange
    assert api.put(f"/api/exchanges/{v}/x-e2e", {"type": "fanout"}).status == 201
    assert api.post(f"/api/bindings/{v}/e/x-topic/e/x-e2e", {"routing_key": "work.#"}).status == 201
    dest = api.ok(f"/api/exchanges/{v}/x-e2e/bindings/destination")
    assert dest[0]["source"] == "x-topic" and dest[0]["destination_type"] == "exchange"
    assert api.delete(f"/api/bindings/{v}/e/x-topic/e/x-e2e/work.%23").status == 204
    assert api.delete(f"/api/exchanges/{v}/x-e2e").status == 204


def test_connections_channels_consumers(api: Api, world: dict[str, str]) -> None:
    v = q(world["vhost"])
    conns = api.ok(f"/api/vhosts/{v}/connections")
    assert len(conns) == 1
    c = conns[0]
    assert keys_missing(sample("connections-list.json")["response"][0], c) == []
    assert c["user_provided_name"] == "shape-probe" and c["protocol"] == "AMQP 0-9-1"
    assert c["client_properties"]["product"] == "Pika Python Client Library"
    assert " -> " in c["name"] and c["channels"] == 2
    detail = api.ok(f"/api/connections/{q(c['name'])}")
    assert keys_missing(sample("connection-detail.json")["response"], detail) == []
    chans = api.ok(f"/api/connections/{q(c['name'])}/channels")
    assert len(chans) == 2
    assert keys_missing(sample("connection-channels.json")["response"][0], chans[0]) == []
    by_num = {ch["number"]: ch for ch in chans}
    assert by_num[1]["confirm"] is True
    assert by_num[2]["prefetch_count"] == 5
    ch_detail = api.ok(f"/api/channels/{q(by_num[2]['name'])}")
    assert keys_missing(sample("channel-detail.json")["response"], ch_detail) == []
    assert ch_detail["consumer_details"][0]["consumer_tag"] == "shape-ctag"
    assert len(api.ok(f"/api/vhosts/{v}/channels")) == 2
    consumers = api.ok(f"/api/consumers/{v}")
    assert keys_missing(sample("consumers-list.json")["response"][0], consumers[0]) == []
    assert consumers[0]["queue"] == {"name": "q-work", "vhost": world["vhost"]}


def test_vhosts_users_permissions_policies(api: Api, world: dict[str, str]) -> None:
    vname = world["vhost"]
    v = q(vname)
    vh = api.ok(f"/api/vhosts/{v}")
    assert keys_missing(sample("vhost-detail.json")["response"], vh) == []
    assert vh["tags"] == ["a", "b"] and vh["description"] == "shape tests"
    # aggregates are as of the sampler's last tick (once a second)
    wait_for(
        lambda: api.ok(f"/api/vhosts/{v}")["message_stats"]["publish"] >= 20,
        what="vhost publish count",
    )
    listed = api.ok("/api/vhosts")
    assert (
        keys_missing(
            sample("vhosts-list.json")["response"][1], next(x for x in listed if x["name"] == vname)
        )
        == []
    )
    users = api.ok("/api/users")
    assert set(users[0]) == set(sample("users-list.json")["response"][0])
    assert api.ok("/api/whoami") == {"name": "guest", "tags": ["administrator"]}
    perms = api.ok(f"/api/vhosts/{v}/permissions")
    assert perms == [
        {"vhost": vname, "user": "guest", "configure": ".*", "write": ".*", "read": ".*"}
    ]
    body = {
        "pattern": "^q-work$",
        "definition": {"message-ttl": 3600000},
        "priority": "1",
        "apply-to": "queues",
    }
    assert api.put(f"/api/policies/{v}/ttl", body).status == 201
    assert api.put(f"/api/policies/{v}/ttl", body).status == 204
    pols = api.ok(f"/api/policies/{v}")
    assert pols == [
        {
            "vhost": vname,
            "name": "ttl",
            "pattern": "^q-work$",
            "apply-to": "queues",
            "definition": {"message-ttl": 3600000},
            "priority": 1,
        }
    ]
    assert set(pols[0]) == set(sample("policies-vhost.json")["response"][0])
    queue = api.ok(f"/api/queues/{v}/q-work")
    assert queue["policy"] == "ttl" and queue["effective_policy_definition"] == {
        "message-ttl": 3600000
    }
    assert api.delete(f"/api/policies/{v}/ttl").status == 204
    assert api.ok(f"/api/queues/{v}/q-work")["policy"] is None


def test_nodes_health_misc(api: Api, mgmt_broker: BrokerProcess) -> None:
    nodes = api.ok("/api/nodes")
    theirs = sample("nodes-list.json")["response"][0]
    missing = keys_missing(theirs, nodes[0])
    # Erlang VM internals (io, mnesia, gc, ...) have no counterpart in a Python broker
    assert not [
        m
        for m in missing
        if not m.startswith(
            (
                "io_",
                "mnesia_",
                "gc_",
                "context_switches",
                "msg_store",
                "queue_index",
                "ra_",
                "metrics_gc",
            )
        )
    ], missing
    node = api.ok(f"/api/nodes/{q(nodes[0]['name'])}?memory=true")
    assert "memory" in node
    assert api.ok("/api/cluster-name")["name"]
    assert api.ok("/api/extensions") == []
    assert api.ok("/api/aliveness-test/%2F") == {"status": "ok"}
    assert api.ok("/api/health/checks/alarms") == {"status": "ok"}
    assert api.ok("/api/health/checks/local-alarms") == {"status": "ok"}
    assert api.ok("/api/health/checks/virtual-hosts") == {"status": "ok"}
    assert api.ok(f"/api/health/checks/port-listener/{mgmt_broker.port}") == {
        "status": "ok",
        "port": mgmt_broker.port,
    }
    bad = api.get("/api/health/checks/port-listener/1")
    assert bad.status == 503 and bad.json["status"] == "failed" and bad.json["missing"] == 1
    assert api.ok("/api/health/checks/protocol-listener/amqp")["status"] == "ok"
    assert api.get("/api/health/checks/protocol-listener/mqtt").status == 503
    spec = api.ok("/api/openapi.json")
    assert spec["openapi"].startswith("3.") and "/api/queues/{vhost}/{name}" in spec["paths"]
    assert "put" in spec["paths"]["/api/queues/{vhost}/{name}"]


def test_publish_get_purge_delete(api: Api, world: dict[str, str]) -> None:
    v = q(world["vhost"])
    assert (
        api.put(
            f"/api/queues/{v}/q-tmp",
            {"durable": "false", "auto_delete": False, "arguments": {"x-message-ttl": 60000}},
        ).status
        == 201
    )
    assert (
        api.put(
            f"/api/queues/{v}/q-tmp", {"durable": False, "arguments": {"x-message-ttl": 60000}}
        ).status
        == 204
    )
    pub = {
        "properties": {"delivery_mode": "2", "headers": {"k": "v"}, "content_type": "text/plain"},
        "routing_key": "q-tmp",
        "payload": "hello from the HTTP API",
        "payload_encoding": "string",
    }
    assert api.post(f"/api/exchanges/{v}/amq.default/publish", pub).json == {"routed": True}
    b64 = {
        "properties": {},
        "routing_key": "q-tmp",
        "payload": "AAFiaW5hcnn/",
        "payload_encoding": "base64",
    }
    assert api.post(f"/api/exchanges/{v}/amq.default/publish", b64).json == {"routed": True}
    unroutable = {
        "properties": {},
        "routing_key": "nobody",
        "payload": "x",
        "payload_encoding": "string",
    }
    assert api.post(f"/api/exchanges/{v}/amq.direct/publish", unroutable).json == {"routed": False}
    got = api.post(
        f"/api/queues/{v}/q-tmp/get",
        {"count": "5", "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": "50000"},
    ).json
    assert len(got) == 2
    assert set(got[0]) == set(sample("queue-get-after-publish.json")["response"][0])
    assert got[0]["payload"] == "hello from the HTTP API" and got[0]["payload_encoding"] == "string"
    assert got[0]["properties"] == {
        "delivery_mode": 2,
        "headers": {"k": "v"},
        "content_type": "text/plain",
    }
    assert got[0]["message_count"] == 1 and got[1]["message_count"] == 0
    assert got[1]["payload_encoding"] == "base64" and got[1]["payload"] == "AAFiaW5hcnn/"
    assert got[1]["properties"] == []  # as RabbitMQ renders no properties
    again = api.post(
        f"/api/queues/{v}/q-tmp/get",
        {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"},
    ).json
    assert again[0]["redelivered"] is True
    assert api.ok(f"/api/queues/{v}/q-tmp")["messages"] == 1
    assert api.delete(f"/api/queues/{v}/q-tmp/contents").status == 204
    assert api.ok(f"/api/queues/{v}/q-tmp")["messages"] == 0
    assert (
        api.post(
            f"/api/queues/{v}/q-tmp/get",
            {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"},
        ).json
        == []
    )
    assert api.delete(f"/api/queues/{v}/q-tmp").status == 204
    assert api.get(f"/api/queues/{v}/q-tmp").status == 404


def test_definitions_round_trip(api: Api, world: dict[str, str]) -> None:
    v = q(world["vhost"])
    exported = api.ok(f"/api/definitions/{v}")
    assert set(exported) == set(sample("definitions-vhost-export.json")["response"])
    assert {x["name"] for x in exported["queues"]} >= {"q-work"}
    assert all("vhost" not in x for x in exported["queues"])
    everything = api.ok("/api/definitions")
    assert set(sample("definitions-global-export.json")["response"]) <= set(everything)
    target = f"import-{uuid.uuid4().hex[:6]}"
    assert api.put(f"/api/vhosts/{target}").status == 201
    imp = sample("definitions-vhost-import.json")["request"]["body"]
    assert api.post(f"/api/definitions/{target}", imp).status == 204
    assert api.ok(f"/api/queues/{target}/ui-probe-q-imported")["durable"] is True
    assert api.ok(f"/api/exchanges/{target}/ui-probe-x-imported")["type"] == "fanout"
    assert api.post(f"/api/definitions/{target}", exported).status == 204
    assert "q-work" in {
        b["destination"] for b in api.ok(f"/api/exchanges/{target}/x-topic/bindings/source")
    }
    bad = api.post(f"/api/definitions/{target}", {"queues": "not-a-list"})
    assert bad.status == 400 and "queues" in bad.json["reason"]
    assert api.delete(f"/api/vhosts/{target}").status == 204


def test_metrics(api: Api, world: dict[str, str]) -> None:
    r = api.get("/metrics", auth=False)
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.body.decode()
    names = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    theirs = sample_metric_names()
    for must in (
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_messages_unacked",
        "rabbitmq_queue_messages",
        "rabbitmq_connections",
        "rabbitmq_channels",
        "rabbitmq_consumers",
        "rabbitmq_queues",
        "rabbitmq_channel_messages_published_total",
        "rabbitmq_global_messages_received_total",
        "rabbitmq_build_info",
        "rabbitmq_identity_info",
    ):
        assert must in names and must in theirs, must
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            assert line.split()[3] in ("gauge", "counter", "untyped")
        elif line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
    per = api.get("/metrics/per-object", auth=False).body.decode()
    assert f'rabbitmq_queue_messages{{vhost="{world["vhost"]}",queue="q-work"}}' in per
    det = api.get("/metrics/detailed?family=queue_coarse_metrics", auth=False).body.decode()
    assert "rabbitmq_detailed_queue_messages_ready{" in det


def sample_metric_names() -> set[str]:
    from tests.management.helpers import SAMPLES

    with open(f"{SAMPLES}/prometheus-metrics-aggregated.txt") as fh:
        return {
            line.split("{")[0].split(" ")[0]
            for line in fh
            if line.strip() and not line.startswith("#")
        }


def test_messages_persistent_counts_persistent_messages_held(
    api: Api, mgmt_broker: BrokerProcess
) -> None:
    """As RabbitMQ: persistent messages in the queue, ready or unacknowledged."""
    name = f"persist-{uuid.uuid4().hex[:8]}"
    conn = pika.BlockingConnection(
        pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{mgmt_broker.port}/")
    )
    try:
        ch = conn.channel()
        ch.queue_declare(name)
        for i in range(5):
            mode = 2 if i % 2 == 0 else 1
            ch.basic_publish("", name, b"x", pika.BasicProperties(delivery_mode=mode))
        assert api.ok(f"/api/queues/%2F/{name}")["messages_persistent"] == 3
        # an unacknowledged one still counts; acknowledged, it does not
        method, props, _ = ch.basic_get(name)
        assert method is not None and props.delivery_mode == 2
        assert api.ok(f"/api/queues/%2F/{name}")["messages_persistent"] == 3
        ch.basic_ack(method.delivery_tag)
        ch.queue_declare(name, passive=True)  # the ack is processed before this answer
        assert api.ok(f"/api/queues/%2F/{name}")["messages_persistent"] == 2
        ch.queue_purge(name)
        assert api.ok(f"/api/queues/%2F/{name}")["messages_persistent"] == 0
        ch.queue_delete(name)
    finally:
        conn.close()
