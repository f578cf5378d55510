"""`amqpish serve`: ready line, JSON logs, clean stop on SIGTERM/SIGINT with 320 to clients."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pika
import pytest

from tests.support import start_broker


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_tells_clients(tmp_path: Path, sig: signal.Signals) -> None:
    bp = start_broker(tmp_path / "data")
    conn = pika.BlockingConnection(pika.URLParameters(bp.url))
    closed: list[tuple[int, str]] = []
    conn.add_on_connection_blocked_callback(lambda *a: None)
    bp.proc.send_signal(sig)
    assert bp.proc.wait(10) == 0
    try:
        conn.process_data_events(time_limit=1)
    except pika.exceptions.ConnectionClosedByBroker as e:
        closed.append((e.reply_code, e.reply_text))
    assert closed and closed[0][0] == 320
    bp.stop()
    events = [json.loads(line)["event"] for line in bp.log_lines if line.startswith("{")]
    assert events[0] == "recovered" or "broker_ready" in events
    assert "connection_opened" in events and "broker_stopped" in events
