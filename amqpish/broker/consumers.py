"""Consumers and the credit that decides whether one may take another message.

A consumer may take a message when its own prefetch (basic.qos global=false) and
its channel's credit (basic.qos global=true, channel.flow, and the connection's
write buffer) allow it. The channel side is an interface (``DeliveryTarget``)
implemented by the session, so the model stays free of I/O: ``deliver`` only
encodes frames into an in-memory buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from amqpish.broker.message import Entry, Message
    from amqpish.broker.queue import Queue


class DeliveryTarget(Protocol):
    """What a queue needs from the channel a consumer lives on."""

    def can_take(self, consumer: Consumer) -> bool: ...

    def deliver(self, consumer: Consumer, queue: Queue, entry: Entry | Message) -> None:
        """``entry`` is a bare Message only for a no-ack consumer (nothing to track)."""
        ...

    def consumer_cancelled(self, consumer: Consumer) -> None:
        """The queue went away under the consumer (server-sent basic.cancel)."""
        ...


class Consumer:
    __slots__ = (
        "active",
        "args",
        "channel",
        "exclusive",
        "no_ack",
        "prefetch",
        "priority",
        "queue",
        "tag",
        "tag_b",
        "unacked",
    )

    def __init__(
        self,
        tag: str,
        queue: Queue,
        channel: DeliveryTarget,
        *,
        no_ack: bool = False,
        exclusive: bool = False,
        prefetch: int = 0,
        args: dict[str, Any] | None = None,
    ) -> None:
        self.tag = tag
        self.tag_b = tag.encode()
        self.queue = queue
        self.channel = channel
        self.no_ack = no_ack
        self.exclusive = exclusive
        self.prefetch = prefetch
        self.args = args or {}
        self.priority = 0
        self.unacked = 0
        # False while waiting behind a single active consumer
        self.active = True

    def can_take(self) -> bool:
        return self.channel.can_take(self)

    def __repr__(self) -> str:
        return f"<Consumer {self.tag!r} on {self.queue.name!r}>"


class ChannelCredit:
    """Per-channel delivery credit, as RabbitMQ's limiter defines it.

    basic.qos with global=false sets the prefetch of consumers created afterwards;
    global=true limits the unacknowledged deliveries of the whole channel. Both apply
    at once when both are set. ``paused`` covers channel.flow and a connection whose
    socket is not keeping up, which stop no-ack deliveries too.
    """

    __slots__ = (
        "consumer_prefetch",
        "flow_active",
        "global_prefetch",
        "unacked_count",
        "write_blocked",
    )

    def __init__(self) -> None:
        self.global_prefetch = 0
        self.consumer_prefetch = 0
        self.unacked_count = 0
        self.flow_active = True
        self.write_blocked = False

    def can_take(self, consumer: Consumer) -> bool:
        if self.write_blocked or not self.flow_active:
            return False
        if consumer.no_ack:
            return True
        limit = consumer.prefetch
        if limit and consumer.unacked >= limit:
            return False
        glimit = self.global_prefetch
        return not (glimit and self.unacked_count >= glimit)
