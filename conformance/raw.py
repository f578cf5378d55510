"""A tiny blocking AMQP 0-9-1 client that speaks frames, for scenarios a real client hides.

Everything here is written from the AMQP 0-9-1 specification (and RabbitMQ's errata to it),
stdlib only, and knows nothing about any broker implementation. A ``RawConnection`` owns one
TCP socket; it can send well-formed methods and content, or arbitrary bytes and frames, and
read back frames one at a time with a deadline. ``read_method`` decodes every method of the
protocol into ``(channel, "class.method", {argument: value})``. Field-table values decode
into ``Typed(tag, value)`` when ``typed=True``, so scenarios can observe wire types.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE

# (class id, method id) -> (name, [(argument, type), ...]); types as in the 0-9-1 spec.
_S, _L, _O, _SH, _LO, _LL, _B, _T, _TS = (
    "shortstr",
    "longstr",
    "octet",
    "short",
    "long",
    "longlong",
    "bit",
    "table",
    "timestamp",
)
METHODS: dict[tuple[int, int], tuple[str, list[tuple[str, str]]]] = {
    (10, 10): (
        "connection.start",
        [
            ("version_major", _O),
            ("version_minor", _O),
            ("server_properties", _T),
            ("mechanisms", _L),
            ("locales", _L),
        ],
    ),
    (10, 11): (
        "connection.start_ok",
        [("client_properties", _T), ("mechanism", _S), ("response", _L), ("locale", _S)],
    ),
    (10, 20): ("connection.secure", [("challenge", _L)]),
    (10, 21): ("connection.secure_ok", [("response", _L)]),
    (10, 30): ("connection.tune", [("channel_max", _SH), ("frame_max", _LO), ("heartbeat", _SH)]),
    (10, 31): (
        "connection.tune_ok",
        [("channel_max", _SH), ("frame_max", _LO), ("heartbeat", _SH)],
    ),
    (10, 40): ("connection.open", [("virtual_host", _S), ("capabilities", _S), ("insist", _B)]),
    (10, 41): ("connection.open_ok", [("known_hosts", _S)]),
    (10, 50): (
        "connection.close",
        [("reply_code", _SH), ("reply_text", _S), ("class_id", _SH), ("method_id", _SH)],
    ),
    (10, 51): ("connection.close_ok", []),
    (10, 60): ("connection.blocked", [("reason", _S)]),
    (10, 61): ("connection.unblocked", []),
    (10, 70): ("connection.update_secret", [("new_secret", _L), ("reason", _S)]),
    (10, 71): ("connection.update_secret_ok", []),
    (20, 10): ("channel.open", [("out_of_band", _S)]),
    (20, 11): ("channel.open_ok", [("channel_id", _L)]),
    (20, 20): ("channel.flow", [("active", _B)]),
    (20, 21): ("channel.flow_ok", [("active", _B)]),
    (20, 40): (
        "channel.close",
        [("reply_code", _SH), ("reply_text", _S), ("class_id", _SH), ("method_id", _SH)],
    ),
    (20, 41): ("channel.close_ok", []),
    (30, 10): (
        "access.request",
        [
            ("realm", _S),
            ("exclusive", _B),
            ("passive", _B),
            ("active", _B),
            ("write", _B),
            ("read", _B),
        ],
    ),
    (30, 11): ("access.request_ok", [("ticket", _SH)]),
    (40, 10): (
        "exchange.declare",
        [
            ("ticket", _SH),
            ("exchange", _S),
            ("type", _S),
            ("passive", _B),
            ("durable", _B),
            ("auto_delete", _B),
            ("internal", _B),
            ("nowait", _B),
            ("arguments", _T),
        ],
    ),
    (40, 11): ("exchange.declare_ok", []),
    (40, 20): (
        "exchange.delete",
        [("ticket", _SH), ("exchange", _S), ("if_unused", _B), ("nowait", _B)],
    ),
    (40, 21): ("exchange.delete_ok", []),
    (40, 30): (
        "exchange.bind",
        [
            ("ticket", _SH),
            ("destination", _S),
            ("source", _S),
            ("routing_key", _S),
            ("nowait", _B),
            ("arguments", _T),
        ],
    ),
    (40, 31): ("exchange.bind_ok", []),
    (40, 40): (
        "exchange.unbind",
        [
            ("ticket", _SH),
            ("destination", _S),
            ("source", _S),
            ("routing_key", _S),
            ("nowait", _B),
            ("arguments", _T),
        ],
    ),
    (40, 51): ("exchange.unbind_ok", []),
    (50, 10): (
        "queue.declare",
        [
            ("ticket", _SH),
            ("queue", _S),
            ("passive", _B),
            ("durable", _B),
            ("exclusive", _B),
            ("auto_delete", _B),
            ("nowait", _B),
            ("arguments", _T),
        ],
    ),
    (50, 11): (
        "queue.declare_ok",
        [("queue", _S), ("message_count", _LO), ("consumer_count", _LO)],
    ),
    (50, 20): (
        "queue.bind",
        [
            ("ticket", _SH),
            ("queue", _S),
            ("exchange", _S),
            ("routing_key", _S),
            ("nowait", _B),
            ("arguments", _T),
        ],
    ),
    (50, 21): ("queue.bind_ok", []),
    (50, 30): ("queue.purge", [("ticket", _SH), ("queue", _S), ("nowait", _B)]),
    (50, 31): ("queue.purge_ok", [("message_count", _LO)]),
    (50, 40): (
        "queue.delete",
        [("ticket", _SH), ("queue", _S), ("if_unused", _B), ("if_empty", _B), ("nowait", _B)],
    ),
    (50, 41): ("queue.delete_ok", [("message_count", _LO)]),
    (50, 50): (
        "queue.unbind",
        [("ticket", _SH), ("queue", _S), ("exchange", _S), ("routing_key", _S), ("arguments", _T)],
    ),
    (50, 51): ("queue.unbind_ok", []),
    (60, 10): ("basic.qos", [("prefetch_size", _LO), ("prefetch_count", _SH), ("global", _B)]),
    (60, 11): ("basic.qos_ok", []),
    (60, 20): (
        "basic.consume",
        [
            ("ticket", _SH),
            ("queue", _S),
            ("consumer_tag", _S),
            ("no_local", _B),
            ("no_ack", _B),
            ("exclusive", _B),
            ("nowait", _B),
            ("arguments", _T),
        ],
    ),
    (60, 21): ("basic.consume_ok", [("consumer_tag", _S)]),
    (60, 30): ("basic.cancel", [("consumer_tag", _S), ("nowait", _B)]),
    (60, 31): ("basic.cancel_ok", [("consumer_tag", _S)]),
    (60, 40): (
        "basic.publish",
        [
            ("ticket", _SH),
            ("exchange", _S),
            ("routing_key", _S),
            ("mandatory", _B),
            ("immediate", _B),
        ],
    ),
    (60, 50): (
        "basic.return",
        [("reply_code", _SH), ("reply_text", _S), ("exchange", _S), ("routing_key", _S)],
    ),
    (60, 60): (
        "basic.deliver",
        [
            ("consumer_tag", _S),
            ("delivery_tag", _LL),
            ("redelivered", _B),
            ("exchange", _S),
            ("routing_key", _S),
        ],
    ),
    (60, 70): ("basic.get", [("ticket", _SH), ("queue", _S), ("no_ack", _B)]),
    (60, 71): (
        "basic.get_ok",
        [
            ("delivery_tag", _LL),
            ("redelivered", _B),
            ("exchange", _S),
            ("routing_key", _S),
            ("message_count", _LO),
        ],
    ),
    (60, 72): ("basic.get_empty", [("cluster_id", _S)]),
    (60, 80): ("basic.ack", [("delivery_tag", _LL), ("multiple", _B)]),
    (60, 90): ("basic.reject", [("delivery_tag", _LL), ("requeue", _B)]),
    (60, 100): ("basic.recover_async", [("requeue", _B)]),
    (60, 110): ("basic.recover", [("requeue", _B)]),
    (60, 111): ("basic.recover_ok", []),
    (60, 120): ("basic.nack", [("delivery_tag", _LL), ("multiple", _B), ("requeue", _B)]),
    (85, 10): ("confirm.select", [("nowait", _B)]),
    (85, 11): ("confirm.select_ok", []),
    (90, 10): ("tx.select", []),
    (90, 11): ("tx.select_ok", []),
    (90, 20): ("tx.commit", []),
    (90, 21): ("tx.commit_ok", []),
    (90, 30): ("tx.rollback", []),
    (90, 31): ("tx.rollback_ok", []),
}
METHOD_IDS = {name: ids for ids, (name, _) in METHODS.items()}

# Basic content properties in flag order (bit 15 first).
BASIC_PROPERTIES: list[tuple[str, str]] = [
    ("content_type", _S),
    ("content_encoding", _S),
    ("headers", _T),
    ("delivery_mode", _O),
    ("priority", _O),
    ("correlation_id", _S),
    ("reply_to", _S),
    ("expiration", _S),
    ("message_id", _S),
    ("timestamp", _TS),
    ("type", _S),
    ("user_id", _S),
    ("app_id", _S),
    ("cluster_id", _S),
]


class RawError(Exception):
    """The peer did something the scenario did not expect (or nothing, before the deadline)."""


@dataclass(frozen=True)
class Typed:
    """A field-table value with its wire type tag, e.g. Typed("l", 5)."""

    tag: str
    value: Any


@dataclass
class Frame:
    type: int
    channel: int
    payload: bytes


@dataclass
class Content:
    """A method that carries content (deliver, get-ok, return) with its header and body."""

    channel: int
    method: str
    args: dict[str, Any]
    class_id: int = 60
    body_size: int = 0
    properties: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    body_frames: list[int] = field(default_factory=list)


# ---------------------------------------------------------------- encoding


def _b(s: str | bytes) -> bytes:
    return s.encode() if isinstance(s, str) else bytes(s)


def enc_shortstr(s: str | bytes) -> bytes:
    b = _b(s)
    if len(b) > 255:
        raise ValueError("shortstr longer than 255 bytes")
    return bytes([len(b)]) + b


def enc_longstr(s: str | bytes) -> bytes:
    b = _b(s)
    return struct.pack(">I", len(b)) + b


def enc_value(v: Any) -> bytes:
    if isinstance(v, Typed):
        return _enc_typed(v.tag, v.value)
    if isinstance(v, bool):
        return b"t" + (b"\x01" if v else b"\x00")
    if isinstance(v, int):
        return b"l" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"d" + struct.pack(">d", v)
    if isinstance(v, (str, bytes)):
        return b"S" + enc_longstr(v)
    if isinstance(v, dict):
        return b"F" + enc_table(v)
    if isinstance(v, list):
        return b"A" + enc_array(v)
    if v is None:
        return b"V"
    raise TypeError(f"cannot encode {v!r} as a field value")


_FIXED = {
    "b": ">b",
    "B": ">B",
    "s": ">h",
    "u": ">H",
    "I": ">i",
    "i": ">I",
    "l": ">q",
    "L": ">Q",
    "f": ">f",
    "d": ">d",
    "T": ">Q",
}


def _enc_typed(tag: str, value: Any) -> bytes:
    t = tag.encode()
    if tag in _FIXED:
        return t + struct.pack(_FIXED[tag], value)
    if tag == "t":
        return t + (b"\x01" if value else b"\x00")
    if tag == "S":
        return t + enc_longstr(value)
    if tag == "x":
        return t + enc_longstr(value)
    if tag == "D":
        scale, unscaled = value
        return t + struct.pack(">Bi", scale, unscaled)
    if tag == "F":
        return t + enc_table(value)
    if tag == "A":
        return t + enc_array(value)
    if tag == "V":
        return t
    raise TypeError(f"unknown field type tag {tag!r}")


def enc_table(d: dict[str, Any] | None) -> bytes:
    body = b"".join(enc_shortstr(k) + enc_value(v) for k, v in (d or {}).items())
    return struct.pack(">I", len(body)) + body


def enc_array(items: list[Any]) -> bytes:
    body = b"".join(enc_value(v) for v in items)
    return struct.pack(">I", len(body)) + body


def encode_args(types: list[tuple[str, str]], args: dict[str, Any]) -> bytes:
    out = bytearray()
    bits: list[bool] = []

    def flush() -> None:
        if bits:
            n = 0
            for i, bit in enumerate(bits):
                if bit:
                    n |= 1 << i
            out.append(n)
            bits.clear()

    for name, typ in types:
        v = args.get(name)
        if typ == _B:
            if len(bits) == 8:
                flush()
            bits.append(bool(v))
            continue
        flush()
        if typ == _S:
            out += enc_shortstr(v or "")
        elif typ == _L:
            out += enc_longstr(v or b"")
        elif typ == _O:
            out += struct.pack(">B", v or 0)
        elif typ == _SH:
            out += struct.pack(">H", v or 0)
        elif typ == _LO:
            out += struct.pack(">I", v or 0)
        elif typ in (_LL, _TS):
            out += struct.pack(">Q", v or 0)
        elif typ == _T:
            out += enc_table(v)
        else:  # pragma: no cover - table above is closed
            raise TypeError(typ)
    flush()
    return bytes(out)


def method_payload(name: str, **args: Any) -> bytes:
    class_id, method_id = METHOD_IDS[name]
    return struct.pack(">HH", class_id, method_id) + encode_args(
        METHODS[(class_id, method_id)][1], args
    )


def frame(ftype: int, channel: int, payload: bytes, end: int = FRAME_END) -> bytes:
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + bytes([end])


def header_payload(
    body_size: int, properties: dict[str, Any] | None = None, class_id: int = 60
) -> bytes:
    properties = properties or {}
    flags = 0
    values = bytearray()
    for i, (name, typ) in enumerate(BASIC_PROPERTIES):
        if name not in properties:
            continue
        flags |= 1 << (15 - i)
        v = properties[name]
        if typ == _S:
            values += enc_shortstr(v)
        elif typ == _T:
            values += enc_table(v)
        elif typ == _O:
            values += struct.pack(">B", v)
        else:
            values += struct.pack(">Q", v)
    return struct.pack(">HHQH", class_id, 0, body_size, flags) + bytes(values)


# ---------------------------------------------------------------- decoding


class _Reader:
    def __init__(self, data: bytes, typed: bool = False) -> None:
        self.data = data
        self.pos = 0
        self.typed = typed

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RawError("truncated payload")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))[0]

    def shortstr(self) -> str:
        return self.take(self.unpack(">B")).decode("utf-8", "replace")

    def longstr(self) -> bytes:
        return self.take(self.unpack(">I"))

    def table(self) -> dict[str, Any]:
        end = self.unpack(">I")
        sub = _Reader(self.take(end), self.typed)
        out: dict[str, Any] = {}
        while sub.pos < len(sub.data):
            key = sub.shortstr()
            out[key] = sub.value()
        return out

    def array(self) -> list[Any]:
        sub = _Reader(self.take(self.unpack(">I")), self.typed)
        items = []
        while sub.pos < len(sub.data):
            items.append(sub.value())
        return items

    def value(self) -> Any:
        tag = self.take(1).decode("latin-1")
        v: Any
        if tag in _FIXED:
            v = self.unpack(_FIXED[tag])
        elif tag == "t":
            v = self.take(1) != b"\x00"
        elif tag == "S":
            raw = self.longstr()
            try:
                v = raw.decode()
            except UnicodeDecodeError:
                v = raw
        elif tag == "x":
            v = self.longstr()
        elif tag == "D":
            v = (self.unpack(">B"), self.unpack(">i"))
        elif tag == "F":
            v = self.table()
        elif tag == "A":
            v = self.array()
        elif tag == "V":
            v = None
        else:
            raise RawError(f"unknown field type {tag!r}")
        return Typed(tag, v) if self.typed else v


def decode_method(payload: bytes, typed: bool = False) -> tuple[str, dict[str, Any]]:
    r = _Reader(payload, typed)
    class_id, method_id = r.unpack(">H"), r.unpack(">H")
    if (class_id, method_id) not in METHODS:
        return f"unknown.{class_id}.{method_id}", {}
    name, types = METHODS[(class_id, method_id)]
    args: dict[str, Any] = {}
    bits = 0
    nbits = 8
    for arg, typ in types:
        if typ == _B:
            if nbits == 8:
                bits = r.unpack(">B")
                nbits = 0
            args[arg] = bool(bits & (1 << nbits))
            nbits += 1
            continue
        nbits = 8
        if typ == _S:
            args[arg] = r.shortstr()
        elif typ == _L:
            args[arg] = r.longstr()
        elif typ == _O:
            args[arg] = r.unpack(">B")
        elif typ == _SH:
            args[arg] = r.unpack(">H")
        elif typ == _LO:
            args[arg] = r.unpack(">I")
        elif typ in (_LL, _TS):
            args[arg] = r.unpack(">Q")
        elif typ == _T:
            args[arg] = r.table()
    return name, args


def decode_header(payload: bytes, typed: bool = False) -> tuple[int, int, dict[str, Any]]:
    r = _Reader(payload, typed)
    class_id, _weight, body_size, flags = (
        r.unpack(">H"),
        r.unpack(">H"),
        r.unpack(">Q"),
        r.unpack(">H"),
    )
    props: dict[str, Any] = {}
    for i, (name, typ) in enumerate(BASIC_PROPERTIES):
        if not flags & (1 << (15 - i)):
            continue
        if typ == _S:
            props[name] = r.shortstr()
        elif typ == _T:
            props[name] = r.table()
        elif typ == _O:
            props[name] = r.unpack(">B")
        else:
            props[name] = r.unpack(">Q")
    return class_id, body_size, props


# ---------------------------------------------------------------- connection


class RawConnection:
    """One TCP connection; every read takes a deadline (seconds from now)."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, typed: bool = False) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.timeout = timeout
        self.typed = typed
        self.frame_max = 131072
        self.closed = False
        self.heartbeats_received = 0
        self.tune: dict[str, Any] = {}
        self.start: dict[str, Any] = {}

    # -- raw I/O
    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send_frame(self, ftype: int, channel: int, payload: bytes) -> None:
        self.send(frame(ftype, channel, payload))

    def send_method(self, channel: int, name: str, **args: Any) -> None:
        self.send_frame(FRAME_METHOD, channel, method_payload(name, **args))

    def publish(
        self,
        channel: int,
        body: bytes | str = b"",
        exchange: str = "",
        routing_key: str = "",
        properties: dict[str, Any] | None = None,
        mandatory: bool = False,
        immediate: bool = False,
        frame_max: int | None = None,
    ) -> None:
        body = _b(body)
        chunk = (frame_max or self.frame_max) - 8
        data = frame(
            FRAME_METHOD,
            channel,
            method_payload(
                "basic.publish",
                exchange=exchange,
                routing_key=routing_key,
                mandatory=mandatory,
                immediate=immediate,
            ),
        ) + frame(FRAME_HEADER, channel, header_payload(len(body), properties))
        for i in range(0, len(body), chunk):
            data += frame(FRAME_BODY, channel, body[i : i + chunk])
        self.send(data)

    def recv_bytes(self, n: int, deadline: float) -> bytes:
        """Exactly n bytes, or fewer if the peer closed or the deadline passed."""
        while len(self.buf) < n:
            if not self._fill(deadline):
                break
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until_eof(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._fill(deadline):
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        self.buf += data
        return True

    def read_frame(self, timeout: float | None = None) -> Frame | None:
        """The next frame; None on EOF or when the deadline passes (see .closed)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 7:
                ftype, channel, size = struct.unpack(">BHI", self.buf[:7])
                if len(self.buf) >= size + 8:
                    payload = bytes(self.buf[7 : 7 + size])
                    end = self.buf[7 + size]
                    del self.buf[: size + 8]
                    if end != FRAME_END:
                        raise RawError(f"bad frame end 0x{end:02x}")
                    return Frame(ftype, channel, payload)
            if not self._fill(deadline):
                return None

    def read_method(self, timeout: float | None = None) -> tuple[int, str, dict[str, Any]] | None:
        """The next method (heartbeats counted and skipped); None on EOF or deadline."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                return None
            if f.type == FRAME_HEARTBEAT:
                self.heartbeats_received += 1
                continue
            if f.type != FRAME_METHOD:
                raise RawError(f"expected a method frame, got type {f.type}")
            name, args = decode_method(f.payload, self.typed)
            return f.channel, name, args

    def read_content(
        self, channel: int, name: str, args: dict[str, Any], timeout: float | None = None
    ) -> Content:
        """Header and body frames that follow a content-carrying method."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        c = Content(channel, name, args)
        f = self.read_frame(max(0.0, deadline - time.monotonic()))
        if f is None or f.type != FRAME_HEADER:
            raise RawError("expected a content header")
        c.class_id, c.body_size, c.properties = decode_header(f.payload, self.typed)
        body = bytearray()
        while len(body) < c.body_size:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None or f.type != FRAME_BODY:
                raise RawError("expected a body frame")
            c.body_frames.append(len(f.payload))
            body += f.payload
        c.body = bytes(body)
        return c

    def next_event(
        self, timeout: float | None = None
    ) -> tuple[int, str, dict[str, Any]] | Content | None:
        """A method, or a Content for deliver/get-ok/return (header and body read too)."""
        m = self.read_method(timeout)
        if m is None:
            return None
        channel, name, args = m
        if name in ("basic.deliver", "basic.get_ok", "basic.return"):
            return self.read_content(channel, name, args, timeout)
        return m

    def expect(
        self, name: str, channel: int | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        m = self.read_method(timeout)
        if m is None:
            raise RawError(f"expected {name}, got {'EOF' if self.closed else 'nothing'}")
        ch, got, args = m
        if got != name or (channel is not None and ch != channel):
            raise RawError(f"expected {name} on {channel}, got {got} on {ch}: {args!r}")
        return args

    # -- handshake
    def handshake(
        self,
        user: str = "guest",
        password: str = "guest",
        vhost: str = "/",
        mechanism: str = "PLAIN",
        channel_max: int | None = None,
        frame_max: int | None = None,
        heartbeat: int | None = 0,
        capabilities: dict[str, Any] | None = None,
        response: bytes | None = None,
        open_vhost: bool = True,
    ) -> None:
        """Header, start-ok, tune-ok (echoing the server's values unless given), open."""
        self.send(PROTOCOL_HEADER)
        self.start = self.expect("connection.start", 0)
        caps = {
            "authentication_failure_close": True,
            "basic.nack": True,
            "connection.blocked": True,
            "consumer_cancel_notify": True,
            "publisher_confirms": True,
            "exchange_exchange_bindings": True,
            "per_consumer_qos": True,
        }
        caps.update(capabilities or {})
        if response is None:
            if mechanism == "AMQPLAIN":
                response = enc_table({"LOGIN": user, "PASSWORD": password})[4:]
            else:
                response = b"\x00" + user.encode() + b"\x00" + password.encode()
        self.send_method(
            0,
            "connection.start_ok",
            client_properties={"product": "amqpish-conformance", "capabilities": caps},
            mechanism=mechanism,
            response=response,
            locale="en_US",
        )
        m = self.read_method()
        if m is None or m[1] != "connection.tune":
            raise RawError(f"expected connection.tune, got {m!r}")
        self.tune = m[2]
        cm = self.tune["channel_max"] if channel_max is None else channel_max
        fm = self.tune["frame_max"] if frame_max is None else frame_max
        hb = self.tune["heartbeat"] if heartbeat is None else heartbeat
        self.frame_max = fm or 131072
        self.send_method(0, "connection.tune_ok", channel_max=cm, frame_max=fm, heartbeat=hb)
        if open_vhost:
            self.send_method(0, "connection.open", virtual_host=vhost)
            self.expect("connection.open_ok", 0)

    def open_channel(self, channel: int = 1) -> None:
        self.send_method(channel, "channel.open")
        self.expect("channel.open_ok", channel)

    def rpc(self, channel: int, name: str, reply: str, **args: Any) -> dict[str, Any]:
        self.send_method(channel, name, **args)
        return self.expect(reply, channel)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def abort(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
