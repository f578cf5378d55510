"""Memory alarm: publishers get connection.blocked above the watermark and are no
longer read; they are unblocked when memory falls again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pika

from amqpish.codec import Heartbeat, MethodFrame, spec
from amqpish.codec.frames import encode_basic_publish
from tests.integration.test_robustness import RawClient
from tests.support import BrokerProcess, start_broker

MB = 1024 * 1024


def _wait(conn: pika.BlockingConnection, cond: object, what: str, deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while not cond():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        conn.process_data_events(time_limit=0.1)


def _wait_log(bp: BrokerProcess, event: str, deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while not any(f'"{event}"' in line for line in bp.log_lines):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {event} in the broker's log")
        time.sleep(0.05)


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
        failure: list[BaseException] = []

        def publish() -> None:
            # pika's basic_publish waits until its bytes are written; a blocked
            # connection is not read, so this thread may sit there until the purge
            try:
                for _ in range(200):
                    ch.basic_publish("", q, body)
                    pub.process_data_events(time_limit=0)
                    if events:
                        break
                _wait(pub, lambda: "unblocked" in events, "connection.unblocked")
            except BaseException as e:
                failure.append(e)

        t = threading.Thread(target=publish)
        t.start()
        _wait_log(bp, "memory_alarm")
        # a connection that does not publish is still served: it can make room
        admin = pika.BlockingConnection(pika.URLParameters(bp.url))
        admin.channel().queue_purge(q)
        t.join(30)
        assert not t.is_alive() and not failure, failure
        assert events[:2] == ["blocked", "unblocked"]
        ch.basic_publish("", q, b"after")
        assert ch.queue_declare(q, passive=True).method.message_count >= 1
        pub.close()
        admin.close()
    finally:
        bp.stop()


def test_blocked_connection_is_not_closed_for_missed_heartbeats(tmp_path: Path) -> None:
    """The broker does not read a blocked publisher, so it cannot see its heartbeats:
    as RabbitMQ, it does not hold that against the connection."""
    env = {"AMQPISH_MEMORY_HIGH_WATERMARK": str(120 * MB), "AMQPISH_QUEUE_MEMORY_BUDGET": "-1"}
    bp = start_broker(tmp_path / "data", env=env)
    try:
        c = RawClient(bp.port, heartbeat=1)  # sends no heartbeats of its own
        c.handshake()
        c.send(1, spec.ChannelOpen())
        c.expect_method(1)
        c.send(1, spec.QueueDeclare(queue="hb-q"))
        c.expect_method(1)
        frame = encode_basic_publish(1, b"", b"hb-q", False, False, b"\x00\x00", b"x" * MB, 131072)
        # the broker stops reading at the alarm, so never wait on a full socket
        c.sock.settimeout(0.1)
        pending = bytearray()
        sent = 0
        while not any('"memory_alarm"' in line for line in bp.log_lines):
            if not pending:
                pending += frame
                sent += 1
                assert sent < 400, "no memory alarm"
            try:
                del pending[: c.sock.send(pending)]
            except TimeoutError:
                pass
        c.sock.settimeout(10)
        # heartbeats keep coming from the broker for 3 s, more than 2 intervals
        beats = 0
        while beats < 6:
            ev = c.next_event()
            assert ev is not None, "connection closed while blocked"
            if isinstance(ev, Heartbeat):
                beats += 1
        admin = pika.BlockingConnection(pika.URLParameters(bp.url))
        admin.channel().queue_purge("hb-q")
        admin.close()
        c.sock.sendall(pending)
        c.send(1, spec.QueueDeclare(queue="hb-q", passive=True))
        while True:
            ev = c.next_event()
            assert ev is not None, "connection closed after the alarm cleared"
            if isinstance(ev, MethodFrame) and isinstance(ev.method, spec.QueueDeclareOk):
                break
        assert not any('"missed_heartbeats"' in line for line in bp.log_lines)
        c.close()
    finally:
        bp.stop()
