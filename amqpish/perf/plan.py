"""From options to a topology and the per-process client specs (pure; no I/O).

Producer ``i`` publishes to queue ``i mod queues`` (default and direct exchanges),
to every queue at once (fanout), or cycles through one routing key per binding
(topic: each key matches exactly one binding; the patterns mix ``*`` and ``#`` at
every position so the broker's topic matcher is exercised, as in the shared
harness's scenario g). Consumer ``j`` consumes queue ``j mod queues``. Clients are
dealt round-robin to ``--pub-procs`` / ``--con-procs`` worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from amqpish.perf.clients import ConsumerSpec, PublisherSpec
from amqpish.perf.options import PerfOptions

__all__ = ["Plan", "build_plan", "topic_bindings"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plan:
    queues: tuple[str, ...]
    exchange: str  # "" for the default exchange
    exchange_type: str  # "" for the default exchange
    bindings: tuple[tuple[str, str], ...]  # (queue, binding key)
    consumer_groups: tuple[tuple[ConsumerSpec, ...], ...]
    producer_groups: tuple[tuple[PublisherSpec, ...], ...]
    deliveries_per_message: int
    cap: int  # total in-flight cap (0: none)


def topic_bindings(n: int, queues: Sequence[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """``n`` topic bindings spread over ``queues`` and one key per binding that matches
    that binding only."""
    binds: list[tuple[str, str]] = []
    keys: list[str] = []
    for i in range(n):
        q = queues[i % len(queues)]
        match i % 4:
            case 0:
                binds.append((q, f"a.{i}.*"))
                keys.append(f"a.{i}.x")
            case 1:
                binds.append((q, f"b.{i}.#"))
                keys.append(f"b.{i}.x.y")
            case 2:
                binds.append((q, f"*.c{i}.z"))
                keys.append(f"q.c{i}.z")
            case _:
                binds.append((q, f"#.d{i}"))
                keys.append(f"p.q.d{i}")
    return binds, keys


def _deal(items: Sequence[T], procs: int) -> tuple[tuple[T, ...], ...]:
    if not items:
        return ()
    procs = max(1, min(procs, len(items)))
    return tuple(tuple(items[i::procs]) for i in range(procs))


def build_plan(o: PerfOptions) -> Plan:
    queues = [f"{o.prefix}.q{i}" for i in range(o.queues)]
    et = "" if o.exchange_type == "default" else o.exchange_type
    exchange = f"{o.prefix}.{et}" if et else ""
    binds: list[tuple[str, str]] = []
    shared_keys: list[str] | None = None  # the same keys for every producer
    if et == "fanout":
        binds = [(q, "") for q in queues]
        shared_keys = [""]
    elif et == "topic":
        binds, shared_keys = topic_bindings(o.bindings or len(queues), queues)
    elif et == "direct":
        binds = [(q, q) for q in queues]
    if o.routing_key is not None:
        shared_keys = [o.routing_key]
    producers = [
        PublisherSpec(
            exchange=exchange,
            keys=tuple(shared_keys if shared_keys is not None else [queues[i % len(queues)]]),
            size=o.size,
            persistent=o.persistent,
            confirm=o.confirm,
            rate=o.rate / o.producers if o.rate else 0.0,
        )
        for i in range(o.producers)
    ]
    consumers = [
        ConsumerSpec(
            queue=queues[j % len(queues)],
            tag=f"amqpish-perf-{j}",
            autoack=o.autoack,
            prefetch=o.prefetch,
            multi_ack=o.multi_ack,
        )
        for j in range(o.consumers)
    ]
    # The cap needs every message to reach a consumer eventually; otherwise it would stall.
    consumed = {c.queue for c in consumers}
    routed = set(queues) if et in ("fanout", "topic") else {p.keys[0] for p in producers}
    cap = o.max_inflight
    if not consumers or not producers or o.routing_key is not None or not routed <= consumed:
        cap = 0
    return Plan(
        queues=tuple(queues),
        exchange=exchange,
        exchange_type=et,
        bindings=tuple(binds),
        consumer_groups=_deal(consumers, o.con_procs),
        producer_groups=_deal(producers, o.pub_procs),
        deliveries_per_message=len(queues) if et == "fanout" else 1,
        cap=cap,
    )
