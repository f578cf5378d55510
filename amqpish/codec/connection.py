"""The sans-IO frame decoder and content assembler, for the server and the client.

How it works: ``feed`` parses as many complete frames as the bytes allow,
walking one buffer with an integer offset; only the unconsumed tail is kept.
While a frame is incomplete, further input is only appended to a list (no
re-joining per read) until the known frame length has arrived, so a large body
frame arriving in many reads is joined once. Content-bearing methods are
assembled per channel; the overwhelmingly common case -- a basic.publish whose
header and single body frame follow it in the same buffer -- is recognised
right after the method frame and emitted without touching the per-channel
state at all. Anything unusual about it simply falls back to the general path,
which is the one that reports errors.

Errors follow RabbitMQ (rabbit_reader.erl, rabbit_command_assembler.erl,
rabbit_framing_amqp_0_9_1):

* frame end octet not 0xCE, unknown frame type, a method frame shorter than
  4 bytes, a header frame shorter than 12, a heartbeat with a payload: 501;
* frame payload larger than frame_max: 501. RabbitMQ lets a payload exceed
  frame_max - 8 by up to 8 bytes ("quite a few clients get it wrong"), so the
  limit here is frame_max itself, not frame_max - 8;
* a method frame on a channel that awaits a content header or body, a header
  or body frame that nothing awaits, a header with a non-zero weight or the
  wrong class, a heartbeat on a non-zero channel, body frames exceeding the
  declared body size: 505 UNEXPECTED_FRAME;
* a declared body size over ``max_body_size`` (RabbitMQ's hard 512 MiB
  ?MAX_MSG_SIZE): 501;
* frame-level errors carry RabbitMQ's text "type N, all octets = <<...>>".
* undecodable method arguments: 501 with class and method id (see spec.py);
* unknown class/method id: 540 NOT_IMPLEMENTED. RabbitMQ has no reply code
  for this: its lookup exits and the connection is dropped without a
  connection.close; 540 with the ids is the closest honest answer.

Channel numbers are only reported: whether a channel is open is the session's
business.
"""

from __future__ import annotations

import struct

from .errors import ProtocolError
from .events import (
    ContentMessage,
    DecodeError,
    Event,
    Heartbeat,
    MethodFrame,
    ProtocolHeader,
)
from .spec import METHODS, PROTOCOL_HEADER, Method

__all__ = ["MAX_BODY_SIZE", "Decoder"]

#: RabbitMQ's hard limit on a message body (?MAX_MSG_SIZE).
MAX_BODY_SIZE = 536870912

_FRAME_ERROR = 501
_UNEXPECTED_FRAME = 505
_NOT_IMPLEMENTED = 540
_PUBLISH = 60 << 16 | 40  # basic.publish's method index
_PUBLISH_CACHE_SIZE = 256

_frame_head = struct.Struct(">BHI").unpack_from
_frame_head_index = struct.Struct(">BHII").unpack_from
# content header payload: class-id, weight, body size
_content_head = struct.Struct(">HHQ").unpack_from
# a whole content header frame up to its properties
_header_frame_head = struct.Struct(">BHIHHQ").unpack_from

_HEARTBEAT = Heartbeat()


class _Pending:
    """A content-bearing method waiting for its header (remaining < 0) or body."""

    __slots__ = ("chunks", "method", "properties_raw", "remaining")

    def __init__(self, method: Method) -> None:
        self.method = method
        self.remaining = -1
        self.properties_raw = b""
        self.chunks: list[bytes] = []


def _octets(code: int, ftype: int, buf: bytes, off: int, end: int) -> ProtocolError:
    """RabbitMQ's text for a frame it cannot accept: the type and the frame's octets."""
    payload = bytes(buf[off + 7 : min(end, off + 7 + 32)])
    return ProtocolError(code, f"type {ftype}, all octets = <<{payload.hex()}>>")


def _unexpected(text: str, method: Method) -> ProtocolError:
    return ProtocolError(_UNEXPECTED_FRAME, text, method.CLASS_ID, method.METHOD_ID)


class Decoder:
    """Turns received bytes into events (see ``events``)."""

    def __init__(
        self,
        *,
        frame_max: int = 131072,
        expect_protocol_header: bool = True,
        max_body_size: int = MAX_BODY_SIZE,
    ) -> None:
        #: Negotiated frame_max; the server lowers it after tune-ok. 0 means unlimited.
        self.frame_max = frame_max
        self.max_body_size = max_body_size
        self._expect_header = expect_protocol_header
        self._parts: list[bytes] = []  # unconsumed input, starting at a frame boundary
        self._have = 0  # bytes in _parts
        self._need = 0  # bytes _parts must hold before parsing can progress
        self._pending: dict[int, _Pending] = {}
        self._dead = False
        # basic.publish argument bytes -> the decoded method (see _parse)
        self._publish_cache: dict[bytes, Method] = {}

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data`` (appended to what is left from earlier calls) into events."""
        if self._dead or not data:
            return []
        if type(data) is not bytes:
            data = bytes(data)
        if self._parts:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            buf = b"".join(self._parts)
        else:
            buf = data
        events: list[Event] = []
        off = 0
        if self._expect_header:
            off = self._protocol_header(buf, events)
            if off < 0:
                return events
        try:
            off = self._parse(buf, off, events)
        except ProtocolError as exc:
            events.append(DecodeError(exc))
            self._die()
            return events
        if off < len(buf):
            rest = buf[off:] if off else buf
            self._parts = [rest]
            self._have = len(rest)
        else:
            self._parts = []
            self._have = 0
        return events

    def _die(self) -> None:
        self._dead = True
        self._parts = []
        self._pending.clear()

    def _protocol_header(self, buf: bytes, events: list[Event]) -> int:
        """Handle the 8-byte protocol header; the offset after it, or -1 to stop here."""
        n = len(buf)
        if buf[:4] != b"AMQP"[: min(n, 4)]:
            # Cannot become "AMQP": answer now rather than wait for 8 bytes.
            events.append(ProtocolHeader(False, 0, 0, 0))
            self._die()
            return -1
        if n < 8:
            self._parts = [buf]
            self._have = n
            # Until "AMQP" is complete every new byte may already rule it out.
            self._need = n + 1 if n < 4 else 8
            return -1
        ok = buf[:8] == PROTOCOL_HEADER
        events.append(ProtocolHeader(ok, buf[5], buf[6], buf[7]))
        self._expect_header = False
        if not ok:
            self._die()
            return -1
        return 8

    def _parse(self, buf: bytes, off: int, events: list[Event]) -> int:
        """Parse complete frames from ``off``; return the offset of the first incomplete one."""
        n = len(buf)
        frame_max = self.frame_max
        limit = frame_max if frame_max > 0 else 0xFFFFFFFF
        max_body = self.max_body_size
        pending = self._pending
        methods = METHODS
        publish_cache = self._publish_cache
        append = events.append
        while True:
            if n - off >= 11:
                # Most frames are method frames: read the method index along with the head.
                ftype, channel, size, index = _frame_head_index(buf, off)
            elif n - off >= 7:
                ftype, channel, size = _frame_head(buf, off)
                index = -1
            else:
                self._need = 7
                return off
            if size > limit:
                raise _octets(_FRAME_ERROR, ftype, buf, off, off + 7)
            end = off + 7 + size  # the end octet
            if end >= n:
                self._need = size + 8
                return off
            if buf[end] != 206:
                raise _octets(_FRAME_ERROR, ftype, buf, off, end)

            if ftype == 1:
                if size < 4:
                    raise _octets(_FRAME_ERROR, ftype, buf, off, end)
                cls = methods.get(index)
                if cls is None:
                    raise ProtocolError(
                        _NOT_IMPLEMENTED,
                        f"unknown method class_id={index >> 16} method_id={index & 0xFFFF}",
                        index >> 16,
                        index & 0xFFFF,
                    )
                if pending and channel in pending:
                    raise _await_error(pending[channel])
                if index == _PUBLISH:
                    # A publisher repeats the same exchange, routing key and flags:
                    # one decoded (read-only) method per distinct argument bytes
                    # saves a decode and an object per message.
                    akey = buf[off + 11 : end]
                    method = publish_cache.get(akey)
                    if method is None:
                        method = cls.decode_args(buf, off + 11, end)
                        if len(publish_cache) >= _PUBLISH_CACHE_SIZE:
                            publish_cache.clear()
                        publish_cache[akey] = method
                else:
                    method = cls.decode_args(buf, off + 11, end)
                off = end + 1
                if not cls.HAS_CONTENT:
                    append(MethodFrame(channel, method))
                    continue
                # Fast path: the header and the single body frame are already here.
                if n - off >= 19:
                    htype, hchannel, hsize, hclass, weight, body_size = _header_frame_head(buf, off)
                    hend = off + 7 + hsize
                    if (
                        htype == 2
                        and hchannel == channel
                        and 12 <= hsize <= limit
                        and hend < n
                        and buf[hend] == 206
                        and hclass == cls.CLASS_ID
                        and weight == 0
                        and body_size <= max_body
                    ):
                        if body_size == 0:
                            append(ContentMessage(channel, method, buf[off + 19 : hend], b""))
                            off = hend + 1
                            continue
                        b = hend + 1
                        if n - b >= 7:
                            btype, bchannel, bsize = _frame_head(buf, b)
                            bend = b + 7 + bsize
                            if (
                                btype == 3
                                and bchannel == channel
                                and bsize == body_size
                                and bsize <= limit
                                and bend < n
                                and buf[bend] == 206
                            ):
                                append(
                                    ContentMessage(
                                        channel, method, buf[off + 19 : hend], buf[b + 7 : bend]
                                    )
                                )
                                off = bend + 1
                                continue
                pending[channel] = _Pending(method)
                continue

            if ftype == 3:
                p = pending.get(channel)
                if p is None and channel == 0:
                    raise _octets(_UNEXPECTED_FRAME, ftype, buf, off, end)
                if p is None:
                    raise ProtocolError(
                        _UNEXPECTED_FRAME, "expected method frame, got non method frame instead"
                    )
                if p.remaining < 0:
                    raise _await_error(p)
                if size > p.remaining:
                    raise _unexpected(
                        "expected content body, got non content body frame instead", p.method
                    )
                p.chunks.append(buf[off + 7 : end])
                p.remaining -= size
                if not p.remaining:
                    del pending[channel]
                    chunks = p.chunks
                    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    append(ContentMessage(channel, p.method, p.properties_raw, body))
            elif ftype == 2:
                p = pending.get(channel)
                if p is None and channel == 0:
                    raise _octets(_UNEXPECTED_FRAME, ftype, buf, off, end)
                if p is None:
                    raise ProtocolError(
                        _UNEXPECTED_FRAME, "expected method frame, got non method frame instead"
                    )
                if p.remaining >= 0:
                    raise _await_error(p)
                if size < 12:
                    raise ProtocolError(
                        _FRAME_ERROR, f"content header frame too short ({size} bytes)"
                    )
                hclass, weight, body_size = _content_head(buf, off + 7)
                method = p.method
                if weight != 0:
                    raise _await_error(p)
                if hclass != method.CLASS_ID:
                    raise _unexpected(
                        f"expected content header for class {method.CLASS_ID},"
                        f" got one for class {hclass} instead",
                        method,
                    )
                if body_size > max_body:
                    raise ProtocolError(
                        _FRAME_ERROR,
                        f"content body size {body_size} exceeds maximum allowed size {max_body}",
                        method.CLASS_ID,
                        method.METHOD_ID,
                    )
                if body_size == 0:
                    del pending[channel]
                    append(ContentMessage(channel, method, buf[off + 19 : end], b""))
                else:
                    p.properties_raw = buf[off + 19 : end]
                    p.remaining = body_size
            elif ftype == 8:
                if size:
                    raise _octets(_FRAME_ERROR, ftype, buf, off, end)
                if channel:
                    raise _octets(_UNEXPECTED_FRAME, ftype, buf, off, end)
                append(_HEARTBEAT)
            else:
                raise _octets(_FRAME_ERROR, ftype, buf, off, end)
            off = end + 1


def _await_error(p: _Pending) -> ProtocolError:
    method = p.method
    if p.remaining < 0:
        text = (
            f"expected content header for class {method.CLASS_ID},"
            " got non content header frame instead"
        )
    else:
        text = "expected content body, got non content body frame instead"
    return _unexpected(text, method)
