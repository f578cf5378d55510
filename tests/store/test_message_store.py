"""The MessageStore contract, run against MemoryStore and SegmentStore alike."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.store import MemoryStore, SegmentStore, StoreError
from amqpish.store.interface import MessageStore
from tests.store.conftest import Harness, contents, drain

P = b"\x00\x00"  # empty properties
Q1 = "/\x00q1"
Q2 = "/\x00q2"
Q3 = "other\x00q1"


def publish(store: MessageStore, msg_id: int, queues: dict[str, int], body: bytes = b"") -> None:
    store.append_message(msg_id, "ex", f"rk{msg_id}", P, body or f"body {msg_id}".encode())
    for q, seq in queues.items():
        store.enqueue(q, msg_id, seq)


def ids(msgs: Any) -> list[int]:
    return [m.msg_id for m in msgs]


def test_fresh_store_recovers_nothing(harness: Harness) -> None:
    store = harness.fresh()
    store, state = harness.restart(store)
    assert dict(state.queues) == {}
    assert state.max_msg_id == 0
    assert state.messages == state.enqueued == state.orphans == 0


def test_synced_messages_come_back_in_seq_order(harness: Harness) -> None:
    store = harness.fresh()
    publish(store, 1, {Q1: 10})
    publish(store, 2, {Q1: 11, Q2: 1})
    publish(store, 3, {Q1: 12})
    store.sync()
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [1, 2, 3]
    assert ids(state.queues[Q2]) == [2]
    m = state.queues[Q1][1]
    assert (m.seq, m.exchange, m.routing_key, m.properties_raw, m.body, m.redelivered) == (
        11,
        "ex",
        "rk2",
        P,
        b"body 2",
        False,
    )
    assert state.max_msg_id == 3
    assert (state.messages, state.enqueued) == (3, 4)


def test_unsynced_records_are_lost(harness: Harness) -> None:
    store = harness.fresh()
    publish(store, 1, {Q1: 1})
    store.sync()
    publish(store, 2, {Q1: 2})
    store.ack(Q1, 1)
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [1]


def test_order_is_by_seq_not_by_arrival(harness: Harness) -> None:
    store = harness.fresh()
    # a requeued message goes back to its place: seq, not log order, decides
    for msg_id, seq in ((1, 5), (2, 3), (3, 9), (4, 1)):
        publish(store, msg_id, {Q1: seq})
    store.sync()
    store, state = harness.restart(store)
    assert [m.seq for m in state.queues[Q1]] == [1, 3, 5, 9]
    assert ids(state.queues[Q1]) == [4, 2, 1, 3]


def test_ack_settles_one_queue_only(harness: Harness) -> None:
    store = harness.fresh()
    publish(store, 1, {Q1: 1, Q2: 1, Q3: 1})
    publish(store, 2, {Q1: 2})
    store.ack(Q1, 1)
    store.ack(Q3, 1)
    store.sync()
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [2]
    assert ids(state.queues[Q2]) == [1]
    assert Q3 not in state.queues
    assert (state.messages, state.enqueued) == (2, 2)
    store.ack(Q2, 1)
    store.sync()
    store, state = harness.restart(store)
    assert Q2 not in state.queues
    assert state.messages == 1


def test_delivered_means_redelivered(harness: Harness) -> None:
    store = harness.fresh()
    publish(store, 1, {Q1: 1, Q2: 1})
    publish(store, 2, {Q1: 2})
    store.delivered(Q1, 1)
    store.delivered(Q1, 1)  # delivered twice: still one message
    store.delivered(Q2, 99)  # not in the store: ignored
    store.sync()
    store, state = harness.restart(store)
    assert [m.redelivered for m in state.queues[Q1]] == [True, False]
    assert [m.redelivered for m in state.queues[Q2]] == [False]


def test_purge_settles_what_came_before(harness: Harness) -> None:
    store = harness.fresh()
    publish(store, 1, {Q1: 1, Q2: 1})
    publish(store, 2, {Q1: 2})
    store.purge(Q1)
    publish(store, 3, {Q1: 3})
    store.sync()
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [3]
    assert ids(state.queues[Q2]) == [1]


def test_deleted_queue_is_gone_and_its_name_reusable(harness: Harness) -> None:
    store = harness.fresh()
    publish(store, 1, {Q1: 1, Q2: 1})
    store.delivered(Q1, 1)
    store.delete_queue(Q1)
    store.sync()
    store, state = harness.restart(store)
    assert Q1 not in state.queues
    assert ids(state.queues[Q2]) == [1]
    publish(store, 2, {Q1: 1})  # a new queue with the old name
    store.sync()
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [2]
    assert state.queues[Q1][0].redelivered is False


def test_enqueueing_a_live_pair_again_keeps_one_copy(harness: Harness) -> None:
    store = harness.fresh()
    publish(store, 1, {Q1: 1})
    store.enqueue(Q1, 1, 1)
    store.sync()
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [1]
    store.ack(Q1, 1)
    store.sync()
    store, state = harness.restart(store)
    assert Q1 not in state.queues
    assert state.messages == 0


def test_message_and_its_enqueues_may_straddle_a_batch(harness: Harness) -> None:
    # sync() can take the buffer between append_message and the enqueues
    store = harness.fresh()
    store.append_message(1, "ex", "rk", P, b"split")
    store.sync()
    store.enqueue(Q1, 1, 1)
    store.sync()
    store.sync()
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [1]


def test_message_that_no_queue_takes_is_garbage(harness: Harness) -> None:
    store = harness.fresh()
    store.append_message(1, "ex", "rk", P, b"unroutable")
    publish(store, 2, {Q1: 1})
    drain(store)
    store.sync()
    store.sync()
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [2]
    assert state.messages == 1


def test_pending_and_batch_numbers(harness: Harness) -> None:
    store = harness.fresh()
    assert store.pending() == 0
    first = store.sync()
    assert store.sync() == first  # nothing written, no new batch
    publish(store, 1, {Q1: 1}, body=b"x" * 1000)
    assert store.pending() >= 1000
    second = store.sync()
    assert second == first + 1
    assert store.pending() == 0
    store.ack(Q1, 1)
    assert store.pending() > 0
    assert store.sync() == second + 1


def test_max_msg_id_covers_live_messages(harness: Harness) -> None:
    store = harness.fresh()
    publish(store, 7, {Q1: 1})
    publish(store, 1000, {Q2: 1})
    store.ack(Q2, 1000)
    publish(store, 8, {Q1: 2})
    store.sync()
    store, state = harness.restart(store)
    # settled records of 1000 may still be on disk: ids must not be reused below them
    assert state.max_msg_id >= 8
    assert state.max_msg_id in (8, 1000)


def test_sync_after_close_is_an_error(harness: Harness) -> None:
    store = harness.fresh()
    store.close()
    with pytest.raises(StoreError):
        store.sync()
    store.close()  # twice is fine


def test_appends_racing_with_sync_are_never_lost(harness: Harness) -> None:
    # the buffer is lock-free on the append side: hammer it from the "event loop"
    # while another thread syncs in a loop, then check every record made it
    store = harness.fresh()
    n = 20_000
    done = threading.Event()
    errors: list[BaseException] = []

    def syncer() -> None:
        try:
            while not done.is_set():
                store.sync()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=syncer)
    t.start()
    try:
        for i in range(1, n + 1):
            store.append_message(i, "", "", P, b"")
            store.enqueue(Q1, i, i)
            if i % 3 == 0:
                store.ack(Q1, i)
    finally:
        done.set()
        t.join()
    assert not errors
    drain(store)
    assert store.pending() == 0
    store, state = harness.restart(store)
    assert ids(state.queues[Q1]) == [i for i in range(1, n + 1) if i % 3]


# -- a model-based test over random command logs ---------------------------------------


@dataclass
class Model:
    """What the store must give back: plain dicts, applied at sync."""

    content: dict[int, bytes] = field(default_factory=dict)
    queues: dict[str, dict[int, list[Any]]] = field(default_factory=dict)
    log: list[tuple[Any, ...]] = field(default_factory=list)

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "publish":
            _, m, body, targets = op
            self.content[m] = body
            for q, seq in targets:
                pairs = self.queues.setdefault(q, {})
                if m in pairs:
                    pairs[m][0] = seq
                else:
                    pairs[m] = [seq, False]
        elif kind == "deliver":
            entry = self.queues.get(op[1], {}).get(op[2])
            if entry is not None:
                entry[1] = True
        elif kind == "ack":
            self.queues.get(op[1], {}).pop(op[2], None)
        elif kind == "purge":
            self.queues.get(op[1], {}).clear()
        elif kind == "delete":
            self.queues.pop(op[1], None)

    def expected(self) -> dict[str, list[tuple[Any, ...]]]:
        out = {}
        for q, pairs in self.queues.items():
            if pairs:
                out[q] = sorted(
                    (seq, m, "ex", "rk", P, self.content[m], d) for m, (seq, d) in pairs.items()
                )
        return out


def run(store: MessageStore, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "publish":
        _, m, body, targets = op
        store.append_message(m, "ex", "rk", P, body)
        for q, seq in targets:
            store.enqueue(q, m, seq)
    elif kind == "deliver":
        store.delivered(op[1], op[2])
    elif kind == "ack":
        store.ack(op[1], op[2])
    elif kind == "purge":
        store.purge(op[1])
    elif kind == "delete":
        store.delete_queue(op[1])


QUEUES = ["/\x00a", "/\x00b", "v\x00c"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_recovers_exactly_what_was_synced(harness: Harness, data: st.DataObject) -> None:
    store = harness.fresh()
    durable = Model()
    unsynced: list[tuple[Any, ...]] = []
    live: list[tuple[str, int]] = []
    next_id = 1
    seqs = dict.fromkeys(QUEUES, 0)
    steps = data.draw(st.integers(1, 120), label="steps")
    for _ in range(steps):
        action = data.draw(
            st.sampled_from(
                ["publish"] * 6
                + ["deliver", "ack", "ack", "ack", "purge", "delete"]
                + ["sync", "sync", "drain", "restart"]
            )
        )
        if action == "publish":
            targets = data.draw(st.lists(st.sampled_from(QUEUES), min_size=1, unique=True))
            size = data.draw(st.sampled_from([0, 10, 300, 3000]))
            body = bytes([next_id % 256]) * size
            placed = []
            for q in targets:
                seqs[q] += 1
                placed.append((q, seqs[q]))
                live.append((q, next_id))
            op: tuple[Any, ...] = ("publish", next_id, body, tuple(placed))
            next_id += 1
        elif action in ("deliver", "ack"):
            if not live:
                continue
            q, m = data.draw(st.sampled_from(live))
            op = (action, q, m)
        elif action in ("purge", "delete"):
            op = (action, data.draw(st.sampled_from(QUEUES)))
        elif action == "sync":
            store.sync()
            for op in unsynced:
                durable.apply(op)
            unsynced.clear()
            continue
        elif action == "drain":
            drain(store)
            for op in unsynced:
                durable.apply(op)
            unsynced.clear()
            continue
        else:  # restart: whatever was not synced is lost
            unsynced.clear()
            store, state = harness.restart(store)
            assert contents(state) == durable.expected()
            assert state.max_msg_id <= next_id
            assert state.max_msg_id >= max(
                (m for pairs in durable.queues.values() for m in pairs), default=0
            )
            live = [(q, m) for q, pairs in durable.queues.items() for m in pairs]
            continue
        run(store, op)
        unsynced.append(op)
    drain(store)
    for op in unsynced:
        durable.apply(op)
    store, state = harness.restart(store)
    assert contents(state) == durable.expected()
    # settle everything: the store must shrink back to (almost) nothing
    for q in QUEUES:
        store.delete_queue(q)
    drain(store)
    store.sync()
    if isinstance(store, SegmentStore):
        assert store.disk_usage() <= store.segment_size
        assert len(list(store.path.glob("*.seg"))) <= 1
    store, state = harness.restart(store)
    assert contents(state) == {}


def test_memory_store_has_no_disk() -> None:
    store = MemoryStore()
    store.recover()
    publish(store, 1, {Q1: 1}, body=b"x" * 100)
    store.sync()
    assert store.disk_usage() == 0
