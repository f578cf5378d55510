"""The client's exceptions.

Every error the broker reports arrives as channel.close or connection.close with a reply
code; the client raises it as an :class:`AMQPError` carrying that code, the text and the
class/method ids of the offending method. The *level* (:class:`ChannelClosed` or
:class:`ConnectionClosed`) says what is now unusable, and the *code* class
(:class:`NotFound`, :class:`AccessRefused`, ...) says why, so both spellings work::

    except NotFound: ...           # any 404, whatever was closed
    except ChannelClosed: ...      # the channel is gone, the connection is fine

An error is an instance of both: :func:`error_for` builds (and caches) the class
``NotFound`` + ``ChannelClosed`` the first time one is needed.
"""

from __future__ import annotations

__all__ = [
    "AMQPError",
    "AccessRefused",
    "ChannelClosed",
    "ChannelError",
    "CommandInvalid",
    "ConnectionClosed",
    "ConnectionForced",
    "ConnectionLost",
    "ConsumerCancelled",
    "ContentTooLarge",
    "FrameError",
    "InternalError",
    "InvalidPath",
    "MessageNacked",
    "MessageReturned",
    "NoConsumers",
    "NoRoute",
    "NotAllowed",
    "NotFound",
    "NotImplementedByPeer",
    "PreconditionFailed",
    "ProtocolHeaderRejected",
    "PublishError",
    "ResourceError",
    "ResourceLocked",
    "SyntaxErrorReply",
    "UnexpectedFrame",
    "error_for",
]

from typing import TYPE_CHECKING, ClassVar, Self

if TYPE_CHECKING:
    from amqpish.codec.properties import BasicProperties


class AMQPError(Exception):
    """An error reported by (or about) the peer, with its AMQP reply code and text."""

    reply_code: int
    reply_text: str
    class_id: int
    method_id: int

    def __init__(
        self, reply_code: int, reply_text: str, class_id: int = 0, method_id: int = 0
    ) -> None:
        super().__init__(reply_code, reply_text, class_id, method_id)
        self.reply_code = reply_code
        self.reply_text = reply_text
        self.class_id = class_id
        self.method_id = method_id

    def fresh(self) -> Self:
        """A copy to raise: one error (a closed channel's, say) is raised to many callers,
        and raising the same object again would pile their tracebacks onto it."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.args = self.args
        new.__cause__ = self.__cause__
        return new

    def __str__(self) -> str:
        where = f" (class {self.class_id}, method {self.method_id})" if self.class_id else ""
        return f"{self.reply_code} {self.reply_text}{where}" if self.reply_code else self.reply_text


class ChannelClosed(AMQPError):
    """The channel is closed: by the broker because of an error, or by this client."""


class ConnectionClosed(AMQPError):
    """The connection is closed: by the broker (connection.close), by this client, or lost."""


class ConnectionLost(ConnectionClosed):
    """The socket failed, the peer went away or missed its heartbeats; ``reply_code`` is 0."""

    def __init__(self, reply_text: str) -> None:
        super().__init__(0, reply_text)


class ProtocolHeaderRejected(ConnectionLost):
    """The server answered our protocol header with its own: it speaks another AMQP version."""


# Reply-code classes. They derive from AMQPError only; the raised error also derives from
# the level class (see error_for).
class _CodeError(AMQPError):
    CODE: ClassVar[int]


class ContentTooLarge(_CodeError):
    CODE = 311


class NoRoute(_CodeError):
    CODE = 312


class NoConsumers(_CodeError):
    CODE = 313


class ConnectionForced(_CodeError):
    CODE = 320


class InvalidPath(_CodeError):
    CODE = 402


class AccessRefused(_CodeError):
    CODE = 403


class NotFound(_CodeError):
    CODE = 404


class ResourceLocked(_CodeError):
    CODE = 405


class PreconditionFailed(_CodeError):
    CODE = 406


class FrameError(_CodeError):
    CODE = 501


class SyntaxErrorReply(_CodeError):
    CODE = 502


class CommandInvalid(_CodeError):
    CODE = 503


class ChannelError(_CodeError):
    CODE = 504


class UnexpectedFrame(_CodeError):
    CODE = 505


class ResourceError(_CodeError):
    CODE = 506


class NotAllowed(_CodeError):
    CODE = 530


class NotImplementedByPeer(_CodeError):
    CODE = 540


class InternalError(_CodeError):
    CODE = 541


_BY_CODE: dict[int, type[_CodeError]] = {
    c.CODE: c
    for c in (
        ContentTooLarge,
        NoRoute,
        NoConsumers,
        ConnectionForced,
        InvalidPath,
        AccessRefused,
        NotFound,
        ResourceLocked,
        PreconditionFailed,
        FrameError,
        SyntaxErrorReply,
        CommandInvalid,
        ChannelError,
        UnexpectedFrame,
        ResourceError,
        NotAllowed,
        NotImplementedByPeer,
        InternalError,
    )
}
_COMBINED: dict[tuple[type[AMQPError], type[_CodeError]], type[AMQPError]] = {}


def error_for(
    level: type[ChannelClosed] | type[ConnectionClosed],
    reply_code: int,
    reply_text: str,
    class_id: int = 0,
    method_id: int = 0,
) -> AMQPError:
    """The exception for a close with this code at this level (channel or connection)."""
    code_cls = _BY_CODE.get(reply_code)
    if code_cls is None:
        return level(reply_code, reply_text, class_id, method_id)
    cls = _COMBINED.get((level, code_cls))
    if cls is None:
        cls = type(code_cls.__name__, (code_cls, level), {"__module__": __name__})
        _COMBINED[(level, code_cls)] = cls
    return cls(reply_code, reply_text, class_id, method_id)


class PublishError(Exception):
    """A confirmed publish failed. ``seq`` is its publish sequence number on the channel."""

    seq: int

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(message)
        self.seq = seq


class MessageNacked(PublishError):
    """The broker nacked the message (basic.nack): it could not take responsibility for it."""

    def __init__(self, seq: int) -> None:
        super().__init__(seq, f"message {seq} was nacked by the broker")


class MessageReturned(PublishError):
    """A mandatory message could not be routed and came back (basic.return)."""

    reply_code: int
    reply_text: str
    exchange: str
    routing_key: str
    body: bytes
    properties: BasicProperties

    def __init__(
        self,
        seq: int,
        reply_code: int,
        reply_text: str,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: BasicProperties,
    ) -> None:
        super().__init__(
            seq,
            f"message {seq} returned: {reply_code} {reply_text} "
            f"(exchange {exchange!r}, routing key {routing_key!r})",
        )
        self.reply_code = reply_code
        self.reply_text = reply_text
        self.exchange = exchange
        self.routing_key = routing_key
        self.body = body
        self.properties = properties


class ConsumerCancelled(Exception):
    """The broker cancelled the consumer (basic.cancel), e.g. because its queue was deleted."""

    consumer_tag: str

    def __init__(self, consumer_tag: str) -> None:
        super().__init__(f"consumer {consumer_tag!r} was cancelled by the broker")
        self.consumer_tag = consumer_tag
