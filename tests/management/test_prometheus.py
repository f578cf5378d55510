"""/metrics, /metrics/per-object and /metrics/detailed read by prometheus_client's
text-format parser, as Prometheus would read them: RabbitMQ's family names and types,
and the values RabbitMQ 3.10.8 reports for the same traffic (recorded side by side).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.management.helpers import SAMPLES, Api, wait_for
from tests.support import BrokerProcess, start_broker


@pytest.fixture
def fresh_broker() -> Iterator[BrokerProcess]:
    """A broker of its own: the aggregated metrics count everything on the node."""
    with tempfile.TemporaryDirectory(prefix="amqpish-prom-") as d:
        bp = start_broker(Path(d))
        try:
            yield bp
        finally:
            bp.stop()
            crashes = [line for line in bp.log_lines if "Traceback" in line]
            assert not crashes, "broker logged crashes:\n" + "".join(crashes[-20:])


def scrape(
    api: Api, path: str
) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], dict[str, str]]:
    """Samples by (name, sorted labels) and family types, parsed by prometheus_client."""
    r = api.get(path, auth=False)
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    types: dict[str, str] = {}
    for fam in text_string_to_metric_families(r.body.decode()):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def sample_families(filename: str) -> dict[str, str]:
    """The metric families (and their types) RabbitMQ 3.10.8 served."""
    text = Path(SAMPLES, filename).read_text()
    return {
        f.name: f.type
        for f in text_string_to_metric_families(text)
        if f.name.startswith("rabbitmq_")
    }


def sample_names(filename: str) -> set[str]:
    text = Path(SAMPLES, filename).read_text()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


AMQP091 = (("protocol", "amqp091"),)
CLASSIC = (("protocol", "amqp091"), ("queue_type", "rabbit_classic_queue"))

# The traffic below, as RabbitMQ 3.10.8 counts it (recorded side by side).
EXPECTED_AGGREGATED = {
    ("rabbitmq_queue_messages_ready", ()): 3,
    ("rabbitmq_queue_messages_unacked", ()): 3,
    ("rabbitmq_queue_messages", ()): 6,
    ("rabbitmq_queue_consumers", ()): 1,
    ("rabbitmq_queue_messages_published_total", ()): 10,
    ("rabbitmq_connections", ()): 2,
    ("rabbitmq_channels", ()): 2,
    ("rabbitmq_consumers", ()): 1,
    ("rabbitmq_queues", ()): 1,
    ("rabbitmq_connections_opened_total", ()): 2,
    ("rabbitmq_channels_opened_total", ()): 2,
    ("rabbitmq_queues_created_total", ()): 1,
    ("rabbitmq_channel_consumers", ()): 1,
    ("rabbitmq_channel_messages_unacked", ()): 3,
    ("rabbitmq_channel_messages_unconfirmed", ()): 0,
    ("rabbitmq_consumer_prefetch", ()): 3,
    ("rabbitmq_channel_messages_published_total", ()): 13,
    ("rabbitmq_channel_messages_confirmed_total", ()): 13,
    ("rabbitmq_channel_messages_unroutable_dropped_total", ()): 2,
    ("rabbitmq_channel_messages_unroutable_returned_total", ()): 1,
    ("rabbitmq_channel_get_ack_total", ()): 1,
    ("rabbitmq_channel_get_total", ()): 1,
    ("rabbitmq_channel_messages_delivered_ack_total", ()): 5,
    ("rabbitmq_channel_messages_delivered_total", ()): 0,
    ("rabbitmq_channel_messages_acked_total", ()): 3,
    ("rabbitmq_channel_messages_redelivered_total", ()): 0,
    ("rabbitmq_global_consumers", AMQP091): 1,
    ("rabbitmq_global_publishers", AMQP091): 1,
    ("rabbitmq_global_messages_received_total", AMQP091): 13,
    ("rabbitmq_global_messages_received_confirm_total", AMQP091): 13,
    ("rabbitmq_global_messages_confirmed_total", AMQP091): 13,
    ("rabbitmq_global_messages_routed_total", AMQP091): 10,
    ("rabbitmq_global_messages_unroutable_dropped_total", AMQP091): 2,
    ("rabbitmq_global_messages_unroutable_returned_total", AMQP091): 1,
    ("rabbitmq_global_messages_delivered_total", CLASSIC): 7,
    ("rabbitmq_global_messages_delivered_get_manual_ack_total", CLASSIC): 1,
    ("rabbitmq_global_messages_delivered_get_auto_ack_total", CLASSIC): 1,
    ("rabbitmq_global_messages_delivered_consume_manual_ack_total", CLASSIC): 5,
    ("rabbitmq_global_messages_delivered_consume_auto_ack_total", CLASSIC): 0,
    ("rabbitmq_global_messages_acknowledged_total", CLASSIC): 3,
    ("rabbitmq_global_messages_redelivered_total", CLASSIC): 0,
}


def test_prometheus_parser_reads_known_traffic(fresh_broker: BrokerProcess) -> None:
    api = Api(fresh_broker.http_port)
    params = pika.ConnectionParameters("127.0.0.1", fresh_broker.port)
    publisher = pika.BlockingConnection(params)
    consumer = pika.BlockingConnection(params)
    try:
        ch = publisher.channel()
        ch.confirm_delivery()
        ch.queue_declare("pm-q", durable=True)
        for i in range(10):
            ch.basic_publish("", "pm-q", b"m%d" % i, pika.BasicProperties(delivery_mode=2))
        for _ in range(2):
            ch.basic_publish("amq.direct", "nowhere", b"dropped")
        with pytest.raises(pika.exceptions.UnroutableError):
            ch.basic_publish("amq.direct", "nowhere", b"returned", mandatory=True)
        method, _, _ = ch.basic_get("pm-q")
        assert method is not None
        ch.basic_ack(method.delivery_tag)
        assert ch.basic_get("pm-q", auto_ack=True)[0] is not None
        cch = consumer.channel()
        cch.basic_qos(prefetch_count=3)
        tags: list[int] = []
        cch.basic_consume("pm-q", lambda _c, m, _p, _b: tags.append(m.delivery_tag))
        deadline = time.monotonic() + 10
        while len(tags) < 3 and time.monotonic() < deadline:
            consumer.process_data_events(time_limit=0.05)
        cch.basic_ack(tags[0])
        cch.basic_ack(tags[1])
        # two acks free two prefetch slots: 5 delivered, 3 unacknowledged, 3 ready
        while len(tags) < 5 and time.monotonic() < deadline:
            consumer.process_data_events(time_limit=0.05)

        # counters reach the aggregates on the sampler's next tick (1 s)
        def aggregated_as_expected() -> Any:
            samples, _ = scrape(api, "/metrics")
            diff = {
                k: samples.get(k) for k, v in EXPECTED_AGGREGATED.items() if samples.get(k) != v
            }
            return not diff or None

        wait_for(aggregated_as_expected, what="the aggregated metrics of the traffic")
        samples, types = scrape(api, "/metrics")
        for name in ("incoming", "outgoing"):
            assert samples[(f"rabbitmq_connection_{name}_bytes_total", ())] > 0
            assert samples[(f"rabbitmq_connection_{name}_packets_total", ())] > 0
        for fam in ("rabbitmq_global_messages_delivered_total",):
            for qt in ("rabbit_quorum_queue", "rabbit_stream_queue"):
                assert samples[(fam, (("protocol", "amqp091"), ("queue_type", qt)))] == 0
        # every family RabbitMQ serves that amqpish serves has RabbitMQ's type
        theirs = sample_families("prometheus-metrics-aggregated.txt")
        assert {f: t for f, t in types.items() if f in theirs} == {
            f: theirs[f] for f in types if f in theirs
        }
        for must in (
            "rabbitmq_queue_messages_ready",
            "rabbitmq_queue_messages_unacked",
            "rabbitmq_channel_messages_published",
            "rabbitmq_channel_messages_delivered_ack",
            "rabbitmq_channel_messages_acked",
            "rabbitmq_connections",
            "rabbitmq_channels",
            "rabbitmq_consumers",
            "rabbitmq_global_messages_received",
            "rabbitmq_global_messages_delivered",
            "rabbitmq_global_messages_acknowledged",
        ):
            assert must in theirs and types[must] == theirs[must], must

        per, per_types = scrape(api, "/metrics/per-object")
        labels = (("queue", "pm-q"), ("vhost", "/"))
        assert {
            name: per[(f"rabbitmq_queue_{name}", labels)]
            for name in ("messages_ready", "messages_unacked", "messages", "consumers")
        } == {"messages_ready": 3, "messages_unacked": 3, "messages": 6, "consumers": 1}
        assert per[("rabbitmq_queue_messages_bytes", labels)] == 12  # "m0".."m9", 2 bytes each
        # all in memory (no paging under the default budget), all persistent
        assert per[("rabbitmq_queue_messages_ram", labels)] == 6
        assert per[("rabbitmq_queue_messages_ram_bytes", labels)] == 12
        assert per[("rabbitmq_queue_messages_ready_ram", labels)] == 3
        assert per[("rabbitmq_queue_messages_paged_out", labels)] == 0
        assert per[("rabbitmq_queue_messages_persistent", labels)] == 6
        assert per[("rabbitmq_queue_messages_persistent_bytes", labels)] == 12
        # that sample has no TYPE lines: compare sample names
        theirs_names = sample_names("prometheus-metrics-per-object-queue.txt")
        ours_names = {name for name, _ in per}
        assert {n for n in theirs_names if n.startswith("rabbitmq_queue_")} - ours_names == {
            # Erlang process, paging and disk internals amqpish has no counterpart for
            "rabbitmq_queue_process_reductions_total",
            "rabbitmq_queue_consumer_capacity",
            "rabbitmq_queue_consumer_utilisation",
            "rabbitmq_queue_process_memory_bytes",
            "rabbitmq_queue_head_message_timestamp",
            "rabbitmq_queue_disk_reads_total",
            "rabbitmq_queue_disk_writes_total",
        }
        assert per_types["rabbitmq_queue_messages_ready"] == "gauge"
        published = [
            v
            for (name, lbl), v in per.items()
            if name == "rabbitmq_channel_messages_published_total" and ("vhost", "/") in lbl
        ]
        assert sorted(published) == [0, 13]

        det, det_types = scrape(
            api, "/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count"
        )
        assert {name: det[(name, labels)] for name, _ in det} == {
            "rabbitmq_detailed_queue_messages_ready": 3,
            "rabbitmq_detailed_queue_messages_unacked": 3,
            "rabbitmq_detailed_queue_messages": 6,
            "rabbitmq_detailed_queue_consumers": 1,
        }
        theirs = sample_families("prometheus-metrics-detailed.txt")
        assert {f: t for f, t in det_types.items()} == {
            f: t for f, t in theirs.items() if f in det_types
        }
    finally:
        consumer.close()
        publisher.close()
