"""Small helpers shared by the client modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

__all__ = ["open_service_nursery"]


@asynccontextmanager
async def open_service_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery for a context manager's background tasks.

    The background tasks of the client never raise (they record their failure and cancel
    the nursery instead), so any exception group leaving the nursery holds the body's one
    exception. It is unwrapped so that ``except NotFound`` around ``async with connect()``
    works as users expect.
    """
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            exc = group.exceptions[0]
            raise exc from exc.__cause__
        raise
