"""Definitions in RabbitMQ's format: export (whole broker or one vhost) and import.

Export leaves out what RabbitMQ leaves out: exclusive queues, the default exchange and
the ``amq.*`` ones. Import validates the shape of every list before changing anything,
then applies users, vhosts, permissions, policies, exchanges, queues and bindings in
that order through the same operations the API uses, so a bad item is a 400 with a
reason naming it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from amqpish import __version__
from amqpish.admin import BadRequestError, NotFoundError
from amqpish.broker.auth import HASHING_ALGORITHM
from amqpish.broker.errors import AMQPError
from amqpish.broker.exchange import Exchange
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import Binding, VHost
from amqpish.server.view.convert import (
    OWNER,
    PRODUCT_NAME,
    RABBITMQ_COMPAT_VERSION,
    amqp_value,
    jsonable,
)

if TYPE_CHECKING:
    from amqpish.server.view import ServerView

_STANDARD_EXCHANGE_PREFIX = "amq."


def _entry(head: tuple[str, str], vhost: str | None, rest: dict[str, Any]) -> dict[str, Any]:
    """An export entry: its name field, then ``vhost`` (left out in a one-vhost export),
    then the rest, in RabbitMQ's order."""
    d: dict[str, Any] = {head[0]: head[1]}
    if vhost is not None:
        d["vhost"] = vhost
    d.update(rest)
    return d


def queue_definition(q: Queue, vhost: str | None) -> dict[str, Any]:
    """One queue as an export lists it (``vhost``: None in a one-vhost export)."""
    return _entry(
        ("name", q.name),
        vhost,
        {"durable": q.durable, "auto_delete": q.auto_delete, "arguments": jsonable(q.arguments)},
    )


def exchange_definition(ex: Exchange, vhost: str | None) -> dict[str, Any]:
    return _entry(
        ("name", ex.name),
        vhost,
        {
            "type": ex.type,
            "durable": ex.durable,
            "auto_delete": ex.auto_delete,
            "internal": ex.internal,
            "arguments": jsonable(ex.arguments),
        },
    )


def binding_definition(b: Binding, vhost: str | None) -> dict[str, Any]:
    return _entry(
        ("source", b.source),
        vhost,
        {
            "destination": b.destination,
            "destination_type": b.destination_type,
            "routing_key": b.routing_key,
            "arguments": jsonable(b.arguments),
        },
    )


def export_definitions(
    view: ServerView, vhost: str | None, *, objects: bool = True
) -> dict[str, Any]:
    """``objects=False``: without queues, exchanges and bindings (the small part)."""
    broker = view.broker
    vhosts = view._vhosts_of(vhost)
    if vhost is not None and not vhosts:
        raise NotFoundError(f"no vhost '{vhost}'")
    with_vhost = vhost is None

    queues: list[dict[str, Any]] = []
    exchanges: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    policies: list[dict[str, Any]] = []
    for vh in vhosts:
        tag_vh = vh.name if with_vhost else None
        for q in vh.queues.values() if objects else ():
            if q.exclusive_owner is not None:
                continue
            queues.append(queue_definition(q, tag_vh))
        for ex in vh.exchanges.values() if objects else ():
            if ex.name == "" or ex.name.startswith(_STANDARD_EXCHANGE_PREFIX):
                continue
            exchanges.append(exchange_definition(ex, tag_vh))
        for b in vh.bindings.values() if objects else ():
            bindings.append(binding_definition(b, tag_vh))
        for p in view.policies(vh.name):
            policies.append(
                {
                    "vhost": p.vhost,
                    "name": p.name,
                    "pattern": p.pattern,
                    "apply-to": p.apply_to,
                    "definition": jsonable(p.definition),
                    "priority": p.priority,
                }
            )
    out: dict[str, Any] = {"rabbit_version": RABBITMQ_COMPAT_VERSION}
    if with_vhost:
        out.update(
            {
                "rabbitmq_version": RABBITMQ_COMPAT_VERSION,
                "product_name": PRODUCT_NAME,
                "product_version": __version__,
                "users": [
                    {
                        "name": u.name,
                        "password_hash": u.password_hash,
                        "hashing_algorithm": HASHING_ALGORITHM,
                        "tags": list(u.tags),
                        "limits": {},
                    }
                    for u in broker.users.users.values()
                ],
                "vhosts": [{"name": vh.name} for vh in broker.vhosts.values()],
                "permissions": [
                    {
                        "user": p.user,
                        "vhost": p.vhost,
                        "configure": p.configure,
                        "write": p.write,
                        "read": p.read,
                    }
                    for p in view.permissions()
                ],
                "topic_permissions": [],
                "parameters": [],
                "global_parameters": [{"name": "cluster_name", "value": view.cluster_name()}],
            }
        )
    else:
        out["parameters"] = []
    out["policies"] = policies
    out["queues"] = queues
    out["exchanges"] = exchanges
    out["bindings"] = bindings
    return out


def _items(defs: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = defs.get(key, [])
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadRequestError(f"'{key}' must be a list of objects")
    return items


def _need(item: Mapping[str, Any], key: str, what: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in item:
        raise BadRequestError(f"{what} definition is missing '{key}': {json.dumps(item)[:200]}")
    v = item[key]
    if not isinstance(v, kind):
        raise BadRequestError(f"{what} definition has an invalid '{key}': {json.dumps(item)[:200]}")
    return v


def _flag(item: Mapping[str, Any], key: str, default: bool = False) -> bool:
    v = item.get(key, default)
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    if not isinstance(v, bool):
        raise BadRequestError(f"'{key}' must be a boolean, got {v!r}")
    return v


def _args(item: Mapping[str, Any]) -> dict[str, Any]:
    a = item.get("arguments") or {}
    if not isinstance(a, dict):
        raise BadRequestError(f"'arguments' must be an object, got {a!r}")
    out: dict[str, Any] = amqp_value(a)
    return out


def import_definitions(view: ServerView, defs: Mapping[str, Any], vhost: str | None) -> None:
    if not isinstance(defs, Mapping):
        raise BadRequestError("definitions must be a JSON object")
    broker = view.broker
    if vhost is not None:
        view._vhost(vhost)
    # Validate the shape of everything before changing anything.
    lists = {
        k: _items(defs, k)
        for k in ("users", "vhosts", "permissions", "policies", "exchanges", "queues", "bindings")
    }
    if vhost is not None:
        for k in ("users", "vhosts", "permissions"):
            lists[k] = []

    def vh_of(item: Mapping[str, Any], what: str) -> VHost:
        name = vhost if vhost is not None else _need(item, "vhost", what)
        vh = broker.vhosts.get(name)
        if vh is None:
            raise BadRequestError(f"{what} refers to vhost '{name}' that does not exist")
        return vh

    for u in lists["users"]:
        name = _need(u, "name", "user")
        tags = u.get("tags", [])
        tag_list = tags.split(",") if isinstance(tags, str) else list(tags or [])
        if "password_hash" in u:
            view.put_user(name, password=None, password_hash=str(u["password_hash"]), tags=tag_list)
        else:
            view.put_user(name, password=u.get("password"), password_hash=None, tags=tag_list)
    for v in lists["vhosts"]:
        meta = v.get("metadata") if isinstance(v.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        view.put_vhost(
            _need(v, "name", "vhost"),
            description=str(v.get("description", meta.get("description", ""))),
            tags=[str(t) for t in (v.get("tags") or meta.get("tags") or []) if isinstance(t, str)],
        )
    for p in lists["permissions"]:
        view.set_permissions(
            _need(p, "user", "permission"),
            _need(p, "vhost", "permission"),
            configure=_need(p, "configure", "permission"),
            write=_need(p, "write", "permission"),
            read=_need(p, "read", "permission"),
        )
    for p in lists["policies"]:
        vh = vh_of(p, "policy")
        prio = p.get("priority", 0)
        try:
            prio = int(prio)
        except (TypeError, ValueError):
            raise BadRequestError(f"invalid policy priority {prio!r}") from None
        view.put_policy(
            vh.name,
            _need(p, "name", "policy"),
            pattern=_need(p, "pattern", "policy"),
            definition=_need(p, "definition", "policy", dict),
            priority=prio,
            apply_to=str(p.get("apply-to", "all")),
        )
    now = time.time()
    for e in lists["exchanges"]:
        vh = vh_of(e, "exchange")
        try:
            vh.declare_exchange(
                _need(e, "name", "exchange"),
                _need(e, "type", "exchange"),
                durable=_flag(e, "durable", True),
                auto_delete=_flag(e, "auto_delete"),
                internal=_flag(e, "internal"),
                arguments=_args(e),
            )
        except AMQPError as err:
            raise BadRequestError(err.text) from None
        view._hooks().definitions_changed(vh)
    for q in lists["queues"]:
        vh = vh_of(q, "queue")
        try:
            vh.declare_queue(
                _need(q, "name", "queue"),
                owner=OWNER,
                now=now,
                durable=_flag(q, "durable", True),
                auto_delete=_flag(q, "auto_delete"),
                arguments=_args(q),
            )
        except AMQPError as err:
            raise BadRequestError(err.text) from None
        view._hooks().definitions_changed(vh)
    for b in lists["bindings"]:
        vh = vh_of(b, "binding")
        dtype = _need(b, "destination_type", "binding")
        if dtype not in ("queue", "exchange"):
            raise BadRequestError(f"invalid destination_type '{dtype}'")
        try:
            vh.bind(
                _need(b, "source", "binding"),
                _need(b, "destination", "binding"),
                dtype,
                str(b.get("routing_key", "")),
                _args(b),
                owner=OWNER,
            )
        except AMQPError as err:
            raise BadRequestError(err.text) from None
        view._hooks().definitions_changed(vh)
    for g in _items(defs, "global_parameters") if vhost is None else []:
        if g.get("name") == "cluster_name" and isinstance(g.get("value"), str) and g["value"]:
            view.set_cluster_name(g["value"])


__all__ = ["export_definitions", "import_definitions"]
