"""Helpers that turn what a client sees into outcome data.

Conventions for outcomes (so scenarios read alike):
  * an operation that succeeded is ``"ok"``;
  * one the broker refused is ``{"closed": "channel"|"connection", "reply_code": ..,
    "reply_text": .., "class_id": .., "method_id": ..}``;
  * a message is described by the fields the scenario cares about (``body`` first).

pika reports a broker-initiated close as an exception carrying only the reply code and text;
the class and method ids of the close are kept by wrapping pika's two close handlers below.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pika
import pika.channel
import pika.connection
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import (
    AMQPChannelError,
    AMQPConnectionError,
    ChannelClosedByBroker,
    ConnectionClosedByBroker,
    StreamLostError,
)

from conformance.raw import Content, RawConnection

# ------------------------------------------------------------- pika close details

_orig_channel_close = pika.channel.Channel._on_close_from_broker
_orig_connection_close = pika.connection.Connection._on_connection_close_from_broker


def _channel_close(self: Any, method_frame: Any) -> None:
    self._conformance_close = method_frame.method
    _orig_channel_close(self, method_frame)


def _connection_close(self: Any, method_frame: Any) -> None:
    self._conformance_close = method_frame.method
    _orig_connection_close(self, method_frame)


pika.channel.Channel._on_close_from_broker = _channel_close
pika.connection.Connection._on_connection_close_from_broker = _connection_close


def close_info(
    exc: BaseException, ch: BlockingChannel | None = None, conn: BlockingConnection | None = None
) -> dict[str, Any]:
    """Outcome for an exception raised by pika when the broker closed something."""
    if isinstance(exc, ConnectionClosedByBroker):
        out: dict[str, Any] = {
            "closed": "connection",
            "reply_code": exc.reply_code,
            "reply_text": exc.reply_text,
        }
        if conn is None and ch is not None:
            conn = ch.connection
        method = getattr(getattr(conn, "_impl", None), "_conformance_close", None)
    elif isinstance(exc, ChannelClosedByBroker):
        out = {"closed": "channel", "reply_code": exc.reply_code, "reply_text": exc.reply_text}
        method = getattr(getattr(ch, "_impl", None), "_conformance_close", None)
    elif isinstance(exc, StreamLostError):
        return {"closed": "socket"}
    else:
        return {"error": type(exc).__name__}
    if method is not None:
        out["class_id"] = method.class_id
        out["method_id"] = method.method_id
    return out


def attempt(
    fn: Callable[[], Any], ch: BlockingChannel | None = None, conn: BlockingConnection | None = None
) -> Any:
    """Run fn; ``"ok"`` (or fn's result, if plain data) on success, close details when refused."""
    try:
        r = fn()
    except (ChannelClosedByBroker, ConnectionClosedByBroker, StreamLostError) as e:
        return close_info(e, ch, conn)
    return r if isinstance(r, (dict, list, str, int, float, bool)) else "ok"


def sync(ch: BlockingChannel) -> Any:
    """A harmless round trip: returns "ok", or the close that an earlier async method caused."""
    return attempt(lambda: ch.exchange_declare("amq.fanout", passive=True), ch)


def is_alive(conn: BlockingConnection) -> bool:
    """Whether the connection still works: opens and closes a channel."""
    try:
        c = conn.channel()
        c.exchange_declare("amq.direct", passive=True)
        c.close()
        return True
    except (AMQPChannelError, AMQPConnectionError):
        return False


def publish(
    ch: BlockingChannel,
    routing_key: str,
    body: str | bytes = b"",
    exchange: str = "",
    mandatory: bool = False,
    **props: Any,
) -> None:
    ch.basic_publish(
        exchange,
        routing_key,
        body.encode() if isinstance(body, str) else body,
        pika.BasicProperties(**props) if props else None,
        mandatory=mandatory,
    )


def confirmed_publish(
    ch: BlockingChannel,
    routing_key: str,
    body: str | bytes = b"",
    exchange: str = "",
    mandatory: bool = False,
    **props: Any,
) -> str:
    """Publish on a confirm-mode channel: "ack", "nack" or "returned" (for mandatory)."""
    try:
        publish(ch, routing_key, body, exchange, mandatory, **props)
    except pika.exceptions.UnroutableError:
        return "returned"
    except pika.exceptions.NackError:
        return "nack"
    return "ack"


def body_of(b: bytes) -> str:
    try:
        return b.decode()
    except UnicodeDecodeError:
        return repr(b)


def get_all(
    ch: BlockingChannel,
    queue: str,
    limit: int = 1000,
    ack: bool = True,
    fields: tuple[str, ...] = (),
) -> list[Any]:
    """Drain a queue with basic.get; bodies (or dicts with ``fields``) in order."""
    out: list[Any] = []
    for _ in range(limit):
        method, props, body = ch.basic_get(queue, auto_ack=False)
        if method is None:
            break
        if ack:
            ch.basic_ack(method.delivery_tag)
        out.append(describe(method, props, body, fields) if fields else body_of(body))
    return out


def describe(method: Any, props: Any, body: bytes, fields: tuple[str, ...]) -> dict[str, Any]:
    d: dict[str, Any] = {"body": body_of(body)}
    for f in fields:
        if hasattr(method, f):
            d[f] = getattr(method, f)
        elif props is not None and hasattr(props, f):
            d[f] = getattr(props, f)
    return d


def get_one(ch: BlockingChannel, queue: str, fields: tuple[str, ...] = (), ack: bool = True) -> Any:
    got = get_all(ch, queue, limit=1, ack=ack, fields=fields)
    return got[0] if got else None


def queue_counts(ch: BlockingChannel, queue: str) -> dict[str, int]:
    ok = ch.queue_declare(queue, passive=True).method
    return {"messages": ok.message_count, "consumers": ok.consumer_count}


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll until predicate() is truthy; its last value (falsy on deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_count(ch: BlockingChannel, queue: str, count: int, timeout: float = 5.0) -> int:
    """Poll the ready-message count until it equals count (or the deadline); the last count."""
    last = -1

    def check() -> bool:
        nonlocal last
        last = ch.queue_declare(queue, passive=True).method.message_count
        return last == count

    wait_for(check, timeout)
    return last


def settle(col: Collector, ch: BlockingChannel, queue: str, timeout: float = 3.0) -> dict[str, int]:
    """Deliveries and ready count once both stop changing (an absence check: used only where
    the point is that nothing more is delivered)."""
    last: tuple[int, int] | None = None
    deadline = time.monotonic() + timeout
    while True:
        col.conn.process_data_events(time_limit=0.1)
        now = (len(col.items), ch.queue_declare(queue, passive=True).method.message_count)
        if now == last or time.monotonic() >= deadline:
            return {"delivered": now[0], "ready": now[1]}
        last = now


class Collector:
    """Deliveries to pika consumers, in arrival order, with a waiting loop."""

    def __init__(self, conn: BlockingConnection, fields: tuple[str, ...] = ()) -> None:
        self.conn = conn
        self.fields = fields
        self.items: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.tags: dict[str, str] = {}  # consumer tag -> label given to consume()
        self._channels: set[int] = set()

    def consume(
        self, ch: BlockingChannel, queue: str, label: str = "c", auto_ack: bool = False, **kw: Any
    ) -> str:
        def on_message(c: BlockingChannel, method: Any, props: Any, body: bytes) -> None:
            d = describe(method, props, body, self.fields)
            d["consumer"] = self.tags.get(method.consumer_tag, method.consumer_tag)
            d["_tag"] = method.delivery_tag
            d["_ch"] = c
            self.items.append(d)

        tag = ch.basic_consume(queue, on_message, auto_ack=auto_ack, **kw)
        self.tags[tag] = label
        if id(ch) not in self._channels:  # one cancel callback per channel
            self._channels.add(id(ch))
            ch.add_on_cancel_callback(
                lambda frame: self.cancelled.append(self.tags.get(frame.method.consumer_tag, "?"))
            )
        return tag

    def wait(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.items) < n and time.monotonic() < deadline:
            self.conn.process_data_events(time_limit=0.02)
        return self.items

    def settle(self, seconds: float = 0.15) -> None:
        """Let anything already sent arrive (used only to check that nothing more comes)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.conn.process_data_events(time_limit=0.02)

    def ack(self, item: dict[str, Any], multiple: bool = False) -> None:
        item["_ch"].basic_ack(item["_tag"], multiple=multiple)

    def view(self, items: list[dict[str, Any]] | None = None, consumer: bool = False) -> list[Any]:
        out = []
        for d in self.items if items is None else items:
            v = {
                k: val
                for k, val in d.items()
                if not k.startswith("_") and (consumer or k != "consumer")
            }
            out.append(v["body"] if list(v) == ["body"] else v)
        return out

    def bodies(self) -> list[str]:
        return [d["body"] for d in self.items]


# ------------------------------------------------------------- raw helpers


def raw_event(ev: Any) -> Any:
    """A raw event (method tuple, Content or None) as outcome data."""
    if ev is None:
        return "eof"
    if isinstance(ev, Content):
        d: dict[str, Any] = {"method": ev.method, **ev.args, "body": ev.body}
        if ev.properties:
            d["properties"] = ev.properties
        return d
    ch, name, args = ev
    d = {"method": name, "channel": ch}
    d.update(args)
    return d


def raw_until_close(
    conn: RawConnection, timeout: float = 5.0, reply: bool = True, first: Any = None
) -> list[Any]:
    """Events up to and including a close (answering it) or EOF; heartbeats skipped.

    ``first`` is an event the caller already read, to be treated as the first one."""
    events: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if first is not None:
            ev, first = first, None
        else:
            ev = conn.next_event(max(0.0, deadline - time.monotonic()))
        if ev is None:
            events.append("eof" if conn.closed else "timeout")
            return events
        events.append(raw_event(ev))
        if not isinstance(ev, Content) and ev[1] == "connection.close":
            if reply:
                conn.send_method(0, "connection.close_ok")
                # a server that stopped parsing (framing error) may only close on a timer
                tail = conn.read_until_eof(6.0)
                events.append("eof" if conn.closed and not tail else f"then {len(tail)} bytes")
            return events
    events.append("timeout")
    return events


def raw_connection_close(conn: RawConnection, timeout: float = 5.0) -> Any:
    """The connection.close the server sends next (after skipping other frames) or "eof"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = conn.next_event(max(0.0, deadline - time.monotonic()))
        if ev is None:
            return "eof" if conn.closed else "timeout"
        if not isinstance(ev, Content) and ev[1] == "connection.close":
            conn.send_method(0, "connection.close_ok")
            conn.read_until_eof(6.0)
            return {
                "closed": "connection",
                **{k: v for k, v in ev[2].items()},
                "socket_closed": conn.closed,
            }
    return "timeout"
