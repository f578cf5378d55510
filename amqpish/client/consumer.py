"""Deliveries and consumers.

A :class:`Consumer` is the client end of one basic.consume: an async iterator over a
bounded buffer that the connection's reader fills. With acknowledgements on, the
broker never has more than ``prefetch`` unacknowledged deliveries out, and a delivery
leaves the buffer before it can be acknowledged, so a buffer of ``prefetch`` places
never fills. With ``no_ack`` (or prefetch 0) the broker does not hold back, so when the
buffer is full the reader waits for room: the connection stops reading its socket and
TCP pushes back on the broker. (So do not wait, inside such a consumer's loop, for a
reply on the same connection while the buffer may be full.)

Leaving ``async with ch.consume(...)`` cancels the consumer (basic.cancel) and then
rejects, with requeue, the deliveries it received but never handed out, so that they go
back to the queue at once rather than when the channel closes.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import trio
from trio.lowlevel import ParkingLot

from amqpish.codec.properties import BasicProperties, decode_properties

from .errors import AMQPError, ChannelClosed, ConnectionClosed, ConsumerCancelled

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from types import TracebackType

    from .channel import Channel

__all__ = ["ConsumeContext", "Consumer", "Delivery"]


class Delivery:
    """A message delivered by basic.deliver (a consumer) or basic.get-ok."""

    __slots__ = (
        "_channel",
        "_properties",
        "_properties_raw",
        "_robust",
        "_settled",
        "body",
        "consumer_tag",
        "delivery_tag",
        "exchange",
        "message_count",
        "redelivered",
        "routing_key",
    )

    body: bytes
    delivery_tag: int
    redelivered: bool
    exchange: str
    routing_key: str
    consumer_tag: str | None
    """None for a message fetched with get()."""
    message_count: int | None
    """For get(): how many messages were left in the queue; None for consumers."""

    def __init__(
        self,
        channel: Channel,
        body: bytes,
        properties_raw: bytes,
        delivery_tag: int,
        redelivered: bool,
        exchange: str,
        routing_key: str,
        consumer_tag: str | None,
        message_count: int | None,
        no_ack: bool,
    ) -> None:
        self._channel = channel
        self.body = body
        self._properties_raw = properties_raw
        self._properties: BasicProperties | None = None
        self.delivery_tag = delivery_tag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routing_key = routing_key
        self.consumer_tag = consumer_tag
        self.message_count = message_count
        self._settled = no_ack
        self._robust = False  # from robust_consumer: settling after a reconnect is a no-op

    @property
    def properties(self) -> BasicProperties:
        """The message's properties, decoded on first use."""
        if self._properties is None:
            self._properties = decode_properties(self._properties_raw)
        return self._properties

    @property
    def channel(self) -> Channel:
        return self._channel

    @property
    def settled(self) -> bool:
        """True once acked, nacked or rejected (and from the start with no_ack)."""
        return self._settled

    async def ack(self, *, multiple: bool = False) -> None:
        """Acknowledge (basic.ack); ``multiple`` also acknowledges every earlier delivery."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._settle():
            self._channel._send_ack(self.delivery_tag, multiple)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def nack(self, *, requeue: bool = True, multiple: bool = False) -> None:
        """Negatively acknowledge (basic.nack); without ``requeue`` it is dropped or dead-lettered."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._settle():
            self._channel._send_nack(self.delivery_tag, multiple, requeue)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def reject(self, *, requeue: bool = True) -> None:
        """Reject (basic.reject)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._settle():
            self._channel._send_reject(self.delivery_tag, requeue)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def _settle(self) -> bool:
        """Mark settled; False when there is nothing to send (robust, channel gone)."""
        if self._settled:
            raise RuntimeError(
                f"delivery {self.delivery_tag} was already settled (acked, nacked, rejected or no_ack)"
            )
        if self._robust and self._channel._error is not None:
            self._settled = True
            return False
        self._channel._check_open()
        self._settled = True
        return True

    def __repr__(self) -> str:
        return (
            f"<Delivery tag={self.delivery_tag} exchange={self.exchange!r} "
            f"routing_key={self.routing_key!r} body={self.body[:40]!r}>"
        )


class Consumer:
    """``async for delivery in consumer``; ends with :class:`ConsumerCancelled` if the broker
    cancels it, or with the channel's error if the channel closes."""

    def __init__(self, channel: Channel, tag: str, queue: str, no_ack: bool, buffer: int) -> None:
        self._channel = channel
        self.consumer_tag = tag
        self.queue = queue
        self.no_ack = no_ack
        self._limit = max(1, buffer)
        self._buffer: deque[Delivery] = deque()
        self._receive_lot = ParkingLot()
        self._room_lot = ParkingLot()
        self._end: BaseException | None = None  # raised once the buffer is drained
        self._fatal: AMQPError | None = None  # raised at once (channel gone)
        self._stopping = False  # leaving the block: deliveries are turned away
        self._held: list[Delivery] = []  # turned away, to requeue once cancelled

    def __aiter__(self) -> Consumer:
        return self

    async def __anext__(self) -> Delivery:
        while True:
            if self._fatal is not None:
                raise self._fatal.fresh()
            if self._buffer:
                d = self._buffer.popleft()
                if self._room_lot:
                    self._room_lot.unpark()
                await trio.lowlevel.cancel_shielded_checkpoint()
                return d
            if self._end is not None:
                if isinstance(self._end, StopAsyncIteration):
                    raise StopAsyncIteration
                raise self._end
            await self._receive_lot.park()

    async def receive(self) -> Delivery:
        """The next delivery (like ``anext``); raises StopAsyncIteration after cancel."""
        return await self.__anext__()

    # ---- called by the channel, from the reader task

    def _push(self, d: Delivery) -> Coroutine[Any, Any, None] | None:
        """Buffer ``d``; if there is no room, return an awaitable the reader must await."""
        if self._stopping:
            self._turn_away(d)
            return None
        if len(self._buffer) < self._limit:
            self._buffer.append(d)
            self._receive_lot.unpark()
            return None
        return self._push_when_room(d)

    async def _push_when_room(self, d: Delivery) -> None:
        while len(self._buffer) >= self._limit and not self._stopping:
            await self._room_lot.park()
        if self._stopping:
            self._turn_away(d)
        else:
            self._buffer.append(d)
            self._receive_lot.unpark()

    def _turn_away(self, d: Delivery) -> None:
        if not self.no_ack:
            self._held.append(d)

    def _cancelled_by_broker(self) -> None:
        self._end = ConsumerCancelled(self.consumer_tag)
        self._receive_lot.unpark_all()

    def _fail(self, exc: AMQPError) -> None:
        self._fatal = exc
        self._stopping = True
        self._buffer.clear()
        self._receive_lot.unpark_all()
        self._room_lot.unpark_all()

    def _stop(self) -> None:
        """Leaving the block: hand out nothing more, let a waiting reader go."""
        self._stopping = True
        self._held.extend(self._buffer)
        self._buffer.clear()
        if self._end is None:
            self._end = StopAsyncIteration()
        self._receive_lot.unpark_all()
        self._room_lot.unpark_all()

    def _requeue_held(self) -> None:
        """After basic.cancel-ok: return what was never handed out. (Before it, the broker
        would only deliver these messages to this consumer again.)"""
        held, self._held = self._held, []
        if self._channel._error is None:
            for d in held:
                d._settled = True
                self._channel._send_reject(d.delivery_tag, True)


class ConsumeContext:
    """What ``ch.consume(...)`` returns: ``async with ch.consume("q") as messages:``."""

    def __init__(
        self,
        channel: Channel,
        queue: str,
        *,
        prefetch: int,
        no_ack: bool,
        exclusive: bool,
        arguments: dict[str, Any] | None,
        consumer_tag: str | None,
        buffer: int | None,
    ) -> None:
        self._channel = channel
        self._queue = queue
        self._prefetch = prefetch
        self._no_ack = no_ack
        self._exclusive = exclusive
        self._arguments = arguments
        self._tag = consumer_tag
        self._buffer = buffer
        self._consumer: Consumer | None = None

    async def __aenter__(self) -> Consumer:
        ch = self._channel
        if not self._no_ack and self._prefetch > 0:
            await ch.basic_qos(prefetch_count=self._prefetch)
        buffer = self._buffer or self._prefetch or 100
        self._consumer = await ch._start_consumer(
            self._queue, self._tag, self._no_ack, self._exclusive, self._arguments, buffer
        )
        return self._consumer

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        consumer = self._consumer
        assert consumer is not None
        consumer._stop()
        ch = self._channel
        if ch._error is not None or isinstance(consumer._end, ConsumerCancelled):
            ch._consumers.pop(consumer.consumer_tag, None)
            consumer._requeue_held()
            return
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + ch._conn.params.connection_timeout
            try:
                await ch._cancel_consumer(consumer)
            except (ChannelClosed, ConnectionClosed):
                pass
            finally:
                consumer._requeue_held()
