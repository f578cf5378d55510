"""Start-up time and routing with many queues and bindings (issue 8, targets 4 and 5).

usage: python tools/scale_check.py [QUEUES] [BINDINGS_PER_QUEUE]   (10000 x 10 by default)

1. Start-up to accepting connections with an empty data directory (median of 5).
2. Declares QUEUES durable queues, each bound to amq.direct and amq.topic with
   BINDINGS_PER_QUEUE keys in all, and publishes to a queue by each exchange: the
   publish rate against the one with an empty broker shows any slowdown in routing.
3. Restarts the broker over that data directory: start-up with those definitions.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amqpish.codec import spec
from amqpish.codec.frames import encode_basic_publish, encode_method
from tests.integration.test_robustness import RawClient
from tests.support import BrokerProcess, start_broker

PUBLISHES = 200_000


def timed_start(data_dir: Path) -> tuple[BrokerProcess, float]:
    t0 = time.monotonic()
    bp = start_broker(data_dir)
    # accepting: a connection gets connection.start
    c = RawClient(bp.port)
    c.sock.sendall(spec.PROTOCOL_HEADER)
    assert isinstance(c.expect_method(0), spec.ConnectionStart)
    took = time.monotonic() - t0
    c.close()
    return bp, took


def sync(c: RawClient) -> None:
    c.send(1, spec.QueueDeclare(queue="q0", passive=True))
    while not isinstance(c.expect_method(1), spec.QueueDeclareOk):
        pass


def publish_rate(c: RawClient, exchange: str, key: str) -> float:
    """Messages/s routed by ``exchange`` (to one queue, purged after)."""
    frame = encode_basic_publish(
        1, exchange.encode(), key.encode(), False, False, b"\x00\x00", b"x" * 16, 131072
    )
    batch = frame * 1000
    t0 = time.monotonic()
    for _ in range(PUBLISHES // 1000):
        c.sock.sendall(batch)
    sync(c)
    rate = PUBLISHES / (time.monotonic() - t0)
    c.send(1, spec.QueuePurge(queue="q0"))
    c.expect_method(1)
    return rate


def rates(c: RawClient) -> tuple[float, float]:
    return (
        statistics.median(publish_rate(c, "amq.direct", "k0.0") for _ in range(3)),
        statistics.median(publish_rate(c, "amq.topic", "t.0.0") for _ in range(3)),
    )


def main() -> None:
    queues = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    per_queue = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as d:
        empties = []
        for i in range(5):
            bp, took = timed_start(Path(d) / f"empty{i}")
            bp.stop()
            empties.append(took)
        print(
            f"start-up, empty data dir: median {statistics.median(empties) * 1000:.0f} ms "
            f"(runs {', '.join(f'{t * 1000:.0f}' for t in empties)} ms)"
        )

        data = Path(d) / "full"
        bp, _ = timed_start(data)
        try:
            c = RawClient.with_channel(bp.port)
            c.sock.sendall(encode_method(1, spec.QueueDeclare(queue="q0", durable=True)))
            c.expect_method(1)
            c.send(1, spec.QueueBind(queue="q0", exchange="amq.direct", routing_key="k0.0"))
            c.expect_method(1)
            c.send(1, spec.QueueBind(queue="q0", exchange="amq.topic", routing_key="t.0.0"))
            c.expect_method(1)
            base = rates(c)
            t0 = time.monotonic()
            out = bytearray()
            for q in range(1, queues):
                out += encode_method(
                    1, spec.QueueDeclare(queue=f"q{q}", durable=True, no_wait=True)
                )
            c.sock.sendall(out)
            sync(c)
            declared = time.monotonic() - t0
            t0 = time.monotonic()
            out = bytearray()
            for q in range(queues):
                for k in range(per_queue):
                    # half direct, half topic (with wildcards, as real topologies have)
                    if k % 2:
                        b = spec.QueueBind(
                            queue=f"q{q}",
                            exchange="amq.direct",
                            routing_key=f"k{q}.{k}",
                            no_wait=True,
                        )
                    else:
                        b = spec.QueueBind(
                            queue=f"q{q}",
                            exchange="amq.topic",
                            routing_key=f"t.{q}.{k}" if k % 4 else f"t.*.{q}.#",
                            no_wait=True,
                        )
                    out += encode_method(1, b)
                if len(out) > 1 << 20:
                    c.sock.sendall(out)
                    out = bytearray()
            c.sock.sendall(out)
            sync(c)
            bound = time.monotonic() - t0
            # the last definitions batch may fold the journal into a new snapshot
            # (once, ~1 s of CPU at this size): measure routing, not that
            time.sleep(3)
            full = rates(c)
            print(
                f"declared {queues} queues in {declared:.1f} s, {queues * per_queue} bindings in {bound:.1f} s"
            )
            print(
                f"publish rate amq.direct: {base[0]:,.0f}/s empty, {full[0]:,.0f}/s with them ({full[0] / base[0]:.2f})"
            )
            print(
                f"publish rate amq.topic:  {base[1]:,.0f}/s empty, {full[1]:,.0f}/s with them ({full[1] / base[1]:.2f})"
            )
            c.close()
        finally:
            bp.stop()
        starts = []
        for _ in range(3):
            bp, took = timed_start(data)
            c = RawClient.with_channel(bp.port)
            c.send(1, spec.QueueDeclare(queue=f"q{queues - 1}", passive=True))
            assert isinstance(c.expect_method(1), spec.QueueDeclareOk)
            c.close()
            bp.stop()
            starts.append(took)
        print(
            f"start-up with {queues} queues and {queues * per_queue} bindings: median "
            f"{statistics.median(starts) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
