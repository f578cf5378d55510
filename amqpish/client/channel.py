"""One AMQP channel: synchronous methods (RPCs), publishing, confirms and consumers.

A synchronous method is sent under the channel's lock and answered in order, so the
pending calls form a FIFO of slots. A caller cancelled while it waits leaves its slot in
the queue, marked abandoned: the late reply is consumed by that slot (and, for a
basic.get that fetched a message, the message is rejected back to its queue), so the
next call never sees someone else's answer and the channel stays usable.

The broker closing the channel (channel.close with a reply code) fails every waiter
with that error (a :class:`ChannelClosed` subclass such as :class:`NotFound`); the channel
is then unusable, the connection is not affected.

Everything here is called from user tasks except the ``_on_*`` methods, which the
connection's reader calls synchronously for each frame of this channel.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack, overload

import trio

from amqpish.codec import spec
from amqpish.codec.frames import (
    encode_basic_ack,
    encode_basic_nack,
    encode_basic_publish,
    encode_method,
)
from amqpish.codec.properties import (
    EMPTY_PROPERTIES_RAW,
    BasicProperties,
    decode_properties,
    encode_properties,
)

from .confirms import Confirmation, ConfirmTracker, Returned
from .consumer import ConsumeContext, Consumer, Delivery
from .errors import AMQPError, ChannelClosed, ConnectionClosed, error_for

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from types import TracebackType

    from amqpish.codec.events import ContentMessage

    from .connection import Connection

__all__ = ["Channel", "ChannelContext", "MessageProperties", "QueueDeclared"]

_tags = itertools.count(1)


class MessageProperties(TypedDict, total=False):
    """Keyword spelling of :class:`BasicProperties` for publish (plus ``persistent``)."""

    content_type: str
    content_encoding: str
    headers: dict[str, Any]
    delivery_mode: int
    persistent: bool
    priority: int
    correlation_id: str
    reply_to: str
    expiration: str
    message_id: str
    timestamp: int
    type: str
    user_id: str
    app_id: str


@dataclass(frozen=True, slots=True)
class QueueDeclared:
    """The answer to queue.declare."""

    queue: str
    message_count: int
    consumer_count: int


class _Slot:
    """One pending synchronous call."""

    __slots__ = ("abandoned", "error", "event", "on_abandoned", "replies", "result")

    def __init__(self, replies: tuple[type[spec.Method], ...]) -> None:
        self.replies = replies
        self.event = trio.Event()
        self.result: Any = None
        self.error: AMQPError | None = None
        self.abandoned = False
        self.on_abandoned: Callable[[Any], None] | None = None


class Channel:
    """An open channel; made by ``conn.channel()`` / ``conn.open_channel()``."""

    def __init__(self, conn: Connection, channel_id: int, confirm_window: int) -> None:
        self._conn = conn
        self.channel_id = channel_id
        self._lock = trio.Lock()
        self._slots: deque[_Slot] = deque()
        self._error: AMQPError | None = None
        self._closing = False
        self._close_ok_received = False
        self._open_sent = False
        self._close_ok = trio.Event()
        self._consumers: dict[str, Consumer] = {}
        self._confirm_window = confirm_window
        self._confirms: ConfirmTracker | None = None
        self._flow = True
        self._flow_lot = trio.lowlevel.ParkingLot()
        self.on_return: Callable[[Returned], None] | None = None
        """Called with each basic.return that is not matched to a confirmed publish."""

    # ------------------------------------------------------------------ state

    @property
    def is_closed(self) -> bool:
        return self._error is not None

    @property
    def connection(self) -> Connection:
        return self._conn

    @property
    def confirm_mode(self) -> bool:
        return self._confirms is not None

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error.fresh()
        if self._closing:
            raise ChannelClosed(200, "channel is closing")

    def _fail(self, exc: AMQPError, *, release: bool = True) -> None:
        """The channel ended (closed by either side, or the connection ended).

        ``release=False`` keeps the channel number taken until the broker's close-ok
        arrives: opening a new channel with it before then is a connection error.
        """
        if self._error is not None:
            return
        self._error = exc
        while self._slots:
            slot = self._slots.popleft()
            slot.error = exc
            slot.event.set()
        for consumer in self._consumers.values():
            consumer._fail(exc)
        self._consumers.clear()
        if self._confirms is not None:
            self._confirms.fail_all(exc)
        self._flow_lot.unpark_all()
        self._close_ok.set()
        if release:
            self._conn._release_channel(self.channel_id, self)

    def __repr__(self) -> str:
        return f"<Channel {self.channel_id} {'closed' if self._error else 'open'}>"

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close_quietly()

    # ------------------------------------------------------------------ RPC

    def _request(self, method: spec.Method, replies: tuple[type[spec.Method], ...]) -> _Slot:
        """Send a synchronous method and queue the slot for its reply (no checkpoint)."""
        slot = _Slot(replies)
        self._conn._send(encode_method(self.channel_id, method))
        self._slots.append(slot)
        return slot

    async def _wait(self, slot: _Slot) -> Any:
        try:
            await slot.event.wait()
        except BaseException:
            slot.abandoned = True
            raise
        if slot.error is not None:
            raise slot.error.fresh()
        return slot.result

    async def _call(
        self,
        method: spec.Method,
        replies: tuple[type[spec.Method], ...],
        on_abandoned: Callable[[Any], None] | None = None,
    ) -> Any:
        self._check_open()
        async with self._lock:
            self._check_open()
            slot = self._request(method, replies)
            slot.on_abandoned = on_abandoned
            return await self._wait(slot)

    def _on_reply(self, reply: Any, method: spec.Method) -> None:
        if not self._slots:
            self._conn._abort(505, f"UNEXPECTED_FRAME - {method.NAME} with no request pending")
            return
        slot = self._slots.popleft()
        if type(method) not in slot.replies:
            expected = " or ".join(r.NAME for r in slot.replies)
            self._conn._abort(505, f"UNEXPECTED_FRAME - expected {expected}, got {method.NAME}")
            return
        if slot.abandoned:
            if slot.on_abandoned is not None:
                slot.on_abandoned(reply)
            return
        slot.result = reply
        slot.event.set()

    # ------------------------------------------------------------------ open / close

    async def _open(self) -> None:
        # No lock: nobody else has the channel yet.
        await trio.lowlevel.checkpoint_if_cancelled()
        slot = self._request(spec.ChannelOpen(), (spec.ChannelOpenOk,))
        self._open_sent = True
        await self._wait(slot)

    async def close(self) -> None:
        """Close the channel (channel.close / close-ok). Idempotent."""
        if self._error is not None or self._closing:
            await trio.lowlevel.checkpoint()
            return
        if not self._open_sent:
            self._fail(ChannelClosed(200, "channel closed by the client"))
            await trio.lowlevel.checkpoint()
            return
        self._closing = True
        try:
            self._conn._send(
                encode_method(
                    self.channel_id, spec.ChannelClose(reply_code=200, reply_text="Normal shutdown")
                )
            )
            await self._close_ok.wait()
        finally:
            self._fail(
                ChannelClosed(200, "channel closed by the client"), release=self._close_ok_received
            )

    async def _close_quietly(self) -> None:
        """Close with a deadline, even when cancelled, ignoring a connection already gone."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self._conn.params.connection_timeout
            try:
                await self.close()
            except (ChannelClosed, ConnectionClosed):
                pass

    # ------------------------------------------------------------------ frames from the reader

    def _on_method(self, method: spec.Method) -> None:
        t = type(method)
        m: Any = method
        if t is spec.BasicAck or t is spec.BasicNack:
            if self._confirms is not None:
                self._confirms.on_ack(m.delivery_tag, m.multiple, t is spec.BasicNack)
            return
        if self._closing:
            if t is spec.ChannelClose:  # both sides closed at once: each answers
                self._conn._send(encode_method(self.channel_id, spec.ChannelCloseOk()))
            if t is spec.ChannelCloseOk or t is spec.ChannelClose:
                self._close_ok_received = True
                self._close_ok.set()
                if self._error is not None:  # close() gave up waiting: free the number now
                    self._conn._release_channel(self.channel_id, self)
            return
        if t is spec.ChannelClose:
            self._conn._send(encode_method(self.channel_id, spec.ChannelCloseOk()))
            self._fail(
                error_for(ChannelClosed, m.reply_code, m.reply_text, m.class_id, m.method_id)
            )
        elif t is spec.BasicCancel:
            consumer = self._consumers.pop(m.consumer_tag, None)
            if consumer is not None:
                consumer._cancelled_by_broker()
            if not m.no_wait:
                self._conn._send(
                    encode_method(self.channel_id, spec.BasicCancelOk(consumer_tag=m.consumer_tag))
                )
        elif t is spec.ChannelFlow:
            self._flow = m.active
            self._conn._send(encode_method(self.channel_id, spec.ChannelFlowOk(active=m.active)))
            if self._flow:
                self._flow_lot.unpark_all()
        else:
            self._on_reply(method, method)

    def _on_content(self, ev: ContentMessage) -> Coroutine[Any, Any, None] | None:
        method: Any = ev.method
        t = type(method)
        if self._closing:
            return None
        if t is spec.BasicDeliver:
            consumer = self._consumers.get(method.consumer_tag)
            if consumer is None:
                return None
            d = Delivery(
                self,
                ev.body,
                ev.properties_raw,
                method.delivery_tag,
                method.redelivered,
                method.exchange,
                method.routing_key,
                method.consumer_tag,
                None,
                consumer.no_ack,
            )
            return consumer._push(d)
        if t is spec.BasicReturn:
            r = Returned(
                method.reply_code,
                method.reply_text,
                method.exchange,
                method.routing_key,
                ev.body,
                decode_properties(ev.properties_raw),
            )
            if self._confirms is not None:
                self._confirms.on_return(r)
            elif self.on_return is not None:
                self.on_return(r)
            return None
        self._on_reply(ev, method)
        return None

    # ------------------------------------------------------------------ exchanges

    async def exchange_declare(
        self,
        exchange: str,
        type: str = "direct",
        *,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        await self._call(
            spec.ExchangeDeclare(
                exchange=exchange,
                type=type,
                passive=passive,
                durable=durable,
                auto_delete=auto_delete,
                internal=internal,
                arguments=arguments or {},
            ),
            (spec.ExchangeDeclareOk,),
        )

    async def exchange_delete(self, exchange: str, *, if_unused: bool = False) -> None:
        await self._call(
            spec.ExchangeDelete(exchange=exchange, if_unused=if_unused), (spec.ExchangeDeleteOk,)
        )

    async def exchange_bind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        *,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        await self._call(
            spec.ExchangeBind(
                destination=destination,
                source=source,
                routing_key=routing_key,
                arguments=arguments or {},
            ),
            (spec.ExchangeBindOk,),
        )

    async def exchange_unbind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        *,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        await self._call(
            spec.ExchangeUnbind(
                destination=destination,
                source=source,
                routing_key=routing_key,
                arguments=arguments or {},
            ),
            (spec.ExchangeUnbindOk,),
        )

    # ------------------------------------------------------------------ queues

    async def queue_declare(
        self,
        queue: str = "",
        *,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> QueueDeclared:
        """Declare a queue ("" lets the broker name it); returns its name and counts."""
        ok = await self._call(
            spec.QueueDeclare(
                queue=queue,
                passive=passive,
                durable=durable,
                exclusive=exclusive,
                auto_delete=auto_delete,
                arguments=arguments or {},
            ),
            (spec.QueueDeclareOk,),
        )
        return QueueDeclared(ok.queue, ok.message_count, ok.consumer_count)

    async def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: str = "",
        *,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        await self._call(
            spec.QueueBind(
                queue=queue, exchange=exchange, routing_key=routing_key, arguments=arguments or {}
            ),
            (spec.QueueBindOk,),
        )

    async def queue_unbind(
        self,
        queue: str,
        exchange: str,
        routing_key: str = "",
        *,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        await self._call(
            spec.QueueUnbind(
                queue=queue, exchange=exchange, routing_key=routing_key, arguments=arguments or {}
            ),
            (spec.QueueUnbindOk,),
        )

    async def queue_purge(self, queue: str) -> int:
        """Remove the queue's ready messages; returns how many."""
        ok = await self._call(spec.QueuePurge(queue=queue), (spec.QueuePurgeOk,))
        return int(ok.message_count)

    async def queue_delete(
        self, queue: str, *, if_unused: bool = False, if_empty: bool = False
    ) -> int:
        """Delete the queue; returns how many messages it had."""
        ok = await self._call(
            spec.QueueDelete(queue=queue, if_unused=if_unused, if_empty=if_empty),
            (spec.QueueDeleteOk,),
        )
        return int(ok.message_count)

    # ------------------------------------------------------------------ basic

    async def basic_qos(
        self, *, prefetch_count: int = 0, prefetch_size: int = 0, global_: bool = False
    ) -> None:
        await self._call(
            spec.BasicQos(
                prefetch_size=prefetch_size, prefetch_count=prefetch_count, global_=global_
            ),
            (spec.BasicQosOk,),
        )

    async def basic_recover(self, *, requeue: bool = True) -> None:
        await self._call(spec.BasicRecover(requeue=requeue), (spec.BasicRecoverOk,))

    async def get(self, queue: str, *, no_ack: bool = False) -> Delivery | None:
        """Fetch one message (basic.get); None when the queue is empty."""

        def give_back(reply: Any) -> None:
            # The caller was cancelled after the broker handed out a message: return it.
            method = getattr(reply, "method", None)
            if not no_ack and isinstance(method, spec.BasicGetOk) and self._error is None:
                self._send_reject(method.delivery_tag, True)

        reply = await self._call(
            spec.BasicGet(queue=queue, no_ack=no_ack),
            (spec.BasicGetOk, spec.BasicGetEmpty),
            give_back,
        )
        if type(reply) is spec.BasicGetEmpty:
            return None
        m = reply.method
        return Delivery(
            self,
            reply.body,
            reply.properties_raw,
            m.delivery_tag,
            m.redelivered,
            m.exchange,
            m.routing_key,
            None,
            m.message_count,
            no_ack,
        )

    def consume(
        self,
        queue: str,
        *,
        prefetch: int = 100,
        no_ack: bool = False,
        exclusive: bool = False,
        arguments: dict[str, Any] | None = None,
        consumer_tag: str | None = None,
        buffer: int | None = None,
    ) -> ConsumeContext:
        """``async with ch.consume("q") as messages: async for d in messages: ...``

        ``prefetch`` (basic.qos for this consumer; 0 = unlimited) bounds the unacknowledged
        deliveries and so the client's buffer. With ``no_ack`` the buffer holds ``buffer``
        (default: ``prefetch`` or 100) deliveries and then the connection stops reading.
        """
        return ConsumeContext(
            self,
            queue,
            prefetch=prefetch,
            no_ack=no_ack,
            exclusive=exclusive,
            arguments=arguments,
            consumer_tag=consumer_tag,
            buffer=buffer,
        )

    async def _start_consumer(
        self,
        queue: str,
        tag: str | None,
        no_ack: bool,
        exclusive: bool,
        arguments: dict[str, Any] | None,
        buffer: int,
    ) -> Consumer:
        self._check_open()
        tag = tag or f"amqpish.{self.channel_id}.{next(_tags)}"
        if tag in self._consumers:
            raise ValueError(f"consumer tag {tag!r} is already in use on this channel")
        consumer = Consumer(self, tag, queue, no_ack, buffer)
        # Registered before asking, so no delivery can arrive for an unknown tag.
        self._consumers[tag] = consumer
        try:
            await self._call(
                spec.BasicConsume(
                    queue=queue,
                    consumer_tag=tag,
                    no_ack=no_ack,
                    exclusive=exclusive,
                    arguments=arguments or {},
                ),
                (spec.BasicConsumeOk,),
            )
        except BaseException:
            consumer._stop()
            if self._error is None and not self._closing:
                with trio.CancelScope(shield=True) as scope:
                    scope.deadline = trio.current_time() + self._conn.params.connection_timeout
                    try:
                        await self._cancel_consumer(consumer)
                    except (ChannelClosed, ConnectionClosed):
                        pass
            self._consumers.pop(tag, None)
            consumer._requeue_held()
            raise
        return consumer

    async def _cancel_consumer(self, consumer: Consumer) -> None:
        try:
            await self._call(
                spec.BasicCancel(consumer_tag=consumer.consumer_tag), (spec.BasicCancelOk,)
            )
        finally:
            self._consumers.pop(consumer.consumer_tag, None)

    # ------------------------------------------------------------------ acks (from Delivery)

    def _send_ack(self, tag: int, multiple: bool) -> None:
        self._conn._send(encode_basic_ack(self.channel_id, tag, multiple))

    def _send_nack(self, tag: int, multiple: bool, requeue: bool) -> None:
        self._conn._send(encode_basic_nack(self.channel_id, tag, multiple, requeue))

    def _send_reject(self, tag: int, requeue: bool) -> None:
        self._conn._send(
            encode_method(self.channel_id, spec.BasicReject(delivery_tag=tag, requeue=requeue))
        )

    # ------------------------------------------------------------------ publishing

    async def confirm_select(self) -> None:
        """Put the channel in publisher-confirm mode (confirm.select)."""
        if self._confirms is not None:
            await trio.lowlevel.checkpoint()
            return
        await self._call(spec.ConfirmSelect(), (spec.ConfirmSelectOk,))
        self._confirms = ConfirmTracker(self._confirm_window)

    async def tx_select(self) -> None:
        await self._call(spec.TxSelect(), (spec.TxSelectOk,))

    async def tx_commit(self) -> None:
        await self._call(spec.TxCommit(), (spec.TxCommitOk,))

    async def tx_rollback(self) -> None:
        await self._call(spec.TxRollback(), (spec.TxRollbackOk,))

    @overload
    async def publish(
        self,
        body: bytes | str,
        *,
        exchange: str = "",
        routing_key: str = "",
        properties: BasicProperties | None = None,
        mandatory: bool = False,
        wait: Literal[True] = True,
        **props: Unpack[MessageProperties],
    ) -> None: ...

    @overload
    async def publish(
        self,
        body: bytes | str,
        *,
        exchange: str = "",
        routing_key: str = "",
        properties: BasicProperties | None = None,
        mandatory: bool = False,
        wait: Literal[False],
        **props: Unpack[MessageProperties],
    ) -> Confirmation: ...

    async def publish(
        self,
        body: bytes | str,
        *,
        exchange: str = "",
        routing_key: str = "",
        properties: BasicProperties | None = None,
        mandatory: bool = False,
        wait: bool = True,
        **props: Unpack[MessageProperties],
    ) -> Confirmation | None:
        """Publish a message (basic.publish).

        Properties come from ``properties`` or keywords (``content_type=``, ``headers=``,
        ``persistent=True``, ...). Waits while the connection is blocked or its output is
        backed up. In confirm mode it then waits for the broker's confirm and raises
        :class:`MessageNacked`, or :class:`MessageReturned` for an unroutable
        ``mandatory`` message; with ``wait=False`` it returns a :class:`Confirmation` at
        once instead (see also :meth:`wait_for_confirms`). Cancelling it never leaves part
        of a message on the wire.
        """
        while True:
            self._check_open()
            if not self._flow:
                await self._flow_lot.park()
                continue
            await self._conn._wait_writable()
            if self._confirms is not None and self._confirms.full:
                await self._confirms.wait_for_room(self._check_open)
                continue
            break
        confirmation = self._publish(
            body, exchange, routing_key, properties, mandatory, wait, props
        )
        if wait:
            await confirmation.wait()
            return None
        await trio.lowlevel.cancel_shielded_checkpoint()
        return confirmation

    def publish_nowait(
        self,
        body: bytes | str,
        *,
        exchange: str = "",
        routing_key: str = "",
        properties: BasicProperties | None = None,
        mandatory: bool = False,
        **props: Unpack[MessageProperties],
    ) -> Confirmation:
        """Publish without waiting: raises ``trio.WouldBlock`` when :meth:`publish` would
        have to wait (blocked, output backed up, confirm window full)."""
        self._check_open()
        if (
            not self._flow
            or not self._conn._writable()
            or (self._confirms is not None and self._confirms.full)
        ):
            raise trio.WouldBlock
        return self._publish(body, exchange, routing_key, properties, mandatory, False, props)

    def _publish(
        self,
        body: bytes | str,
        exchange: str,
        routing_key: str,
        properties: BasicProperties | None,
        mandatory: bool,
        wait: bool,
        props: MessageProperties,
    ) -> Confirmation:
        self._check_open()  # it may have closed while the publisher waited
        if isinstance(body, str):
            body = body.encode()
        if props:
            if properties is not None:
                raise TypeError("pass either properties= or property keywords, not both")
            fields: dict[str, Any] = dict(props)
            if fields.pop("persistent", False):
                fields["delivery_mode"] = 2
            properties = BasicProperties(**fields)
        raw = EMPTY_PROPERTIES_RAW if properties is None else encode_properties(properties)
        conn = self._conn
        frame_max = conn.frame_max or 131072
        data = encode_basic_publish(
            self.channel_id,
            exchange.encode(),
            routing_key.encode(),
            mandatory,
            False,
            raw,
            body,
            frame_max,
        )
        conn._send(data)
        if self._confirms is None:
            return Confirmation(0, exchange, routing_key, mandatory)
        return self._confirms.add(exchange, routing_key, mandatory, wait)

    async def wait_for_confirms(self) -> None:
        """Wait until every message published so far on this confirm-mode channel is
        settled; raise the first failure (nack/return) of a publish nobody awaited."""
        if self._confirms is None:
            raise RuntimeError("the channel is not in confirm mode (use confirm_select())")
        await self._confirms.wait_all(self._check_open)


class ChannelContext:
    """What ``conn.channel()`` returns: ``async with conn.channel() as ch:``."""

    def __init__(self, conn: Connection, confirm: bool, confirm_window: int) -> None:
        self._conn = conn
        self._confirm = confirm
        self._window = confirm_window
        self._channel: Channel | None = None

    async def __aenter__(self) -> Channel:
        self._channel = await self._conn.open_channel(
            confirm=self._confirm, confirm_window=self._window
        )
        return self._channel

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._channel is not None
        await self._channel._close_quietly()
