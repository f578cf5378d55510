"""The persister: the one task that makes the message log durable, by group commit.

The broker buffers records in the store on the per-message path (no I/O) and calls
``wake()``. This task then runs ``store.sync()`` in a worker thread: one write and one
fsync for everything buffered so far. The event loop keeps running meanwhile, and
whatever publishers buffer during the fsync goes into the next batch, so the busier
the broker the more records each fsync covers, with no timer and no batch size to
tune. When a sync returns, the callbacks registered with ``after_sync()`` before it
started are called in registration order: that is when publisher confirms go out,
in delivery-tag order, and never before their records are on disk.

An optional ``prepare`` hook is called on the event loop before each sync; the job
it returns (say, saving the definitions file) runs in the same worker thread just
before ``store.sync()``, so the callbacks of that batch also wait for it.

A sync that fails with OSError (disk full, I/O error) is logged with the error, the
``accepting`` flag drops (the broker blocks publishers while it is down) and the
sync is retried with backoff. The store keeps the failed batch and rewrites it, the
callbacks wait for it: nothing is confirmed that is not durable, nothing is dropped.
When a retry succeeds, ``accepting`` comes back and the held confirms go out.

``run`` owns the store: on shutdown it makes a last shielded sync, releases what
that covered, and closes the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
import trio

from amqpish.store.interface import MessageStore

log = structlog.get_logger("amqpish.server")

# run in the worker thread before the store's sync; None when there is nothing to do
Job = Callable[[], object]


@dataclass(frozen=True, slots=True)
class PersisterStatistics:
    batches: int  # syncs that had something to write
    callbacks: int  # after_sync callbacks released
    largest_batch: int  # most callbacks released by one sync
    sync_seconds: float  # total time spent waiting for syncs
    failures: int  # failed syncs
    accepting: bool


class Persister:
    def __init__(
        self,
        store: MessageStore,
        *,
        prepare: Callable[[], Job | None] | None = None,
        retry_delay: float = 0.1,
        max_retry_delay: float = 5.0,
        on_accepting_changed: Callable[[bool], None] | None = None,
    ) -> None:
        self.store = store
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._prepare = prepare
        self._on_accepting_changed = on_accepting_changed
        # False while syncs fail: the broker must not take new publishes
        self.accepting = True
        self.failure: OSError | None = None
        self._callbacks: list[Callable[[], object]] = []
        self._job: Job | None = None  # prepared, not yet done
        self._wakeup = trio.Event()
        self._batches = 0
        self._released = 0
        self._largest = 0
        self._sync_seconds = 0.0
        self._failures = 0

    def wake(self) -> None:
        """New records are buffered (or ``prepare`` has work): sync soon."""
        self._wakeup.set()

    def after_sync(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once everything buffered so far is durable.

        Callbacks run in the order registered, on the event loop, from this task.
        """
        self._callbacks.append(callback)
        self._wakeup.set()

    def statistics(self) -> PersisterStatistics:
        return PersisterStatistics(
            batches=self._batches,
            callbacks=self._released,
            largest_batch=self._largest,
            sync_seconds=self._sync_seconds,
            failures=self._failures,
            accepting=self.accepting,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                await self._wakeup.wait()
                # a fresh event before draining: a wake() during the drain is not lost
                self._wakeup = trio.Event()
                await self._drain()
        finally:
            with trio.CancelScope(shield=True):
                await self._final_sync()
            self.store.close()

    def _has_work(self) -> bool:
        if self._job is None and self._prepare is not None:
            self._job = self._prepare()
        return self._job is not None or self.store.pending() > 0

    async def _drain(self) -> None:
        delay = self.retry_delay
        while True:
            # Everything buffered before these callbacks were registered is in the
            # store's buffer now, so the sync below covers it: the store takes its
            # buffer in the worker thread, after this point. They stay in the list
            # until then, so neither a failure nor a cancellation can lose one.
            covered = len(self._callbacks)
            if self._has_work():
                try:
                    await self._sync()
                except OSError as exc:
                    self._failed(exc, delay)
                    await trio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_delay)
                    continue
                if not self.accepting:
                    self._recovered()
                delay = self.retry_delay
            elif not covered:
                return
            self._release(covered)

    async def _sync(self) -> None:
        t0 = time.perf_counter()
        try:
            await trio.to_thread.run_sync(self._sync_in_thread)
        finally:
            self._sync_seconds += time.perf_counter() - t0
        self._batches += 1

    def _sync_in_thread(self) -> None:
        job = self._job
        if job is not None:
            job()
            # done, even if the store's sync fails next: not repeated on the retry
            self._job = None
        self.store.sync()

    def _release(self, covered: int) -> None:
        batch = self._callbacks[:covered]
        del self._callbacks[:covered]
        for callback in batch:
            try:
                callback()
            except Exception:
                # one broken confirm must not hold back the others (or durability)
                log.exception("persister_callback_failed")
        self._released += covered
        if covered > self._largest:
            self._largest = covered

    def _failed(self, exc: OSError, retry_in: float) -> None:
        self._failures += 1
        self.failure = exc
        log.error(
            "persister_sync_failed",
            error=str(exc),
            errno=exc.errno,
            retry_in=retry_in,
            unconfirmed=len(self._callbacks),
            failures=self._failures,
        )
        if self.accepting:
            self.accepting = False
            if self._on_accepting_changed is not None:
                self._on_accepting_changed(False)

    def _recovered(self) -> None:
        log.warning("persister_sync_recovered", failed_error=str(self.failure))
        self.failure = None
        self.accepting = True
        if self._on_accepting_changed is not None:
            self._on_accepting_changed(True)

    async def _final_sync(self) -> None:
        covered = len(self._callbacks)
        if self._has_work():
            try:
                await self._sync()
            except OSError as exc:
                log.error(
                    "persister_final_sync_failed", error=str(exc), unconfirmed=len(self._callbacks)
                )
                return
        self._release(covered)
