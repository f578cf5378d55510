"""Measure broker RSS per queued message: 1,000,000 transient 16-byte messages.

usage: python tools/mem_per_message.py [COUNT]   (starts its own broker on a free port)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amqpish.codec import spec
from amqpish.codec.frames import encode_basic_publish
from tests.integration.test_robustness import RawClient
from tests.support import start_broker


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as d:
        bp = start_broker(Path(d))
        try:
            c = RawClient(bp.port)
            c.handshake()
            c.send(1, spec.ChannelOpen())
            c.expect_method(1)
            c.send(1, spec.QueueDeclare(queue="mem"))
            c.expect_method(1)
            time.sleep(0.5)
            base = rss(bp.proc.pid)
            frame = encode_basic_publish(
                1, b"", b"mem", False, False, b"\x00\x00", b"x" * 16, 131072
            )
            for _ in range(count // 10_000):
                c.sock.sendall(frame * 10_000)
            while True:
                c.send(1, spec.QueueDeclare(queue="mem", passive=True))
                ok = c.expect_method(1)
                if ok.message_count >= count:  # type: ignore[attr-defined]
                    break
            full = rss(bp.proc.pid)
            print(
                f"empty broker RSS {base / 2**20:.1f} MiB; with {count} messages "
                f"{full / 2**20:.1f} MiB; {(full - base) / count:.0f} bytes per message"
            )
        finally:
            bp.stop()


if __name__ == "__main__":
    main()
