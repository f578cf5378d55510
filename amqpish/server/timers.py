"""One timer heap for the whole broker: queue TTLs, queue expiry, anything else.

Queues ask for a wake-up at an absolute time; the heap keeps (time, seq, queue)
and a single task sleeps until the earliest one. Stale entries (a queue that has
since asked for an earlier time, or was deleted) are skipped when popped, which is
cheaper than removing them from the heap.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

import trio

from amqpish.broker.queue import Queue


class TimerHeap:
    def __init__(self, on_fire: Callable[[Queue, float], None]) -> None:
        self._heap: list[tuple[float, int, Queue]] = []
        self._seq = itertools.count()
        self._on_fire = on_fire
        self._changed = trio.Event()

    def schedule(self, queue: Queue, at: float) -> None:
        heap = self._heap
        first = heap[0][0] if heap else None
        heapq.heappush(heap, (at, next(self._seq), queue))
        if first is None or at < first:
            self._changed.set()

    def __len__(self) -> int:
        return len(self._heap)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        heap = self._heap
        while True:
            now = time.time()
            while heap and heap[0][0] <= now:
                _, _, q = heapq.heappop(heap)
                # a superseded entry is harmless: on_timer ignores a deadline not yet due
                if not q.deleted:
                    self._on_fire(q, now)
            self._changed = trio.Event()
            if heap:
                with trio.move_on_after(max(0.0, heap[0][0] - time.time())):
                    await self._changed.wait()
            else:
                await self._changed.wait()
