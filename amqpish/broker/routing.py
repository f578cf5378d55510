"""Exchange types as routing tables: one ``Router`` per exchange.

A router maps a routing key (and, for headers, the message headers) to the
destinations bound to it; destinations are opaque hashable objects (queues or
exchanges), and following exchange-to-exchange bindings is the caller's business.
A binding is identified by ``(dest, key, args)``: binding the same triple twice is a
no-op, and a destination reached by two bindings is routed to once and stays routed
until its last binding goes.

Work is done at bind time so that ``route`` stays a lookup. Every router returns
tuples it built itself and never mutates one it has returned (it builds a new one
instead), so callers may keep or share a result. Rebuilding is lazy: a change
only drops the stale tuple, and the next ``route`` that needs it builds it once,
so binding 10,000 queues to one fanout stays linear.

* direct: a dict from routing key to a prebuilt tuple of destinations.
* fanout: one prebuilt tuple of every bound destination; keys are ignored.
* topic: ``topic.TopicRouter`` (a trie of words with a per-key result cache).
* headers: every binding compiled by ``headers_match.compile_binding`` and tested
  against the message's headers; the routing key is ignored.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from typing import Any, Final, Protocol

from amqpish.broker.args import freeze_args
from amqpish.broker.headers_match import HeadersBinding, compile_binding
from amqpish.broker.topic import TopicRouter

__all__ = [
    "ROUTER_TYPES",
    "DirectRouter",
    "FanoutRouter",
    "HeadersRouter",
    "Router",
    "TopicRouter",
    "make_router",
]

_EMPTY: Final[tuple[Hashable, ...]] = ()


class Router(Protocol):
    """The routing table of one exchange."""

    def bind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None: ...

    def unbind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None: ...

    def route(self, routing_key: str, headers: Mapping[str, Any] | None) -> Collection[Hashable]:
        """The destinations a message reaches, each once; never mutated afterwards."""
        ...

    def remove_destination(self, dest: Hashable) -> None:
        """Drop every binding to ``dest`` (the queue or exchange was deleted)."""
        ...


class DirectRouter:
    __slots__ = ("_bindings", "_by_dest", "_routes")

    def __init__(self) -> None:
        # routing key -> destination -> frozen arguments of its bindings with that key
        self._bindings: dict[str, dict[Hashable, set[Hashable]]] = {}
        # routing key -> prebuilt result; an absent key is rebuilt on demand
        self._routes: dict[str, tuple[Hashable, ...]] = {}
        self._by_dest: dict[Hashable, set[tuple[str, Hashable]]] = {}

    def bind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        ak = freeze_args(args)
        by_key = self._bindings.get(key)
        if by_key is None:
            by_key = self._bindings[key] = {}
        held = by_key.get(dest)
        if held is None:
            by_key[dest] = {ak}
            self._routes.pop(key, None)
        elif ak in held:
            return
        else:
            held.add(ak)
        self._by_dest.setdefault(dest, set()).add((key, ak))

    def unbind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        ak = freeze_args(args)
        if self._remove(dest, key, ak):
            owned = self._by_dest[dest]
            owned.discard((key, ak))
            if not owned:
                del self._by_dest[dest]

    def remove_destination(self, dest: Hashable) -> None:
        for key, ak in self._by_dest.pop(dest, ()):
            self._remove(dest, key, ak)

    def _remove(self, dest: Hashable, key: str, ak: Hashable) -> bool:
        by_key = self._bindings.get(key)
        held = by_key.get(dest) if by_key is not None else None
        if by_key is None or held is None or ak not in held:
            return False
        held.discard(ak)
        if not held:
            del by_key[dest]
            if not by_key:
                del self._bindings[key]
            self._routes.pop(key, None)
        return True

    def route(self, routing_key: str, headers: Mapping[str, Any] | None) -> tuple[Hashable, ...]:
        found = self._routes.get(routing_key)
        if found is not None:
            return found
        return self._build(routing_key)

    def _build(self, routing_key: str) -> tuple[Hashable, ...]:
        by_key = self._bindings.get(routing_key)
        if not by_key:
            # not cached: unroutable keys must not grow the table
            return _EMPTY
        found = self._routes[routing_key] = tuple(by_key)
        return found


class FanoutRouter:
    __slots__ = ("_all", "_bindings")

    def __init__(self) -> None:
        # destination -> (key, frozen arguments) of its bindings
        self._bindings: dict[Hashable, set[tuple[str, Hashable]]] = {}
        self._all: tuple[Hashable, ...] | None = _EMPTY

    def bind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        ident = (key, freeze_args(args))
        held = self._bindings.get(dest)
        if held is None:
            self._bindings[dest] = {ident}
            self._all = None
        else:
            held.add(ident)

    def unbind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        held = self._bindings.get(dest)
        if held is None:
            return
        held.discard((key, freeze_args(args)))
        if not held:
            del self._bindings[dest]
            self._all = None

    def remove_destination(self, dest: Hashable) -> None:
        if self._bindings.pop(dest, None) is not None:
            self._all = None

    def route(self, routing_key: str, headers: Mapping[str, Any] | None) -> tuple[Hashable, ...]:
        found = self._all
        if found is None:
            found = self._all = tuple(self._bindings)
        return found


class HeadersRouter:
    __slots__ = ("_bindings", "_table")

    def __init__(self) -> None:
        # destination -> (key, frozen arguments) -> compiled binding
        self._bindings: dict[Hashable, dict[tuple[str, Hashable], HeadersBinding]] = {}
        # what route() walks: each destination with its compiled bindings
        self._table: tuple[tuple[Hashable, tuple[HeadersBinding, ...]], ...] | None = ()

    def bind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        """Raises ValueError (RabbitMQ's 406 text) for an invalid ``x-match``."""
        ident = (key, freeze_args(args))
        held = self._bindings.get(dest)
        if held is not None and ident in held:
            return
        compiled = compile_binding(args)
        if held is None:
            held = self._bindings[dest] = {}
        held[ident] = compiled
        self._table = None

    def unbind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        held = self._bindings.get(dest)
        if held is None:
            return
        if held.pop((key, freeze_args(args)), None) is None:
            return
        if not held:
            del self._bindings[dest]
        self._table = None

    def remove_destination(self, dest: Hashable) -> None:
        if self._bindings.pop(dest, None) is not None:
            self._table = None

    def route(self, routing_key: str, headers: Mapping[str, Any] | None) -> Collection[Hashable]:
        table = self._table
        if table is None:
            table = self._table = tuple(
                (dest, tuple(held.values())) for dest, held in self._bindings.items()
            )
        found: list[Hashable] | None = None
        for dest, bindings in table:
            for binding in bindings:
                if binding.matches(headers):
                    if found is None:
                        found = [dest]
                    else:
                        found.append(dest)
                    break
        # the list is the result itself: a fresh one per call, never touched again
        return found if found is not None else _EMPTY


ROUTER_TYPES: dict[str, type[Router]] = {
    "direct": DirectRouter,
    "fanout": FanoutRouter,
    "topic": TopicRouter,
    "headers": HeadersRouter,
}


def make_router(exchange_type: str) -> Router:
    """A new, empty router; KeyError for an exchange type we do not implement."""
    return ROUTER_TYPES[exchange_type]()
