"""A damaged message store at the broker level: stop a broker holding persistent
messages, flip bits inside the newest segment and cut its tail off, restart. The
broker starts, logs the truncation, and serves every message before the damage, in
order, with its body (some of them read back from the damaged segment, because the
memory budget is smaller than the queue)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pika

from tests.support import start_broker

QUEUE = "durable-q"
COUNT = 400
DAMAGED = 250  # the first message whose record is damaged


def body(i: int) -> bytes:
    return f"message {i} ".encode() * 80  # ~1 KB


def events(lines: list[str], name: str) -> list[dict[str, object]]:
    out = []
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == name:
            out.append(ev)
    return out


def test_a_damaged_tail_costs_only_what_follows_the_damage(tmp_path: Path) -> None:
    env = {"AMQPISH_QUEUE_MEMORY_BUDGET": "200000"}
    bp = start_broker(tmp_path, env=env)
    segments = tmp_path / "messages"
    ends = []  # the newest segment's size once message i was confirmed (= fsynced)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        ch = conn.channel()
        ch.queue_declare(QUEUE, durable=True)
        ch.confirm_delivery()
        for i in range(COUNT):
            ch.basic_publish("", QUEUE, body(i), pika.BasicProperties(delivery_mode=2))
            newest = max(segments.glob("*.seg"))
            ends.append((newest, newest.stat().st_size))
        conn.close()
    finally:
        bp.stop()
    newest, size = ends[-1]
    assert ends[DAMAGED - 1][0] == newest, "the damage must hit the newest segment"
    # flip bits inside the frame of message DAMAGED, and tear the tail off
    at = ends[DAMAGED - 1][1] + 40
    with open(newest, "r+b") as fh:
        fh.seek(at)
        chunk = bytearray(fh.read(16))
        for k in range(0, 16, 3):
            chunk[k] ^= 0x5A
        fh.seek(at)
        fh.write(bytes(chunk))
        fh.truncate(size - 300)
        os.fsync(fh.fileno())

    bp = start_broker(tmp_path, env=env)
    try:
        cut = events(bp.log_lines, "store_segment_truncated")
        assert len(cut) == 1, bp.log_lines
        assert cut[0]["segment"] == newest.name
        assert cut[0]["offset"] == ends[DAMAGED - 1][1]
        assert cut[0]["reason"] == "bad crc"
        recovered = events(bp.log_lines, "recovered")
        assert recovered[0]["truncated"] == 1
        assert recovered[0]["queue_entries"] == DAMAGED
        paged = recovered[0]["paged_out"]
        assert isinstance(paged, int) and paged > 0, "some bodies must come from the damaged file"
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        ch = conn.channel()
        got = []
        while True:
            method, _props, data = ch.basic_get(QUEUE, auto_ack=True)
            if method is None:
                break
            got.append(data)
        assert got == [body(i) for i in range(DAMAGED)]
        # the store goes on after the cut: a new message survives another restart
        ch.confirm_delivery()
        ch.basic_publish("", QUEUE, b"after", pika.BasicProperties(delivery_mode=2))
        conn.close()
    finally:
        bp.stop()
    bp = start_broker(tmp_path, env=env)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(bp.url))
        method, _props, data = conn.channel().basic_get(QUEUE, auto_ack=True)
        assert method is not None and data == b"after"
        conn.close()
        assert not events(bp.log_lines, "store_segment_truncated")
    finally:
        bp.stop()
