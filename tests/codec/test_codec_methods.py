"""The generated method classes: metadata, defaults, exact round trips, malformed arguments."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.codec import ProtocolError, ReplyCode, spec
from amqpish.codec.spec import METHODS, Method

try:
    import pika.spec as pika_spec
except ImportError:  # pika is a dev dependency; the cross-checks are optional
    pika_spec = None

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EXPECTED = [
    "ConnectionStart",
    "ConnectionStartOk",
    "ConnectionSecure",
    "ConnectionSecureOk",
    "ConnectionTune",
    "ConnectionTuneOk",
    "ConnectionOpen",
    "ConnectionOpenOk",
    "ConnectionClose",
    "ConnectionCloseOk",
    "ConnectionBlocked",
    "ConnectionUnblocked",
    "ConnectionUpdateSecret",
    "ConnectionUpdateSecretOk",
    "ChannelOpen",
    "ChannelOpenOk",
    "ChannelFlow",
    "ChannelFlowOk",
    "ChannelClose",
    "ChannelCloseOk",
    "AccessRequest",
    "AccessRequestOk",
    "ExchangeDeclare",
    "ExchangeDeclareOk",
    "ExchangeDelete",
    "ExchangeDeleteOk",
    "ExchangeBind",
    "ExchangeBindOk",
    "ExchangeUnbind",
    "ExchangeUnbindOk",
    "QueueDeclare",
    "QueueDeclareOk",
    "QueueBind",
    "QueueBindOk",
    "QueuePurge",
    "QueuePurgeOk",
    "QueueDelete",
    "QueueDeleteOk",
    "QueueUnbind",
    "QueueUnbindOk",
    "BasicQos",
    "BasicQosOk",
    "BasicConsume",
    "BasicConsumeOk",
    "BasicCancel",
    "BasicCancelOk",
    "BasicPublish",
    "BasicReturn",
    "BasicDeliver",
    "BasicGet",
    "BasicGetOk",
    "BasicGetEmpty",
    "BasicAck",
    "BasicReject",
    "BasicRecoverAsync",
    "BasicRecover",
    "BasicRecoverOk",
    "BasicNack",
    "TxSelect",
    "TxSelectOk",
    "TxCommit",
    "TxCommitOk",
    "TxRollback",
    "TxRollbackOk",
    "ConfirmSelect",
    "ConfirmSelectOk",
]

ALL = sorted(METHODS.values(), key=lambda c: c.INDEX)
WITH_ARGS = [c for c in ALL if c.FIELDS]
SHORTSTR_CLASSES = [c for c in ALL if "shortstr" in c.FIELD_TYPES]

_INT_RANGES = {
    "octet": (0, 2**8 - 1),
    "short": (0, 2**16 - 1),
    "long": (0, 2**32 - 1),
    "longlong": (0, 2**64 - 1),
    "timestamp": (0, 2**64 - 1),
}
shortstrs = st.text(max_size=20).filter(lambda s: len(s.encode()) <= 255)
tables = st.dictionaries(
    shortstrs,
    st.one_of(st.integers(-(2**31), 2**31 - 1), st.text(max_size=8), st.booleans(), st.none()),
    max_size=4,
)


def value_strategy(wire: str) -> st.SearchStrategy[Any]:
    if wire in _INT_RANGES:
        lo, hi = _INT_RANGES[wire]
        return st.integers(lo, hi)
    return {
        "bit": st.booleans(),
        "shortstr": shortstrs,
        "longstr": st.binary(max_size=40),
        "table": tables,
    }[wire]


def build(cls: type[Method], data: st.DataObject) -> Method:
    kwargs = {
        f: data.draw(value_strategy(t), label=f)
        for f, t in zip(cls.FIELDS, cls.FIELD_TYPES, strict=True)
    }
    return cls(**kwargs)


def test_every_method_of_the_spec_is_there() -> None:
    assert sorted(c.__name__ for c in ALL) == sorted(EXPECTED)
    for name in EXPECTED:
        cls = getattr(spec, name)
        assert METHODS[cls.INDEX] is cls
        assert cls.INDEX == cls.CLASS_ID << 16 | cls.METHOD_ID
        assert len(cls.FIELDS) == len(cls.FIELD_TYPES) == len(cls.__match_args__)
        assert sorted(cls.__slots__) == sorted(cls.FIELDS)


def test_metadata() -> None:
    assert spec.BasicPublish.NAME == "basic.publish"
    assert (spec.BasicPublish.CLASS_ID, spec.BasicPublish.METHOD_ID) == (60, 40)
    assert spec.ConnectionUpdateSecretOk.NAME == "connection.update-secret-ok"
    assert spec.ExchangeUnbindOk.METHOD_ID == 51  # RabbitMQ's numbering
    content = {c.__name__ for c in ALL if c.HAS_CONTENT}
    assert content == {"BasicPublish", "BasicReturn", "BasicDeliver", "BasicGetOk"}
    assert spec.QueueDeclare.SYNCHRONOUS and spec.ConnectionOpen.SYNCHRONOUS
    assert not spec.QueueDeclareOk.SYNCHRONOUS and not spec.BasicPublish.SYNCHRONOUS
    assert not spec.BasicAck.SYNCHRONOUS


def test_constants() -> None:
    assert (spec.FRAME_METHOD, spec.FRAME_HEADER, spec.FRAME_BODY) == (1, 2, 3)
    assert (spec.FRAME_HEARTBEAT, spec.FRAME_END, spec.FRAME_MIN_SIZE) == (8, 206, 4096)
    assert spec.PROTOCOL_HEADER == b"AMQP\x00\x00\x09\x01"
    classes = (
        spec.CLASS_CONNECTION,
        spec.CLASS_CHANNEL,
        spec.CLASS_EXCHANGE,
        spec.CLASS_QUEUE,
        spec.CLASS_BASIC,
        spec.CLASS_CONFIRM,
        spec.CLASS_TX,
    )
    assert classes == (10, 20, 40, 50, 60, 85, 90)
    assert {c.name: c.value for c in ReplyCode} == {
        "REPLY_SUCCESS": 200,
        "CONTENT_TOO_LARGE": 311,
        "NO_ROUTE": 312,
        "NO_CONSUMERS": 313,
        "CONNECTION_FORCED": 320,
        "INVALID_PATH": 402,
        "ACCESS_REFUSED": 403,
        "NOT_FOUND": 404,
        "RESOURCE_LOCKED": 405,
        "PRECONDITION_FAILED": 406,
        "FRAME_ERROR": 501,
        "SYNTAX_ERROR": 502,
        "COMMAND_INVALID": 503,
        "CHANNEL_ERROR": 504,
        "UNEXPECTED_FRAME": 505,
        "RESOURCE_ERROR": 506,
        "NOT_ALLOWED": 530,
        "NOT_IMPLEMENTED": 540,
        "INTERNAL_ERROR": 541,
    }
    assert frozenset({320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541}) == spec.HARD_ERRORS


def test_protocol_error() -> None:
    err = ProtocolError(501, "bad frame")
    assert str(err) == "FRAME_ERROR - bad frame"
    assert err.hard and (err.class_id, err.method_id) == (0, 0)
    soft = ProtocolError(404, "no queue", 50, 10)
    assert not soft.hard and (soft.class_id, soft.method_id) == (50, 10)
    assert str(ProtocolError(999, "x")) == "999 - x"


def test_defaults_and_constructor() -> None:
    p = spec.BasicPublish()
    assert (p.reserved_1, p.exchange, p.routing_key, p.mandatory, p.immediate) == (
        0,
        "",
        "",
        False,
        False,
    )
    assert spec.BasicPublish(0, "ex", "rk", True) == spec.BasicPublish(
        exchange="ex", routing_key="rk", mandatory=True
    )
    q1, q2 = spec.QueueDeclare(), spec.QueueDeclare()
    assert q1.arguments == {} and q1.arguments is not q2.arguments
    assert spec.QueueDeclare(no_wait=True, auto_delete=True).no_wait
    assert spec.BasicReject(delivery_tag=1).requeue is True
    assert spec.BasicNack().requeue is True
    assert spec.ExchangeDeclare(exchange="x").type == "direct"
    start = spec.ConnectionStart()
    assert (start.version_major, start.version_minor) == (0, 9)
    assert (start.mechanisms, start.locales) == (b"PLAIN", b"en_US")
    assert spec.ConnectionStartOk().response == b""
    assert spec.BasicQos(global_=True).global_
    close = spec.ConnectionClose(reply_code=320, reply_text="bye", class_id=0, method_id=0)
    assert repr(close) == (
        "ConnectionClose(reply_code=320, reply_text='bye', class_id=0, method_id=0)"
    )
    assert close != spec.ChannelClose(320, "bye", 0, 0)
    assert spec.TxSelect() == spec.TxSelect()
    match spec.BasicAck(5, True):
        case spec.BasicAck(tag, multiple):
            assert (tag, multiple) == (5, True)
    # Every constructor works with no arguments.
    for cls in ALL:
        cls()
        assert [p for p in inspect.signature(cls).parameters] == list(cls.FIELDS)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.NAME)
@SETTINGS
@given(data=st.data(), prefix=st.binary(max_size=3), suffix=st.binary(max_size=3))
def test_round_trip(cls: type[Method], data: st.DataObject, prefix: bytes, suffix: bytes) -> None:
    method = build(cls, data)
    raw = method.encode_args()
    buf = prefix + raw + suffix
    decoded = cls.decode_args(buf, len(prefix), len(prefix) + len(raw))
    assert decoded == method
    assert type(decoded) is cls
    assert decoded.encode_args() == raw


def test_known_encodings() -> None:
    publish = spec.BasicPublish(exchange="ex", routing_key="rk", mandatory=True, immediate=True)
    assert publish.encode_args() == b"\x00\x00\x02ex\x02rk\x03"
    declare = spec.QueueDeclare(queue="q", durable=True, no_wait=True)
    assert declare.encode_args() == b"\x00\x00\x01q\x12\x00\x00\x00\x00"
    deliver = spec.BasicDeliver("c", 2**64 - 1, True, "e", "r")
    assert deliver.encode_args() == b"\x01c" + b"\xff" * 8 + b"\x01\x01e\x01r"
    access = spec.AccessRequest()  # five consecutive bits in one octet
    assert access.encode_args() == b"\x05/data\x1e"


@pytest.mark.parametrize("cls", WITH_ARGS, ids=lambda c: c.NAME)
def test_truncated_and_overlong_arguments(cls: type[Method]) -> None:
    raw = cls().encode_args()
    for cut in range(len(raw)):
        with pytest.raises(ProtocolError) as err:
            cls.decode_args(raw[:cut] + b"\x00" * 8, 0, cut)
        e = err.value
        assert (e.reply_code, e.class_id, e.method_id) == (501, cls.CLASS_ID, cls.METHOD_ID)
        # The same truncation at the very end of the buffer.
        with pytest.raises(ProtocolError):
            cls.decode_args(raw[:cut], 0, cut)
    with pytest.raises(ProtocolError) as err:
        cls.decode_args(raw + b"\x00", 0, len(raw) + 1)
    assert err.value.reply_code == 501
    assert "after the arguments" in err.value.text


def test_argumentless_method_with_arguments() -> None:
    with pytest.raises(ProtocolError) as err:
        spec.TxSelect.decode_args(b"\x00", 0, 1)
    assert (err.value.reply_code, err.value.class_id, err.value.method_id) == (501, 90, 10)


@pytest.mark.parametrize("cls", SHORTSTR_CLASSES, ids=lambda c: c.NAME)
def test_invalid_utf8_in_shortstr(cls: type[Method]) -> None:
    i = cls.FIELD_TYPES.index("shortstr")
    method = cls(**{cls.FIELDS[i]: "\x00"})
    raw = method.encode_args()
    bad = raw.replace(b"\x01\x00", b"\x01\xff", 1)
    assert bad != raw
    with pytest.raises(ProtocolError) as err:
        cls.decode_args(bad, 0, len(bad))
    assert (err.value.reply_code, err.value.class_id) == (501, cls.CLASS_ID)
    assert "UTF-8" in err.value.text
    with pytest.raises(ValueError):
        cls(**{cls.FIELDS[i]: "é" * 128}).encode_args()


def test_malformed_table_argument() -> None:
    raw = spec.QueueDeclare(queue="q").encode_args()[:-4] + b"\x00\x00\x00\x02\x01a"
    with pytest.raises(ProtocolError) as err:
        spec.QueueDeclare.decode_args(raw, 0, len(raw))
    assert (err.value.reply_code, err.value.class_id, err.value.method_id) == (501, 50, 10)


def test_out_of_range_values_raise_value_error() -> None:
    with pytest.raises(ValueError):
        spec.BasicAck(delivery_tag=-1).encode_args()
    with pytest.raises(ValueError):
        spec.ConnectionTune(channel_max=2**16).encode_args()
    with pytest.raises(ValueError):
        spec.QueueDeclare(queue="q" * 256).encode_args()


_PIKA_NAMES = {"reserved_1": "ticket", "no_wait": "nowait", "global_": "global_qos"}


@pytest.mark.skipif(pika_spec is None, reason="pika not installed")
@pytest.mark.parametrize(
    "cls", [c for c in ALL if c is not spec.ConnectionUpdateSecret], ids=lambda c: c.NAME
)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_wire_compatible_with_pika(cls: type[Method], data: st.DataObject) -> None:
    # pika's connection.update-secret decoder is broken, hence excluded.
    method = build(cls, data)
    raw = method.encode_args()
    pika_cls = pika_spec.methods[cls.INDEX]
    required = [
        p
        for p in inspect.signature(pika_cls.__init__).parameters.values()
        if p.default is inspect.Parameter.empty and p.name != "self"
    ]
    theirs = pika_cls(*[None] * len(required)).decode(raw)
    for field, wire in zip(cls.FIELDS, cls.FIELD_TYPES, strict=True):
        value = getattr(theirs, _PIKA_NAMES.get(field, field))
        if wire == "longstr" and isinstance(value, str):
            value = value.encode()
        if wire == "table":
            continue  # pika decodes table strings as bytes
        assert value == getattr(method, field), field
    encoded = b"".join(p if isinstance(p, bytes) else p.encode() for p in theirs.encode())
    assert cls.decode_args(encoded, 0, len(encoded)) == method
