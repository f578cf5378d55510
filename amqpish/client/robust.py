"""A consumer that survives connection loss: reconnect with backoff, redeclare, resume.

One task in the context manager's nursery loops: connect, open a channel, run the
user's ``topology`` callable (declarations are idempotent, so it simply runs again
after every reconnect), consume, and hand each delivery to the user through an
unbuffered memory channel, so the prefetch window stays the only buffer. When the
connection or channel fails, or the broker cancels the consumer (say, its queue was
deleted), it waits ``min_backoff`` seconds, doubling up to ``max_backoff`` (with jitter),
and starts again. Messages that were delivered but not acknowledged are redelivered by
the broker; settling a delivery from a lost connection is therefore a silent no-op.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from ._util import open_service_nursery
from .channel import Channel
from .connection import connect
from .consumer import Delivery
from .errors import AMQPError, ConsumerCancelled

__all__ = ["RobustConsumer", "robust_consumer"]

Topology = Callable[[Channel], Awaitable[None]]


class RobustConsumer:
    """``async for delivery in consumer``; see :func:`robust_consumer`."""

    def __init__(self, receive: trio.MemoryReceiveChannel[Delivery]) -> None:
        self._receive = receive
        self.generation = 0
        """How many times consuming has started (1 after the first connect)."""
        self.last_error: BaseException | None = None
        """Why the last connection ended, if it did."""
        self._lot = trio.lowlevel.ParkingLot()

    def __aiter__(self) -> RobustConsumer:
        return self

    async def __anext__(self) -> Delivery:
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def wait_consuming(self, generation: int = 1) -> None:
        """Wait until consuming has started ``generation`` times (1: the first connect)."""
        while self.generation < generation:
            await self._lot.park()

    def _started(self) -> None:
        self.generation += 1
        self._lot.unpark_all()


async def _run(
    rc: RobustConsumer,
    send: trio.MemorySendChannel[Delivery],
    url: str,
    queue: str,
    topology: Topology | None,
    consume_args: dict[str, Any],
    connect_args: dict[str, Any],
    min_backoff: float,
    max_backoff: float,
) -> None:
    backoff = min_backoff
    while True:
        try:
            async with connect(url, **connect_args) as conn, conn.channel() as ch:
                if topology is not None:
                    await topology(ch)
                async with ch.consume(queue, **consume_args) as messages:
                    rc._started()
                    backoff = min_backoff
                    async for delivery in messages:
                        delivery._robust = True
                        await send.send(delivery)
        except (AMQPError, ConsumerCancelled, OSError) as e:
            rc.last_error = e
        await trio.sleep(backoff * random.uniform(0.5, 1.0))
        backoff = min(backoff * 2, max_backoff)


def robust_consumer(
    url: str,
    queue: str,
    *,
    topology: Topology | None = None,
    prefetch: int = 100,
    no_ack: bool = False,
    exclusive: bool = False,
    arguments: dict[str, Any] | None = None,
    min_backoff: float = 0.1,
    max_backoff: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    name: str | None = None,
) -> AbstractAsyncContextManager[RobustConsumer]:
    """Consume ``queue`` across reconnects::

        async def topology(ch):
            await ch.queue_declare("jobs", durable=True)

        async with robust_consumer(url, "jobs", topology=topology) as messages:
            async for delivery in messages:
                ...
                await delivery.ack()

    Errors from ``topology`` other than broker errors (a bug) end the block.
    """
    return _robust(
        url,
        queue,
        topology,
        {"prefetch": prefetch, "no_ack": no_ack, "exclusive": exclusive, "arguments": arguments},
        {"ssl_context": ssl_context, "name": name},
        min_backoff,
        max_backoff,
    )


@asynccontextmanager
async def _robust(
    url: str,
    queue: str,
    topology: Topology | None,
    consume_args: dict[str, Any],
    connect_args: dict[str, Any],
    min_backoff: float,
    max_backoff: float,
) -> AsyncIterator[RobustConsumer]:
    send, receive = trio.open_memory_channel[Delivery](0)
    rc = RobustConsumer(receive)
    async with open_service_nursery() as nursery:
        nursery.start_soon(
            _run,
            rc,
            send,
            url,
            queue,
            topology,
            consume_args,
            connect_args,
            min_backoff,
            max_backoff,
        )
        try:
            yield rc
        finally:
            nursery.cancel_scope.cancel()
