"""The route table: one handler per resource and method, with its access level.

Patterns are written ``/api/queues/{vhost}/{name}`` and matched against the request's
path segments *after* splitting and *before* percent-decoding was applied to each
segment, so ``%2F`` stays inside a segment. When several patterns match, the one with
more literal segments wins (``/api/queues/{vhost}/{name}/bindings`` over nothing, and
``.../e/{source}/q/{dest}`` versus ``.../e/{source}/e/{dest}`` by their literals).

Access levels follow RabbitMQ's: ``none`` (no login), ``user`` (any management user),
``monitor`` (administrator or monitoring), ``policymaker``, ``admin``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from management_ui.app import Context
    from management_ui.http import Request, Response

Handler = Callable[["Context", "Request", dict[str, str]], "Response"]
ACCESS_LEVELS = ("none", "user", "monitor", "policymaker", "admin")


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: Handler
    access: str
    summary: str
    body: str | None = None  # a short description of the JSON body, for the OpenAPI text
    csrf_exempt: bool = False


@dataclass(slots=True)
class Route:
    pattern: str
    parts: tuple[str, ...]
    methods: dict[str, Endpoint] = field(default_factory=dict)

    @property
    def literals(self) -> int:
        return sum(1 for p in self.parts if not p.startswith("{"))

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.parts):
            return None
        params: dict[str, str] = {}
        for part, seg in zip(self.parts, segments, strict=True):
            if part.startswith("{"):
                params[part[1:-1]] = seg
            elif part != seg:
                return None
        return params


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._by_pattern: dict[str, Route] = {}

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        access: str = "user",
        summary: str = "",
        body: str | None = None,
        csrf_exempt: bool = False,
    ) -> None:
        assert access in ACCESS_LEVELS, access
        route = self._by_pattern.get(pattern)
        if route is None:
            parts = tuple(p for p in pattern.split("/")[1:])
            if parts == ("",):
                parts = ("",)
            route = self._by_pattern[pattern] = Route(pattern, parts)
            self.routes.append(route)
        route.methods[method] = Endpoint(handler, access, summary, body, csrf_exempt)

    def match(self, segments: list[str]) -> tuple[Route, dict[str, str]] | None:
        best: tuple[Route, dict[str, str]] | None = None
        for route in self.routes:
            params = route.match(segments)
            if params is not None and (best is None or route.literals > best[0].literals):
                best = (route, params)
        return best
