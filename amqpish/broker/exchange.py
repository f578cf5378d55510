"""Exchanges: the shared routing policy over a type-specific routing table.

The exchange type (``routing.make_router``) only maps a routing key and headers to
destinations. The policy that is the same for every type lives here: following
exchange-to-exchange bindings with a visited set (so cycles terminate), the
alternate exchange when nothing matched, and the CC/BCC headers of sender-selected
distribution. The common case, an exchange bound only to queues with no alternate
exchange, is a single router lookup.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from typing import TYPE_CHECKING, Any

from amqpish.broker.routing import Router, make_router

if TYPE_CHECKING:
    from amqpish.broker.queue import Queue

_EMPTY: tuple[Any, ...] = ()


class Exchange:
    __slots__ = (
        "alternate",
        "arguments",
        "auto_delete",
        "deleted",
        "durable",
        "e2e_dests",
        "internal",
        "name",
        "name_b",
        "router",
        "stat_publish_in",
        "stat_publish_out",
        "type",
        "vhost",
    )

    def __init__(
        self,
        vhost: str,
        name: str,
        type_: str,
        *,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        self.vhost = vhost
        self.name = name
        self.name_b = name.encode()
        self.type = type_
        self.durable = durable
        self.auto_delete = auto_delete
        self.internal = internal
        self.arguments: dict[str, Any] = dict(arguments or {})
        self.router: Router = make_router(type_)
        # the exchange object for alternate-exchange, resolved at publish time by name
        alt = self.arguments.get("alternate-exchange")
        self.alternate: str | None = alt if isinstance(alt, str) else None
        # how many bindings point at exchanges: zero means route() is one lookup
        self.e2e_dests = 0
        # set on delete, so channels' cached lookups notice without a dict lookup
        self.deleted = False
        self.stat_publish_in = 0
        self.stat_publish_out = 0

    def bind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        self.router.bind(dest, key, args)

    def unbind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        self.router.unbind(dest, key, args)

    def __repr__(self) -> str:
        return f"<Exchange {self.vhost!r}/{self.name!r} {self.type}>"


def route(
    exchange: Exchange,
    routing_key: str,
    headers: Mapping[str, Any] | None,
    lookup_exchange: Any,
) -> Collection[Queue]:
    """Queues a message published to ``exchange`` reaches (deduplicated).

    ``lookup_exchange(name)`` resolves alternate exchanges (``None`` if missing).
    """
    if headers is not None and ("CC" in headers or "BCC" in headers):
        keys = [routing_key, *_cc(headers, "CC"), *_cc(headers, "BCC")]
    else:
        if exchange.e2e_dests == 0 and exchange.alternate is None:
            return exchange.router.route(routing_key, headers)  # type: ignore[return-value]
        keys = [routing_key]
    return _route_slow(exchange, keys, headers, lookup_exchange)


def _cc(headers: Mapping[str, Any], name: str) -> list[str]:
    v = headers.get(name)
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v if isinstance(x, str | bytes)]
    return []


def _route_slow(
    exchange: Exchange,
    keys: list[str],
    headers: Mapping[str, Any] | None,
    lookup_exchange: Any,
) -> Collection[Queue]:
    queues: dict[int, Queue] = {}
    visited: set[int] = set()
    pending: list[Exchange] = [exchange]
    while pending:
        ex = pending.pop()
        if id(ex) in visited:
            continue
        visited.add(id(ex))
        matched = False
        for key in keys:
            for dest in ex.router.route(key, headers):
                matched = True
                if isinstance(dest, Exchange):
                    pending.append(dest)
                else:
                    queues[id(dest)] = dest  # type: ignore[assignment]
        if not matched and ex.alternate is not None:
            alt = lookup_exchange(ex.alternate)
            if alt is not None:
                pending.append(alt)
    return list(queues.values()) if queues else _EMPTY
