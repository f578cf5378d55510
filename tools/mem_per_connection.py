"""Measure broker RSS per idle connection (issue 8: 10,000 idle connections <= 20 KiB each).

usage: python tools/mem_per_connection.py [COUNT] [HEARTBEAT]
Starts its own broker on a free port, opens COUNT AMQP connections (handshake done,
one channel open, heartbeat HEARTBEAT seconds: 0 by default, as the shared bench's
idle connections ask; this client sends no heartbeats, so keep a HEARTBEAT well above
the time the run takes), waits
until the broker's RSS settles, and prints the RSS per connection above the broker
with one connection open. Then it measures the broker's CPU while they sit idle.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.test_robustness import RawClient
from tests.support import start_broker
from tools.mem_per_message import rss


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    heartbeat = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with tempfile.TemporaryDirectory() as d:
        bp = start_broker(Path(d))
        conns: list[RawClient] = []
        try:
            # one connection first, so that what every connection shares (codec
            # tables, first-use imports) is in the baseline
            conns.append(RawClient.with_channel(bp.port, heartbeat))
            time.sleep(0.5)
            base = rss(bp.proc.pid)
            t0 = time.monotonic()
            for _ in range(count - 1):
                conns.append(RawClient.with_channel(bp.port, heartbeat))
            opened = time.monotonic() - t0
            time.sleep(1.0)
            full = rss(bp.proc.pid)
            c0 = cpu_seconds(bp.proc.pid)
            time.sleep(5.0)
            idle_cpu = (cpu_seconds(bp.proc.pid) - c0) / 5.0
            print(
                f"{count} connections opened in {opened:.1f} s; broker RSS "
                f"{base / 2**20:.1f} MiB with 1, {full / 2**20:.1f} MiB with {count}: "
                f"{(full - base) / (count - 1) / 1024:.1f} KiB per connection; "
                f"idle CPU {idle_cpu * 100:.1f} %"
            )
        finally:
            for c in conns:
                c.close()
            bp.stop()


if __name__ == "__main__":
    main()
