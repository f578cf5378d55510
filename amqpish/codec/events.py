"""What the frame decoder produces: one small slotted object per complete unit.

How it works: these are plain value classes (no behaviour) created once per
frame or message on the hot path, so they are hand-written slotted classes
rather than dataclasses, with positional constructors and ``__match_args__``
for ``match`` statements in the session code.
"""

from __future__ import annotations

from typing import TypeAlias

from .errors import ProtocolError
from .spec import Method

__all__ = [
    "ContentMessage",
    "DecodeError",
    "Event",
    "Heartbeat",
    "MethodFrame",
    "ProtocolHeader",
]


class ProtocolHeader:
    """The 8-byte protocol header a client opens with; ``ok`` only for AMQP 0-9-1."""

    __slots__ = ("major", "minor", "ok", "revision")
    __match_args__ = ("ok", "major", "minor", "revision")

    def __init__(self, ok: bool, major: int, minor: int, revision: int) -> None:
        self.ok = ok
        self.major = major
        self.minor = minor
        self.revision = revision

    def __eq__(self, other: object) -> bool:
        if type(other) is not ProtocolHeader:
            return NotImplemented
        return (self.ok, self.major, self.minor, self.revision) == (
            other.ok,
            other.major,
            other.minor,
            other.revision,
        )

    def __repr__(self) -> str:
        return (
            f"ProtocolHeader(ok={self.ok}, major={self.major}, minor={self.minor},"
            f" revision={self.revision})"
        )


class MethodFrame:
    """A method that carries no content."""

    __slots__ = ("channel", "method")
    __match_args__ = ("channel", "method")

    def __init__(self, channel: int, method: Method) -> None:
        self.channel = channel
        self.method = method

    def __eq__(self, other: object) -> bool:
        if type(other) is not MethodFrame:
            return NotImplemented
        return self.channel == other.channel and self.method == other.method

    def __repr__(self) -> str:
        return f"MethodFrame(channel={self.channel}, method={self.method!r})"


class ContentMessage:
    """A content-bearing method with its raw properties and complete body."""

    __slots__ = ("body", "channel", "method", "properties_raw")
    __match_args__ = ("channel", "method", "properties_raw", "body")

    def __init__(self, channel: int, method: Method, properties_raw: bytes, body: bytes) -> None:
        self.channel = channel
        self.method = method
        self.properties_raw = properties_raw
        self.body = body

    def __eq__(self, other: object) -> bool:
        if type(other) is not ContentMessage:
            return NotImplemented
        return (
            self.channel == other.channel
            and self.method == other.method
            and self.properties_raw == other.properties_raw
            and self.body == other.body
        )

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 64 else self.body[:64] + b"..."
        return (
            f"ContentMessage(channel={self.channel}, method={self.method!r},"
            f" properties_raw={self.properties_raw!r}, body={body!r} ({len(self.body)} bytes))"
        )


class Heartbeat:
    """A heartbeat frame."""

    __slots__ = ()
    __match_args__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not Heartbeat:
            return NotImplemented
        return True

    def __hash__(self) -> int:
        return hash(Heartbeat)

    def __repr__(self) -> str:
        return "Heartbeat()"


class DecodeError:
    """The input violated the protocol; always the decoder's last event."""

    __slots__ = ("error",)
    __match_args__ = ("error",)

    def __init__(self, error: ProtocolError) -> None:
        self.error = error

    def __eq__(self, other: object) -> bool:
        if type(other) is not DecodeError:
            return NotImplemented
        a, b = self.error, other.error
        return (a.reply_code, a.text, a.class_id, a.method_id) == (
            b.reply_code,
            b.text,
            b.class_id,
            b.method_id,
        )

    def __repr__(self) -> str:
        e = self.error
        return (
            f"DecodeError(ProtocolError({e.reply_code}, {e.text!r}, class_id={e.class_id},"
            f" method_id={e.method_id}))"
        )


Event: TypeAlias = ProtocolHeader | MethodFrame | ContentMessage | Heartbeat | DecodeError
