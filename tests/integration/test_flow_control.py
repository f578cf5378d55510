"""Memory alarm: publishers get connection.blocked above the watermark and are no
longer read; they are unblocked when memory falls again."""

from __future__ import annotations

import time
from pathlib import Path

import pika

from tests.support import start_broker

MB = 1024 * 1024


def _wait(conn: pika.BlockingConnection, cond: object, what: str, deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while not cond():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        conn.process_data_events(time_limit=0.1)


def test_publishers_blocked_above_watermark_and_unblocked_below(tmp_path: Path) -> None:
    # paging off: with it, the queue's bodies would go to disk before the watermark
    env = {"AMQPISH_MEMORY_HIGH_WATERMARK": str(150 * MB), "AMQPISH_QUEUE_MEMORY_BUDGET": "-1"}
    bp = start_broker(tmp_path / "data", env=env)
    try:
        pub = pika.BlockingConnection(pika.URLParameters(bp.url))
        events: list[str] = []
        pub.add_on_connection_blocked_callback(lambda c, m: events.append("blocked"))
        pub.add_on_connection_unblocked_callback(lambda c, m: events.append("unblocked"))
        ch = pub.channel()
        q = ch.queue_declare("flow-q").method.queue
        body = b"x" * MB
        for _ in range(200):
            ch.basic_publish("", q, body)
            pub.process_data_events(time_limit=0)
            if events:
                break
        _wait(pub, lambda: "blocked" in events, "connection.blocked")
        # a connection that does not publish is still served: it can make room
        admin = pika.BlockingConnection(pika.URLParameters(bp.url))
        admin.channel().queue_purge(q)
        _wait(pub, lambda: "unblocked" in events, "connection.unblocked")
        ch.basic_publish("", q, b"after")
        assert ch.queue_declare(q, passive=True).method.message_count >= 1
        pub.close()
        admin.close()
        assert any('"memory_alarm"' in line for line in bp.log_lines)
    finally:
        bp.stop()
