"""Nothing confirmed is lost: SIGKILL the broker at random points, restart, count.

Each round starts the broker on the same data directory, runs three confirming
producers and a consumer that acks some messages, kills the broker with SIGKILL at
a random moment, restarts it and checks the queue against what the clients saw:
every confirmed, unacknowledged message is present exactly once; nothing is there
twice; a message is flagged redelivered only if it had been delivered.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import pika
import pika.exceptions
import pytest

from tests.support import BrokerProcess, start_broker

QUEUE = "crash-q"
ROUNDS = 20


class Clients:
    def __init__(self, url: str, round_no: int) -> None:
        self.url = url
        self.round = round_no
        self.lock = threading.Lock()
        self.confirmed: set[str] = set()
        self.delivered: set[str] = set()
        self.acked: set[str] = set()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self.produce, args=(p,), daemon=True) for p in range(3)
        ] + [threading.Thread(target=self.consume, daemon=True)]

    def produce(self, p: int) -> None:
        try:
            conn = pika.BlockingConnection(pika.URLParameters(self.url))
            ch = conn.channel()
            ch.confirm_delivery()
            i = 0
            props = pika.BasicProperties(delivery_mode=2)
            while not self.stop.is_set():
                mid = f"r{self.round}-p{p}-{i}"
                ch.basic_publish("", QUEUE, mid.encode(), props)
                with self.lock:
                    self.confirmed.add(mid)
                i += 1
        except (pika.exceptions.AMQPError, OSError):
            return

    def consume(self) -> None:
        try:
            conn = pika.BlockingConnection(pika.URLParameters(self.url))
            ch = conn.channel()
            ch.basic_qos(prefetch_count=50)
            for method, _props, body in ch.consume(QUEUE, inactivity_timeout=0.1):
                if self.stop.is_set():
                    return
                if method is None:
                    continue
                mid = body.decode()
                with self.lock:
                    self.delivered.add(mid)
                # ack two thirds; the rest stay unacked and must come back redelivered
                if hash(mid) % 3:
                    ch.basic_ack(method.delivery_tag)
                    with self.lock:
                        self.acked.add(mid)
        except (pika.exceptions.AMQPError, OSError):
            return


def _declare(bp: BrokerProcess) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(bp.url))
    conn.channel().queue_declare(QUEUE, durable=True)
    conn.close()


def _drain(bp: BrokerProcess) -> list[tuple[str, bool]]:
    conn = pika.BlockingConnection(pika.URLParameters(bp.url))
    ch = conn.channel()
    got = []
    while True:
        method, _props, body = ch.basic_get(QUEUE, auto_ack=True)
        if method is None:
            break
        got.append((body.decode(), method.redelivered))
    conn.close()
    return got


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_confirmed_message(tmp_path: Path) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    data = tmp_path / "data"
    # the port must stay the same for the clients of a round only, so each round
    # starts fresh on port 0
    bp = start_broker(data)
    _declare(bp)
    checked = 0
    try:
        for r in range(ROUNDS):
            clients = Clients(bp.url, r)
            for t in clients.threads:
                t.start()
            # wait until something has been confirmed, then kill at a random point
            deadline = threading.Event()
            while not clients.confirmed and not deadline.wait(0.01):
                pass
            threading.Event().wait(rng.uniform(0.05, 0.6))
            os.kill(bp.proc.pid, signal.SIGKILL)
            bp.proc.wait()
            clients.stop.set()
            for t in clients.threads:
                t.join(10)
            bp.stop()
            bp = start_broker(data)
            got = _drain(bp)
            ids = [m for m, _ in got]
            assert len(ids) == len(set(ids)), "a message is in the queue twice"
            present = set(ids)
            published = {m for m in present if m.startswith(f"r{r}-")}
            assert published == present, "messages from an earlier round came back"
            with clients.lock:
                must_have = clients.confirmed - clients.acked
                missing = must_have - present
                assert not missing, f"round {r}: confirmed messages lost: {sorted(missing)[:5]}"
                for m, redelivered in got:
                    if redelivered:
                        assert m in clients.delivered, f"{m} redelivered but never delivered"
                checked += len(must_have)
        assert checked > 0
    finally:
        bp.stop()
