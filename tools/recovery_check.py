"""Recovery time and RSS after a restart with COUNT persistent messages queued.

usage: python tools/recovery_check.py [COUNT]   (1,000,000 by default)

Starts a broker on free ports, publishes COUNT persistent 16-byte messages to a
durable queue over one raw connection, stops the broker (SIGTERM: a last sync), starts
it again on the same data directory and prints the ``seconds`` of its ``recovered`` log
event, the time until it accepted connections, and its RSS then.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amqpish.codec import spec
from amqpish.codec.frames import encode_basic_publish
from tests.integration.test_robustness import RawClient
from tests.support import start_broker
from tools.mem_per_message import rss

PERSISTENT = b"\x10\x00\x02"  # delivery-mode 2


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        bp = start_broker(data)
        try:
            c = RawClient.with_channel(bp.port)
            c.send(1, spec.QueueDeclare(queue="rec", durable=True))
            c.expect_method(1)
            frame = encode_basic_publish(
                1, b"", b"rec", False, False, PERSISTENT, b"x" * 16, 131072
            )
            batch = frame * 10_000
            for _ in range(count // 10_000):
                c.sock.sendall(batch)
            while True:
                c.send(1, spec.QueueDeclare(queue="rec", durable=True, passive=True))
                ok = c.expect_method(1)
                if ok.message_count >= count:  # type: ignore[attr-defined]
                    break
            c.close()
        finally:
            bp.stop()
        t0 = time.monotonic()
        bp = start_broker(data)
        ready = time.monotonic() - t0
        try:
            ev = next(json.loads(line) for line in bp.log_lines if '"event": "recovered"' in line)
            print(
                f"{ev['queue_entries']} messages recovered in {ev['seconds']} s "
                f"(accepting connections after {ready:.2f} s); RSS {rss(bp.proc.pid) / 2**20:.0f} MiB"
            )
        finally:
            bp.stop()


if __name__ == "__main__":
    main()
