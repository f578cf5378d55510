"""Dead-lettering bookkeeping, as RabbitMQ 3.10-3.12 writes it (rabbit_dead_letter.erl).

When a message dies in a queue that has a dead-letter exchange, RabbitMQ republishes
a copy whose headers record the death; these pure functions compute those headers
and decide whether delivering the copy to a queue would be a cycle. The caller owns
everything else: the expiration property is removed from the copy (its value is
kept here as ``original-expiration``), and the copy is routed through the DLX with
the queue's ``x-dead-letter-routing-key`` when it has one, else with the message's
own routing keys.

``x-death`` is a list of tables, one per (queue, reason), most recent first::

    count, reason, queue, time, exchange, routing-keys[, original-expiration]

A death in a (queue, reason) already recorded increments that table's count and
moves it to the front; its other fields keep their first values. Two details of
RabbitMQ's code are reproduced because clients can see them:

* An updated or added table has its fields sorted by name; only the very first
  table (when the message had no ``x-death``) keeps the order above.
* When the list already holds two or more tables, RabbitMQ regroups it (merging
  duplicates written by versions before 3.5) with a fold that reverses it, so the
  older tables come out in reverse order behind the front one.

``x-first-death-reason``, ``-queue`` and ``-exchange`` are written when the message
had no ``x-death`` header yet. A ``BCC`` header never survives (RabbitMQ strips it
at publish), and ``CC`` is dropped when the queue's dead-letter routing key replaces
the message's routing keys. RabbitMQ sorts the whole headers table whenever it sets
a header, so the returned dict is in key order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

REASONS: Final = ("rejected", "expired", "maxlen", "delivery_limit")


class _Missing:
    __slots__ = ()


_MISSING: Final = _Missing()


def _text(value: Any) -> Any:
    # longstr values may reach us as bytes; RabbitMQ compares the binaries
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return value


def dead_letter_routing_keys(routing_key: str, headers: Mapping[str, Any] | None) -> list[str]:
    """The routing keys recorded in ``x-death``: the message's routing key, then its CC.

    BCC keys are left out (RabbitMQ never stores BCC), and so are CC entries that
    are not strings, which RabbitMQ skips as well.
    """
    keys = [routing_key]
    if headers:
        cc = headers.get("CC")
        if isinstance(cc, list | tuple):
            keys.extend(_text(k) for k in cc if isinstance(k, str | bytes | bytearray))
    return keys


def dead_letter_headers(
    headers: Mapping[str, Any] | None,
    *,
    reason: str,
    queue: str,
    exchange: str,
    routing_keys: list[str],
    now_s: int,
    original_expiration: str | None,
    dead_letter_routing_key: str | None = None,
) -> dict[str, Any]:
    """The headers of the copy of a message that died in ``queue`` for ``reason``.

    ``exchange`` is the exchange the message was last published to (a DLX for a
    message dead-lettered before), ``routing_keys`` what ``dead_letter_routing_keys``
    returns for it, and ``original_expiration`` its per-message expiration property.
    ``dead_letter_routing_key`` is the queue's ``x-dead-letter-routing-key``: when set,
    the ``CC`` header is removed. ``headers`` is not modified.
    """
    out: dict[str, Any] = dict(headers) if headers else {}
    out.pop("BCC", None)
    info: dict[str, Any] = {
        "reason": reason,
        "queue": queue,
        "time": datetime.fromtimestamp(now_s, UTC),
        "exchange": exchange,
        "routing-keys": list(routing_keys),
    }
    if original_expiration is not None:
        info["original-expiration"] = original_expiration
    deaths = out.get("x-death", _MISSING)
    if deaths is _MISSING:
        out["x-first-death-reason"] = reason
        out["x-first-death-queue"] = queue
        out["x-first-death-exchange"] = exchange
        out["x-death"] = [{"count": 1, **info}]
    elif isinstance(deaths, list | tuple):
        out["x-death"] = _record(deaths, info, queue, reason)
    else:
        # a client re-published the message with x-death mangled: start again
        out["x-death"] = [{"count": 1, **info}]
    if dead_letter_routing_key is not None:
        out.pop("CC", None)
    return dict(sorted(out.items()))


def _record(deaths: Sequence[Any], info: dict[str, Any], queue: str, reason: str) -> list[Any]:
    tables = [d for d in deaths if isinstance(d, Mapping)]
    # RabbitMQ would crash on anything else in the list; keeping it is kinder
    junk = [d for d in deaths if not isinstance(d, Mapping)]
    grouped = _group_by_queue_and_reason(tables)
    match: Mapping[str, Any] | None = None
    others: list[Any] = []
    for table in grouped:
        if match is None and _key(table) == (queue, reason):
            match = table
        else:
            others.append(table)
    if match is None:
        front = {"count": 1, **info}
    else:
        front = dict(match)
        count = front.get("count")
        front["count"] = count + 1 if isinstance(count, int) and not isinstance(count, bool) else 1
    return [dict(sorted(front.items())), *others, *junk]


def _key(table: Mapping[str, Any]) -> tuple[Any, Any]:
    return _text(table.get("queue")), _text(table.get("reason"))


def _group_by_queue_and_reason(tables: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One table per (queue, reason), in RabbitMQ's (reversed) order.

    The first table of each group is kept; if it has no count it gets the group's
    size. RabbitMQ builds the result by prepending, so it comes out reversed.
    """
    if len(tables) < 2:
        return list(tables)
    sizes: dict[tuple[Any, Any], int] = {}
    firsts: dict[tuple[Any, Any], Mapping[str, Any]] = {}
    for table in tables:
        key = _key(table)
        sizes[key] = sizes.get(key, 0) + 1
        firsts.setdefault(key, table)
    grouped: list[Mapping[str, Any]] = []
    for key, table in firsts.items():
        if "count" not in table:
            table = {"count": sizes[key], **table}
        grouped.append(table)
    grouped.reverse()
    return grouped


def is_cycle(headers: Mapping[str, Any] | None, target_queue: str, reason: str) -> bool:
    """Whether delivering a dead-lettered copy to ``target_queue`` must be dropped.

    ``headers`` are the copy's headers, i.e. what ``dead_letter_headers`` returned
    (they already record the current death), and ``reason`` is the current death's.
    As rabbit_dead_letter:detect_cycles: a death by rejection is never a cycle.
    Otherwise, take the ``x-death`` tables from the newest up to and including the
    newest one for ``target_queue``; if there is none, there is no cycle. The
    message is dropped only if none of those tables has reason "rejected" (the loop
    is "fully automatic", so it would go round forever); a client's reject anywhere
    in the loop lets it through. Entries that are not tables count as a reject,
    since only a client can have put them there.
    """
    if reason == "rejected" or not headers:
        return False
    deaths = headers.get("x-death")
    if not isinstance(deaths, list | tuple):
        return False
    for i, death in enumerate(deaths):
        if isinstance(death, Mapping) and _text(death.get("queue")) == target_queue:
            return all(
                isinstance(d, Mapping) and _text(d.get("reason")) != "rejected"
                for d in deaths[: i + 1]
            )
    return False
