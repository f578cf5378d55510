"""Queue paging, driven directly with a fake pager: which bodies go out, when they come
back, and that every delivery, get and dead-letter sees the real body, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from amqpish.broker.consumers import ChannelCredit, Consumer
from amqpish.broker.message import PAGED_OUT, Entry, Message
from amqpish.broker.paging import NO_LIMIT
from amqpish.broker.queue import Item, Queue

SIZE = 100


class FakePager:
    """Keeps paged-out bodies in a dict; refuses the messages numbered (see ``num``)
    in ``not_on_disk``."""

    def __init__(self, limit: int = NO_LIMIT) -> None:
        self.limit = limit
        self.out: dict[int, bytes] = {}
        self.not_on_disk: set[int] = set()
        self.num: dict[Message, int] = {}
        self.page_outs = 0
        self.page_ins: list[int] = []  # batch sizes

    def page_out(self, entries: Sequence[Item]) -> Mapping[Message, object]:
        self.page_outs += 1
        for e in entries:
            assert e.msg.body is not PAGED_OUT
            if num(e) in self.not_on_disk:
                continue
            self.out[id(e.msg)] = e.msg.body
            self.num[e.msg] = num(e)
            e.msg.body = PAGED_OUT
        # a place for the even numbers only, as if the odd ones were found by message id
        return {
            e.msg: ("place", self.num[e.msg])
            for e in entries
            if e.msg.body is PAGED_OUT and not self.num[e.msg] % 2
        }

    def page_in(self, entries: Sequence[Item], places: Mapping[Message, object]) -> None:
        self.page_ins.append(len(entries))
        for e in entries:
            assert e.msg.body is PAGED_OUT
            n = self.num[e.msg]
            assert places.get(e.msg) == (None if n % 2 else ("place", n))
            e.msg.body = self.out.pop(id(e.msg))


class RecordingChannel(ChannelCredit):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def deliver(self, consumer: Consumer, queue: Queue, entry: Item) -> None:
        assert entry.msg.body is not PAGED_OUT, "delivered a paged-out body"
        self.bodies.append(entry.msg.body)

    def consumer_cancelled(self, consumer: Consumer) -> None:
        pass


def num(e: Item) -> int:
    """The number ``body`` wrote into a message (its body must be in memory)."""
    return int(e.msg.body.split(b".")[0])


def body(i: int) -> bytes:
    return str(i).encode().ljust(SIZE, b".")


def msg(i: int, props: bytes = b"\x00\x00") -> Message:
    return Message("", "q", props, body(i))


def paged_queue(limit: int, **kwargs: object) -> tuple[Queue, FakePager]:
    pager = FakePager(limit)
    q = Queue("/", "q", pager=pager, **kwargs)  # type: ignore[arg-type]
    return q, pager


def check_counters(q: Queue) -> None:
    out = [e for e in q.ready if e.msg.body is PAGED_OUT]
    pager = q.pager
    assert isinstance(pager, FakePager)
    assert set(q.page_places) == {e.msg for e in out if not pager.num[e.msg] % 2}
    assert q.paged_count == len(out)
    assert q.paged_bytes == sum(e.msg.size for e in out)


def test_without_pressure_nothing_is_paged() -> None:
    q, pager = paged_queue(NO_LIMIT)
    for i in range(1000):
        q.publish(msg(i), 0)
    assert pager.page_outs == 0 and q.paged_count == 0


def test_only_the_head_stays_in_memory_and_comes_back_in_order() -> None:
    q, pager = paged_queue(20 * SIZE)
    for i in range(500):
        q.publish(msg(i), 0)
        assert q.resident_bytes <= q.page_limit
    check_counters(q)
    assert q.paged_count > 450
    # the head (half the limit) stays in memory
    head = list(q.ready)[:10]
    assert all(e.msg.body is not PAGED_OUT for e in head)
    # one page-out per quarter of the limit, not one per message
    assert pager.page_outs < 500 / 4
    ch = RecordingChannel()
    q.add_consumer(Consumer("c", q, ch, no_ack=True), 0)
    q.drain(0)
    assert ch.bodies == [body(i) for i in range(500)]
    # bodies come back in batches of readahead bytes
    assert max(pager.page_ins) > 1
    assert q.paged_count == q.paged_bytes == 0 and not pager.out


def test_basic_get_reads_back_the_head() -> None:
    q, _ = paged_queue(10 * SIZE)
    for i in range(100):
        q.publish(msg(i), 0)
    got = []
    while (e := q.get(0, no_ack=True)) is not None:
        got.append(e.msg.body)
        check_counters(q)
    assert got == [body(i) for i in range(100)]


class NullLog:
    """A durable queue's log that records nothing (the queue still marks entries logged)."""

    def enqueued(self, queue: Queue, entry: Entry) -> None:
        pass

    def delivered(self, queue: Queue, entry: Entry) -> None:
        pass

    def settled(self, queue: Queue, entry: Item) -> None:
        pass

    def deleted(self, queue: Queue) -> None:
        pass


def test_logged_bodies_not_on_disk_yet_are_offered_again() -> None:
    q, pager = paged_queue(10 * SIZE, durable=True, log=NullLog())
    pager.not_on_disk = set(range(200))
    persistent = b"\x10\x00\x02"
    for i in range(100):
        q.publish(msg(i, persistent), 0)
    assert q.paged_count == 0
    pager.not_on_disk.clear()  # "synced"
    for i in range(100, 140):
        q.publish(msg(i, persistent), 0)
    check_counters(q)
    assert q.paged_count > 100, "the earlier refusals were walked again"


def test_bodies_the_pager_keeps_are_not_offered_again() -> None:
    q, pager = paged_queue(10 * SIZE)
    pager.not_on_disk = set(range(100))
    for i in range(100):
        q.publish(msg(i), 0)
    walked = q.page_walked
    assert q.paged_count == 0 and walked >= 95
    pager.not_on_disk.clear()
    for i in range(100, 140):
        q.publish(msg(i), 0)
    assert q.paged_count < 45, "only the new ones"


def test_a_message_in_two_queues_is_not_paged_out() -> None:
    pager = FakePager(10 * SIZE)
    q1 = Queue("/", "q1", pager=pager)
    q2 = Queue("/", "q2", pager=pager)
    shared = [msg(i) for i in range(100)]
    for m in shared:
        q1.publish(m, 0)
        q2.publish(m, 0)
    assert q1.paged_count == q2.paged_count == 0
    assert all(m.body is not PAGED_OUT for m in shared)
    del shared, m  # the test's own references count as sharing too
    # once q2 is done with them, q1 alone holds them and may page them out
    while q2.get(0, no_ack=True) is not None:
        pass
    for i in range(100, 140):
        q1.publish(msg(i), 0)
    q1.set_page_limit(5 * SIZE)
    assert q1.paged_count > 50
    check_counters(q1)


def test_purge_delete_and_expiry_forget_paged_bodies() -> None:
    q, pager = paged_queue(10 * SIZE)
    for i in range(100):
        q.publish(msg(i), 0)
    assert q.paged_count
    assert q.purge() == 100
    check_counters(q)
    for i in range(100):
        q.publish(msg(i), 0)
    q.delete()
    check_counters(q)
    # expiry without a dead-letter exchange: dropped, not read back
    q, pager = paged_queue(10 * SIZE, arguments={"x-message-ttl": 1000})
    for i in range(100):
        q.publish(msg(i), 0)
    paged = q.paged_count
    assert paged
    q.on_timer(10.0)
    assert q.message_count == 0 and not pager.page_ins
    check_counters(q)


def test_dead_lettered_bodies_are_read_back_first() -> None:
    q, pager = paged_queue(
        10 * SIZE, arguments={"x-message-ttl": 1000, "x-dead-letter-exchange": "dlx"}
    )
    for i in range(100):
        q.publish(msg(i), 0)
    assert q.paged_count
    q.on_timer(10.0)
    assert [m.body for m, _ in q.dead_letters] == [body(i) for i in range(100)]
    assert len(pager.page_ins) < 100, "read back in batches"
    check_counters(q)


def test_drop_head_with_dead_lettering_reads_back() -> None:
    q, _ = paged_queue(10 * SIZE, arguments={"x-max-length": 50, "x-dead-letter-exchange": "dlx"})
    for i in range(100):
        q.publish(msg(i), 0)
    check_counters(q)
    assert [m.body for m, _ in q.dead_letters] == [body(i) for i in range(50)]
    assert [e.msg.body for e in iter(lambda: q.get(0, True), None)] == [
        body(i) for i in range(50, 100)
    ]


def test_requeue_after_paging_keeps_order() -> None:
    q, _ = paged_queue(10 * SIZE)
    for i in range(60):
        q.publish(msg(i), 0)
    taken = [q.get(0, no_ack=False) for _ in range(5)]
    q.requeue([e for e in taken if e is not None], lambda e: None)
    check_counters(q)
    got = [e.msg.body for e in iter(lambda: q.get(0, True), None)]
    assert got == [body(i) for i in range(60)]


def test_a_lower_limit_pages_out_older_entries() -> None:
    q, _ = paged_queue(NO_LIMIT)
    for i in range(100):
        q.publish(msg(i), 0)
    assert q.paged_count == 0
    q.set_page_limit(20 * SIZE)
    assert q.resident_bytes <= 20 * SIZE
    check_counters(q)
    assert [e.msg.body for e in iter(lambda: q.get(0, True), None)] == [body(i) for i in range(100)]


def test_priority_queue_pages_and_delivers_by_priority() -> None:
    q, _ = paged_queue(10 * SIZE, arguments={"x-max-priority": 5})
    props = {p: Message("", "", b"\x08\x00" + bytes([p]), b"").properties_raw for p in range(6)}
    order = []
    for i in range(120):
        p = i % 3 * 2
        q.publish(msg(i, props[p]), 0)
        order.append((p, i))
    assert q.paged_count
    check_counters(q)
    expected = [body(i) for _, i in sorted(order, key=lambda t: (-t[0], t[1]))]
    assert [e.msg.body for e in iter(lambda: q.get(0, True), None)] == expected
