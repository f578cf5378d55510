"""The queue against a reference model, under random operations (hypothesis).

The queue keeps plain messages as their own entries and numbers an entry only when it
is first handed out (see queue.py); the model keeps the simplest thing that is right:
every message's publish number. Whatever mix of plain, persistent (durable log) and
TTL'd messages, gets, acks, rejects and requeues, the ready list must be exactly the
model's ready set in publish order (highest priority first in a priority queue),
redelivered flags must say whether a message was
handed out before, and the counters (messages_persistent among them) must add up.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from amqpish.broker.message import Entry, Message
from amqpish.broker.queue import Item, Queue
from amqpish.codec import BasicProperties, encode_properties
from tests.store.test_queue_paging import NullLog

PERSISTENT = b"\x10\x00\x02"  # delivery-mode 2
# a per-message TTL never reached here (time stays 0): an Entry with a deadline
TTL = encode_properties(BasicProperties(expiration="10000000"))


def number(e: Item) -> int:
    return int(e.msg.body)


class QueueOrder(RuleBasedStateMachine):
    max_priority = 0

    def __init__(self) -> None:
        super().__init__()
        args = {"x-max-priority": self.max_priority} if self.max_priority else {}
        self.q = Queue("/", "q", durable=True, log=NullLog(), arguments=args)
        self.priority: dict[int, int] = {}  # publish number -> effective priority
        self.persistent: set[int] = set()
        self.published = 0
        self.ready: set[int] = set()  # the model: publish numbers
        self.delivered_before: set[int] = set()
        self.unacked: list[Entry] = []

    @rule(
        kind=st.sampled_from(["plain", "persistent", "ttl"]),
        n=st.integers(1, 4),
        priority=st.integers(0, 4),
    )
    def publish(self, kind: str, n: int, priority: int) -> None:
        props = {"plain": b"\x00\x00", "persistent": PERSISTENT, "ttl": TTL}[kind]
        if self.max_priority and priority:
            props = encode_properties(
                BasicProperties(
                    priority=priority,
                    delivery_mode=2 if kind == "persistent" else None,
                    expiration="10000000" if kind == "ttl" else None,
                )
            )
        for _ in range(n):
            self.q.publish(Message("", "q", props, str(self.published).encode()), 0.0)
            self.ready.add(self.published)
            self.priority[self.published] = min(priority, self.max_priority)
            if kind == "persistent":
                self.persistent.add(self.published)
            self.published += 1

    def order(self, numbers: set[int]) -> list[int]:
        """Highest priority first, publish order within a priority."""
        return sorted(numbers, key=lambda n: (-self.priority[n], n))

    @precondition(lambda self: True)
    @rule(no_ack=st.booleans())
    def get(self, no_ack: bool) -> None:
        e = self.q.get(0.0, no_ack)
        if not self.ready:
            assert e is None
            return
        assert e is not None
        n = number(e)
        assert n == self.order(self.ready)[0], "not the head"
        assert e.redelivered == (n in self.delivered_before)
        self.ready.discard(n)
        self.delivered_before.add(n)
        if not no_ack:
            self.unacked.append(e)

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def ack(self, data: Any) -> None:
        e = self.unacked.pop(data.draw(st.integers(0, len(self.unacked) - 1)))
        self.q.settled(e, None)

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def reject_drop(self, data: Any) -> None:
        e = self.unacked.pop(data.draw(st.integers(0, len(self.unacked) - 1)))
        self.q.reject_dropped(e, None)

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def requeue(self, data: Any) -> None:
        picked = data.draw(st.sets(st.integers(0, len(self.unacked) - 1), min_size=1))
        back = [e for i, e in enumerate(self.unacked) if i in picked]
        self.unacked = [e for i, e in enumerate(self.unacked) if i not in picked]
        self.q.requeue(back, lambda e: None)
        self.ready.update(number(e) for e in back)

    @invariant()
    def ready_is_the_model_in_publish_order(self) -> None:
        assert [number(e) for e in self.q.ready] == self.order(self.ready)
        assert self.q.unacked_count == len(self.unacked)
        held = self.ready | {number(e) for e in self.unacked}
        assert self.q.persistent_count == len(held & self.persistent)
        assert self.q.ready_bytes == sum(len(str(n)) for n in self.ready)
        for e in self.q.ready:
            assert e.redelivered == (number(e) in self.delivered_before)


class PriorityQueueOrder(QueueOrder):
    max_priority = 3  # priorities above it count as 3, as in RabbitMQ


for machine in (QueueOrder, PriorityQueueOrder):
    machine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_queue_order_matches_the_model = QueueOrder.TestCase
test_priority_queue_order_matches_the_model = PriorityQueueOrder.TestCase
