"""Blocking set-up connections and pre-encoded frames for the load generator.

How it works: a :class:`SetupConnection` is a plain blocking socket that does the
AMQP handshake (PLAIN, heartbeats off) and the synchronous set-up methods
(declare, bind, qos, consume, confirm.select) one at a time: it sends a method
frame encoded by :mod:`amqpish.codec` and reads frames one by one until the
expected reply arrives, decoding only method frames (with the codec's method
classes). It reads frame by frame rather than through the codec's ``Decoder``
because the bytes that follow a ``basic.consume-ok`` are already deliveries: they
stay in :attr:`SetupConnection.buf` and the worker's hot loop starts from them.

After set-up the worker takes over the socket (non-blocking) and never builds a
method object again: the per-message frames are pre-encoded here
(:func:`publish_ring`) and parsed with ``struct`` offsets (``clients``).
"""

from __future__ import annotations

import socket
import struct
import time
from typing import TypeVar

from amqpish.client.url import ConnectionParameters
from amqpish.codec import (
    METHODS,
    PROTOCOL_HEADER,
    BasicProperties,
    Method,
    encode_basic_publish,
    encode_method,
    encode_properties,
    spec,
)

__all__ = [
    "BASIC_ACK",
    "BASIC_CANCEL",
    "BASIC_DELIVER",
    "BASIC_NACK",
    "BASIC_RETURN",
    "CHANNEL_CLOSE",
    "CONNECTION_BLOCKED",
    "CONNECTION_CLOSE",
    "PerfError",
    "PublishRing",
    "SetupConnection",
    "describe_close",
    "publish_ring",
]

# Method indexes (class-id << 16 | method-id) the hot loops compare against.
BASIC_ACK = spec.BasicAck.INDEX
BASIC_NACK = spec.BasicNack.INDEX
BASIC_DELIVER = spec.BasicDeliver.INDEX
BASIC_RETURN = spec.BasicReturn.INDEX
BASIC_CANCEL = spec.BasicCancel.INDEX
CHANNEL_CLOSE = spec.ChannelClose.INDEX
CONNECTION_CLOSE = spec.ConnectionClose.INDEX
CONNECTION_BLOCKED = spec.ConnectionBlocked.INDEX

_HEAD = struct.Struct(">BHI")
_INDEX = struct.Struct(">I")

M = TypeVar("M", bound=Method)


class PerfError(Exception):
    """The broker refused something or the connection failed (exit code 1)."""


def describe_close(data: bytes | bytearray | memoryview, start: int, end: int) -> str:
    """A readable text for the channel.close/connection.close frame in ``data[start:end]``
    (``start`` at the frame's first byte, ``end`` at its end octet)."""
    raw = bytes(data[start:end])
    try:
        index = _INDEX.unpack_from(raw, 7)[0]
        method = METHODS[index].decode_args(raw, 11, len(raw))
    except Exception:
        return f"broker closed: {raw[11:].hex()}"
    assert isinstance(method, spec.ChannelClose | spec.ConnectionClose)
    what = "channel" if isinstance(method, spec.ChannelClose) else "connection"
    return f"broker closed the {what}: {method.reply_code} {method.reply_text}"


class SetupConnection:
    """One blocking AMQP connection: handshake, set-up methods, close."""

    def __init__(self, params: ConnectionParameters, name: str, timeout: float = 10.0) -> None:
        if params.tls:
            raise PerfError("amqpish perf does not do TLS (amqps://); use amqp://")
        try:
            self.sock = socket.create_connection((params.host, params.port), timeout)
        except OSError as e:
            raise PerfError(f"cannot connect to {params.display()}: {e}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        #: Bytes received but not yet parsed (after consume-ok: the first deliveries).
        self.buf = bytearray()
        self.frame_max = params.frame_max
        try:
            self._handshake(params, name)
        except BaseException:
            self.sock.close()
            raise

    def _handshake(self, params: ConnectionParameters, name: str) -> None:
        self.sock.sendall(PROTOCOL_HEADER)
        start = self._expect(0, spec.ConnectionStart)
        if b"PLAIN" not in start.mechanisms.split():
            raise PerfError(f"the broker does not offer PLAIN (offers {start.mechanisms!r})")
        capabilities = {
            "publisher_confirms": True,
            "basic.nack": True,
            "consumer_cancel_notify": True,
            "connection.blocked": True,
        }
        props = {"product": "amqpish perf", "connection_name": name, "capabilities": capabilities}
        response = b"\0" + params.username.encode() + b"\0" + params.password.encode()
        self.send(0, spec.ConnectionStartOk(props, "PLAIN", response, "en_US"))
        tune = self._expect(0, spec.ConnectionTune)
        self.frame_max = _negotiate(tune.frame_max, params.frame_max)
        channel_max = _negotiate(tune.channel_max, params.channel_max)
        self.send(0, spec.ConnectionTuneOk(channel_max, self.frame_max, 0))
        self.send(0, spec.ConnectionOpen(params.vhost))
        self._expect(0, spec.ConnectionOpenOk)

    # ------------------------------------------------------------------ methods

    def send(self, channel: int, method: Method) -> None:
        self.sock.sendall(encode_method(channel, method))

    def call(self, channel: int, method: Method, reply: type[M]) -> M:
        """Send a synchronous method and wait for its reply."""
        self.send(channel, method)
        return self._expect(channel, reply)

    def open_channel(self, channel: int = 1) -> None:
        self.call(channel, spec.ChannelOpen(), spec.ChannelOpenOk)

    def _expect(self, channel: int, reply: type[M]) -> M:
        while True:
            method, ch = self._read_method()
            if isinstance(method, reply) and ch == channel:
                return method
            if isinstance(method, spec.ConnectionClose):
                self._send_quietly(0, spec.ConnectionCloseOk())
                raise PerfError(
                    f"broker closed the connection: {method.reply_code} {method.reply_text}"
                )
            if isinstance(method, spec.ChannelClose):
                self._send_quietly(ch, spec.ChannelCloseOk())
                raise PerfError(
                    f"broker closed channel {ch}: {method.reply_code} {method.reply_text}"
                )
            # anything else here (connection.blocked, a confirm...) is not an answer; skip it

    def _read_method(self) -> tuple[Method, int]:
        """The next method frame; content and heartbeat frames are skipped."""
        while True:
            ftype, channel, start, end = self._read_frame()
            if ftype == 1:
                index = _INDEX.unpack_from(self.buf, start + 7)[0]
                cls = METHODS.get(index)
                if cls is None:
                    raise PerfError(f"unknown method {index >> 16}.{index & 0xFFFF} from broker")
                method = cls.decode_args(bytes(self.buf[start:end]), 11, end - start)
                del self.buf[: end + 1]
                return method, channel
            del self.buf[: end + 1]

    def _read_frame(self) -> tuple[int, int, int, int]:
        """Wait for a whole frame at the front of ``buf``: (type, channel, start, end)."""
        while True:
            if len(self.buf) >= 7:
                ftype, channel, size = _HEAD.unpack_from(self.buf, 0)
                end = 7 + size
                if len(self.buf) > end:
                    if self.buf[end] != 0xCE:
                        raise PerfError("malformed frame from broker (no frame end octet)")
                    return ftype, channel, 0, end
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                raise PerfError("timed out waiting for the broker") from None
            except OSError as e:
                raise PerfError(f"connection lost: {e}") from None
            if not data:
                raise PerfError("the broker closed the connection")
            self.buf += data

    def _send_quietly(self, channel: int, method: Method) -> None:
        try:
            self.send(channel, method)
        except OSError:
            pass

    def close(self, timeout: float = 2.0) -> None:
        """connection.close; wait (bounded) for close-ok, discarding whatever comes first."""
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(timeout)
            self.send(0, spec.ConnectionClose(200, "perf run over", 0, 0))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                method, _ = self._read_method()
                if isinstance(method, spec.ConnectionCloseOk | spec.ConnectionClose):
                    break
        except (OSError, PerfError):
            pass
        finally:
            self.sock.close()


def _negotiate(server: int, client: int) -> int:
    """The tune rule: 0 means "no limit", otherwise the lower of the two wins."""
    if server == 0 or client == 0:
        return max(server, client)
    return min(server, client)


class PublishRing:
    """Pre-encoded basic.publish messages, back to back in one buffer.

    ``starts[i]`` is where message ``i`` begins (``starts[n]`` is the end); ``stamps[i]``
    is the offset of its body's first 8 bytes, where the sender writes the send time
    (empty when bodies are shorter than 8 bytes).
    """

    __slots__ = ("count", "data", "stamps", "starts")

    def __init__(self, data: bytearray, starts: list[int], stamps: list[int]) -> None:
        self.data = data
        self.starts = starts
        self.stamps = stamps
        self.count = len(starts) - 1


def publish_ring(
    exchange: str,
    keys: list[str],
    size: int,
    persistent: bool,
    frame_max: int,
    min_messages: int,
) -> PublishRing:
    """At least ``min_messages`` messages cycling through ``keys`` (a whole number of cycles)."""
    body = bytes(size)
    props = encode_properties(BasicProperties(delivery_mode=2 if persistent else None))
    frames = [
        encode_basic_publish(1, exchange.encode(), k.encode(), False, False, props, body, frame_max)
        for k in keys
    ]
    cycles = max(1, -(-min_messages // len(keys)))
    data = bytearray()
    starts: list[int] = []
    stamps: list[int] = []
    for _ in range(cycles):
        for f in frames:
            starts.append(len(data))
            if size >= 8:
                # the body's first frame payload starts 7 bytes after its frame head
                stamps.append(len(data) + _body_offset(f))
            data += f
    starts.append(len(data))
    return PublishRing(data, starts, stamps)


def _body_offset(frame: bytes) -> int:
    """Offset of the first body byte in one encoded publish (method, header, body frames)."""
    pos = 0
    for _ in range(2):  # skip the method frame and the content header frame
        size = _HEAD.unpack_from(frame, pos)[2]
        pos += 8 + size
    return pos + 7
