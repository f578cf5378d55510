"""The queue: a synchronous state machine over ready and unacknowledged messages.

Ready messages sit in a deque (or one deque per priority), in publish order. A
message that is handed out gets a sequence number (``seq``, from a counter, so in
publish order), so that requeued messages go back to their original position, as
RabbitMQ's classic queues do. Only the head is ever taken, so the ready list is
always the requeued entries in seq order followed by the never-delivered ones in
publish order; the latter need no number, and a plain one is a bare ``Message``
standing for its own entry (see ``message.py``): a deep queue costs one object per
message. Delivery is pushed: whenever something may have changed (a
publish, an ack freeing prefetch, a new consumer, a requeue) ``drain`` hands ready
messages to consumers round-robin until none can take more. Handing over is a
plain call into the consumer's channel, which encodes frames into a buffer; nothing
here blocks or does I/O, and time is always passed in.

Side effects the queue cannot perform itself are queued as data for its owner
(the vhost): messages to dead-letter, publishes to reject, the wish to be deleted.
A ``schedule`` callback asks the runtime's single timer heap to call ``on_timer``
at the next deadline (head-of-queue expiry or queue expiry); the queue never owns
a task or a timer of its own.

``apply(command, now)`` is the replayable form of the mutating operations, so a
queue's command log can be applied on another node.

Paging (``paging.py``, mixed in): a queue may hold more message bytes than memory.
It keeps the bodies near its head and gives the others to the runtime's pager; a
body that is out (``PAGED_OUT``) is read back, a batch at a time, before its message
is delivered, got or dead-lettered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from amqpish.broker.consumers import Consumer
from amqpish.broker.errors import AMQPError, Code
from amqpish.broker.message import PAGED_OUT, Entry, Message
from amqpish.broker.paging import Pager, QueuePaging

DROP_HEAD = "drop-head"
REJECT_PUBLISH = "reject-publish"
REJECT_PUBLISH_DLX = "reject-publish-dlx"

Scheduler = Callable[["Queue", float], None]


# A ready-list item: an Entry, or a Message standing for its own entry.
Item = Entry | Message


class QueueLog(Protocol):
    """What a durable queue records about its persistent messages.

    Implemented over the message store by the runtime; every call only buffers a
    record (no I/O), so it is safe on the per-message path.
    """

    def enqueued(self, queue: Queue, entry: Entry) -> None:
        """``entry`` was published to ``queue`` (its order there is publish order)."""
        ...

    def delivered(self, queue: Queue, entry: Entry) -> None: ...

    def settled(self, queue: Queue, entry: Item) -> None: ...

    def deleted(self, queue: Queue) -> None: ...


def _no_schedule(queue: Queue, at: float) -> None:
    pass


class PriorityBuffer:
    """The subset of deque's interface the queue uses, over one deque per priority."""

    __slots__ = ("_len", "levels")

    def __init__(self, max_priority: int) -> None:
        self.levels: list[deque[Item]] = [deque() for _ in range(max_priority + 1)]
        self._len = 0

    def _level(self, entry: Item) -> deque[Item]:
        p = entry.msg.priority
        top = len(self.levels) - 1
        return self.levels[p if p <= top else top]

    def append(self, entry: Item) -> None:
        self._level(entry).append(entry)
        self._len += 1

    def appendleft(self, entry: Item) -> None:
        self._level(entry).appendleft(entry)
        self._len += 1

    def popleft(self) -> Item:
        for level in reversed(self.levels):
            if level:
                self._len -= 1
                return level.popleft()
        raise IndexError("pop from an empty queue")

    def pop(self) -> Item:
        for level in self.levels:
            if level:
                self._len -= 1
                return level.pop()
        raise IndexError("pop from an empty queue")

    def __getitem__(self, index: int) -> Item:
        if index != 0:
            raise IndexError(index)
        for level in reversed(self.levels):
            if level:
                return level[0]
        raise IndexError(index)

    def clear(self) -> None:
        for level in self.levels:
            level.clear()
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[Item]:
        for level in reversed(self.levels):
            yield from level

    def __reversed__(self) -> Iterator[Item]:
        for level in self.levels:
            yield from reversed(level)

    def requeue(self, entries: list[Entry]) -> None:
        by_level: dict[int, list[Entry]] = {}
        top = len(self.levels) - 1
        for e in entries:
            by_level.setdefault(min(e.msg.priority, top), []).append(e)
        for p, group in by_level.items():
            _merge_by_seq(self.levels[p], group)
        self._len += len(entries)


def _merge_by_seq(ready: deque[Item], entries: list[Entry]) -> None:
    """Put handed-out entries back at their original positions: among the requeued
    ones at the front of ready (by seq), before every never-delivered one."""
    entries.sort(key=_seq)
    head = ready[0].seq if ready else None
    if head is None or _seq(entries[-1]) < head:
        ready.extendleft(reversed(entries))
        return
    front: list[Item] = []
    while ready and ready[0].seq is not None:
        front.append(ready.popleft())
    front.extend(entries)
    front.sort(key=_seq)
    ready.extendleft(reversed(front))


def _seq(e: Item) -> int:
    s = e.seq
    assert s is not None, "only handed-out entries are numbered"
    return s


# --- commands, for replay (apply) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publish:
    msg: Message


@dataclass(frozen=True, slots=True)
class Settle:
    """Acknowledged (or rejected without requeue) by the consumer."""

    seqs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Purge:
    pass


Command = Publish | Settle | Purge


class Queue(QueuePaging):
    def __init__(
        self,
        vhost: str,
        name: str,
        *,
        durable: bool = False,
        exclusive_owner: object | None = None,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
        now: float = 0.0,
        schedule: Scheduler = _no_schedule,
        log: QueueLog | None = None,
        pager: Pager | None = None,
    ) -> None:
        self.vhost = vhost
        # durable queues record their persistent messages here (None: nothing is kept)
        self.log = log if durable else None
        self.name = name
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments: dict[str, Any] = dict(arguments or {})
        self.schedule = schedule
        self.consumers: list[Consumer] = []
        self._rr = 0
        # some consumer has x-priority: delivery prefers the highest that can take
        self.prioritized = False
        self.unacked_count = 0
        # persistent messages in the queue, ready or unacked (RabbitMQ's messages_persistent)
        self.persistent_count = 0
        self.persistent_bytes = 0
        self.ready_bytes = 0
        self.unacked_bytes = 0
        # the seq the next handed-out entry gets
        self.next_seq = 1
        # messages appended to ready so far (paging walks only those new since its last walk)
        self.appended = 0
        self.deleted = False
        self.had_consumers = False
        self.last_used = now
        self.timer_at: float | None = None
        # effects for the owner: (message, reason) to dead-letter
        self.dead_letters: list[tuple[Message, str]] = []
        self.wants_delete = False
        # counters for the management API, O(1) per message
        self.stat_publish = 0
        self.stat_deliver = 0
        self.stat_deliver_no_ack = 0
        self.stat_get = 0
        self.stat_get_no_ack = 0
        self.stat_ack = 0
        self.stat_redeliver = 0
        self.stat_get_empty = 0
        self.policy_name: str | None = None
        self.policy: dict[str, Any] = {}
        self.ready: deque[Item] | PriorityBuffer = deque()
        # paging (see paging.py); the runtime's log carries its pager
        self._init_paging(pager if pager is not None else getattr(log, "pager", None))
        self.configure(self.arguments, {})

    # --- configuration --------------------------------------------------------

    def configure(self, arguments: dict[str, Any], policy: dict[str, Any]) -> None:
        """Apply queue arguments over policy values (arguments win, as in RabbitMQ)."""
        self.policy = policy

        def pick(arg: str, pol: str) -> Any:
            if arg in arguments:
                return arguments[arg]
            return policy.get(pol)

        self.message_ttl: int | None = pick("x-message-ttl", "message-ttl")
        self.expires: int | None = pick("x-expires", "expires")
        self.max_length: int | None = pick("x-max-length", "max-length")
        self.max_length_bytes: int | None = pick("x-max-length-bytes", "max-length-bytes")
        self.overflow: str = pick("x-overflow", "overflow") or DROP_HEAD
        self.dlx: str | None = pick("x-dead-letter-exchange", "dead-letter-exchange")
        self.dlrk: str | None = pick("x-dead-letter-routing-key", "dead-letter-routing-key")
        self.single_active = bool(arguments.get("x-single-active-consumer", False))
        max_priority = arguments.get("x-max-priority")
        if max_priority and not isinstance(self.ready, PriorityBuffer):
            buf = PriorityBuffer(min(int(max_priority), 255))
            for e in self.ready:
                buf.append(e)
            self.ready = buf
        self._enforce_limits()
        self._schedule_expires()

    # --- introspection ----------------------------------------------------------

    @property
    def message_count(self) -> int:
        return len(self.ready)

    @property
    def consumer_count(self) -> int:
        return len(self.consumers)

    @property
    def active_consumer(self) -> Consumer | None:
        if self.single_active and self.consumers:
            return self.consumers[0]
        return None

    def ready_entries(self) -> Iterable[Item]:
        return iter(self.ready)

    # --- publishing -------------------------------------------------------------

    def publish(self, msg: Message, now: float) -> bool:
        """Enqueue (or hand straight to a consumer). False: refused by x-overflow."""
        if self.max_length is not None or self.max_length_bytes is not None:  # noqa: SIM102
            if self.overflow != DROP_HEAD and self._would_overflow(msg):
                if self.overflow == REJECT_PUBLISH_DLX:
                    self._dead_letter(msg, "maxlen")
                return False
        self.stat_publish += 1
        if msg.persistent:
            self.persistent_count += 1
            self.persistent_bytes += msg.size
        ttl = self.message_ttl
        mttl = msg.ttl
        if mttl is not None and (ttl is None or mttl < ttl):
            ttl = mttl
        log = self.log
        logged = log is not None and msg.persistent
        entry: Item = msg
        if ttl is not None or logged:
            entry = Entry(None, msg, None if ttl is None else now + ttl / 1000.0)
        if not self.ready and self.consumers:
            c = self._next_consumer()
            if c is not None:
                # handed straight to a no-ack consumer: done before it could be lost,
                # so nothing is written (RabbitMQ skips such writes too)
                if logged and not c.no_ack:
                    assert log is not None and isinstance(entry, Entry)
                    entry.logged = True
                    log.enqueued(self, entry)
                self._hand_over(c, entry)
                return True
        if logged:
            assert log is not None and isinstance(entry, Entry)
            entry.logged = True
            log.enqueued(self, entry)
        if ttl == 0:
            # TTL 0 means "deliver now or expire"
            self._dead_letter(msg, "expired", entry)
            return True
        self.ready.append(entry)
        self.appended += 1
        self.ready_bytes += msg.size
        exp = entry.expires_at
        if exp is not None and (self.timer_at is None or exp < self.timer_at):
            self._set_timer(exp)
        if self.max_length is not None or self.max_length_bytes is not None:
            self._enforce_limits()
        if self.ready_bytes > self.page_mark:
            self.page_out()
        return True

    def _would_overflow(self, msg: Message) -> bool:
        if self.max_length is not None and len(self.ready) >= self.max_length:
            return True
        return (
            self.max_length_bytes is not None
            and self.ready_bytes + msg.size > self.max_length_bytes
        )

    def _enforce_limits(self) -> None:
        if self.overflow != DROP_HEAD:
            return
        ready = self.ready
        max_len = self.max_length
        max_bytes = self.max_length_bytes
        while ready and (
            (max_len is not None and len(ready) > max_len)
            or (max_bytes is not None and self.ready_bytes > max_bytes)
        ):
            if self.paged_count and self.dlx is not None and ready[0].msg.body is PAGED_OUT:
                self._page_in_head()
            e = ready.popleft()
            self.ready_bytes -= e.msg.size
            self._dead_letter(e.msg, "maxlen", e)

    # --- delivery ----------------------------------------------------------------

    def _next_consumer(self) -> Consumer | None:
        consumers = self.consumers
        n = len(consumers)
        if n == 1 or (self.single_active and n):
            c = consumers[0]
            return c if c.can_take() else None
        if n == 0:
            return None
        if self.prioritized:
            return self._next_prioritized()
        i = self._rr
        for _ in range(n):
            if i >= n:
                i = 0
            c = consumers[i]
            i += 1
            if c.can_take():
                self._rr = i
                return c
        return None

    def _next_prioritized(self) -> Consumer | None:
        """The first consumer that can take, in priority order; it then moves to the
        back of its priority group, which makes equal priorities round-robin."""
        consumers = self.consumers
        for i, c in enumerate(consumers):
            if c.can_take():
                j = i + 1
                while j < len(consumers) and consumers[j].priority == c.priority:
                    j += 1
                if j - 1 > i:
                    del consumers[i]
                    consumers.insert(j - 1, c)
                return c
        return None

    def _take(self, item: Item) -> Entry:
        """The entry of an item being handed out (made for a bare message), numbered."""
        if type(item) is Message:
            entry = Entry(self.next_seq, item, None)
            self.next_seq += 1
            return entry
        assert isinstance(item, Entry)
        if item.seq is None:
            item.seq = self.next_seq
            self.next_seq += 1
        return item

    def _hand_over(self, c: Consumer, item: Item) -> None:
        if c.no_ack and type(item) is Message:
            # nothing to remember about it: it needs no entry (the common fast path)
            self.stat_deliver_no_ack += 1
            if item.persistent:
                self.persistent_count -= 1
                self.persistent_bytes -= item.size
            c.channel.deliver(c, self, item)
            return
        entry = self._take(item)
        entry.delivery_count += 1
        if entry.redelivered:
            self.stat_redeliver += 1
        log = self.log
        if entry.logged and log is not None:
            if c.no_ack:
                log.settled(self, entry)
            elif entry.delivery_count == 1:
                # so that a restart marks it redelivered
                log.delivered(self, entry)
        if c.no_ack:
            self.stat_deliver_no_ack += 1
            if entry.msg.persistent:
                self.persistent_count -= 1
                self.persistent_bytes -= entry.msg.size
        else:
            self.stat_deliver += 1
            c.unacked += 1
            self.unacked_count += 1
            self.unacked_bytes += entry.msg.size
        c.channel.deliver(c, self, entry)

    def drain(self, now: float) -> None:
        """Deliver ready messages while some consumer can take one."""
        ready = self.ready
        while ready:
            c = self._next_consumer()
            if c is None:
                return
            if self.paged_count and ready[0].msg.body is PAGED_OUT:
                self._page_in_head()
            item = ready.popleft()
            if type(item) is Message:
                self.ready_bytes -= item.size
            else:
                self.ready_bytes -= item.msg.size
                exp = item.expires_at
                if exp is not None and exp <= now:
                    self._dead_letter(item.msg, "expired", item)
                    continue
            self._hand_over(c, item)

    def get(self, now: float, no_ack: bool) -> Entry | None:
        """basic.get: the head message, or None when the queue is empty."""
        self.last_used = now
        self._schedule_expires()
        ready = self.ready
        while ready:
            if self.paged_count and ready[0].msg.body is PAGED_OUT:
                self._page_in_head()
            item = ready.popleft()
            self.ready_bytes -= item.msg.size
            exp = item.expires_at
            if exp is not None and exp <= now:
                self._dead_letter(item.msg, "expired", item)
                continue
            entry = self._take(item)
            entry.delivery_count += 1
            if entry.redelivered:
                self.stat_redeliver += 1
            if entry.logged and self.log is not None:
                if no_ack:
                    self.log.settled(self, entry)
                elif entry.delivery_count == 1:
                    self.log.delivered(self, entry)
            if no_ack:
                self.stat_get_no_ack += 1
                if entry.msg.persistent:
                    self.persistent_count -= 1
                    self.persistent_bytes -= entry.msg.size
            else:
                self.stat_get += 1
                self.unacked_count += 1
                self.unacked_bytes += entry.msg.size
            return entry
        self.stat_get_empty += 1
        return None

    # --- settlement -----------------------------------------------------------------

    def settled(self, entry: Entry, consumer: Consumer | None) -> None:
        """An unacked delivery was acknowledged."""
        self._unacked_done(entry, consumer)
        self.stat_ack += 1
        if entry.logged and self.log is not None:
            self.log.settled(self, entry)

    def _unacked_done(self, entry: Entry, consumer: Consumer | None) -> None:
        self.unacked_count -= 1
        self.unacked_bytes -= entry.msg.size
        if entry.msg.persistent:
            self.persistent_count -= 1
            self.persistent_bytes -= entry.msg.size
        if consumer is not None:
            consumer.unacked -= 1

    def reject_dropped(self, entry: Entry, consumer: Consumer | None) -> None:
        """basic.reject/nack with requeue=false: dead-letter it if configured."""
        self._unacked_done(entry, consumer)
        self._dead_letter(entry.msg, "rejected", entry)

    def requeue(
        self, entries: list[Entry], consumer_of: Callable[[Entry], Consumer | None]
    ) -> None:
        """Return unacked deliveries to their original positions, marked redelivered."""
        for e in entries:
            e.redelivered = True
            self.unacked_count -= 1
            self.unacked_bytes -= e.msg.size
            self.ready_bytes += e.msg.size
            c = consumer_of(e)
            if c is not None:
                c.unacked -= 1
        if self.deleted:
            return
        ready = self.ready
        if isinstance(ready, PriorityBuffer):
            ready.requeue(entries)
        else:
            _merge_by_seq(ready, entries)
        head = ready[0] if ready else None
        if head is not None and head.expires_at is not None:
            self._set_timer(head.expires_at)
        if self.max_length is not None or self.max_length_bytes is not None:
            # requeued messages count against the limit like any other (drop-head)
            self._enforce_limits()

    # --- consumers --------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer, now: float) -> None:
        if (self.consumers or self.single_active) and (
            consumer.exclusive or any(c.exclusive for c in self.consumers)
        ):
            raise AMQPError(
                Code.ACCESS_REFUSED,
                f"queue '{self.name}' in vhost '{self.vhost}' in exclusive use",
            )
        consumers = self.consumers
        if consumer.priority or self.prioritized:
            # kept sorted by descending priority; FIFO among equals
            self.prioritized = True
            i = len(consumers)
            while i > 0 and consumers[i - 1].priority < consumer.priority:
                i -= 1
            consumers.insert(i, consumer)
        else:
            consumers.append(consumer)
        if self.single_active:
            consumer.active = len(self.consumers) == 1
        self.had_consumers = True
        self.last_used = now

    def remove_consumer(self, consumer: Consumer, now: float) -> None:
        try:
            i = self.consumers.index(consumer)
        except ValueError:
            return
        del self.consumers[i]
        if i < self._rr:
            self._rr -= 1
        if self.single_active and self.consumers:
            self.consumers[0].active = True
        self.last_used = now
        if not self.consumers:
            if self.auto_delete and self.had_consumers:
                self.wants_delete = True
            self._schedule_expires()

    # --- housekeeping -------------------------------------------------------------------

    def purge(self) -> int:
        n = len(self.ready)
        log = self.log
        if self.persistent_count:
            gone = [e.msg.size for e in self.ready if e.msg.persistent]
            self.persistent_count -= len(gone)
            self.persistent_bytes -= sum(gone)
        if log is not None:
            for e in self.ready:
                if e.logged:
                    log.settled(self, e)
        self.ready.clear()
        self.ready_bytes = 0
        self._paged_cleared()
        return n

    def touch(self, now: float) -> None:
        """Redeclared or otherwise used: restarts the x-expires clock."""
        self.last_used = now
        self._schedule_expires()

    def _schedule_expires(self) -> None:
        if self.expires is not None and not self.consumers:
            self._set_timer(self.last_used + self.expires / 1000.0)

    def _set_timer(self, at: float) -> None:
        if self.timer_at is None or at < self.timer_at:
            self.timer_at = at
            self.schedule(self, at)

    def on_timer(self, now: float) -> None:
        """Called by the runtime's timer heap at (or after) ``timer_at``."""
        if self.timer_at is None or self.timer_at > now or self.deleted:
            return
        self.timer_at = None
        self.expire_head(now)
        if self.expires is not None and not self.consumers:
            deadline = self.last_used + self.expires / 1000.0
            if deadline <= now:
                self.wants_delete = True
                return
            self._set_timer(deadline)
        ready = self.ready
        if ready:
            exp = ready[0].expires_at
            if exp is not None:
                self._set_timer(exp)

    def expire_head(self, now: float) -> None:
        ready = self.ready
        while ready:
            head = ready[0]
            exp = head.expires_at
            if exp is None or exp > now:
                return
            if self.paged_count and self.dlx is not None and head.msg.body is PAGED_OUT:
                self._page_in_head()
            ready.popleft()
            self.ready_bytes -= head.msg.size
            self._dead_letter(head.msg, "expired", head)

    def _dead_letter(self, msg: Message, reason: str, entry: Item | None = None) -> None:
        """``entry`` leaves the queue for good (expired, dropped, rejected)."""
        if entry is not None and msg.persistent and reason != "rejected":
            # a rejected one was counted off with the other unacked ones
            self.persistent_count -= 1
            self.persistent_bytes -= msg.size
        if entry is not None and msg.body is PAGED_OUT:
            if self.dlx is not None:
                self._page_in([entry])
            else:
                self._forget_paged(entry)
        if entry is not None and entry.logged and self.log is not None:
            self.log.settled(self, entry)
        if self.dlx is not None:
            self.dead_letters.append((msg, reason))

    def delete(self) -> list[Consumer]:
        """Mark deleted; returns the consumers that must be told (basic.cancel)."""
        self.deleted = True
        if self.log is not None:
            self.log.deleted(self)
        consumers = self.consumers
        self.consumers = []
        self.ready.clear()
        self.ready_bytes = 0
        self._paged_cleared()
        return consumers

    def restore(self, entries: Iterable[Entry]) -> None:
        """Recovered messages, in order, before any client is served."""
        ready = self.ready
        for e in entries:
            ready.append(e)
            size = e.msg.size
            self.ready_bytes += size
            if e.msg.persistent:
                self.persistent_count += 1
                self.persistent_bytes += e.msg.size
            if e.msg.body is PAGED_OUT:
                self.paged_count += 1
                self.paged_bytes += size
            self.appended += 1
        # what recovery left in memory stays: only later publishes are walked
        self.page_walked = self.appended
        self._remark()
        head = ready[0] if ready else None
        if head is not None and head.expires_at is not None:
            self._set_timer(head.expires_at)

    # --- replay -------------------------------------------------------------------------

    def apply(self, command: Command, now: float) -> object:
        """Apply a logged command; the replayable subset of the operations above."""
        if isinstance(command, Publish):
            return self.publish(command.msg, now)
        if isinstance(command, Purge):
            return self.purge()
        if isinstance(command, Settle):
            wanted = set(command.seqs)
            kept = [e for e in self.ready if e.seq not in wanted]
            gone = [e.msg.size for e in self.ready if e.seq in wanted and e.msg.persistent]
            self.persistent_count -= len(gone)
            self.persistent_bytes -= sum(gone)
            still = {id(e.msg) for e in kept}
            places = {m: p for m, p in self.page_places.items() if id(m) in still}
            self.ready.clear()
            self.ready_bytes = 0
            self._paged_cleared()
            self.page_places.update(places)
            for e in kept:
                self.ready.append(e)
                self.ready_bytes += e.msg.size
                if e.msg.body is PAGED_OUT:
                    self.paged_count += 1
                    self.paged_bytes += e.msg.size
            self._remark()
            return len(wanted)
        raise TypeError(command)

    def __repr__(self) -> str:
        return f"<Queue {self.vhost!r}/{self.name!r} ready={len(self.ready)}>"
