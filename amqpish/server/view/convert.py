"""Small shared pieces of the management view: names, JSON values, error translation.

``jsonable`` turns AMQP field values into JSON and ``amqp_value`` does the reverse for
what the API sends; ``translate`` is the one place the model's ``AMQPError`` becomes an
``amqpish.admin`` error. ``LazyStats`` lets snapshots be built in bulk while the rates
are computed only for the rows a page shows.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from amqpish.admin import AccessRefusedError, AdminError, BadRequestError, NotFoundError, Rate
from amqpish.broker.errors import AMQPError, Code

PRODUCT_NAME = "amqpish"
PROTOCOL = "AMQP 0-9-1"
# the RabbitMQ release whose management API and definitions format this one follows
RABBITMQ_COMPAT_VERSION = "3.10.8"
EMPTY: Mapping[str, Any] = {}


class MgmtCounters:
    """What the management API itself publishes, per vhost (it has no channel)."""

    __slots__ = ("drop_unroutable", "publish", "vhost")

    def __init__(self, vhost: str) -> None:
        self.vhost = vhost
        self.publish = 0
        self.drop_unroutable = 0


class MgmtOwner:
    """The 'connection' management operations act as, for exclusivity checks."""


OWNER = MgmtOwner()


class LazyStats(Mapping[str, Rate]):
    """A stats mapping computed on first access (snapshots are built in bulk)."""

    __slots__ = ("_compute", "_data")

    def __init__(self, compute: Callable[[], dict[str, Rate]]) -> None:
        self._compute: Callable[[], dict[str, Rate]] | None = compute
        self._data: dict[str, Rate] | None = None

    def _get(self) -> dict[str, Rate]:
        if self._data is None:
            assert self._compute is not None
            self._data = self._compute()
            self._compute = None
        return self._data

    def __getitem__(self, key: str) -> Rate:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return f"LazyStats({self._get()!r})"


def properties_key(routing_key: str, arguments: Mapping[str, Any]) -> str:
    """RabbitMQ's binding id in URLs: the quoted key, plus ``~hash`` of the arguments."""
    key = quote(routing_key, safe="")
    if not arguments:
        return key
    canon = json.dumps(jsonable(arguments), sort_keys=True, separators=(",", ":"))
    digest = hashlib.md5(canon.encode(), usedforsecurity=False).digest()[:4]
    return key + "~" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def jsonable(v: Any) -> Any:
    """An AMQP field value as JSON: tables and arrays recursively, bytes as text."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, bytes | bytearray | memoryview):
        raw = bytes(v)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode()
    if hasattr(v, "timestamp") and callable(v.timestamp):  # datetime
        return int(v.timestamp())
    if hasattr(v, "kind") and hasattr(v, "value"):  # codec Typed
        return jsonable(v.value)
    try:
        return float(v)  # Decimal
    except (TypeError, ValueError):
        return str(v)


def translate(e: AMQPError) -> AdminError:
    if e.code == Code.NOT_FOUND:
        return NotFoundError(e.text)
    if e.code in (Code.ACCESS_REFUSED, Code.NOT_ALLOWED):
        return AccessRefusedError(e.text)
    return BadRequestError(e.text)


def amqp_value(v: Any) -> Any:
    """JSON (from the API) into a value a field table can carry."""
    if isinstance(v, dict):
        return {str(k): amqp_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [amqp_value(x) for x in v]
    return v


__all__ = [
    "EMPTY",
    "OWNER",
    "PRODUCT_NAME",
    "PROTOCOL",
    "RABBITMQ_COMPAT_VERSION",
    "LazyStats",
    "MgmtCounters",
    "amqp_value",
    "jsonable",
    "properties_key",
    "translate",
]
