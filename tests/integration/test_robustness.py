"""Bad input over real sockets gets the protocol's answer and never hurts anyone else."""

from __future__ import annotations

import socket
import struct
import time

import pika
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.codec import Decoder, spec
from amqpish.codec.events import MethodFrame
from amqpish.codec.frames import encode_method
from amqpish.codec.values import encode_table
from tests.support import BrokerProcess


class RawClient:
    """A blocking raw-frame AMQP client that does the handshake and reads frames."""

    def __init__(self, port: int, heartbeat: int = 0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.decoder = Decoder(expect_protocol_header=False)
        self.pending: list[object] = []
        self.heartbeat = heartbeat

    @classmethod
    def with_channel(cls, port: int, heartbeat: int = 0) -> RawClient:
        """Connected, handshake done and channel 1 open; Nagle off, since handshake and
        set-up frames go out one by one and would each wait for the broker's ACK."""
        c = cls(port, heartbeat)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.handshake()
        c.send(1, spec.ChannelOpen())
        c.expect_method(1)
        return c

    def handshake(self) -> None:
        self.sock.sendall(spec.PROTOCOL_HEADER)
        assert isinstance(self.expect_method(0), spec.ConnectionStart)
        self.send(
            0,
            spec.ConnectionStartOk(
                client_properties={"capabilities": {"consumer_cancel_notify": True}},
                mechanism="PLAIN",
                response=b"\x00guest\x00guest",
                locale="en_US",
            ),
        )
        tune = self.expect_method(0)
        assert isinstance(tune, spec.ConnectionTune)
        self.send(0, spec.ConnectionTuneOk(tune.channel_max, tune.frame_max, self.heartbeat))
        self.send(0, spec.ConnectionOpen(virtual_host="/"))
        assert isinstance(self.expect_method(0), spec.ConnectionOpenOk)

    def send(self, channel: int, method: spec.Method) -> None:
        self.sock.sendall(encode_method(channel, method))

    def next_event(self) -> object | None:
        """The next decoded event, or None on EOF."""
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def expect_method(self, channel: int) -> spec.Method:
        ev = self.next_event()
        assert isinstance(ev, MethodFrame), ev
        assert ev.channel == channel
        return ev.method

    def read_until_eof(self, deadline: float = 5) -> list[object]:
        end = time.monotonic() + deadline
        out = []
        while time.monotonic() < end:
            try:
                ev = self.next_event()
            except (ConnectionResetError, TimeoutError):
                return out
            if ev is None:
                return out
            out.append(ev)
        raise AssertionError(f"connection not closed; got {out}")

    def close(self) -> None:
        self.sock.close()


def healthy(broker: BrokerProcess) -> None:
    """Another connection still works end to end."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"ping")
    assert ch.basic_get(q, auto_ack=True)[2] == b"ping"
    conn.close()


def test_wrong_protocol_header_gets_ours_back_and_close(broker: BrokerProcess) -> None:
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    s.sendall(b"AMQP\x00\x00\x08\x00")
    data = b""
    while chunk := s.recv(100):
        data += chunk
    assert data == b"AMQP\x00\x00\x09\x01"
    s.close()
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert s.recv(100) == b"AMQP\x00\x00\x09\x01"
    s.close()
    healthy(broker)


def _close_code(events: list[object]) -> int | None:
    for ev in events:
        if isinstance(ev, MethodFrame) and isinstance(ev.method, spec.ConnectionClose):
            return ev.method.reply_code
    return None


def test_bad_frame_end_is_501_connection_close(broker: BrokerProcess) -> None:
    c = RawClient(broker.port)
    c.handshake()
    c.sock.sendall(struct.pack(">BHI", 1, 0, 4) + b"\x00\x0a\x00\x33" + b"\x00")
    assert _close_code(c.read_until_eof()) == 501
    c.close()
    healthy(broker)


def test_method_on_unopened_channel_is_504(broker: BrokerProcess) -> None:
    c = RawClient(broker.port)
    c.handshake()
    c.send(5, spec.QueueDeclare(queue="x", exclusive=True))
    assert _close_code(c.read_until_eof()) == 504
    c.close()


def test_oversized_frame_is_501(broker: BrokerProcess) -> None:
    c = RawClient(broker.port)
    c.handshake()
    c.sock.sendall(struct.pack(">BHI", 1, 1, 10_000_000) + b"\x00" * 1000)
    assert _close_code(c.read_until_eof()) == 501
    c.close()


def test_channel_error_leaves_connection_usable_raw(broker: BrokerProcess) -> None:
    c = RawClient(broker.port)
    c.handshake()
    c.send(1, spec.ChannelOpen())
    assert isinstance(c.expect_method(1), spec.ChannelOpenOk)
    c.send(1, spec.QueueDeclare(queue="no-such-queue-raw", passive=True))
    close = c.expect_method(1)
    assert isinstance(close, spec.ChannelClose)
    assert (close.reply_code, close.class_id, close.method_id) == (404, 50, 10)
    # frames on a closing channel are ignored until close-ok
    c.send(1, spec.QueueDeclare(queue="ignored", passive=True))
    c.send(1, spec.ChannelCloseOk())
    c.send(1, spec.ChannelOpen())
    assert isinstance(c.expect_method(1), spec.ChannelOpenOk)
    c.close()


def test_missed_heartbeats_close_the_connection(broker: BrokerProcess) -> None:
    c = RawClient(broker.port, heartbeat=1)
    c.handshake()
    start = time.monotonic()
    events = c.read_until_eof(deadline=6)
    assert time.monotonic() - start >= 1.5
    # the broker sent heartbeats before giving up on us
    assert any(type(ev).__name__ == "Heartbeat" for ev in events)
    c.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(garbage=st.binary(min_size=1, max_size=300))
def test_fuzz_garbage_after_handshake(broker: BrokerProcess, garbage: bytes) -> None:
    c = RawClient(broker.port)
    c.handshake()
    c.send(1, spec.ChannelOpen())
    c.sock.sendall(garbage)
    c.sock.shutdown(socket.SHUT_WR)
    try:
        c.read_until_eof(deadline=5)
    except (ConnectionResetError, OSError):
        pass
    c.close()


def test_broker_healthy_after_fuzzing(broker: BrokerProcess) -> None:
    healthy(broker)


def test_amqplain_auth(broker: BrokerProcess) -> None:
    c = RawClient(broker.port)
    c.sock.sendall(spec.PROTOCOL_HEADER)
    assert isinstance(c.expect_method(0), spec.ConnectionStart)
    table = encode_table({"LOGIN": "guest", "PASSWORD": "guest"})[4:]
    c.send(0, spec.ConnectionStartOk(client_properties={}, mechanism="AMQPLAIN", response=table))
    assert isinstance(c.expect_method(0), spec.ConnectionTune)
    c.close()


def test_connection_reset_is_an_ordinary_close(broker: BrokerProcess) -> None:
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    s.sendall(spec.PROTOCOL_HEADER)
    assert s.recv(7)  # connection.start has begun to arrive: the server side is reading
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    healthy(broker)


def test_auth_failure_close_waits_for_close_ok(broker: BrokerProcess) -> None:
    c = RawClient(broker.port)
    c.sock.sendall(spec.PROTOCOL_HEADER)
    assert isinstance(c.expect_method(0), spec.ConnectionStart)
    c.send(
        0,
        spec.ConnectionStartOk(
            client_properties={"capabilities": {"authentication_failure_close": True}},
            mechanism="PLAIN",
            response=b"\x00guest\x00wrong",
        ),
    )
    close = c.expect_method(0)
    assert isinstance(close, spec.ConnectionClose) and close.reply_code == 403
    c.send(0, spec.ConnectionCloseOk())
    # the broker waited for our close-ok: a clean EOF, not a reset
    assert c.read_until_eof() == []
    c.close()
