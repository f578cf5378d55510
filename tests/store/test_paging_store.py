"""Reading paged-out bodies back: from segments (as written, after compaction, after a
recovery larger than its budget), from spill files, and through the broker's pager."""

from __future__ import annotations

import gc
import random
from pathlib import Path
from typing import Any

import pytest

from amqpish.broker.message import PAGED_OUT, Entry, Message
from amqpish.broker.queue import Queue
from amqpish.server.paging import MIN_LIMIT, Pager, water_level
from amqpish.store import MemoryStore, SegmentStore, StoreError
from amqpish.store.records import MESSAGE, encode_frame, locate_bodies
from amqpish.store.spill import SpillStore
from tests.store.conftest import drain

P = b"\x00\x00"
Q = "/\x00q"


def body_of(i: int) -> bytes:
    rnd = random.Random(i)
    return rnd.randbytes(rnd.choice([0, 1, 23, 24, 255, 256, 3000, 70_000]))


def open_store(path: Path, **options: Any) -> SegmentStore:
    store = SegmentStore(path, **options)
    store.recover()
    return store


def publish(store: SegmentStore | MemoryStore, i: int, q: str = Q) -> None:
    store.append_message(i, "ex", "rk", P, body_of(i))
    store.enqueue(q, i, i)


PERSISTENT = b"\x10\x00\x02"


class StoreLog:
    """The durable log as Durability keeps it, minus the persister."""

    def __init__(self, store: SegmentStore) -> None:
        self.store = store
        self.next_id = 1

    def enqueued(self, queue: Queue, entry: Entry) -> None:
        m = entry.msg
        m.id = self.next_id
        self.next_id += 1
        self.store.append_message(m.id, "", "q", m.properties_raw, m.body)
        self.store.enqueue(Q, m.id, m.id)

    def delivered(self, queue: Queue, entry: Entry) -> None:
        self.store.delivered(Q, entry.msg.id)

    def settled(self, queue: Queue, entry: Entry) -> None:
        self.store.ack(Q, entry.msg.id)

    def deleted(self, queue: Queue) -> None:
        self.store.delete_queue(Q)


def test_locate_bodies_finds_every_body_even_with_look_alikes() -> None:
    # a body that contains the next one's encoding must not confuse the search
    inner = [MESSAGE, 2, "", "", P, b"needle"]
    records = [
        (MESSAGE, 1, "ex", "rk", P, encode_frame([inner]) + b"needle"),
        (2, "q", 1, 1),
        (MESSAGE, 2, "", "", P, b"needle"),
        (MESSAGE, 3, "", "", P, b""),
        (MESSAGE, 4, "", "", P, bytes(70_000)),
    ]
    frame = encode_frame(records)
    locs = locate_bodies(frame, records, 8, 1000)
    for r, at in zip([r for r in records if r[0] == MESSAGE], locs, strict=True):
        assert frame[at - 1000 : at - 1000 + len(r[5])] == r[5]


@pytest.mark.parametrize("segment_size", [4096, 64 << 20])
def test_bodies_read_back_as_written(tmp_path: Path, segment_size: int) -> None:
    store = open_store(tmp_path, segment_size=segment_size)
    for i in range(1, 101):
        publish(store, i)
        if i % 7 == 0:
            store.sync()
    assert not store.located(100)
    store.sync()
    assert all(store.located(i) for i in range(1, 101))
    wanted = [(i, len(body_of(i))) for i in random.Random(1).sample(range(1, 101), 100)]
    assert store.read_bodies(wanted) == [body_of(i) for i, _ in wanted]
    with pytest.raises(StoreError):
        store.read_bodies([(1000, 1)])
    store.close()


def test_bodies_read_back_after_compaction_moved_them(tmp_path: Path) -> None:
    store = open_store(tmp_path, segment_size=4096, compact_below=0.5, compact_step=700)
    for i in range(1, 121):
        store.append_message(i, "ex", "rk", P, bytes([i]) * 100)
        store.enqueue(Q, i, i)
        store.sync()
    keep = list(range(1, 121, 10))
    # a reader opened on the old segments before compaction keeps working
    assert store.read_bodies([(i, 100) for i in keep]) == [bytes([i]) * 100 for i in keep]
    for i in range(1, 121):
        if i not in keep:
            store.ack(Q, i)
    drain(store)
    assert store.segments_compacted >= 2
    for _ in range(2):
        assert store.read_bodies([(i, 100) for i in keep]) == [bytes([i]) * 100 for i in keep]
    # descriptors of deleted segments are let go of
    assert set(store._readers) <= set(store._sizes)
    store.close()


def test_recovery_keeps_at_most_the_budget_in_memory(tmp_path: Path) -> None:
    store = open_store(tmp_path, segment_size=1 << 20)
    sizes = {}
    for i in range(1, 301):
        publish(store, i)
        sizes[i] = len(body_of(i))
        if i % 3 == 0:
            store.ack(Q, i)
            del sizes[i]
        if i % 10 == 0:
            store.sync()
    store.sync()
    store.close()
    budget = 200_000
    store = SegmentStore(tmp_path)
    state = store.recover(resident_bytes=budget)
    msgs = state.queues[Q]
    assert [m.msg_id for m in msgs] == sorted(sizes)
    kept = [m for m in msgs if m.body is not None]
    left = [m for m in msgs if m.body is None]
    assert left, "the test must exceed the budget"
    assert sum(len(m.body or b"") for m in kept) <= budget
    assert all(m.body == body_of(m.msg_id) for m in kept)
    assert state.paged_sizes == {m.msg_id: sizes[m.msg_id] for m in left}
    wanted = [(m.msg_id, state.paged_sizes[m.msg_id]) for m in left]
    assert store.read_bodies(wanted) == [body_of(m.msg_id) for m in left]
    # recovered without a budget: every body, as before
    store.close()
    store = SegmentStore(tmp_path)
    state = store.recover()
    assert all(m.body == body_of(m.msg_id) for m in state.queues[Q])
    assert not state.paged_sizes
    store.close()


def test_memory_store_reads_bodies_too() -> None:
    store = MemoryStore()
    store.recover()
    publish(store, 1)
    assert not store.located(1)
    store.sync()
    assert store.located(1)
    assert store.read_bodies([(1, len(body_of(1)))]) == [body_of(1)]


def test_spill_files_go_with_the_last_message_that_needs_them(tmp_path: Path) -> None:
    (tmp_path / "00000007.spill").write_bytes(b"left over from a previous run")
    spill = SpillStore(tmp_path, file_size=10_000)
    assert not list(tmp_path.iterdir())
    bodies = [bytes([i]) * 3000 for i in range(20)]  # four to a file
    places = []
    for i in range(0, 20, 4):
        places += spill.write(bodies[i : i + 4])
    assert spill.files_created > 1
    wanted = [(p, len(b)) for p, b in zip(places, bodies, strict=True)]
    assert spill.read(wanted[::-1]) == bodies[::-1]
    spill.close()
    del wanted
    first_file = places[0][0].path
    assert first_file.exists()
    places = places[8:]
    gc.collect()
    assert not first_file.exists()
    del places
    assert not list(tmp_path.iterdir())


def test_water_level_shares_the_budget() -> None:
    assert water_level([], 100) == 100
    assert water_level([10, 20], 100) == 90  # fits: the largest may grow by the room left
    assert water_level([100, 10], 50) == 40
    assert water_level([100, 100, 100], 90) == 30
    assert water_level([1000, 50, 10], 100) == 45


def test_pager_pages_persistent_bodies_to_segments_and_transient_to_spill(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "messages")
    pager = Pager(MIN_LIMIT, store, SpillStore(tmp_path / "spill"))
    q = Queue("/", "q", durable=True, log=StoreLog(store), pager=pager)
    n = 200
    size = 20_000
    for i in range(1, n + 1):
        # odd ones persistent (delivery-mode 2)
        q.publish(Message("", "q", PERSISTENT if i % 2 else P, bytes([i % 256]) * size), 0)
        if i % 50 == 0:
            store.sync()
    store.sync()
    pager.rebalance([q])
    assert q.resident_bytes <= MIN_LIMIT
    paged = [e for e in q.ready if e.msg.body is PAGED_OUT]
    assert any(e.logged for e in paged) and any(not e.logged for e in paged)
    # spilled ones have a place in the queue, the others are found by message id
    assert all((e.msg in q.page_places) != e.logged for e in paged)
    got = []
    while (e2 := q.get(0, no_ack=True)) is not None:
        got.append(e2.msg.body)
    assert got == [bytes([i % 256]) * size for i in range(1, n + 1)]
    stats = pager.statistics()
    assert stats.paged_in == stats.paged_out > 0
    store.close()
