"""The queue state machine, driven directly: order, requeue, prefetch, TTL, limits."""

from __future__ import annotations

from amqpish.broker.consumers import ChannelCredit, Consumer
from amqpish.broker.message import Entry, Message
from amqpish.broker.queue import Queue


class RecordingChannel(ChannelCredit):
    """A channel that records deliveries instead of encoding frames."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[str, Entry]] = []

    def deliver(self, consumer: Consumer, queue: Queue, entry: Entry | Message) -> None:
        if not consumer.no_ack:
            self.unacked_count += 1
        self.got.append((consumer.tag, entry))

    def consumer_cancelled(self, consumer: Consumer) -> None:
        pass


def msg(body: str, props: bytes = b"\x00\x00") -> Message:
    return Message("", "q", props, body.encode())


def bodies(ch: RecordingChannel) -> list[str]:
    return [e.msg.body.decode() for _, e in ch.got]


def test_fifo_and_direct_handover() -> None:
    q = Queue("/", "q")
    for i in range(3):
        q.publish(msg(str(i)), 0)
    ch = RecordingChannel()
    c = Consumer("c1", q, ch, no_ack=True)
    q.add_consumer(c, 0)
    q.drain(0)
    assert bodies(ch) == ["0", "1", "2"]
    q.publish(msg("3"), 0)
    assert bodies(ch)[-1] == "3"
    assert q.message_count == 0


def test_round_robin_and_per_consumer_prefetch() -> None:
    q = Queue("/", "q")
    ch = RecordingChannel()
    c1 = Consumer("a", q, ch, prefetch=2)
    c2 = Consumer("b", q, ch, prefetch=2)
    q.add_consumer(c1, 0)
    q.add_consumer(c2, 0)
    for i in range(6):
        q.publish(msg(str(i)), 0)
    assert [t for t, _ in ch.got] == ["a", "b", "a", "b"]
    assert q.message_count == 2
    entry = ch.got[0][1]
    q.settled(entry, c1)
    q.drain(0)
    assert [t for t, _ in ch.got][-1] == "a"


def test_global_prefetch_limits_the_channel() -> None:
    q = Queue("/", "q")
    ch = RecordingChannel()
    ch.global_prefetch = 3
    q.add_consumer(Consumer("a", q, ch), 0)
    q.add_consumer(Consumer("b", q, ch), 0)
    for i in range(10):
        q.publish(msg(str(i)), 0)
    assert len(ch.got) == 3


def test_requeue_goes_back_to_original_position_marked_redelivered() -> None:
    q = Queue("/", "q")
    for i in range(4):
        q.publish(msg(str(i)), 0)
    e0 = q.get(0, no_ack=False)
    e1 = q.get(0, no_ack=False)
    assert e0 is not None and e1 is not None
    q.requeue([e1, e0], lambda e: None)
    order = []
    while (e := q.get(0, no_ack=True)) is not None:
        order.append((e.msg.body.decode(), e.redelivered))
    assert order == [("0", True), ("1", True), ("2", False), ("3", False)]
    assert q.unacked_count == 0


def test_priorities_deliver_highest_first_fifo_within_priority() -> None:
    from amqpish.codec import BasicProperties, encode_properties

    q = Queue("/", "q", arguments={"x-max-priority": 5})
    for body, prio in [("low1", 1), ("high", 5), ("low2", 1), ("mid", 3), ("over", 9)]:
        q.publish(msg(body, encode_properties(BasicProperties(priority=prio))), 0)
    order = []
    while (e := q.get(0, no_ack=True)) is not None:
        order.append(e.msg.body.decode())
    assert order == ["high", "over", "mid", "low1", "low2"]


def test_message_ttl_expires_at_head_and_dead_letters() -> None:
    scheduled: list[float] = []
    q = Queue(
        "/",
        "q",
        arguments={"x-message-ttl": 100, "x-dead-letter-exchange": "dlx"},
        schedule=lambda queue, at: scheduled.append(at),
    )
    q.publish(msg("a"), 10.0)
    q.publish(msg("b"), 10.05)
    assert scheduled == [10.1]
    q.on_timer(10.1)
    assert [m.body for m, _ in q.dead_letters] == [b"a"]
    assert q.message_count == 1
    assert scheduled[-1] == 10.15


def test_ttl_zero_means_deliver_now_or_expire() -> None:
    q = Queue("/", "q", arguments={"x-message-ttl": 0, "x-dead-letter-exchange": "d"})
    q.publish(msg("gone"), 0)
    assert q.message_count == 0
    assert [r for _, r in q.dead_letters] == ["expired"]
    ch = RecordingChannel()
    q.add_consumer(Consumer("c", q, ch, no_ack=True), 0)
    q.publish(msg("taken"), 0)
    assert bodies(ch) == ["taken"]


def test_max_length_drop_head_and_reject_publish() -> None:
    q = Queue("/", "q", arguments={"x-max-length": 2, "x-dead-letter-exchange": "d"})
    for i in range(4):
        assert q.publish(msg(str(i)), 0)
    assert [m.body for m, _ in q.dead_letters] == [b"0", b"1"]
    assert {r for _, r in q.dead_letters} == {"maxlen"}
    r = Queue("/", "r", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    assert r.publish(msg("a"), 0)
    assert not r.publish(msg("b"), 0)
    assert r.message_count == 1


def test_single_active_consumer_takes_over_in_registration_order() -> None:
    q = Queue("/", "q", arguments={"x-single-active-consumer": True})
    ch = RecordingChannel()
    c1 = Consumer("first", q, ch, no_ack=True)
    c2 = Consumer("second", q, ch, no_ack=True)
    q.add_consumer(c1, 0)
    q.add_consumer(c2, 0)
    q.publish(msg("1"), 0)
    q.publish(msg("2"), 0)
    assert [t for t, _ in ch.got] == ["first", "first"]
    assert q.active_consumer is c1
    q.remove_consumer(c1, 0)
    q.publish(msg("3"), 0)
    assert [t for t, _ in ch.got][-1] == "second"


def test_auto_delete_after_last_consumer_and_x_expires() -> None:
    q = Queue("/", "q", auto_delete=True)
    ch = RecordingChannel()
    c = Consumer("c", q, ch)
    q.add_consumer(c, 0)
    q.remove_consumer(c, 0)
    assert q.wants_delete
    e = Queue("/", "e", arguments={"x-expires": 1000}, now=5.0)
    assert e.timer_at == 6.0
    e.on_timer(6.0)
    assert e.wants_delete


def test_apply_replays_commands() -> None:
    from amqpish.broker.queue import Publish, Purge

    q = Queue("/", "q")
    q.apply(Publish(msg("x")), 0)
    q.apply(Publish(msg("y")), 0)
    assert q.message_count == 2
    assert q.apply(Purge(), 0) == 2
    assert q.message_count == 0
