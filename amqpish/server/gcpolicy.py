"""How the broker keeps Python's cyclic garbage collector off the message path.

A broker's heap is mostly long-lived objects that are never part of a garbage cycle:
queued messages, queues, exchanges and bindings. CPython's collector still walks all
of them in every full collection, and starts one whenever the old generation has
grown by a quarter: with 10,000 queues and 100,000 bindings a full collection takes
~160 ms and, while messages pile up in a queue, comes every few hundred thousand
messages (publish throughput fell to 0.55x in tools/scale_check.py).

So what survived a full collection is frozen (``gc.freeze``: moved where collections
do not look; reference counting still frees it), and the next full collection looks
at the newer objects only. Cyclic garbage among frozen objects (a closed connection
whose objects had been frozen) would never be found that way, so every ``THAW``
seconds everything is thawed and collected once, and frozen again: one pause per
period instead of one per quarter of growth.
"""

from __future__ import annotations

import gc
from typing import Any

import structlog
import trio

log = structlog.get_logger("amqpish.gc")

THAW = 600.0  # seconds between whole-heap collections


def _after_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def install() -> None:
    """Freeze what is alive now (the recovered state) and after each full collection."""
    gc.collect()
    gc.freeze()
    if _after_collection not in gc.callbacks:
        gc.callbacks.append(_after_collection)


def uninstall() -> None:
    if _after_collection in gc.callbacks:
        gc.callbacks.remove(_after_collection)
    gc.unfreeze()


def full_collection() -> int:
    """Thaw, collect everything, freeze again; returns the objects collected."""
    gc.unfreeze()
    n = gc.collect()
    gc.freeze()
    return n


async def keep(period: float = THAW) -> None:
    """The periodic whole-heap collection (a task of the server)."""
    while True:
        await trio.sleep(period)
        t0 = trio.current_time()
        n = full_collection()
        log.debug(
            "gc_full_collection",
            collected=n,
            frozen=gc.get_freeze_count(),
            seconds=round(trio.current_time() - t0, 3),
        )
