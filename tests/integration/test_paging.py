"""A queue larger than the broker's memory budget: 200 MB of 64 KB messages through a
broker allowed 20 MB of bodies. Its resident memory (VmHWM, the peak, of the broker
process) stays within the budget plus a fixed overhead while the queue fills, while
it drains, and after a restart on the full data directory; every message comes back
in order with its body."""

from __future__ import annotations

from pathlib import Path

import pika

from tests.support import BrokerProcess, http_api, start_broker

MB = 1 << 20
BUDGET = 20 * MB
SIZE = 64 * 1024
COUNT = 200 * MB // SIZE  # 3200 messages, half persistent
# the interpreter, the codec's buffers, per-message bookkeeping, a readahead batch,
# the persister's batch, allocator slack: measured ~25 MB, allowed 40 MB
OVERHEAD = 40 * MB
QUEUE = "big"


def status(bp: BrokerProcess, key: str) -> int:
    with open(f"/proc/{bp.proc.pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def body(i: int) -> bytes:
    return i.to_bytes(8, "big") * (SIZE // 8)


def consume(bp: BrokerProcess, expected: list[int]) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(bp.url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=20)
    messages = ch.consume(QUEUE, inactivity_timeout=10)
    for got, (method, _props, data) in enumerate(messages, 1):
        assert method is not None, f"only {got - 1} of {len(expected)} messages came back"
        assert data == body(expected[got - 1]), f"message {got - 1} is wrong"
        ch.basic_ack(method.delivery_tag)
        if got == len(expected):
            break
    ch.cancel()
    assert ch.queue_declare(QUEUE, durable=True, passive=True).method.message_count == 0
    conn.close()


def test_a_queue_ten_times_the_budget(tmp_path: Path) -> None:
    env = {"AMQPISH_QUEUE_MEMORY_BUDGET": str(BUDGET)}
    bp = start_broker(tmp_path, env=env)
    try:
        base = status(bp, "VmRSS")
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        ch = conn.channel()
        ch.queue_declare(QUEUE, durable=True)
        ch.confirm_delivery()
        for i in range(COUNT):
            mode = 2 if i % 2 else 1  # persistent and transient, interleaved
            ch.basic_publish("", QUEUE, body(i), pika.BasicProperties(delivery_mode=mode))
        filled = status(bp, "VmHWM")
        assert filled - base < BUDGET + OVERHEAD, f"filling: {filled / MB:.0f} MB"
        # the API tells what is on disk and what is in memory, as RabbitMQ's does
        q = http_api(bp, f"/api/queues/%2F/{QUEUE}")
        assert q["messages"] == COUNT and q["messages_persistent"] == COUNT // 2
        assert q["messages_paged_out"] > COUNT // 2
        assert q["message_bytes_ram"] + q["message_bytes_paged_out"] == q["message_bytes"]
        assert q["message_bytes_ram"] <= BUDGET
        conn.close()
        consume(bp, list(range(COUNT)))
        drained = status(bp, "VmHWM")
        assert drained - base < BUDGET + OVERHEAD, f"draining: {drained / MB:.0f} MB"
        assert any('"paging_started"' in line for line in bp.log_lines)
    finally:
        bp.stop()


def test_a_restart_on_a_queue_ten_times_the_budget(tmp_path: Path) -> None:
    env = {"AMQPISH_QUEUE_MEMORY_BUDGET": str(BUDGET)}
    bp = start_broker(tmp_path, env=env)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        ch = conn.channel()
        ch.queue_declare(QUEUE, durable=True)
        ch.confirm_delivery()
        for i in range(COUNT):
            ch.basic_publish("", QUEUE, body(i), pika.BasicProperties(delivery_mode=2))
        conn.close()
    finally:
        bp.stop()
    bp = start_broker(tmp_path, env=env)
    try:
        base = status(bp, "VmRSS")
        # the interpreter alone is ~40 MB: recovery added at most the budget
        assert status(bp, "VmHWM") < 45 * MB + BUDGET + OVERHEAD
        consume(bp, list(range(COUNT)))
        drained = status(bp, "VmHWM")
        assert drained - base < BUDGET + OVERHEAD, f"draining: {drained / MB:.0f} MB"
        recovered = [line for line in bp.log_lines if '"recovered"' in line]
        assert recovered and '"paged_out": 0' not in recovered[0]
    finally:
        bp.stop()
