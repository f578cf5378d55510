"""A fake broker that measures the load generator's own ceiling (not a broker!).

    python -m amqpish.perf.fakebroker --port 5698 --mode sink
    python -m amqpish.perf.fakebroker --port 5698 --mode source --size 16

It answers the handshake and every synchronous set-up method with its ``-ok`` and
then, per connection:

* ``sink``: from the first basic.publish on, stops parsing and swallows bytes,
  counting messages as bytes / the size of that first message. It only looks at
  the tail of each read for the client's connection.close, to answer close-ok.
* ``source``: on basic.consume, floods pre-encoded basic.deliver messages (16-byte
  bodies by default, carrying a send timestamp) as fast as the socket takes them,
  and discards whatever the client sends (acks) until its connection.close.

Each connection's count is printed as one JSON line when it ends. A thread per
connection; it routes nothing and keeps no state, so it costs far less per message
than the client it measures.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import struct
import threading
import time
from typing import Any

from amqpish.codec import (
    EMPTY_PROPERTIES_RAW,
    METHODS,
    Method,
    encode_basic_deliver,
    encode_method,
    spec,
)

__all__ = ["main", "serve_fake"]

_HEAD = struct.Struct(">BHI")
_INDEX = struct.Struct(">I")
_STAMP = struct.Struct(">q")
# a connection.close frame: method frame on channel 0, class 10, method 50
_CLOSE = re.compile(rb"\x01\x00\x00....\x00\x0a\x00\x32", re.DOTALL)

_REPLIES: dict[type[Method], Method] = {
    spec.ChannelOpen: spec.ChannelOpenOk(),
    spec.ExchangeDeclare: spec.ExchangeDeclareOk(),
    spec.ExchangeDelete: spec.ExchangeDeleteOk(),
    spec.QueueBind: spec.QueueBindOk(),
    spec.QueueDelete: spec.QueueDeleteOk(0),
    spec.QueuePurge: spec.QueuePurgeOk(0),
    spec.BasicQos: spec.BasicQosOk(),
    spec.ConfirmSelect: spec.ConfirmSelectOk(),
    spec.ChannelClose: spec.ChannelCloseOk(),
}


class _Peer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def frame(self) -> tuple[int, int, bytes]:
        """(type, channel, whole frame) of the next frame."""
        while True:
            if len(self.buf) >= 7:
                ftype, channel, size = _HEAD.unpack_from(self.buf, 0)
                if len(self.buf) >= size + 8:
                    raw = bytes(self.buf[: size + 8])
                    del self.buf[: size + 8]
                    return ftype, channel, raw
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self.buf += data

    def send(self, channel: int, method: Method) -> None:
        self.sock.sendall(encode_method(channel, method))


def _method(raw: bytes) -> Method:
    cls = METHODS[_INDEX.unpack_from(raw, 7)[0]]
    return cls.decode_args(raw, 11, len(raw) - 1)


def _serve(sock: socket.socket, mode: str, size: int) -> dict[str, Any]:
    peer = _Peer(sock)
    header = b""
    while len(header) < 8:
        data = sock.recv(8 - len(header))
        if not data:
            return {}
        header += data
    peer.send(0, spec.ConnectionStart(0, 9, {"product": "amqpish perf fakebroker"}))
    while True:
        ftype, channel, raw = peer.frame()
        if ftype != 1:
            continue
        m = _method(raw)
        if isinstance(m, spec.ConnectionStartOk):
            peer.send(0, spec.ConnectionTune(2047, 131072, 0))
        elif isinstance(m, spec.ConnectionOpen):
            peer.send(0, spec.ConnectionOpenOk())
        elif isinstance(m, spec.ConnectionClose):
            peer.send(0, spec.ConnectionCloseOk())
            return {}
        elif isinstance(m, spec.QueueDeclare):
            peer.send(channel, spec.QueueDeclareOk(m.queue or "amq.gen-fake", 0, 0))
        elif isinstance(m, spec.BasicPublish) and mode == "sink":
            return _sink(peer, raw)
        elif isinstance(m, spec.BasicConsume) and mode == "source":
            tag = m.consumer_tag or "amq.ctag-fake"
            peer.send(channel, spec.BasicConsumeOk(tag))
            return _source(peer, channel, tag, size)
        elif type(m) in _REPLIES:
            peer.send(channel, _REPLIES[type(m)])


def _sink(peer: _Peer, first: bytes) -> dict[str, Any]:
    # the size of one whole message: method + header + body frames
    _, _, header = peer.frame()
    body_size = struct.unpack_from(">Q", header, 11)[0]
    one = len(first) + len(header)
    got = 0
    while got < body_size:
        _, _, body = peer.frame()
        got += len(body) - 8
        one += len(body)
    received = len(peer.buf)
    tail = bytes(peer.buf[-64:])
    t0 = time.monotonic()
    while True:
        data = peer.sock.recv(1 << 20)
        if not data:
            break
        received += len(data)
        tail = tail[-64:] + data[-64:]
        if _CLOSE.search(tail):
            peer.send(0, spec.ConnectionCloseOk())
            break
    seconds = time.monotonic() - t0
    msgs = 1 + received // one
    return {"mode": "sink", "msgs": msgs, "seconds": round(seconds, 3),
            "msgs_per_s": round(msgs / seconds) if seconds else 0}  # fmt: skip


def _source(peer: _Peer, channel: int, tag: str, size: int) -> dict[str, Any]:
    body = bytearray(size)
    messages = [
        encode_basic_deliver(
            channel, tag.encode(), i, False, b"", b"perf", EMPTY_PROPERTIES_RAW, bytes(body), 131072
        )
        for i in range(1, 1001)
    ]
    block = bytearray(b"".join(messages))
    one = len(messages[0])
    stamp_at = [i * one + one - 1 - size for i in range(1000)] if size >= 8 else []
    stop = threading.Event()

    def drain() -> None:
        tail = b""
        try:
            while not stop.is_set():
                data = peer.sock.recv(1 << 16)
                if not data:
                    break
                tail = tail[-64:] + data[-64:]
                if _CLOSE.search(tail):
                    break
        except OSError:
            pass
        stop.set()

    threading.Thread(target=drain, daemon=True).start()
    sent = 0
    t0 = time.monotonic()
    try:
        while not stop.is_set():
            stamp = _STAMP.pack(time.monotonic_ns())
            for o in stamp_at:
                block[o : o + 8] = stamp
            peer.sock.sendall(block)
            sent += 1000
        peer.send(0, spec.ConnectionCloseOk())
    except OSError:
        pass
    seconds = time.monotonic() - t0
    return {"mode": "source", "msgs_sent": sent, "seconds": round(seconds, 3)}


def _connection(sock: socket.socket, mode: str, size: int) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        stats = _serve(sock, mode, size)
    except (EOFError, OSError, KeyError):
        stats = {}
    finally:
        sock.close()
    if stats:
        print(json.dumps(stats), flush=True)


def serve_fake(host: str, port: int, mode: str, size: int, seconds: float) -> None:
    """Accept connections for ``seconds`` (each served by its own thread)."""
    listener = socket.create_server((host, port), reuse_port=False)
    listener.settimeout(0.5)
    print(f"fakebroker {mode} listening on {host}:{listener.getsockname()[1]}", flush=True)
    deadline = time.monotonic() + seconds
    with listener:
        while time.monotonic() < deadline:
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(None)
            threading.Thread(target=_connection, args=(sock, mode, size), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m amqpish.perf.fakebroker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5698)
    p.add_argument("--mode", choices=["sink", "source"], default="sink")
    p.add_argument("--size", type=int, default=16, help="source: body bytes (default 16)")
    p.add_argument("--seconds", type=float, default=300, help="stop accepting after (300)")
    a = p.parse_args(argv)
    serve_fake(a.host, a.port, a.mode, a.size, a.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
