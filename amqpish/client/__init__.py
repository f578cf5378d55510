"""amqpish.client: an AMQP 0-9-1 client for Trio (works with RabbitMQ and amqpish).

It imports only :mod:`amqpish.codec`, Trio and the standard library.

Connecting
----------
::

    from amqpish.client import connect

    async with connect("amqp://user:pass@host:5672/vhost?heartbeat=30") as conn:
        async with conn.channel() as ch:
            ...

``connect(url, *, ssl_context=None, name=None, heartbeat=None, connection_timeout=None)``
takes an AMQP URI as RabbitMQ specifies it: percent-encoded user, password and vhost
(``%2f`` is ``/``; no path or an empty one means the vhost ``/``), ``amqps://`` for TLS
(with ``ssl_context``, default ``ssl.create_default_context()``), and the query keys
``heartbeat`` (seconds; 0 disables), ``frame_max``, ``channel_max``,
``connection_timeout`` (milliseconds). Authentication is PLAIN. Heartbeats are sent and
checked: a broker silent for two intervals ends the connection with
:class:`ConnectionLost`.

The connection lives inside its ``async with``: if it fails (network, heartbeats,
connection.close from the broker), the block's body is cancelled and the error
(:class:`ConnectionClosed` or a subclass) is raised from the ``async with``; calls in
progress raise it too. ``conn.blocked`` is true while the broker blocks publishers
(connection.blocked); publishers then wait.

Channels
--------
``async with conn.channel(confirm=False) as ch`` or ``ch = await conn.open_channel()``
(then ``await ch.close()``). Methods, all with keyword options:

* ``exchange_declare(name, type="direct", passive=, durable=, auto_delete=, internal=,
  arguments=)``, ``exchange_delete(name, if_unused=)``,
  ``exchange_bind(destination, source, routing_key, arguments=)``, ``exchange_unbind(...)``
* ``queue_declare(name="", passive=, durable=, exclusive=, auto_delete=, arguments=)`` ->
  :class:`QueueDeclared` ``(queue, message_count, consumer_count)``;
  ``queue_bind(queue, exchange, routing_key, arguments=)``, ``queue_unbind(...)``,
  ``queue_purge(queue)`` -> count, ``queue_delete(queue, if_unused=, if_empty=)`` -> count
* ``basic_qos(prefetch_count=, prefetch_size=, global_=)``, ``basic_recover(requeue=)``,
  ``tx_select()``, ``tx_commit()``, ``tx_rollback()``

Publishing
----------
``await ch.publish(body, exchange="", routing_key="", properties=None, mandatory=False,
**props)`` with ``props`` the :class:`BasicProperties` fields as keywords
(``content_type=``, ``headers=``, ``correlation_id=``, ..., and ``persistent=True``).
It encodes the whole message into one buffer and hands it to the connection's single
writer atomically: a cancelled publish never leaves part of a message on the wire.

In confirm mode (``await ch.confirm_select()`` or ``conn.channel(confirm=True)``)
``publish`` returns once the broker confirmed the message and raises
:class:`MessageNacked` on basic.nack or :class:`MessageReturned` (with ``reply_code``,
``reply_text``, the body and properties) when a ``mandatory`` message was unroutable.
Many tasks may publish on one channel concurrently; at most ``confirm_window``
publishes are unconfirmed at a time. To pipeline, ``await ch.publish(..., wait=False)``
(or the synchronous ``ch.publish_nowait(...)``, which raises ``trio.WouldBlock`` instead
of waiting) returns a :class:`Confirmation` (``await c.wait()``), and
``await ch.wait_for_confirms()`` waits for everything published so far, raising the
first failure nobody awaited.

Consuming
---------
::

    async with ch.consume("q", prefetch=100, no_ack=False, exclusive=False) as messages:
        async for delivery in messages:
            await delivery.ack()      # or delivery.nack(requeue=...), delivery.reject(requeue=...)

A :class:`Delivery` has ``body``, ``properties``, ``routing_key``, ``exchange``,
``redelivered``, ``delivery_tag`` and ``consumer_tag``. The client never buffers more than
the prefetch window; with ``no_ack`` a full buffer stops the connection from reading.
Leaving the block cancels the consumer (and requeues deliveries it never handed out).
A broker-side cancel (queue deleted) ends the iteration with :class:`ConsumerCancelled`.
``await ch.get("q", no_ack=False)`` returns a :class:`Delivery` or None.

:func:`robust_consumer` (``async with robust_consumer(url, "q", topology=declare) as
messages``) reconnects with backoff, re-runs ``topology(channel)`` and resumes.

Errors
------
:class:`AMQPError` (``reply_code``, ``reply_text``, ``class_id``, ``method_id``) is the
base. :class:`ChannelClosed`: the channel is unusable, the connection is fine.
:class:`ConnectionClosed` (and :class:`ConnectionLost`, reply code 0, for network
failures): the connection is gone. The reply code has its own class too:
:class:`AccessRefused` (403), :class:`NotFound` (404), :class:`ResourceLocked` (405),
:class:`PreconditionFailed` (406), :class:`NotAllowed` (530), ... and a raised error is an
instance of both, e.g. ``NotFound`` and ``ChannelClosed``. Cancelling any call leaves the
channel and connection usable.
"""

from __future__ import annotations

from amqpish.codec.properties import BasicProperties

from .channel import Channel, MessageProperties, QueueDeclared
from .confirms import Confirmation, Returned
from .connection import Connection, connect
from .consumer import Consumer, Delivery
from .errors import (
    AccessRefused,
    AMQPError,
    ChannelClosed,
    ChannelError,
    CommandInvalid,
    ConnectionClosed,
    ConnectionForced,
    ConnectionLost,
    ConsumerCancelled,
    ContentTooLarge,
    FrameError,
    InternalError,
    InvalidPath,
    MessageNacked,
    MessageReturned,
    NoConsumers,
    NoRoute,
    NotAllowed,
    NotFound,
    NotImplementedByPeer,
    PreconditionFailed,
    ProtocolHeaderRejected,
    PublishError,
    ResourceError,
    ResourceLocked,
    SyntaxErrorReply,
    UnexpectedFrame,
)
from .robust import RobustConsumer, robust_consumer
from .url import ConnectionParameters, parse_url

__all__ = [
    "AMQPError",
    "AccessRefused",
    "BasicProperties",
    "Channel",
    "ChannelClosed",
    "ChannelError",
    "CommandInvalid",
    "Confirmation",
    "Connection",
    "ConnectionClosed",
    "ConnectionForced",
    "ConnectionLost",
    "ConnectionParameters",
    "Consumer",
    "ConsumerCancelled",
    "ContentTooLarge",
    "Delivery",
    "FrameError",
    "InternalError",
    "InvalidPath",
    "MessageNacked",
    "MessageProperties",
    "MessageReturned",
    "NoConsumers",
    "NoRoute",
    "NotAllowed",
    "NotFound",
    "NotImplementedByPeer",
    "PreconditionFailed",
    "ProtocolHeaderRejected",
    "PublishError",
    "QueueDeclared",
    "ResourceError",
    "ResourceLocked",
    "Returned",
    "RobustConsumer",
    "SyntaxErrorReply",
    "UnexpectedFrame",
    "connect",
    "parse_url",
    "robust_consumer",
]
