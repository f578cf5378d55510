"""Queue features as applications use them: a retry loop through a DLX and a delay
queue, policies from the config file, and a million waiting TTLs costing nothing."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pika
import pytest

from amqpish.codec import BasicProperties, encode_properties, spec
from amqpish.codec.frames import encode_basic_publish
from tests.integration.test_robustness import RawClient
from tests.support import BrokerProcess, start_broker

RETRIES = 3
MESSAGES = 10_000


def _death(headers: dict[str, Any] | None, queue: str, reason: str) -> int:
    for d in (headers or {}).get("x-death", []):
        if d["queue"] == queue and d["reason"] == reason:
            return int(d["count"])
    return 0


def test_retry_pattern_10000_messages_three_retries(broker: BrokerProcess) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    # work --reject--> (default exchange) retry --10 ms TTL--> (default exchange) work
    ch.queue_declare(
        "retry.work",
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "retry.delay"},
    )
    ch.queue_declare(
        "retry.delay",
        arguments={
            "x-message-ttl": 10,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "retry.work",
        },
    )
    ch.confirm_delivery()
    for i in range(MESSAGES):
        ch.basic_publish("", "retry.work", str(i).encode())
    finished: Counter[str] = Counter()
    bad: list[str] = []

    def on_message(c: Any, method: Any, props: Any, body: bytes) -> None:
        rejected = _death(props.headers, "retry.work", "rejected")
        if rejected < RETRIES:
            c.basic_reject(method.delivery_tag, requeue=False)
            return
        if _death(props.headers, "retry.delay", "expired") != RETRIES:
            bad.append(body.decode())
        finished[body.decode()] += 1
        c.basic_ack(method.delivery_tag)

    ch.basic_qos(prefetch_count=500)
    ch.basic_consume("retry.work", on_message)
    deadline = time.monotonic() + 120
    while len(finished) < MESSAGES and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.2)
    assert len(finished) == MESSAGES, f"only {len(finished)} of {MESSAGES} came through"
    assert set(finished.values()) == {1}
    assert not bad
    assert ch.queue_declare("retry.delay", passive=True).method.message_count == 0
    ch.queue_delete("retry.work")
    ch.queue_delete("retry.delay")
    conn.close()


def test_policies_from_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "amqpish.toml"
    cfg.write_text(
        """
[[policies]]
name = "limits"
pattern = "^bounded\\\\."
apply-to = "queues"
definition = { "max-length" = 3, "overflow" = "reject-publish" }
"""
    )
    bp = start_broker(tmp_path / "data", "--config", str(cfg))
    try:
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("bounded.q")
        for i in range(3):
            ch.basic_publish("", "bounded.q", str(i).encode())
        with pytest.raises(pika.exceptions.NackError):
            ch.basic_publish("", "bounded.q", b"over")
        conn.close()
    finally:
        bp.stop()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_a_million_waiting_ttls_cost_no_cpu(tmp_path: Path) -> None:
    bp = start_broker(tmp_path / "data")
    try:
        c = RawClient(bp.port)
        c.handshake()
        c.send(1, spec.ChannelOpen())
        c.expect_method(1)
        c.send(1, spec.QueueDeclare(queue="ttl.million", arguments={"x-message-ttl": 600_000}))
        c.expect_method(1)
        props = encode_properties(BasicProperties(expiration="300000"))
        frame = encode_basic_publish(1, b"", b"ttl.million", False, False, props, b"x" * 16, 131072)
        batch = frame * 10_000
        for _ in range(100):
            c.sock.sendall(batch)
        # wait until all million are queued (the event), then watch the broker idle
        deadline = time.monotonic() + 120
        while True:
            c.send(1, spec.QueueDeclare(queue="ttl.million", passive=True))
            ok = c.expect_method(1)
            assert isinstance(ok, spec.QueueDeclareOk)
            if ok.message_count == 1_000_000:
                break
            assert time.monotonic() < deadline, ok.message_count
        before = _cpu_seconds(bp.proc.pid)
        t0 = time.monotonic()
        time.sleep(2.0)  # measuring idleness: a fixed window is the measurement itself
        used = _cpu_seconds(bp.proc.pid) - before
        elapsed = time.monotonic() - t0
        assert used / elapsed < 0.05, f"broker used {used:.2f} s CPU in {elapsed:.1f} s while idle"
        c.close()
    finally:
        bp.stop()
