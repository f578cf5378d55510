"""What only the segment store has: files, damage, I/O errors, reclaiming space."""

from __future__ import annotations

import errno
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from amqpish.store import MemoryStore, SegmentStore, StoreError
from amqpish.store import segments as segments_module
from amqpish.store.interface import MessageStore
from tests.store.conftest import contents, drain

P = b"\x00\x00"
Q = "/\x00q"
SLOW = "/\x00slow"
FAST = "/\x00fast"


def open_store(path: Path, **options: Any) -> SegmentStore:
    store = SegmentStore(path, **options)
    store.recover()
    return store


def reopen(store: SegmentStore, **options: Any) -> tuple[SegmentStore, Any]:
    store.close()
    new = SegmentStore(store.path, **options)
    return new, new.recover()


def seg_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.glob("*.seg"))


def publish(store: MessageStore, msg_id: int, q: str = Q, body: bytes = b"b") -> None:
    store.append_message(msg_id, "ex", "rk", P, body)
    store.enqueue(q, msg_id, msg_id)


def test_segments_roll_over_at_the_size_cap(tmp_path: Path) -> None:
    store = open_store(tmp_path, segment_size=1000)
    for i in range(1, 21):
        publish(store, i, body=b"x" * 200)
        store.sync()
    names = seg_files(tmp_path)
    assert names[0] == "00000001.seg"
    assert len(names) >= 4
    sizes = [(tmp_path / n).stat().st_size for n in names]
    assert all(s <= 1000 for s in sizes)
    assert store.disk_usage() == sum(sizes)
    # a frame bigger than the cap gets a segment of its own
    publish(store, 99, body=b"y" * 5000)
    store.sync()
    assert (tmp_path / seg_files(tmp_path)[-1]).stat().st_size > 5000
    store, state = reopen(store, segment_size=1000)
    assert len(state.queues[Q]) == 21
    store.close()


def test_one_fsync_per_batch(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    publish(store, 1)
    store.sync()  # creates the first segment: file + directory fsync
    before = store.fsyncs
    for i in range(2, 12):
        for j in range(50):
            publish(store, i * 100 + j)
        store.sync()
    assert store.fsyncs - before == 10
    store.close()


def test_settled_segments_are_deleted(tmp_path: Path) -> None:
    store = open_store(tmp_path, segment_size=1000)
    for i in range(1, 41):
        publish(store, i, body=b"x" * 100)
        store.sync()
    assert len(seg_files(tmp_path)) > 4
    for i in range(1, 41):
        store.ack(Q, i)
    store.sync()
    assert len(seg_files(tmp_path)) <= 1
    assert store.disk_usage() == sum((tmp_path / n).stat().st_size for n in seg_files(tmp_path))
    assert store.segments_deleted > 3
    store, state = reopen(store, segment_size=1000)
    assert dict(state.queues) == {}
    store.close()


def test_tombstones_outlive_the_records_they_settle(tmp_path: Path) -> None:
    opts = {"segment_size": 1000, "compact_below": 0.0}  # no compaction
    store = open_store(tmp_path, **opts)
    publish(store, 1, SLOW)  # stays: pins segment 1
    for i in range(2, 10):
        publish(store, i, body=b"x" * 100)
    store.sync()
    assert seg_files(tmp_path) == ["00000001.seg"]
    # fill segment 2 with acks for segment 1 and with traffic that dies at once
    for i in range(2, 10):
        store.ack(Q, i)
    for i in range(100, 120):
        publish(store, i, body=b"z" * 100)
        store.ack(Q, i)
        store.sync()
    names = seg_files(tmp_path)
    assert "00000002.seg" in names  # all dead, but its acks are needed
    store, state = reopen(store, **opts)
    assert list(state.queues) == [SLOW]  # nothing came back from the dead
    assert "00000002.seg" in seg_files(tmp_path)
    # once segment 1 goes, segment 2's acks are needed no more
    store.ack(SLOW, 1)
    publish(store, 200)
    store.sync()
    assert "00000001.seg" not in seg_files(tmp_path)
    assert "00000002.seg" not in seg_files(tmp_path)
    store, state = reopen(store, **opts)
    assert [m.msg_id for m in state.queues[Q]] == [200]
    store.close()


def test_mostly_settled_segments_are_compacted(tmp_path: Path) -> None:
    opts = {"segment_size": 4096}
    store = open_store(tmp_path, **opts)
    for i in range(1, 121):
        publish(store, i, body=bytes([i]) * 100)
        store.sync()
    keep = set(range(1, 121, 10))
    for i in range(1, 121):
        if i in keep:
            if i % 20 == 1:
                store.delivered(Q, i)
        else:
            store.ack(Q, i)
    drain(store)
    assert store.segments_compacted >= 2
    assert len(seg_files(tmp_path)) <= 2
    store, state = reopen(store, **opts)
    msgs = state.queues[Q]
    assert [m.msg_id for m in msgs] == sorted(keep)
    assert all(m.body == bytes([m.msg_id]) * 100 for m in msgs)
    assert [m.redelivered for m in msgs] == [i % 20 == 1 for i in sorted(keep)]
    store.close()


def test_disk_use_stays_proportional_to_what_is_queued(tmp_path: Path) -> None:
    # a slow queue keeps 1 in 20 messages; the rest flow through a fast one
    store = open_store(tmp_path, segment_size=64 * 1024)
    body = b"m" * 200
    queued = 0
    worst = 0.0
    for i in range(1, 20_001):
        if i % 20 == 0:
            publish(store, i, SLOW, body)
            queued += len(body)
        else:
            publish(store, i, FAST, body)
            store.ack(FAST, i)
        if i % 100 == 0:
            drain(store)
            if i > 5000:
                worst = max(worst, store.disk_usage() / queued)
    # compaction keeps at most ~4x (a segment goes below 25% live) plus 2 segments
    assert store.disk_usage() <= 4 * queued * 1.5 + 2 * 64 * 1024
    assert worst < 8
    store, state = reopen(store, segment_size=64 * 1024)
    assert len(state.queues[SLOW]) == 1000
    assert SLOW in state.queues and FAST not in state.queues
    store.close()


# -- damage ---------------------------------------------------------------------------


def _history(path: Path) -> tuple[bytes, list[int], list[dict[str, list[tuple[Any, ...]]]]]:
    """A small store written one frame per sync; returns the segment's bytes, where
    each frame ends, and the state a reader must recover after each frame."""
    store = open_store(path)
    model = MemoryStore()
    model.recover()
    ends = [0]
    states: list[dict[str, list[tuple[Any, ...]]]] = [{}]

    def step1(s: MessageStore) -> None:
        publish(s, 1, body=b"one")

    def step2(s: MessageStore) -> None:
        publish(s, 2, body=b"two")
        publish(s, 3, "/\x00other", b"three")

    def step3(s: MessageStore) -> None:
        s.delivered(Q, 1)

    def step4(s: MessageStore) -> None:
        s.ack(Q, 2)

    def step5(s: MessageStore) -> None:
        publish(s, 4, body=b"four")

    def step6(s: MessageStore) -> None:
        s.purge("/\x00other")

    def step7(s: MessageStore) -> None:
        s.ack(Q, 1)
        publish(s, 5, body=b"five")

    steps = [step1, step2, step3, step4, step5, step6, step7]
    for step in steps:
        for s in (store, model):
            step(s)
            s.sync()
        ends.append(store.disk_usage())
        states.append(contents(model.restarted().recover()))
        model = model.restarted()
    store.close()
    data = (path / "00000001.seg").read_bytes()
    assert len(data) == ends[-1]
    return data, ends, states


def test_truncated_at_every_position_recovers_the_frames_before(tmp_path: Path) -> None:
    data, ends, states = _history(tmp_path / "orig")
    for cut in range(len(data) + 1):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / "00000001.seg").write_bytes(data[:cut])
        store = SegmentStore(d)
        state = store.recover()
        k = max(i for i, e in enumerate(ends) if e <= cut)
        assert contents(state) == states[k], cut
        assert bool(state.truncated) == (cut != ends[k]), cut
        # cut back to the last good frame (or removed, if none), and writable again
        if ends[k]:
            assert (d / "00000001.seg").stat().st_size == ends[k]
        else:
            assert not (d / "00000001.seg").exists()
        publish(store, 100)
        store.sync()
        store, state = reopen(store)
        assert [m.msg_id for m in state.queues[Q]][-1] == 100
        store.close()
        shutil.rmtree(d)


def test_bit_flips_recover_everything_before_the_damage(tmp_path: Path) -> None:
    data, ends, states = _history(tmp_path / "orig")
    rnd = random.Random(42)
    d = tmp_path / "flip"
    for trial in range(300):
        pos = rnd.randrange(len(data))
        damaged = bytearray(data)
        damaged[pos] ^= 1 << rnd.randrange(8)
        d.mkdir()
        (d / "00000001.seg").write_bytes(bytes(damaged))
        store = SegmentStore(d)
        state = store.recover()
        k = max(i for i, e in enumerate(ends) if e <= pos)
        assert contents(state) == states[k], (trial, pos)
        assert state.truncated
        store.close()
        shutil.rmtree(d)


def test_truncation_is_reported_and_logged(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    publish(store, 1)
    store.sync()
    publish(store, 2)
    store.sync()
    store.close()
    seg = tmp_path / "00000001.seg"
    size = seg.stat().st_size
    with seg.open("r+b") as f:
        f.truncate(size - 3)
    with capture_logs() as logs:
        store = SegmentStore(tmp_path)
        state = store.recover()
    assert [m.msg_id for m in state.queues[Q]] == [1]
    (t,) = state.truncated
    assert (t.segment, t.reason) == ("00000001.seg", "torn frame")
    assert t.offset + t.dropped_bytes == size - 3
    (event,) = [e for e in logs if e["event"] == "store_segment_truncated"]
    assert event["log_level"] == "warning"
    assert event["newest"] is True
    store.close()


def test_damage_in_an_older_segment_keeps_the_later_ones(tmp_path: Path) -> None:
    store = open_store(tmp_path, segment_size=300)
    for i in range(1, 13):
        publish(store, i, body=b"x" * 100)
        store.sync()
    store.close()
    names = seg_files(tmp_path)
    assert len(names) >= 3
    first = tmp_path / names[0]
    raw = bytearray(first.read_bytes())
    raw[-5] ^= 0xFF  # the last frame of the oldest segment
    first.write_bytes(bytes(raw))
    with capture_logs() as logs:
        store = SegmentStore(tmp_path, segment_size=300)
        state = store.recover()
    got = [m.msg_id for m in state.queues[Q]]
    assert got[-1] == 12
    assert len(got) == 11  # exactly the damaged frame's message is lost
    assert any(e["event"] == "store_segment_truncated" and e["log_level"] == "error" for e in logs)
    store.close()


def test_orphaned_enqueues_are_dropped_and_counted(tmp_path: Path) -> None:
    # a message record lost to damage while its enqueue (in a later frame) survived
    store = open_store(tmp_path, segment_size=200)
    store.append_message(1, "ex", "rk", P, b"x" * 150)
    store.sync()
    store.enqueue(Q, 1, 1)
    publish(store, 2)
    store.sync()
    store.close()
    names = seg_files(tmp_path)
    first = tmp_path / names[0]
    raw = bytearray(first.read_bytes())
    raw[20] ^= 1
    first.write_bytes(bytes(raw))
    with capture_logs() as logs:
        store = SegmentStore(tmp_path, segment_size=200)
        state = store.recover()
    assert [m.msg_id for m in state.queues[Q]] == [2]
    assert state.orphans == 1
    assert any(e["event"] == "store_orphaned_enqueues" for e in logs)
    store.close()


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "00000007.seg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "00000003.seg.tmp").write_bytes(b"junk")
    store = SegmentStore(tmp_path)
    state = store.recover()
    assert dict(state.queues) == {}
    assert not (tmp_path / "00000007.seg").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "00000003.seg.tmp").exists()
    publish(store, 1)
    store.sync()
    assert seg_files(tmp_path) == ["00000008.seg"]  # numbers are never reused
    store.close()


def test_must_recover_once_before_syncing(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path)
    with pytest.raises(StoreError):
        store.sync()
    store.recover()
    with pytest.raises(StoreError):
        store.recover()
    store.close()


# -- I/O errors -----------------------------------------------------------------------


class Flaky:
    """Makes the next ``failures`` fsyncs fail with EIO."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.real = segments_module._fdatasync

    def __call__(self, fd: int) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EIO, "simulated I/O error")
        self.real(fd)


def test_failed_sync_keeps_the_batch_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    publish(store, 1)
    store.sync()
    size = store.disk_usage()
    batch = store.sync()
    publish(store, 2)
    store.ack(Q, 1)
    monkeypatch.setattr(segments_module, "_fdatasync", Flaky(1))
    with pytest.raises(OSError):
        store.sync()
    assert (tmp_path / "00000001.seg").stat().st_size == size  # cut back
    assert store.pending() > 0
    publish(store, 3)
    assert store.sync() == batch + 1
    assert store.pending() == 0
    store, state = reopen(store)
    assert [m.msg_id for m in state.queues[Q]] == [2, 3]
    store.close()


def test_failed_sync_whose_tail_cannot_be_cut_moves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    publish(store, 1)
    store.sync()
    publish(store, 2)
    store.delivered(Q, 1)
    monkeypatch.setattr(segments_module, "_fdatasync", Flaky(1))

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, "simulated")

    monkeypatch.setattr(os, "ftruncate", no_truncate)
    with pytest.raises(OSError):
        store.sync()
    monkeypatch.undo()
    # the written-but-unsynced frame stays in segment 1; the retry goes to segment 2
    store.sync()
    assert seg_files(tmp_path) == ["00000001.seg", "00000002.seg"]
    # the batch may now be on disk twice: replaying it twice changes nothing
    store, state = reopen(store)
    assert [(m.msg_id, m.redelivered) for m in state.queues[Q]] == [(1, True), (2, False)]
    assert state.enqueued == 2
    assert state.messages == 2
    store.close()


def test_failure_while_starting_a_segment_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path, segment_size=500)
    publish(store, 1, body=b"x" * 300)
    store.sync()
    publish(store, 2, body=b"y" * 300)  # does not fit: a new segment
    monkeypatch.setattr(segments_module, "_fdatasync", Flaky(1))
    with pytest.raises(OSError):
        store.sync()
    assert seg_files(tmp_path) == ["00000001.seg"]
    store.sync()
    store, state = reopen(store, segment_size=500)
    assert [m.msg_id for m in state.queues[Q]] == [1, 2]
    store.close()


def test_housekeeping_errors_do_not_fail_the_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path, segment_size=300)
    for i in range(1, 6):
        publish(store, i, body=b"x" * 200)
        store.sync()
    for i in range(1, 6):
        store.ack(Q, i)
    real_unlink = os.unlink

    def failing_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path).endswith(".seg"):
            raise OSError(errno.EACCES, "simulated")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", failing_unlink)
    with capture_logs() as logs:
        store.sync()  # durable; only the clean-up failed
    assert any(e["event"] == "store_housekeeping_failed" for e in logs)
    monkeypatch.undo()
    store, state = reopen(store, segment_size=300)
    assert dict(state.queues) == {}
    store.close()


def test_a_compaction_that_cannot_read_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path, segment_size=2000)
    for i in range(1, 21):
        publish(store, i, body=b"x" * 150)
        store.sync()
    for i in range(2, 21):
        if i != 15:
            store.ack(Q, i)

    def failing_pread(fd: int, n: int, offset: int) -> bytes:
        raise OSError(errno.EIO, "simulated read error")

    monkeypatch.setattr(os, "pread", failing_pread)
    with capture_logs() as logs:
        drain(store)  # terminates: the failing segment is not retried forever
    monkeypatch.undo()
    assert any(e["event"] == "store_housekeeping_failed" and e["step"] == "_compact" for e in logs)
    assert store.pending() == 0
    store, state = reopen(store, segment_size=2000)
    assert [m.msg_id for m in state.queues[Q]] == [1, 15]
    store.close()
