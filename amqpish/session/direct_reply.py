"""Direct reply-to (``amq.rabbitmq.reply-to``): RPC replies without a reply queue.

A channel that consumes (no-ack) from the pseudo-queue ``amq.rabbitmq.reply-to`` gets
a random token. Its requests published with ``reply_to=amq.rabbitmq.reply-to`` have
that property rewritten to ``amq.rabbitmq.reply-to.<token>``; a reply published to
the default exchange with that routing key is delivered straight to the waiting
consumer, or dropped if it has gone, as RabbitMQ does.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

from amqpish.broker.message import Message
from amqpish.codec import BasicProperties, encode_properties

if TYPE_CHECKING:
    from amqpish.session.channel import ChannelSession

PSEUDO_QUEUE = "amq.rabbitmq.reply-to"
PREFIX = PSEUDO_QUEUE + "."

# token -> the channel consuming replies; one registry for the process, since tokens
# are random and a reply may come from any vhost's default exchange
_registry: dict[str, ChannelSession] = {}


def register(channel: ChannelSession) -> str:
    token = base64.urlsafe_b64encode(os.urandom(18)).decode()
    _registry[token] = channel
    return token


def unregister(token: str) -> None:
    _registry.pop(token, None)


def lookup(routing_key: str) -> ChannelSession | None:
    return _registry.get(routing_key[len(PREFIX) :])


def with_reply_to(msg: Message, reply_to: str) -> Message:
    p = msg.props
    props = BasicProperties(
        **{s: getattr(p, s) for s in BasicProperties.__slots__ if s != "reply_to"},
        reply_to=reply_to,
    )
    return Message(msg.exchange, msg.routing_key, encode_properties(props), msg.body, 0, props)
