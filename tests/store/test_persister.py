"""The persister: confirms after fsync, in order, many per fsync, and I/O errors."""

from __future__ import annotations

import errno
import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from amqpish.server.persister import Persister
from amqpish.store import MemoryStore, SegmentStore
from amqpish.store import segments as segments_module
from amqpish.store.interface import MessageStore

P = b"\x00\x00"
Q = "/\x00q"


class GatedStore(MemoryStore):
    """A memory store whose sync() takes its batch, then waits for the test to open
    a gate before returning: a slow fsync the test controls."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.gate = threading.Semaphore(0)
        self.durable: set[int] = set()

    def sync(self) -> int:
        n = super().sync()
        self.durable = {m.msg_id for msgs in self.recover().queues.values() for m in msgs}
        self.entered.release()
        self.gate.acquire()
        return n


def publish(store: MessageStore, msg_id: int) -> None:
    store.append_message(msg_id, "ex", "rk", P, b"body")
    store.enqueue(Q, msg_id, msg_id)


async def test_confirms_wait_for_their_sync_and_keep_their_order() -> None:
    store = GatedStore()
    store.recover()
    persister = Persister(store)
    confirmed: list[int] = []

    def confirm(m: int) -> None:
        assert m in store.durable, f"confirm for {m} before its fsync"
        confirmed.append(m)

    async with trio.open_nursery() as nursery:
        await nursery.start(persister.run)
        publish(store, 1)
        persister.after_sync(lambda: confirm(1))
        await trio.to_thread.run_sync(store.entered.acquire)  # batch 1 is syncing
        # published while batch 1's fsync runs: they wait for batch 2
        for m in (2, 3, 4):
            publish(store, m)
            persister.after_sync(functools.partial(confirm, m))
        await trio.sleep(0.01)
        assert confirmed == []
        store.gate.release()
        await trio.to_thread.run_sync(store.entered.acquire)  # batch 2 is syncing
        assert confirmed == [1]
        store.gate.release()
        while len(confirmed) < 4:
            await trio.sleep(0.001)
        assert confirmed == [1, 2, 3, 4]
        stats = persister.statistics()
        assert (stats.batches, stats.callbacks, stats.largest_batch) == (2, 4, 3)
        nursery.cancel_scope.cancel()


async def test_callbacks_with_nothing_to_write_need_no_sync() -> None:
    store = MemoryStore()
    store.recover()
    persister = Persister(store)
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(persister.run)
        persister.after_sync(done.set)
        await done.wait()
        assert persister.statistics().batches == 0
        nursery.cancel_scope.cancel()


async def test_wake_alone_makes_records_durable(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path)
    store.recover()
    persister = Persister(store)
    async with trio.open_nursery() as nursery:
        await nursery.start(persister.run)
        publish(store, 1)
        persister.wake()
        with trio.fail_after(5):
            while store.pending():
                await trio.sleep(0.001)
        nursery.cancel_scope.cancel()
    reopened = SegmentStore(tmp_path)
    assert [m.msg_id for m in reopened.recover().queues[Q]] == [1]
    reopened.close()


async def _publishers(store: SegmentStore, persister: Persister, n: int, each: int) -> float:
    """``n`` publishers, each publishing ``each`` messages one at a time and waiting
    for its confirm, as a client in confirm mode with one message in flight."""
    order: list[int] = []
    next_id = iter(range(1, n * each + 1))

    async def publisher() -> None:
        for _ in range(each):
            m = next(next_id)
            publish(store, m)
            written = store.records_written
            confirmed = trio.Event()

            def confirm(m: int = m, written: int = written, ev: trio.Event = confirmed) -> None:
                # everything appended before after_sync() is on disk by now
                assert store.records_written >= written + 2
                order.append(m)
                ev.set()

            persister.after_sync(confirm)
            persister.wake()
            await confirmed.wait()

    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(publisher)
    elapsed = time.perf_counter() - t0
    # ids were taken in the order the confirms were registered: released in that order
    assert order == sorted(order)
    return n * each / elapsed


async def test_confirms_follow_a_real_fsync_and_batch_up(tmp_path: Path) -> None:
    figures = {}
    for n, each in ((1, 200), (32, 50)):
        store = SegmentStore(tmp_path / f"n{n}")
        store.recover()
        persister = Persister(store)
        async with trio.open_nursery() as nursery:
            await nursery.start(persister.run)
            rate = await _publishers(store, persister, n, each)
            nursery.cancel_scope.cancel()
        stats = persister.statistics()
        figures[n] = (rate, stats.callbacks / stats.batches, store.fsyncs)
        print(
            f"{n:>3} publishers: {rate:8.0f} msg/s, {stats.callbacks / stats.batches:5.1f} "
            f"confirms per fsync, largest batch {stats.largest_batch}"
        )
    # one publisher: one message per fsync; 32: many per fsync, and much faster
    assert figures[1][1] < 1.5
    assert figures[32][1] > 8
    assert figures[32][0] > 3 * figures[1][0]


async def test_io_errors_block_and_hold_confirms_until_a_retry_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SegmentStore(tmp_path)
    store.recover()
    changes: list[bool] = []
    persister = Persister(store, retry_delay=0.005, on_accepting_changed=changes.append)
    confirmed: list[int] = []
    real = segments_module._fdatasync
    failures = 3

    def flaky(fd: int) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            await nursery.start(persister.run)
            publish(store, 1)
            persister.after_sync(lambda: confirmed.append(1))
            monkeypatch.setattr(segments_module, "_fdatasync", flaky)
            persister.wake()
            with trio.fail_after(5):
                while not changes:
                    await trio.sleep(0.001)
            assert not persister.accepting
            assert isinstance(persister.failure, OSError)
            publish(store, 2)
            persister.after_sync(lambda: confirmed.append(2))
            with trio.fail_after(5):
                while len(confirmed) < 2:
                    await trio.sleep(0.001)
            nursery.cancel_scope.cancel()
    assert confirmed == [1, 2]
    assert changes == [False, True]
    assert persister.accepting
    failed = [e for e in logs if e["event"] == "persister_sync_failed"]
    assert len(failed) == 3
    assert "No space left" in failed[0]["error"]
    assert failed[0]["errno"] == errno.ENOSPC
    assert failed[0]["log_level"] == "error"
    assert any(e["event"] == "persister_sync_recovered" for e in logs)
    assert persister.statistics().failures == 3
    reopened = SegmentStore(tmp_path)
    state = reopened.recover()
    assert [m.msg_id for m in state.queues[Q]] == [1, 2]
    reopened.close()


async def test_a_failing_callback_does_not_hold_back_the_others() -> None:
    store = MemoryStore()
    store.recover()
    persister = Persister(store)
    seen: list[int] = []

    def broken() -> None:
        raise RuntimeError("boom")

    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            await nursery.start(persister.run)
            publish(store, 1)
            persister.after_sync(broken)
            persister.after_sync(lambda: seen.append(1))
            while not seen:
                await trio.sleep(0.001)
            nursery.cancel_scope.cancel()
    assert any(e["event"] == "persister_callback_failed" for e in logs)


async def test_shutdown_syncs_what_is_buffered_and_closes_the_store(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path)
    store.recover()
    persister = Persister(store)
    confirmed: list[int] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(persister.run)
        publish(store, 1)
        persister.after_sync(lambda: confirmed.append(1))
        nursery.cancel_scope.cancel()  # before the persister even looked
    assert confirmed == [1]
    with pytest.raises(Exception, match="closed"):
        store.sync()
    reopened = SegmentStore(tmp_path)
    assert [m.msg_id for m in reopened.recover().queues[Q]] == [1]
    reopened.close()


async def test_prepared_jobs_run_before_the_sync_they_belong_to(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path)
    store.recover()
    events: list[str] = []
    dirty = [False]

    def prepare() -> Callable[[], None] | None:
        if not dirty[0]:
            return None
        dirty[0] = False
        written = store.records_written

        def save() -> None:
            assert threading.current_thread() is not threading.main_thread()
            assert store.records_written == written  # before this batch's fsync
            events.append("saved")

        return save

    persister = Persister(store, prepare=prepare)
    async with trio.open_nursery() as nursery:
        await nursery.start(persister.run)
        # a definitions change alone, with no records, still gets its sync
        dirty[0] = True
        persister.wake()
        with trio.fail_after(5):
            while not events:
                await trio.sleep(0.001)
        # with records: the job runs first, the confirm after both
        dirty[0] = True
        publish(store, 1)
        persister.after_sync(lambda: events.append("confirmed"))
        with trio.fail_after(5):
            while len(events) < 3:
                await trio.sleep(0.001)
        nursery.cancel_scope.cancel()
    assert events == ["saved", "saved", "confirmed"]


async def test_a_failing_prepared_job_is_retried_and_holds_confirms() -> None:
    store = MemoryStore()
    store.recover()
    attempts: list[int] = []

    def save() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError(errno.EIO, "definitions write failed")

    jobs = [save]  # one definitions change

    def prepare() -> Callable[[], None] | None:
        return jobs.pop() if jobs else None

    persister = Persister(store, prepare=prepare, retry_delay=0.001)
    confirmed = trio.Event()
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            await nursery.start(persister.run)
            publish(store, 1)
            persister.after_sync(confirmed.set)
            with trio.fail_after(5):
                await confirmed.wait()
            nursery.cancel_scope.cancel()
    assert len(attempts) == 3
    assert [e["event"] for e in logs].count("persister_sync_failed") == 2
    assert persister.accepting
