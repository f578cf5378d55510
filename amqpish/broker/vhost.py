"""A virtual host: exchanges, queues and the bindings between them.

Declarations follow RabbitMQ's rules: the ``amq.`` prefix is reserved (403), a
passive declare of something missing is 404, a redeclare that differs is 406 with
RabbitMQ's "inequivalent arg" text, and exclusive queues belong to one connection
(405 for anybody else). Bindings live in one registry indexed by source and by
destination so that deleting either side removes them in time proportional to its
own bindings.

Dead-lettering is a loop over a work list, never recursion: a message that dies in
a queue is routed through the dead-letter exchange, and whatever dies on arrival
(overflow, TTL 0) is appended to the same list.
"""

from __future__ import annotations

import base64
import os
from collections import deque
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from amqpish.broker import args as qargs
from amqpish.broker.dead_letter import (
    dead_letter_headers,
    dead_letter_routing_keys,
    is_cycle,
)
from amqpish.broker.errors import AMQPError, Code, not_found, precondition, resource_locked
from amqpish.broker.exchange import Exchange, route
from amqpish.broker.message import Message
from amqpish.broker.queue import Queue, QueueLog, Scheduler, _no_schedule
from amqpish.codec import BasicProperties, encode_properties

STANDARD_EXCHANGES = (
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.topic", "topic"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
    ("amq.rabbitmq.trace", "topic"),
)
EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")


def args_key(args: Mapping[str, Any]) -> Hashable:
    """A hashable, order-independent form of a binding's arguments."""
    if not args:
        return ()
    return tuple(sorted((k, _freeze(v)) for k, v in args.items()))


def _freeze(v: Any) -> Hashable:
    if isinstance(v, Mapping):
        return ("F", args_key(v))
    if isinstance(v, list | tuple):
        return ("A", tuple(_freeze(x) for x in v))
    if isinstance(v, bool):
        return ("t", v)
    return (type(v).__name__, v)


@dataclass(frozen=True, slots=True)
class Binding:
    source: str
    destination: str
    destination_type: str  # "queue" or "exchange"
    routing_key: str
    arguments: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str, str, Hashable]:
        return (
            self.source,
            self.destination_type,
            self.destination,
            self.routing_key,
            args_key(self.arguments),
        )


class _DefaultRouter:
    """The default exchange: every queue is bound by its own name."""

    def __init__(self, queues: dict[str, Queue]) -> None:
        self.queues = queues

    def bind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        pass

    def unbind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        pass

    def route(self, routing_key: str, headers: Mapping[str, Any] | None) -> Collection[Hashable]:
        q = self.queues.get(routing_key)
        return (q,) if q is not None else ()

    def remove_destination(self, dest: Hashable) -> None:
        pass


def _inequivalent(what: str, name: str, vhost: str, arg: str, got: Any, cur: Any) -> AMQPError:
    return precondition(
        f"inequivalent arg '{arg}' for {what} '{name}' in vhost '{vhost}': "
        f"received {qargs.bare_value(got)} but current is {qargs.bare_value(cur)}"
    )


def generate_queue_name() -> str:
    return "amq.gen-" + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


class VHost:
    def __init__(
        self, name: str, *, schedule: Scheduler = _no_schedule, queue_log: QueueLog | None = None
    ) -> None:
        self.name = name
        self.schedule = schedule
        self.queue_log = queue_log
        # shown by the management API, as RabbitMQ's vhost metadata
        self.description = ""
        self.tags: list[str] = []
        self.tracing = False
        self.queues: dict[str, Queue] = {}
        self.exchanges: dict[str, Exchange] = {}
        self.bindings: dict[tuple[str, str, str, str, Hashable], Binding] = {}
        self._by_source: dict[str, set[tuple[str, str, str, str, Hashable]]] = {}
        self._by_dest: dict[tuple[str, str], set[tuple[str, str, str, str, Hashable]]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        # Definitions kept across restarts that changed since the runtime last looked
        # (it journals them, see store/journal.py): ("q"|"x", name) -> None, and
        # ("b", key) -> the binding. Only with a durable runtime (a queue log).
        self.dirty: dict[tuple[str, Any], Binding | None] | None = (
            {} if queue_log is not None else None
        )
        # keys of the bindings that are kept (both ends durable), so that removing
        # one of the others (an exclusive queue's, say) is not journalled
        self.kept_bindings: set[tuple[str, str, str, str, Hashable]] = set()
        self.stat_unroutable = 0
        self.stat_dropped_unroutable = 0
        default = Exchange(name, "", "direct", durable=True)
        default.router = _DefaultRouter(self.queues)
        self.exchanges[""] = default
        for ex_name, ex_type in STANDARD_EXCHANGES:
            self.exchanges[ex_name] = Exchange(
                name, ex_name, ex_type, durable=True, internal=ex_name == "amq.rabbitmq.trace"
            )

    # --- exchanges ------------------------------------------------------------------

    def declare_exchange(
        self,
        name: str,
        type_: str,
        *,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> Exchange:
        if name == "":
            raise AMQPError(Code.ACCESS_REFUSED, "operation not permitted on the default exchange")
        ex = self.exchanges.get(name)
        if passive:
            if ex is None:
                raise not_found("exchange", name, self.name)
            return ex
        if name.startswith("amq.") and ex is None:
            raise AMQPError(
                Code.ACCESS_REFUSED, f"exchange name '{name}' contains reserved prefix 'amq.*'"
            )
        if type_ not in EXCHANGE_TYPES:
            # RabbitMQ says "invalid" when the name is a known atom (a case variant of a
            # real type, in practice) and "unknown" otherwise
            word = "invalid" if type_.lower() in EXCHANGE_TYPES else "unknown"
            raise AMQPError(Code.COMMAND_INVALID, f"{word} exchange type '{type_}'")
        args = arguments or {}
        if ex is not None:
            what = "exchange"
            if ex.type != type_:
                raise _inequivalent(what, name, self.name, "type", type_, ex.type)
            if ex.durable != durable:
                raise _inequivalent(what, name, self.name, "durable", durable, ex.durable)
            if ex.auto_delete != auto_delete:
                raise _inequivalent(
                    what, name, self.name, "auto_delete", auto_delete, ex.auto_delete
                )
            if ex.internal != internal:
                raise _inequivalent(what, name, self.name, "internal", internal, ex.internal)
            try:
                qargs.check_exchange_args_equivalence(ex.arguments, args, name, self.name)
            except qargs.ArgumentError as e:
                raise precondition(str(e)) from None
            return ex
        try:
            qargs.validate_exchange_args(args, name, self.name)
        except qargs.ArgumentError as e:
            raise precondition(str(e)) from None
        ex = Exchange(
            self.name,
            name,
            type_,
            durable=durable,
            auto_delete=auto_delete,
            internal=internal,
            arguments=args,
        )
        self.exchanges[name] = ex
        self.apply_exchange_policy(ex)
        if durable and self.dirty is not None:
            self.dirty["x", name] = None
        return ex

    def delete_exchange(self, name: str, *, if_unused: bool = False) -> None:
        if name == "":
            raise AMQPError(Code.ACCESS_REFUSED, "operation not permitted on the default exchange")
        if name.startswith("amq."):
            raise AMQPError(
                Code.ACCESS_REFUSED,
                f"deletion of system exchange '{name}' in vhost '{self.name}' not allowed",
            )
        ex = self.exchanges.get(name)
        if ex is None:
            return
        if if_unused and self._by_source.get(name):
            raise precondition(f"exchange '{name}' in vhost '{self.name}' in use")
        for key in list(self._by_source.get(name, ())):
            self._remove_binding(key)
        for key in list(self._by_dest.get(("exchange", name), ())):
            self._remove_binding(key)
        del self.exchanges[name]
        ex.deleted = True
        if ex.durable and self.dirty is not None:
            self.dirty["x", name] = None

    def lookup_exchange(self, name: str) -> Exchange | None:
        return self.exchanges.get(name)

    def get_exchange(self, name: str) -> Exchange:
        ex = self.exchanges.get(name)
        if ex is None:
            raise not_found("exchange", name, self.name)
        return ex

    # --- queues ------------------------------------------------------------------------

    def declare_queue(
        self,
        name: str,
        *,
        owner: object,
        now: float,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> tuple[Queue, bool]:
        """Returns the queue and whether it was created."""
        q = self.queues.get(name) if name else None
        if passive:
            if q is None:
                raise not_found("queue", name, self.name)
            self._check_exclusive(q, owner)
            q.touch(now)
            return q, False
        if q is not None:
            self._check_exclusive(q, owner)
            if (q.exclusive_owner is not None) != exclusive:
                raise resource_locked(name, self.name)
            if q.durable != durable:
                raise _inequivalent("queue", name, self.name, "durable", durable, q.durable)
            if q.auto_delete != auto_delete:
                raise _inequivalent(
                    "queue", name, self.name, "auto_delete", auto_delete, q.auto_delete
                )
            args = arguments or {}
            try:
                qargs.check_queue_args_equivalence(q.arguments, args, name, self.name)
            except qargs.ArgumentError as e:
                raise precondition(str(e)) from None
            q.touch(now)
            return q, False
        if not name:
            name = generate_queue_name()
        elif name.startswith("amq."):
            raise AMQPError(
                Code.ACCESS_REFUSED, f"queue name '{name}' contains reserved prefix 'amq.*'"
            )
        args = dict(arguments or {})
        try:
            qargs.validate_queue_args(args, name, self.name)
        except qargs.ArgumentError as e:
            raise precondition(str(e)) from None
        q = Queue(
            self.name,
            name,
            durable=durable,
            exclusive_owner=owner if exclusive else None,
            auto_delete=auto_delete,
            arguments=args,
            now=now,
            schedule=self.schedule,
            log=self.queue_log,
        )
        self.queues[name] = q
        self.apply_policy(q)
        if durable and not exclusive and self.dirty is not None:
            self.dirty["q", name] = None
        return q, True

    def _check_exclusive(self, q: Queue, owner: object) -> None:
        if q.exclusive_owner is not None and q.exclusive_owner is not owner:
            raise resource_locked(q.name, self.name)

    def get_queue(self, name: str, owner: object) -> Queue:
        q = self.queues.get(name)
        if q is None:
            raise not_found("queue", name, self.name)
        self._check_exclusive(q, owner)
        return q

    def delete_queue(
        self, name: str, *, owner: object, if_unused: bool = False, if_empty: bool = False
    ) -> tuple[int, list[Any]]:
        """Returns (messages deleted, consumers to notify)."""
        q = self.queues.get(name)
        if q is None:
            return 0, []
        self._check_exclusive(q, owner)
        if if_unused and q.consumers:
            raise precondition(f"queue '{name}' in vhost '{self.name}' in use")
        if if_empty and q.message_count:
            raise precondition(f"queue '{name}' in vhost '{self.name}' not empty")
        return self.remove_queue(q)

    def remove_queue(self, q: Queue) -> tuple[int, list[Any]]:
        n = q.message_count
        if self.queues.get(q.name) is q:
            del self.queues[q.name]
        for key in list(self._by_dest.get(("queue", q.name), ())):
            self._remove_binding(key)
        if q.durable and q.exclusive_owner is None and self.dirty is not None:
            self.dirty["q", q.name] = None
        return n, q.delete()

    # --- bindings -----------------------------------------------------------------------

    def bind(
        self,
        source: str,
        destination: str,
        destination_type: str,
        routing_key: str,
        arguments: dict[str, Any] | None,
        *,
        owner: object,
    ) -> None:
        if source == "" or (destination_type == "exchange" and destination == ""):
            raise AMQPError(Code.ACCESS_REFUSED, "operation not permitted on the default exchange")
        # the source is looked up first: RabbitMQ names it when both ends are missing
        src = self.get_exchange(source)
        if destination_type == "queue":
            dest: Queue | Exchange = self.get_queue(destination, owner)
        else:
            dest = self.get_exchange(destination)
        b = Binding(source, destination, destination_type, routing_key, dict(arguments or {}))
        key = b.key
        if key in self.bindings:
            return
        try:
            src.bind(dest, routing_key, b.arguments)
        except ValueError as e:
            raise precondition(str(e)) from None
        if destination_type == "exchange":
            src.e2e_dests += 1
        self.bindings[key] = b
        if src.durable and dest.durable and getattr(dest, "exclusive_owner", None) is None:
            self.kept_bindings.add(key)
            if self.dirty is not None:
                self.dirty["b", key] = b
        self._by_source.setdefault(source, set()).add(key)
        self._by_dest.setdefault((destination_type, destination), set()).add(key)

    def unbind(
        self,
        source: str,
        destination: str,
        destination_type: str,
        routing_key: str,
        arguments: dict[str, Any] | None,
        *,
        owner: object,
    ) -> None:
        # RabbitMQ 3.x answers unbind-ok whatever is missing, even for another
        # connection's exclusive queue: there is nothing to unbind.
        if source == "":
            raise AMQPError(Code.ACCESS_REFUSED, "operation not permitted on the default exchange")
        key = Binding(source, destination, destination_type, routing_key, arguments or {}).key
        if key in self.bindings:
            self._remove_binding(key)

    def _remove_binding(self, key: tuple[str, str, str, str, Hashable]) -> None:
        b = self.bindings.pop(key)
        if key in self.kept_bindings:
            self.kept_bindings.discard(key)
            if self.dirty is not None:
                self.dirty["b", key] = b
        src = self.exchanges.get(b.source)
        dest: Queue | Exchange | None = (
            self.queues.get(b.destination)
            if b.destination_type == "queue"
            else self.exchanges.get(b.destination)
        )
        if src is not None and dest is not None:
            src.unbind(dest, b.routing_key, b.arguments)
            if b.destination_type == "exchange":
                src.e2e_dests -= 1
        s = self._by_source.get(b.source)
        if s is not None:
            s.discard(key)
            if not s:
                del self._by_source[b.source]
        d = self._by_dest.get((b.destination_type, b.destination))
        if d is not None:
            d.discard(key)
            if not d:
                del self._by_dest[(b.destination_type, b.destination)]
        if src is not None and src.auto_delete and b.source not in self._by_source:
            self.delete_exchange(src.name)

    def bindings_from(self, source: str) -> Iterable[Binding]:
        return (self.bindings[k] for k in self._by_source.get(source, ()))

    def bindings_to(self, destination_type: str, destination: str) -> Iterable[Binding]:
        return (self.bindings[k] for k in self._by_dest.get((destination_type, destination), ()))

    # --- routing ---------------------------------------------------------------------------

    def route(
        self, exchange: Exchange, msg: Message, routing_key: str | None = None
    ) -> Collection[Queue]:
        """``routing_key``: the str form when the caller has it (publishers cache it)."""
        rk = msg.routing_key if routing_key is None else routing_key
        return route(exchange, rk, msg.headers, self.exchanges.get)

    def dead_letter(self, queue: Queue, now: float) -> None:
        """Route what ``queue`` dead-lettered (and what dies on the way) to its DLXs."""
        work: deque[tuple[Queue, Message, str]] = deque(
            (queue, m, r) for m, r in queue.dead_letters
        )
        queue.dead_letters.clear()
        while work:
            q, msg, reason = work.popleft()
            dlx = self.exchanges.get(q.dlx) if q.dlx is not None else None
            if dlx is None:
                continue
            old_headers = msg.headers
            props = msg.props
            headers = dead_letter_headers(
                old_headers,
                reason=reason,
                queue=q.name,
                exchange=msg.exchange,
                routing_keys=dead_letter_routing_keys(msg.routing_key, old_headers),
                now_s=int(now),
                original_expiration=props.expiration,
                dead_letter_routing_key=q.dlrk,
            )
            new_props = _copy_props(props, headers)
            rk = q.dlrk if q.dlrk is not None else msg.routing_key
            new = Message(dlx.name, rk, encode_properties(new_props), msg.body, 0, new_props)
            if q.dlrk is not None:
                targets = route(dlx, rk, _without_cc(headers), self.exchanges.get)
            else:
                targets = route(dlx, rk, headers, self.exchanges.get)
            for t in targets:
                if is_cycle(headers, t.name, reason):
                    continue
                t.publish(new, now)
                if t.dead_letters:
                    work.extend((t, m, r) for m, r in t.dead_letters)
                    t.dead_letters.clear()

    # --- policies ----------------------------------------------------------------------

    def apply_policy(self, q: Queue) -> None:
        from amqpish.broker.policy import match_policy

        pol = match_policy(self.policies.values(), q.name, "queues")
        q.policy_name = pol.get("name") if pol else None
        q.configure(q.arguments, pol.get("definition", {}) if pol else {})

    def apply_exchange_policy(self, ex: Exchange) -> None:
        from amqpish.broker.policy import match_policy

        if ex.name == "" or ex.name.startswith("amq."):
            return
        alt = ex.arguments.get("alternate-exchange")
        if not isinstance(alt, str):
            pol = match_policy(self.policies.values(), ex.name, "exchanges")
            alt = pol.get("definition", {}).get("alternate-exchange") if pol else None
        ex.alternate = alt if isinstance(alt, str) else None

    def apply_policies(self) -> None:
        for q in self.queues.values():
            self.apply_policy(q)
        for ex in self.exchanges.values():
            self.apply_exchange_policy(ex)


def _without_cc(headers: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in headers.items() if k not in ("CC", "BCC")}


def _copy_props(p: BasicProperties, headers: dict[str, Any]) -> BasicProperties:
    # The per-message expiration is removed (it is recorded in x-death), as RabbitMQ does.
    return BasicProperties(
        content_type=p.content_type,
        content_encoding=p.content_encoding,
        headers=headers,
        delivery_mode=p.delivery_mode,
        priority=p.priority,
        correlation_id=p.correlation_id,
        reply_to=p.reply_to,
        expiration=None,
        message_id=p.message_id,
        timestamp=p.timestamp,
        type=p.type,
        user_id=p.user_id,
        app_id=p.app_id,
        cluster_id=p.cluster_id,
    )
