"""Recovery time for a million small messages (``-m slow``; see bench_recovery.py)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from amqpish.store import SegmentStore
from tests.store.bench_recovery import fill

MESSAGES = 1_000_000


@pytest.mark.slow
def test_a_million_messages_recover_in_seconds(tmp_path: Path) -> None:
    fill(tmp_path, MESSAGES, body_size=32, queues=4)
    store = SegmentStore(tmp_path)
    t0 = time.perf_counter()
    state = store.recover()
    elapsed = time.perf_counter() - t0
    store.close()
    print(
        f"recovered {state.enqueued:,} of {MESSAGES:,} messages "
        f"({state.records:,} records, {state.bytes_read / 1e6:.0f} MB) in {elapsed:.2f} s"
    )
    # every tenth message was acked by fill(); every tenth of the rest delivered
    assert state.enqueued == state.messages == MESSAGES * 9 // 10
    assert state.max_msg_id == MESSAGES
    q = state.queues["/\x00queue-1"]
    assert [m.msg_id for m in q[:3]] == [1, 9, 13]
    assert all(a.seq < b.seq for a, b in itertools.pairwise(q))
    assert sum(m.redelivered for msgs in state.queues.values() for m in msgs) == MESSAGES // 10
    assert elapsed < 20, f"recovery took {elapsed:.1f} s"
