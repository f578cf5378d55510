"""One harness per MessageStore implementation, so one suite runs against both.

``harness.fresh()`` opens an empty, recovered store; ``harness.restart(store)``
simulates a crash (anything not synced is lost) and returns the store a restarted
broker would open, with what it recovered. The segment store is run with tiny
segments so that even small tests roll over, delete and compact segments.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from amqpish.store import MemoryStore, RecoveredState, SegmentStore
from amqpish.store.interface import MessageStore

SMALL_SEGMENTS = {"segment_size": 2048, "compact_below": 0.5, "compact_step": 700}


@dataclass
class Harness:
    kind: str
    root: Path
    options: dict[str, Any] = field(default_factory=dict)
    _dirs: itertools.count[int] = field(default_factory=itertools.count)
    _open: list[MessageStore] = field(default_factory=list)

    def fresh(self) -> MessageStore:
        if self.kind == "memory":
            store: MessageStore = MemoryStore()
        else:
            path = self.root / f"store-{next(self._dirs)}"
            shutil.rmtree(path, ignore_errors=True)
            store = SegmentStore(path, **self.options)
        state = store.recover()
        assert not state.queues
        self._open.append(store)
        return store

    def restart(self, store: MessageStore) -> tuple[MessageStore, RecoveredState]:
        if isinstance(store, MemoryStore):
            new: MessageStore = store.restarted()
        else:
            assert isinstance(store, SegmentStore)
            store.close()
            new = SegmentStore(store.path, **self.options)
        self._open.append(new)
        return new, new.recover()

    def close_all(self) -> None:
        for store in self._open:
            store.close()
        self._open.clear()


@pytest.fixture(params=["memory", "segments"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(request.param, tmp_path, dict(SMALL_SEGMENTS))
    yield h
    h.close_all()


def drain(store: MessageStore) -> None:
    """Sync until nothing is left to do (compaction may take a few steps)."""
    for _ in range(10_000):
        store.sync()
        if not store.pending():
            return
    raise AssertionError("store never drained")


def contents(state: RecoveredState) -> dict[str, list[tuple[Any, ...]]]:
    """Recovered queues as plain tuples, for comparing with a model."""
    return {q: [tuple(m) for m in msgs] for q, msgs in state.queues.items()}
