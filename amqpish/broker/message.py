"""Immutable messages and queue entries.

A ``Message`` is created once per publish and shared by every queue it is routed to:
the body and the raw property bytes are never copied or re-encoded on the way to a
consumer. Properties are decoded lazily (most messages only need the flags), and
the UTF-8 forms of exchange and routing key are kept because every delivery frame
needs them.

A queue that holds more than its share of memory may page a message's body out: the
body is then the ``PAGED_OUT`` sentinel (compared by identity) and ``size`` keeps the
real length; where the bytes went is the queue's business (see ``paging.py``), so a
message costs nothing more for it. Only the queue that holds the message pages it,
and it pages the body back in before anything else sees the message (delivery,
basic.get, dead-lettering).

Memory per queued message is what a deep queue costs, so a message waiting in a
queue with nothing to remember about it there (never delivered, no deadline, not in
the durable log) is its own queue entry: ``Message`` answers the ``Entry`` fields a
queue reads with their defaults (``msg`` is itself). A queue makes an ``Entry`` only
when it has something to remember; a million plain messages then cost one object and
a body each.
"""

from __future__ import annotations

from typing import Any

from amqpish.codec import BasicProperties, ProtocolError, decode_properties, encode_properties

# Property-flag bits (AMQP 0-9-1 basic class) that the broker itself reads.
_FLAG_HEADERS = 1 << 13
_FLAG_DELIVERY_MODE = 1 << 12
_FLAG_PRIORITY = 1 << 11
_FLAG_EXPIRATION = 1 << 8

_EMPTY_PROPS = BasicProperties()

# The body of a paged-out message. Compared by identity: a client's body that happens
# to hold the same bytes is another object.
PAGED_OUT: bytes = b"<amqpish: body paged out>"
EMPTY_RAW = b"\x00\x00"


class Message:
    # Every slot is 8 bytes on each queued message: the str forms of exchange and
    # routing key are derived (routing gets the key from the publisher's cache).
    __slots__ = (
        "_props",
        "body",
        "exchange_b",
        "id",
        "persistent",
        "priority",
        "properties_raw",
        "routing_key_b",
        "size",
        "ttl",
    )

    # The Entry fields of a message that is its own entry in a queue (see above).
    seq: int | None = None
    expires_at: float | None = None
    redelivered: bool = False
    delivery_count: int = 0
    logged: bool = False

    def __init__(
        self,
        exchange: str,
        routing_key: str,
        properties_raw: bytes,
        body: bytes,
        msg_id: int = 0,
        props: BasicProperties | None = None,
        exchange_b: bytes | None = None,
        routing_key_b: bytes | None = None,
    ) -> None:
        # Publishers pass the str/bytes forms they cache, so a million queued messages
        # to one routing key share one copy of it.
        self.exchange_b = exchange.encode() if exchange_b is None else exchange_b
        self.routing_key_b = routing_key.encode() if routing_key_b is None else routing_key_b
        self.body = body
        self.size = len(body)
        self.id = msg_id
        self._props = props
        self.persistent = False
        self.priority = 0
        # per-message TTL in ms, or None; parsed once because queues consult it on enqueue
        self.ttl: int | None = None
        flags = (properties_raw[0] << 8 | properties_raw[1]) if len(properties_raw) >= 2 else 0
        # the common "no properties" case shares one object instead of a slice per message
        self.properties_raw = properties_raw if flags or len(properties_raw) != 2 else EMPTY_RAW
        if flags:
            # Decoded once at publish, as RabbitMQ does: malformed properties are the
            # publisher's error (ProtocolError), not a surprise for a consumer later.
            if flags & 1:
                raise ProtocolError(541, "property flags continuation bit set")
            p = self.props
            self.persistent = p.delivery_mode == 2
            self.priority = p.priority or 0
            if p.expiration is not None:
                self.ttl = parse_expiration(p.expiration)

    @property
    def msg(self) -> Message:
        return self

    @property
    def exchange(self) -> str:
        return self.exchange_b.decode()

    @property
    def routing_key(self) -> str:
        return self.routing_key_b.decode()

    @property
    def props(self) -> BasicProperties:
        p = self._props
        if p is None:
            raw = self.properties_raw
            p = _EMPTY_PROPS if raw == b"\x00\x00" else decode_properties(raw)
            self._props = p
        return p

    @property
    def headers(self) -> dict[str, Any] | None:
        if len(self.properties_raw) < 2 or not (self.properties_raw[0] << 8) & _FLAG_HEADERS:
            return None
        return self.props.headers


def without_header(msg: Message, name: str) -> Message:
    """A copy of ``msg`` without one header (BCC is never delivered, as in RabbitMQ)."""
    props = msg.props
    headers = dict(props.headers or {})
    headers.pop(name, None)
    new_props = BasicProperties(
        **{slot: getattr(props, slot) for slot in BasicProperties.__slots__ if slot != "headers"},
        headers=headers,
    )
    return Message(
        msg.exchange, msg.routing_key, encode_properties(new_props), msg.body, 0, new_props
    )


def parse_expiration(value: str) -> int | None:
    """RabbitMQ accepts only a non-negative integer string; anything else is a 406."""
    if not value.isdigit():
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"invalid expiration '{value}': no_integer") from None
        raise ValueError(f"invalid expiration '{value}': {{value_negative,{n}}}")
    return int(value)


class Entry:
    """A message's place in one queue, when the queue has something to remember about
    it: its redelivery state and deadline, and once handed out, its order (``seq``)
    for going back to the same place if requeued."""

    __slots__ = ("delivery_count", "expires_at", "logged", "msg", "redelivered", "seq")

    def __init__(self, seq: int | None, msg: Message, expires_at: float | None) -> None:
        self.seq = seq
        self.msg = msg
        self.redelivered = False
        self.expires_at = expires_at
        self.delivery_count = 0
        # recorded in the queue's durable log (so settling it must be recorded too)
        self.logged = False
