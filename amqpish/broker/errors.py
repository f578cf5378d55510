"""Errors raised by the broker model, carrying their AMQP wire meaning.

The model raises ``AMQPError`` with a reply code and RabbitMQ's reply text; the
session turns it into channel.close (soft codes) or connection.close (hard codes),
filling in the class and method ids of the method being handled. One exception type
keeps the translation in one place.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    NO_ROUTE = 312
    CONNECTION_FORCED = 320
    ACCESS_REFUSED = 403
    NOT_FOUND = 404
    RESOURCE_LOCKED = 405
    PRECONDITION_FAILED = 406
    FRAME_ERROR = 501
    SYNTAX_ERROR = 502
    COMMAND_INVALID = 503
    CHANNEL_ERROR = 504
    UNEXPECTED_FRAME = 505
    RESOURCE_ERROR = 506
    NOT_ALLOWED = 530
    NOT_IMPLEMENTED = 540
    INTERNAL_ERROR = 541


SOFT_CODES = frozenset({311, 312, 313, 403, 404, 405, 406})


class AMQPError(Exception):
    """An error with a reply code; ``text`` is RabbitMQ's text without the code name."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text

    @property
    def hard(self) -> bool:
        return self.code not in SOFT_CODES

    @property
    def reply_text(self) -> str:
        try:
            name = Code(self.code).name
        except ValueError:
            name = str(self.code)
        if not self.text:
            return name
        full = f"{name} - {self.text}"
        raw = full.encode()
        if len(raw) > 255:
            # a shortstr: cut as RabbitMQ does (252 bytes and "...")
            return raw[:252].decode(errors="ignore") + "..."
        return full

    def __str__(self) -> str:
        return self.reply_text


def not_found(kind: str, name: str, vhost: str) -> AMQPError:
    return AMQPError(Code.NOT_FOUND, f"no {kind} '{name}' in vhost '{vhost}'")


def precondition(text: str) -> AMQPError:
    return AMQPError(Code.PRECONDITION_FAILED, text)


def access_refused(text: str) -> AMQPError:
    return AMQPError(Code.ACCESS_REFUSED, text)


def resource_locked(name: str, vhost: str) -> AMQPError:
    return AMQPError(
        Code.RESOURCE_LOCKED,
        f"cannot obtain exclusive access to locked queue '{name}' in vhost '{vhost}'. "
        "It could be originally declared on another connection or the exclusive "
        "property value does not match that of the original declaration.",
    )
