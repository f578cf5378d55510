"""``amqpish perf`` end to end: short runs against the test broker, one per mode.

These check that every mode works (counts above zero, the JSON shape, exit codes),
not how fast anything is. Each run is ``python -m amqpish.perf`` in a subprocess,
as a user would run it (the tool forks worker processes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pika
import pytest

from tests.perf.perfrun import perf
from tests.support import ROOT, BrokerProcess

RUN = ("-z", "1", "--warmup", "0.2")


def perf_json(broker: BrokerProcess, *argv: str) -> dict[str, Any]:
    prefix = f"t-perf-{uuid.uuid4().hex[:8]}"
    p = perf("--url", broker.url, "--prefix", prefix, "--json", *RUN, *argv)
    assert p.returncode == 0, p.stderr
    result: dict[str, Any] = json.loads(p.stdout)
    # progress lines go to stderr with --json, one per second
    assert "time" in p.stderr
    # the run deletes what it declared
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        ch = conn.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
            ch.queue_declare(f"{prefix}.q0", passive=True)
        assert e.value.reply_code == 404
    finally:
        if conn.is_open:
            conn.close()
    return result


def check_shape(r: dict[str, Any]) -> None:
    for key in ("sent_per_s", "confirmed_per_s", "received_per_s", "msgs_per_s", "duration_s",
                "loadgen_cpu_pct"):  # fmt: skip
        assert isinstance(r[key], float), key
    for key in ("sent", "confirmed", "nacked", "received", "blocked", "in_flight_cap"):
        assert isinstance(r[key], int), key
    assert set(r["latency_ms"]) == {"samples", "min", "p50", "p95", "p99", "max"}
    assert 0.9 <= r["duration_s"] <= 3
    assert isinstance(r["options"], dict) and r["options"]["duration"] == 1.0
    assert all(set(p) >= {"t", "sent_per_s", "received_per_s", "p50_ms"} for p in r["progress"])


def check_latency(r: dict[str, Any]) -> None:
    lat = r["latency_ms"]
    assert lat["samples"] > 0
    assert 0 <= lat["min"] <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]


def test_autoack_default_exchange(broker: BrokerProcess) -> None:
    r = perf_json(broker, "-a", "-t", "default", "-s", "16")
    check_shape(r)
    assert r["sent"] > 0 and r["received"] > 0 and r["confirmed"] == 0
    assert r["msgs_per_s"] == r["received_per_s"]
    assert r["in_flight_cap"] == 10_000
    assert r["options"]["url"] == broker.url.replace("guest:guest@", "guest@")  # no password
    check_latency(r)


def test_manual_ack_prefetch_and_multi_ack(broker: BrokerProcess) -> None:
    r = perf_json(broker, "-q", "100", "-A", "10", "-x", "2", "-y", "2", "--queues", "2")
    assert r["sent"] > 0 and r["received"] > 0
    check_latency(r)
    r = perf_json(broker, "-q", "50")  # one basic.ack per message
    assert r["received"] > 0


def test_confirms_persistent(broker: BrokerProcess) -> None:
    r = perf_json(broker, "-c", "100", "-f", "-a", "-s", "100")
    assert r["confirmed"] > 0 and r["nacked"] == 0 and r["received"] > 0
    # never more than the window unconfirmed
    assert r["sent"] - r["confirmed"] <= 100 + 100


@pytest.mark.parametrize(
    ("argv", "deliveries"),
    [
        (("-t", "fanout", "--queues", "3", "-y", "3"), 3),
        (("-t", "topic", "--queues", "2", "-y", "2", "--bindings", "40"), 1),
        (("-t", "direct", "--queues", "2", "-x", "2", "-y", "2", "--con-procs", "2"), 1),
    ],
    ids=["fanout", "topic", "direct"],
)
def test_exchange_types(broker: BrokerProcess, argv: tuple[str, ...], deliveries: int) -> None:
    r = perf_json(broker, "-a", *argv)
    assert r["sent"] > 0 and r["received"] > 0
    # each publish reaches `deliveries` queues (counts are sampled a moment apart)
    assert r["received"] / r["sent"] == pytest.approx(deliveries, rel=0.5)


def test_message_sizes(broker: BrokerProcess) -> None:
    # bodies over frame_max (128 KiB) span several body frames
    r = perf_json(broker, "-s", "300000", "-a", "-c", "4")
    assert r["received"] > 0 and r["confirmed"] > 0
    check_latency(r)
    # empty bodies have no body frame, and no room for a timestamp
    r = perf_json(broker, "-s", "0", "-q", "10")
    assert r["received"] > 0 and r["latency_ms"]["samples"] == 0


def test_fixed_rate(broker: BrokerProcess) -> None:
    r = perf_json(broker, "-a", "-r", "200")
    assert 100 <= r["sent_per_s"] <= 300
    assert r["received"] > 0
    check_latency(r)


def test_publish_only_and_consume_only(broker: BrokerProcess) -> None:
    r = perf_json(broker, "-y", "0", "-s", "0")
    assert r["sent"] > 0 and r["received"] == 0 and r["in_flight_cap"] == 0
    assert r["msgs_per_s"] == r["sent_per_s"]
    assert r["latency_ms"]["samples"] == 0 and r["latency_ms"]["p50"] is None
    r = perf_json(broker, "-x", "0", "-a")
    assert r["sent"] == 0 and r["received"] == 0


def test_text_output(broker: BrokerProcess) -> None:
    p = perf(
        "--url", broker.url, "--prefix", f"t-perf-{uuid.uuid4().hex[:8]}", "-a", "-c", "50", *RUN
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("time ") and "sent" in lines[0] and "received" in lines[0]
    summary = "\n".join(lines)
    for word in ("amqpish perf: 1 producer, 1 consumer", "sent", "confirmed", "received",
                 "latency    p50", "cpu"):  # fmt: skip
        assert word in summary


def test_errors_and_usage(broker: BrokerProcess) -> None:
    p = perf("--url", "amqp://guest:guest@127.0.0.1:1/", *RUN)
    assert p.returncode == 1 and "cannot connect" in p.stderr
    p = perf("--url", broker.url.replace("guest:guest", "guest:wrong"), *RUN)
    assert p.returncode == 1 and p.stderr.startswith("amqpish perf: ")
    p = perf("--url", broker.url + "no-such-vhost", *RUN)
    assert p.returncode == 1 and "530" in p.stderr
    for argv in (("-a", "-A", "5"), ("-q", "10", "-A", "20"), ("-x", "0", "-y", "0"),
                 ("--bindings", "5",), ("--url", "http://x/")):  # fmt: skip
        p = perf(*argv, *RUN)
        assert p.returncode == 2 and "error:" in p.stderr, argv
    p = perf("-s", "-1")
    assert p.returncode == 2


def test_add_perf_command_registers_perf() -> None:
    import argparse

    from amqpish.perf import add_perf_command

    parser = argparse.ArgumentParser(prog="amqpish")
    add_perf_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["perf", "-x", "3", "-y", "2", "-a", "-t", "fanout", "--json"])
    assert callable(args.func)
    assert (args.producers, args.consumers, args.autoack, args.exchange_type) == (
        3,
        2,
        True,
        "fanout",
    )


def test_broker_error_mid_run_fails_the_run(broker: BrokerProcess) -> None:
    prefix = f"t-perf-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "amqpish.perf", "--url", broker.url, "--prefix", prefix, "-a",
         "-r", "500", "-z", "30", "--warmup", "0", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the first progress line: the run is under way
        assert first.startswith("time"), first
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        conn.channel().queue_delete(f"{prefix}.q0")
        conn.close()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1
    assert out == ""
    assert "amqpish perf: consumer: cancelled by the broker" in err
