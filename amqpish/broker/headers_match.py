"""Headers-exchange matching, as RabbitMQ 3.10+ (rabbit_exchange_type_headers.erl).

A binding's arguments are compiled once, at bind time, into a mode and a tuple of
``(header name, expected value, kind)``:

* ``x-match`` is ``all`` (the default), ``any``, ``all-with-x`` or ``any-with-x``;
  any other string, or a non-string, is refused at bind time with RabbitMQ's text.
* ``x-match`` itself never takes part in matching; other arguments starting with
  ``x-`` are dropped too unless the mode is one of the ``-with-x`` ones.
* A void (None) argument only asks for the header to be present, whatever its value.
* Values compare as Erlang's ``==`` on what RabbitMQ decoded: ``1 == 1.0`` but
  ``true /= 1``, and a longstr equals a byte array with the same bytes. Same-typed
  str/int/float/bool/bytes values (nearly every real header) take a fast path that
  is a plain ``==``; anything else goes through ``args.erl_equal``.

``all`` matches when every compiled pair matches, so a binding left with no pairs
matches every message, including one without headers; ``any`` needs at least one
matching pair, so it never matches a message without headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from amqpish.broker.args import amqp_type_name, erl_equal, format_term

MATCH_MODES: Final = ("all", "any", "all-with-x", "any-with-x")

_PRESENT: Final = 0  # a void argument: the header only has to exist
_SIMPLE: Final = 1  # same Python type means Erlang == is Python ==
_COMPLEX: Final = 2  # always compared with erl_equal
_SIMPLE_TYPES: Final = frozenset({str, int, float, bool, bytes})


class _Missing:
    __slots__ = ()


_MISSING: Final = _Missing()


def _x_match(args: Mapping[str, Any]) -> str:
    """The validated match mode, or ValueError with RabbitMQ's binding_invalid text."""
    value = args.get("x-match", _MISSING)
    if value is _MISSING:
        return "all"
    if isinstance(value, str | bytes | bytearray):
        mode = value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
        if mode in MATCH_MODES:
            return mode
        raise ValueError(
            f"Invalid x-match field value {format_term(value)}; "
            "expected all, any, all-with-x, or any-with-x"
        )
    raise ValueError(
        f"Invalid x-match field type {amqp_type_name(value)} "
        f"(value {format_term(value)}); expected longstr"
    )


def validate_binding_args(args: Mapping[str, Any] | None) -> None:
    """Raise ValueError (a 406 at bind time) if ``x-match`` is not acceptable."""
    if args:
        _x_match(args)


class HeadersBinding:
    """One compiled headers binding; ``matches`` is the per-message test."""

    __slots__ = ("any", "pairs")

    def __init__(self, any_: bool, pairs: tuple[tuple[str, Any, int], ...]) -> None:
        self.any = any_
        self.pairs = pairs

    def matches(self, headers: Mapping[str, Any] | None) -> bool:
        pairs = self.pairs
        if not headers:
            # no data: "all" holds only if nothing was asked; "any" never holds
            return not pairs and not self.any
        # headers.get(...) inline: CPython calls it without creating a bound method
        if self.any:
            for name, expected, kind in pairs:
                value = headers.get(name, _MISSING)
                if value is _MISSING:
                    continue
                if kind == _PRESENT:
                    return True
                if kind == _SIMPLE and type(value) is type(expected):
                    if value == expected:
                        return True
                elif erl_equal(expected, value):
                    return True
            return False
        for name, expected, kind in pairs:
            value = headers.get(name, _MISSING)
            if value is _MISSING:
                return False
            if kind == _PRESENT:
                continue
            if kind == _SIMPLE and type(value) is type(expected):
                if value != expected:
                    return False
            elif not erl_equal(expected, value):
                return False
        return True

    def __repr__(self) -> str:
        return f"<HeadersBinding {'any' if self.any else 'all'} {self.pairs!r}>"


def compile_binding(args: Mapping[str, Any] | None) -> HeadersBinding:
    """Compile a binding's arguments; ValueError if ``x-match`` is invalid."""
    if not args:
        return HeadersBinding(False, ())
    mode = _x_match(args)
    with_x = mode.endswith("-with-x")
    pairs: list[tuple[str, Any, int]] = []
    for name, value in args.items():
        if name == "x-match" or (not with_x and name.startswith("x-")):
            continue
        if value is None:
            kind = _PRESENT
        elif type(value) in _SIMPLE_TYPES:
            kind = _SIMPLE
        else:
            kind = _COMPLEX
        pairs.append((name, value, kind))
    return HeadersBinding(mode.startswith("any"), tuple(pairs))


def headers_match(args: Mapping[str, Any] | None, headers: Mapping[str, Any] | None) -> bool:
    """Whether a message with ``headers`` matches a binding with ``args`` (uncompiled)."""
    return compile_binding(args).matches(headers)
