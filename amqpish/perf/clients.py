"""The hot path: one publisher or consumer connection driven by a worker's epoll loop.

How it works. A :class:`Publisher` owns a ring of pre-encoded publishes
(:func:`~amqpish.perf.wire.publish_ring`); to send, it takes up to ~64 KiB of
consecutive messages, writes the current monotonic time into their first 8 body
bytes (one clock read per batch) and hands the slice to ``socket.send`` as a
memoryview: no per-message allocation or encoding. How many messages it may issue
is the smallest of three limits: the confirm window (issued - confirmed), the rate
schedule (``rate * elapsed``) and the end-to-end in-flight cap (issued - what the
consumers of every process report in shared memory). Confirms are counted from
basic.ack/nack frames read with ``struct`` at fixed offsets.

A :class:`Consumer` ``recv_into``\\s a preallocated buffer and walks whole frames with
``struct.unpack_from``: for a basic.deliver it needs the header and all body frames
to be present, takes the delivery tag and the timestamp, and moves on; nothing is
decoded into objects. Acks for one read are joined into one ``send`` (per message,
or one ``multiple`` ack every N). Anything else that matters (channel.close,
connection.close, basic.cancel) raises :class:`~amqpish.perf.wire.PerfError`.
"""

from __future__ import annotations

import array
import selectors
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from amqpish.perf.wire import (
    BASIC_ACK,
    BASIC_CANCEL,
    BASIC_DELIVER,
    BASIC_NACK,
    CHANNEL_CLOSE,
    CONNECTION_BLOCKED,
    CONNECTION_CLOSE,
    PerfError,
    PublishRing,
    SetupConnection,
    describe_close,
    publish_ring,
)

__all__ = ["ConfirmTracker", "Consumer", "ConsumerSpec", "Publisher", "PublisherSpec"]

_HEAD = struct.Struct(">BHI").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_I64 = struct.Struct(">q").unpack_from
_TAG_BITS = struct.Struct(">QB").unpack_from
_STAMP = struct.Struct(">q").pack
# a whole basic.ack frame: type, channel, size, class, method, delivery-tag, bits, end
_ACK = struct.Struct(">BHIHHQBB").pack
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_mono_ns = time.monotonic_ns

BATCH_BYTES = 64 * 1024
_MAX_BATCH = 4096


@dataclass(frozen=True, slots=True)
class PublisherSpec:
    exchange: str
    keys: tuple[str, ...]
    size: int
    persistent: bool
    confirm: int
    rate: float  # msg/s for this publisher; 0: as fast as allowed


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    queue: str
    tag: str
    autoack: bool
    prefetch: int
    multi_ack: int


class _Connection:
    """A set-up connection's socket with a preallocated receive buffer."""

    def __init__(self, conn: SetupConnection, size: int) -> None:
        self.conn = conn
        self.sock: socket.socket = conn.sock
        self.buf = bytearray(max(size, 2 * len(conn.buf)))
        self.view = memoryview(self.buf)
        self.n = len(conn.buf)
        self.buf[: self.n] = conn.buf
        conn.buf.clear()
        self.want_write = False
        self.sel: selectors.BaseSelector | None = None

    def _fill(self) -> None:
        """Read what the socket has (BlockingIOError when nothing); PerfError at EOF."""
        if self.n == len(self.buf):  # a frame larger than the buffer: grow it
            self.view.release()
            self.buf += bytes(len(self.buf))
            self.view = memoryview(self.buf)
        k = self.sock.recv_into(self.view[self.n :])
        if not k:
            raise PerfError("the broker closed the connection")
        self.n += k

    def _drop(self, pos: int) -> None:
        rest = self.n - pos
        if rest and pos:
            self.buf[:rest] = self.buf[pos : self.n]
        self.n = rest

    def _set_write(self, on: bool) -> None:
        if on != self.want_write and self.sel is not None:
            self.want_write = on
            self.sel.modify(self.sock, _READ | _WRITE if on else _READ, self)


class Publisher(_Connection):
    def __init__(self, conn: SetupConnection, spec: PublisherSpec) -> None:
        super().__init__(conn, 1 << 16)
        self.window = spec.confirm
        self.rate = spec.rate
        one = sum(len(k) for k in spec.keys) // len(spec.keys) + spec.size + 60
        per_batch = max(1, min(_MAX_BATCH, BATCH_BYTES // one))
        if self.window:
            per_batch = min(per_batch, self.window)
        self.ring: PublishRing = publish_ring(
            spec.exchange, list(spec.keys), spec.size, spec.persistent, conn.frame_max, per_batch
        )
        self.ringview = memoryview(self.ring.data)
        self.per_batch = per_batch
        self.pos = 0
        self.pending: memoryview | None = None
        self.pending_n = 0
        self.issued = 0  # handed to the socket or pending
        self.sent = 0  # completely written
        self.confirms = ConfirmTracker()
        self.blocked = 0  # connection.blocked notifications
        self.t0 = 0.0
        self.cap = 0.0  # in-flight cap share (0: none)
        self.consumed: Callable[[], float] = lambda: 0.0
        self.capped = False  # the cap, not the window or the rate, stopped the last fill

    # -------------------------------------------------------------- sending

    def allowance(self, now: float) -> int:
        lim = 1 << 30
        if self.window:
            lim = self.window - (self.issued - self.confirms.confirmed)
        if self.rate:
            lim = min(lim, int((now - self.t0) * self.rate) + 1 - self.issued)
        self.capped = False
        if self.cap:
            room = int(self.cap - (self.issued - self.consumed()))
            if room < lim:
                lim = room
                self.capped = lim <= 0
        return lim

    def _take(self, limit: int) -> None:
        ring = self.ring
        p = self.pos
        k = min(limit, self.per_batch, ring.count - p)
        if ring.stamps:
            stamp = _STAMP(_mono_ns())
            data = ring.data
            for o in ring.stamps[p : p + k]:
                data[o : o + 8] = stamp
        self.pending = self.ringview[ring.starts[p] : ring.starts[p + k]]
        self.pending_n = k
        self.issued += k
        self.pos = (p + k) % ring.count

    def on_write(self, now: float) -> None:
        for _ in range(8):
            pending = self.pending
            if pending is None:
                lim = self.allowance(now)
                if lim <= 0:
                    self._set_write(False)
                    return
                self._take(lim)
                pending = self.pending
                assert pending is not None
            try:
                k = self.sock.send(pending)
            except (BlockingIOError, InterruptedError):
                self._set_write(True)
                return
            if k < len(pending):
                self.pending = pending[k:]
                self._set_write(True)
                return
            self.sent += self.pending_n
            self.pending = None
        self._set_write(True)

    def tick(self, now: float) -> None:
        """Timer-driven sending (rate schedule, waiting for the cap to open)."""
        if self.pending is None and self.allowance(now) > 0:
            self.on_write(now)

    def next_due(self) -> float:
        """When the rate schedule allows the next message (rate mode only)."""
        return self.t0 + self.issued / self.rate

    def flush(self, timeout: float) -> None:
        """Finish the message being written, so that a close frame follows whole frames."""
        if self.pending is not None:
            self.sock.settimeout(timeout)
            self.sock.sendall(self.pending)
            self.sent += self.pending_n
            self.pending = None

    # -------------------------------------------------------------- confirms

    def on_read(self, now_ns: int) -> None:
        try:
            self._fill()
        except (BlockingIOError, InterruptedError):
            return
        data = self.buf
        n = self.n
        pos = 0
        while n - pos >= 7:
            ftype, _, size = _HEAD(data, pos)
            end = pos + 8 + size
            if end > n:
                break
            if ftype == 1:
                index = _U32(data, pos + 7)[0]
                if index in (BASIC_ACK, BASIC_NACK):
                    tag, bits = _TAG_BITS(data, pos + 11)
                    self.confirms.confirm(tag, bits & 1, index == BASIC_NACK)
                elif index in (CHANNEL_CLOSE, CONNECTION_CLOSE):
                    raise PerfError("producer: " + describe_close(data, pos, end - 1))
                elif index == CONNECTION_BLOCKED:
                    self.blocked += 1
            pos = end
        self._drop(pos)
        if self.window and self.pending is None and self.allowance(time.monotonic()) > 0:
            self._set_write(True)


class ConfirmTracker:
    """Counts confirmed delivery tags once each, whatever mix of single and ``multiple``
    acks/nacks the broker sends (tags below ``upto`` are all confirmed; ``singles``
    holds confirmed tags above it)."""

    __slots__ = ("confirmed", "nacked", "singles", "upto")

    def __init__(self) -> None:
        self.confirmed = 0
        self.nacked = 0
        self.upto = 0
        self.singles: set[int] = set()

    def confirm(self, tag: int, multiple: int, nack: bool) -> None:
        n = 0
        if multiple:
            if tag > self.upto:
                n = tag - self.upto
                if self.singles:
                    above = {t for t in self.singles if t > tag}
                    n -= len(self.singles) - len(above)
                    self.singles = above
                self.upto = tag
        elif tag > self.upto and tag not in self.singles:
            n = 1
            if tag == self.upto + 1:
                self.upto = tag
                while self.upto + 1 in self.singles:
                    self.upto += 1
                    self.singles.discard(self.upto)
            else:
                self.singles.add(tag)
        self.confirmed += n
        if nack:
            self.nacked += n


class Consumer(_Connection):
    def __init__(self, conn: SetupConnection, spec: ConsumerSpec) -> None:
        super().__init__(conn, 1 << 20)
        self.autoack = spec.autoack
        self.multi_ack = spec.multi_ack
        self.received = 0
        self.unacked = 0
        #: Latency samples (ns) not yet folded into the shared histogram.
        self.latencies = array.array("q")
        self.outbox = b""

    def on_read(self, now_ns: int) -> None:
        try:
            self._fill()
        except (BlockingIOError, InterruptedError):
            if not self.n:
                return
        # the clock after the read: a message cannot have been stamped later than this
        now_ns = _mono_ns()
        data = self.buf
        n = self.n
        pos = 0
        count = 0
        last_tag = 0
        tags: list[int] | None = None if (self.autoack or self.multi_ack) else []
        lat = self.latencies
        head = _HEAD
        u32 = _U32
        while n - pos >= 7:
            ftype, _, size = head(data, pos)
            end = pos + 8 + size
            if end > n:
                break
            if ftype != 1:
                pos = end  # a heartbeat
                continue
            index = u32(data, pos + 7)[0]
            if index == BASIC_DELIVER:
                # content header: type, channel, size, class, weight, body size, properties
                if n - end < 19:
                    break
                hend = end + 8 + u32(data, end + 3)[0]
                if hend > n:
                    break
                body_size = _U64(data, end + 11)[0]
                b = hend
                got = 0
                while got < body_size and n - b >= 7:
                    bsize = u32(data, b + 3)[0]
                    if b + 8 + bsize > n:
                        break
                    got += bsize
                    b += 8 + bsize
                if got < body_size:
                    break
                # delivery-tag follows the consumer-tag shortstr
                last_tag = _U64(data, pos + 12 + data[pos + 11])[0]
                if tags is not None:
                    tags.append(last_tag)
                if body_size >= 8:
                    stamp = _I64(data, hend + 7)[0]
                    if stamp > 0:
                        lat.append(now_ns - stamp)
                count += 1
                pos = b
                continue
            if index in (CHANNEL_CLOSE, CONNECTION_CLOSE):
                raise PerfError("consumer: " + describe_close(data, pos, end - 1))
            if index == BASIC_CANCEL:
                raise PerfError("consumer: cancelled by the broker (queue deleted?)")
            pos = end
        self._drop(pos)
        if not count:
            return
        self.received += count
        if self.autoack:
            return
        if tags is not None:
            self._send(b"".join([_ACK(1, 1, 13, 60, 80, t, 0, 206) for t in tags]))
        else:
            self.unacked += count
            if self.unacked >= self.multi_ack:
                self._send(_ACK(1, 1, 13, 60, 80, last_tag, 1, 206))
                self.unacked = 0

    def _send(self, data: bytes) -> None:
        if self.outbox:
            self.outbox += data
            return
        try:
            k = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            k = 0
        if k < len(data):
            self.outbox = data[k:]
            self._set_write(True)

    def on_write(self, now: float) -> None:
        if self.outbox:
            try:
                k = self.sock.send(self.outbox)
            except (BlockingIOError, InterruptedError):
                return
            self.outbox = self.outbox[k:]
        if not self.outbox:
            self._set_write(False)

    def flush(self, timeout: float) -> None:
        if self.outbox:
            self.sock.settimeout(timeout)
            self.sock.sendall(self.outbox)
            self.outbox = b""
