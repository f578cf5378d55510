"""Argument tables: queue/exchange argument validation and equivalence, as RabbitMQ 3.x.

RabbitMQ checks ``queue.declare`` arguments in two places, and the order is visible in
the error a client gets: the channel first rejects an ``x-dead-letter-exchange`` that
is not a string ("invalid type ..."), then ``rabbit_amqqueue:check_declare_arguments``
runs one validator per known argument, in a fixed order, and reports the first
failure as ``invalid arg 'K' for queue 'Q' in vhost 'V': TERM`` where TERM is the
validator's Erlang error term printed with ``~p``. Unknown arguments are ignored.
A redeclaration compares only the known arguments (``assert_args_equivalence``),
by type class (every integer width is one class, float and double another) and value.

Decoded AMQP values arrive here as Python objects, so the wire type is inferred from
the Python type (``amqp_type_name``): ints are reported as ``long`` (what most
clients send), and ``str`` and ``bytes`` are both treated as ``longstr``, because a
codec may surface a longstr that is not UTF-8 as bytes and RabbitMQ compares both as
binaries anyway. The same module holds the other helpers that need Erlang's view of
a value: ``erl_equal`` (Erlang ``==``), ``format_term`` (``~p``) and ``freeze_args``
(a hashable identity for an arguments table, used by the routers).

Versions: the validators and the compared keys are those of RabbitMQ 3.10-3.12
(``declare_args()``); 3.13 moved to per-queue-type argument lists.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

MAX_EXPIRY_TIMER: Final = 4294967295
"""Largest TTL/expiry RabbitMQ accepts (``?MAX_EXPIRY_TIMER``: erlang:send_after's limit)."""

MAX_SUPPORTED_PRIORITY: Final = 255

SUPPORTED_QUEUE_TYPES: Final = frozenset({"classic"})
"""Queue types this broker implements. RabbitMQ also knows quorum and stream; we report
those exactly as RabbitMQ reports a queue type it does not know."""

OVERFLOW_MODES: Final = ("drop-head", "reject-publish", "reject-publish-dlx")
QUEUE_MODES: Final = ("default", "lazy")
DLX_STRATEGIES: Final = ("at-most-once", "at-least-once")
LEADER_LOCATORS: Final = ("client-local", "balanced", "random", "least-leaders")
_MAX_AGE_UNITS: Final = ("Y", "M", "D", "h", "m", "s")
_MAX_AGE_RE: Final = re.compile(r"([0-9]*)(.*)", re.DOTALL)


class ArgumentError(Exception):
    """An invalid or inequivalent argument; ``text`` is RabbitMQ's 406 reply text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


# --- Erlang's view of decoded values --------------------------------------------------


def amqp_type_name(value: Any) -> str:
    """The RabbitMQ field type name a decoded value most likely had on the wire."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        # clients (pika, the Java client) send int32-range ints as 'I' (signedint)
        return "signedint" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, str | bytes | bytearray):
        return "longstr"
    if isinstance(value, float):
        return "double"
    if value is None:
        return "void"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _type_class(value: Any) -> str:
    # rabbit_misc:type_class/1: every integer width (and decimal) compares as one class.
    name = amqp_type_name(value)
    if name in ("long", "decimal"):
        return "int"
    if name == "double":
        return "float"
    return name


def _as_bytes(value: str | bytes | bytearray) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _timestamp_seconds(value: datetime) -> int:
    # AMQP timestamps are whole seconds, which Erlang keeps as a plain integer.
    if value.tzinfo is None:
        return calendar.timegm(value.timetuple())
    return calendar.timegm(value.utctimetuple())


def erl_equal(a: Any, b: Any) -> bool:
    """Erlang ``==`` between the values RabbitMQ would hold for ``a`` and ``b``.

    Numbers compare arithmetically (``1 == 1.0``) but booleans are atoms (``true /= 1``);
    longstr and byte arrays are both binaries; a timestamp is its integer seconds; a
    decimal is a ``{Scale, Unscaled}`` pair that equals only the same pair. Inside
    arrays and tables RabbitMQ keeps each element's type tag, so nested values must
    also agree on type.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return isinstance(a, Decimal) and isinstance(b, Decimal) and a.as_tuple() == b.as_tuple()
    if isinstance(a, datetime):
        a = _timestamp_seconds(a)
    if isinstance(b, datetime):
        b = _timestamp_seconds(b)
    if isinstance(a, int | float):
        return isinstance(b, int | float) and a == b
    if isinstance(a, str | bytes | bytearray):
        return isinstance(b, str | bytes | bytearray) and _as_bytes(a) == _as_bytes(b)
    if isinstance(a, list | tuple):
        if not isinstance(b, list | tuple) or len(a) != len(b):
            return False
        return all(_tagged_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or a.keys() != b.keys():
            return False
        return all(_tagged_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _tagged_equal(a: Any, b: Any) -> bool:
    return amqp_type_name(a) == amqp_type_name(b) and erl_equal(a, b)


def format_float(value: float) -> str:
    """A float as Erlang's ``~p`` prints it: shortest digits, ``1.0e3`` style exponents."""
    if value != value or value in (float("inf"), float("-inf")):
        return repr(value)
    if value == 0.0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign = "-" if value < 0 else ""
    t = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, t.digits))
    exp = t.exponent
    assert isinstance(exp, int)
    place = len(digits) + exp  # value == 0.DIGITS * 10**place
    n = len(digits)
    if place == 0:
        return f"{sign}0.{digits}"
    if 0 < place < n:
        return f"{sign}{digits[:place]}.{digits[place:]}"
    # Erlang picks whichever of the plain and the exponent form is shorter.
    exp_text = str(place - 1)
    exp_cost = len(exp_text) + 1 + (2 if n == 1 else 1)
    if place < 0:
        if 2 - place <= exp_cost:
            return f"{sign}0.{'0' * -place}{digits}"
    elif place - n + 2 <= exp_cost:
        return f"{sign}{digits}{'0' * (place - n)}.0"
    mantissa = f"{digits}.0" if n == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{sign}{mantissa}e{exp_text}"


def _format_binary(value: str | bytes | bytearray) -> str:
    text = value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(c) > 127 for c in text):
        return f'<<"{escaped}"/utf8>>'
    return f'<<"{escaped}">>'


def format_term(value: Any) -> str:
    """``value`` as RabbitMQ's ``~p`` would print the Erlang term it decodes to."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str | bytes | bytearray):
        return _format_binary(value)
    if value is None:
        return "undefined"
    if isinstance(value, Decimal):
        t = value.as_tuple()
        exp = t.exponent if isinstance(t.exponent, int) else 0
        unscaled = int("".join(map(str, t.digits)) or "0") * (-1 if t.sign else 1)
        if exp > 0:
            unscaled *= 10**exp
        return f"{{{max(-exp, 0)},{unscaled}}}"
    if isinstance(value, datetime):
        return str(_timestamp_seconds(value))
    if isinstance(value, Mapping):
        return (
            "["
            + ",".join(
                f"{{{_format_binary(str(k))},{amqp_type_name(v)},{format_term(v)}}}"
                for k, v in value.items()
            )
            + "]"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(f"{{{amqp_type_name(v)},{format_term(v)}}}" for v in value) + "]"
    return repr(value)


def _erl_string(text: str) -> str:
    # A flat character list (what rabbit_misc:format returns) printed by ~p.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def describe_value(value: Any, present: bool = True) -> str:
    """``rabbit_misc:val/1``: how an inequivalence error shows an argument's value."""
    if not present:
        return "none"
    if isinstance(value, str | bytes | bytearray):
        shown = value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
    else:
        shown = format_term(value)
    return f"the value '{shown}' of type '{amqp_type_name(value)}'"


# --- identity -------------------------------------------------------------------------


def freeze_args(args: Mapping[str, Any] | None) -> Hashable:
    """A hashable, order-independent identity for an arguments table.

    Values keep their type (``True`` and ``1`` are different bindings), and str and
    bytes of the same content are one longstr.
    """
    if not args:
        return ()
    return tuple(sorted((k, _freeze(v)) for k, v in args.items()))


def _freeze(v: Any) -> Hashable:
    if isinstance(v, bool):
        return ("t", v)
    if isinstance(v, int):
        return ("l", v)
    if isinstance(v, str):
        return ("S", v.encode())
    if isinstance(v, bytes | bytearray):
        return ("S", bytes(v))
    if isinstance(v, float):
        return ("d", v)
    if v is None:
        return ("V",)
    if isinstance(v, Decimal):
        return ("D", v.as_tuple())
    if isinstance(v, Mapping):
        return ("F", freeze_args(v))
    if isinstance(v, list | tuple):
        return ("A", tuple(_freeze(x) for x in v))
    if isinstance(v, Hashable):
        return (type(v).__name__, v)
    return (type(v).__name__, repr(v))


# --- queue.declare validation ---------------------------------------------------------

# A validator returns None when the value is acceptable, else RabbitMQ's error term
# already printed as ~p prints it.
_Validator = Callable[[Any, Mapping[str, Any]], str | None]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str | bytes | bytearray)


def _text(v: str | bytes | bytearray) -> str:
    return v if isinstance(v, str) else bytes(v).decode("utf-8", "replace")


def _check_int(v: Any) -> str | None:
    if _is_int(v):
        return None
    return _erl_string(f"expected integer, got {amqp_type_name(v)}")


def _check_non_neg_int(v: Any, _args: Mapping[str, Any]) -> str | None:
    err = _check_int(v)
    if err is None and v < 0:
        return f"{{value_negative,{v}}}"
    return err


def _check_expiry(v: int) -> str | None:
    if v > MAX_EXPIRY_TIMER:
        return f"{{value_too_big,{v}}}"
    if v < 0:
        return f"{{value_negative,{v}}}"
    return None


def _check_expires(v: Any, _args: Mapping[str, Any]) -> str | None:
    err = _check_int(v)
    if err is not None:
        return err
    if v == 0:
        return "{value_zero,0}"
    return _check_expiry(v)


def _check_message_ttl(v: Any, _args: Mapping[str, Any]) -> str | None:
    err = _check_int(v)
    return err if err is not None else _check_expiry(v)


def _unacceptable(v: Any) -> str:
    return f"{{unacceptable_type,{amqp_type_name(v)}}}"


def _check_dlx(v: Any, _args: Mapping[str, Any]) -> str | None:
    return None if _is_str(v) else _unacceptable(v)


def _check_dlrk(v: Any, args: Mapping[str, Any]) -> str | None:
    if not _is_str(v):
        return _unacceptable(v)
    if "x-dead-letter-exchange" not in args:
        return "routing_key_but_no_dlx_defined"
    return None


def _one_of(choices: tuple[str, ...], error: str) -> _Validator:
    def check(v: Any, _args: Mapping[str, Any]) -> str | None:
        if not _is_str(v):
            return _unacceptable(v)
        return None if _text(v) in choices else error

    return check


def _check_max_priority(v: Any, args: Mapping[str, Any]) -> str | None:
    err = _check_non_neg_int(v, args)
    if err is None and v > MAX_SUPPORTED_PRIORITY:
        return f"{{max_value_exceeded,{v}}}"
    return err


def _check_queue_mode(v: Any, _args: Mapping[str, Any]) -> str | None:
    if not _is_str(v):
        return _unacceptable(v)
    if _text(v) in QUEUE_MODES:
        return None
    return _erl_string(f"unsupported queue mode '{_text(v)}'")


def _check_queue_version(v: Any, args: Mapping[str, Any]) -> str | None:
    err = _check_non_neg_int(v, args)
    if err is None and v not in (1, 2):
        return _erl_string(f"unsupported queue version '{v}'")
    return err


def _check_bool(v: Any, _args: Mapping[str, Any]) -> str | None:
    return None if isinstance(v, bool) else _unacceptable(v)


def _check_positive_size(v: Any, args: Mapping[str, Any]) -> str | None:
    err = _check_non_neg_int(v, args)
    if err is None and v == 0:
        return "{value_zero,0}"
    return err


def _check_max_age(v: Any, _args: Mapping[str, Any]) -> str | None:
    if not _is_str(v):
        return _unacceptable(v)
    m = _MAX_AGE_RE.fullmatch(_text(v))
    assert m is not None  # the pattern matches every string
    amount, unit = m.groups()
    # RabbitMQ crashes on a missing number; treating it as invalid is the sane reading.
    if not amount or int(amount) <= 0 or unit not in _MAX_AGE_UNITS:
        return "invalid_max_age"
    return None


def _queue_type_check(known: frozenset[str]) -> _Validator:
    def check(v: Any, _args: Mapping[str, Any]) -> str | None:
        if not _is_str(v):
            return _unacceptable(v)
        if _text(v) in known:
            return None
        return _erl_string(f"unsupported queue type '{_text(v)}'")

    return check


def _declare_args(queue_types: frozenset[str]) -> tuple[tuple[str, _Validator], ...]:
    # rabbit_amqqueue:declare_args/0 (3.10-3.12): the order decides which error is reported.
    return (
        ("x-expires", _check_expires),
        ("x-message-ttl", _check_message_ttl),
        ("x-dead-letter-exchange", _check_dlx),
        ("x-dead-letter-routing-key", _check_dlrk),
        ("x-dead-letter-strategy", _one_of(DLX_STRATEGIES, "invalid_dlx_strategy")),
        ("x-max-length", _check_non_neg_int),
        ("x-max-length-bytes", _check_non_neg_int),
        ("x-max-in-memory-length", _check_non_neg_int),
        ("x-max-in-memory-bytes", _check_non_neg_int),
        ("x-max-priority", _check_max_priority),
        ("x-overflow", _one_of(OVERFLOW_MODES, "invalid_overflow")),
        ("x-queue-mode", _check_queue_mode),
        ("x-queue-version", _check_queue_version),
        ("x-single-active-consumer", _check_bool),
        ("x-queue-type", _queue_type_check(queue_types)),
        ("x-quorum-initial-group-size", _check_positive_size),
        ("x-max-age", _check_max_age),
        ("x-stream-max-segment-size-bytes", _check_non_neg_int),
        ("x-initial-cluster-size", _check_positive_size),
        ("x-queue-leader-locator", _one_of(LEADER_LOCATORS, "invalid_queue_locator_arg")),
    )


_DEFAULT_VALIDATORS: Final = _declare_args(SUPPORTED_QUEUE_TYPES)

QUEUE_EQUIVALENCE_KEYS: Final = tuple(key for key, _ in _DEFAULT_VALIDATORS)
"""The arguments a queue redeclaration must repeat unchanged; all others are ignored."""

EXCHANGE_EQUIVALENCE_KEYS: Final = ("alternate-exchange",)


def _rs(kind: str, name: str, vhost: str) -> str:
    return f"{kind} '{name}' in vhost '{vhost}'"


def validate_queue_args(
    args: Mapping[str, Any],
    queue: str = "",
    vhost: str = "/",
    *,
    queue_types: frozenset[str] = SUPPORTED_QUEUE_TYPES,
) -> None:
    """Raise ``ArgumentError`` with RabbitMQ's text for the first invalid argument."""
    if not args:
        return
    dlx = args.get("x-dead-letter-exchange", _MISSING)
    if dlx is not _MISSING and not _is_str(dlx):
        # rabbit_channel's own check, made before the declare_args validators run
        raise ArgumentError(
            f"invalid type '{amqp_type_name(dlx)}' for arg 'x-dead-letter-exchange' "
            f"in {_rs('queue', queue, vhost)}"
        )
    validators = (
        _DEFAULT_VALIDATORS if queue_types is SUPPORTED_QUEUE_TYPES else _declare_args(queue_types)
    )
    for key, check in validators:
        if key in args:
            err = check(args[key], args)
            if err is not None:
                raise ArgumentError(f"invalid arg '{key}' for {_rs('queue', queue, vhost)}: {err}")


def validate_exchange_args(args: Mapping[str, Any], exchange: str = "", vhost: str = "/") -> None:
    """``exchange.declare``: RabbitMQ only checks that ``alternate-exchange`` is a string."""
    ae = args.get("alternate-exchange", _MISSING) if args else _MISSING
    if ae is not _MISSING and not _is_str(ae):
        raise ArgumentError(
            f"invalid type '{amqp_type_name(ae)}' for arg 'alternate-exchange' "
            f"in {_rs('exchange', exchange, vhost)}"
        )


# --- redeclaration equivalence --------------------------------------------------------


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()


def _equivalent_value(key: str, old: Any, new: Any) -> bool:
    if old is _MISSING or new is _MISSING:
        if old is new:
            return True
        # rabbitmq-common#341: a classic queue need not record its x-queue-type
        other = new if old is _MISSING else old
        return key == "x-queue-type" and _is_str(other) and _text(other) == "classic"
    return _type_class(old) == _type_class(new) and erl_equal(old, new)


def _mismatch(
    existing: Mapping[str, Any] | None, new: Mapping[str, Any] | None, keys: tuple[str, ...]
) -> tuple[str, Any, Any] | None:
    existing = existing or {}
    new = new or {}
    for key in keys:
        old = existing.get(key, _MISSING)
        got = new.get(key, _MISSING)
        if not _equivalent_value(key, old, got):
            return key, (None if got is _MISSING else got), (None if old is _MISSING else old)
    return None


def queue_args_mismatch(
    existing: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> tuple[str, Any, Any] | None:
    """The first compared argument that differs, as ``(key, received, current)``.

    An absent argument is reported as None; use ``check_queue_args_equivalence`` for
    RabbitMQ's exact text, which distinguishes absent from a void value.
    """
    return _mismatch(existing, new, QUEUE_EQUIVALENCE_KEYS)


def queue_args_equivalent(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether redeclaring a queue declared with ``a`` using ``b`` is accepted."""
    return _mismatch(a, b, QUEUE_EQUIVALENCE_KEYS) is None


def exchange_args_mismatch(
    existing: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> tuple[str, Any, Any] | None:
    return _mismatch(existing, new, EXCHANGE_EQUIVALENCE_KEYS)


def exchange_args_equivalent(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether redeclaring an exchange declared with ``a`` using ``b`` is accepted."""
    return _mismatch(a, b, EXCHANGE_EQUIVALENCE_KEYS) is None


def _check_equivalence(
    kind: str,
    existing: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    name: str,
    vhost: str,
    keys: tuple[str, ...],
) -> None:
    existing = existing or {}
    new = new or {}
    for key in keys:
        old = existing.get(key, _MISSING)
        got = new.get(key, _MISSING)
        if not _equivalent_value(key, old, got):
            if old is not _MISSING and got is not _MISSING:
                # both present: rabbit_misc compares bare values and prints them bare
                shown_got, shown_old = bare_value(got), bare_value(old)
            else:
                shown_got = describe_value(got, got is not _MISSING)
                shown_old = describe_value(old, old is not _MISSING)
            raise ArgumentError(
                f"inequivalent arg '{key}' for {_rs(kind, name, vhost)}: "
                f"received {shown_got} but current is {shown_old}"
            )


def bare_value(value: Any) -> str:
    """``rabbit_misc:val/1`` of an untyped value: quoted, as ~s or ~p."""
    if isinstance(value, str | bytes | bytearray):
        shown = value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
    else:
        shown = format_term(value)
    return f"'{shown}'"


def check_queue_args_equivalence(
    existing: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    queue: str = "",
    vhost: str = "/",
) -> None:
    """Raise ``ArgumentError`` with RabbitMQ's "inequivalent arg" text on a mismatch."""
    _check_equivalence("queue", existing, new, queue, vhost, QUEUE_EQUIVALENCE_KEYS)


def check_exchange_args_equivalence(
    existing: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    exchange: str = "",
    vhost: str = "/",
) -> None:
    _check_equivalence("exchange", existing, new, exchange, vhost, EXCHANGE_EQUIVALENCE_KEYS)
