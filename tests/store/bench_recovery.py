"""Measure SegmentStore write and recovery speed (not collected by pytest).

    .venv/bin/python tests/store/bench_recovery.py [messages] [body_bytes] [queues]

Publishes ``messages`` small messages across ``queues`` queues (one ENQUEUE each, a
tenth of them DELIVERED, a tenth ACKed), syncing every 1,000 messages the way a busy
persister would, then reopens the directory and times ``recover()``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from amqpish.store.segments import SegmentStore

PROPS = b"\x90\x00\x02\x00\x00\x00\x00"  # content-type + delivery-mode flags, roughly


def fill(path: Path, messages: int, body_size: int, queues: int) -> float:
    store = SegmentStore(path)
    store.recover()
    body = b"x" * body_size
    qkeys = [f"/\x00queue-{i}" for i in range(queues)]
    t0 = time.perf_counter()
    for i in range(1, messages + 1):
        q = qkeys[i % queues]
        store.append_message(i, "amq.direct", "work", PROPS, body)
        store.enqueue(q, i, i)
        if i % 10 == 0:
            store.delivered(q, i)
        if i % 10 == 5:
            store.ack(q, i)
        if i % 1000 == 0:
            store.sync()
    store.sync()
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    body_size = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    queues = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    with tempfile.TemporaryDirectory(prefix="amqpish-bench-") as d:
        write_s = fill(Path(d), messages, body_size, queues)
        disk = sum(p.stat().st_size for p in Path(d).glob("*.seg"))
        print(
            f"wrote {messages:,} messages ({body_size} B bodies, {queues} queues) in "
            f"{write_s:.2f} s ({messages / write_s:,.0f} msg/s), {disk / 1e6:.1f} MB on disk"
        )
        store = SegmentStore(Path(d))
        t0 = time.perf_counter()
        state = store.recover()
        wall = time.perf_counter() - t0
        store.close()
        print(
            f"recovered {state.enqueued:,} messages ({state.records:,} records, "
            f"{state.segments} segments, {state.bytes_read / 1e6:.1f} MB) in {wall:.2f} s "
            f"({state.enqueued / wall:,.0f} msg/s)"
        )


if __name__ == "__main__":
    main()
