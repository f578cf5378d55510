"""Consuming: acks, prefetch-bounded buffering, no_ack backpressure, cancels, get."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from amqpish.client import (
    AccessRefused,
    Channel,
    ConsumerCancelled,
    Delivery,
    NotFound,
    ResourceLocked,
    connect,
)

from .fakes import cancel_when_sent


async def _fill(ch: Channel, queue: str, n: int) -> None:
    """Publish ``n`` numbered messages, confirmed (so they are in the queue)."""
    await ch.confirm_select()
    for i in range(n):
        ch.publish_nowait(b"%d" % i, routing_key=queue)
    await ch.wait_for_confirms()


async def test_consume_and_ack(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True)).queue
        await _fill(ch, q, 10)
        seen: list[Delivery] = []
        async with ch.consume(q, prefetch=3) as messages:
            async for d in messages:
                assert len(messages._buffer) <= 3  # never more than the prefetch window
                seen.append(d)
                await d.ack()
                if len(seen) == 10:
                    break
        assert [d.body for d in seen] == [b"%d" % i for i in range(10)]
        d = seen[0]
        assert (d.exchange, d.routing_key, d.redelivered) == ("", q, False)
        assert d.consumer_tag and d.delivery_tag == 1 and d.settled
        with pytest.raises(RuntimeError, match="already settled"):
            await d.ack()
        assert (await ch.queue_declare(q, passive=True)).message_count == 0


async def test_nack_reject_and_redelivery(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True)).queue
        await _fill(ch, q, 3)
        async with ch.consume(q, prefetch=10) as messages:
            first = await messages.receive()
            await first.nack(requeue=True)
            second = await messages.receive()
            await second.reject(requeue=False)  # dropped
            third = await messages.receive()
            await third.nack(requeue=False)  # dropped
            again = await messages.receive()
            assert again.body == first.body and again.redelivered
            await again.ack()
        assert (await ch.queue_declare(q, passive=True)).message_count == 0


async def test_leaving_the_block_requeues_what_was_not_handed_out(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True)).queue
        await _fill(ch, q, 10)
        async with ch.consume(q, prefetch=10) as messages:
            kept = await messages.receive()
            while len(messages._buffer) < 9:  # wait until all ten have arrived
                await trio.testing.wait_all_tasks_blocked()
        assert (await ch.queue_declare(q, passive=True)).consumer_count == 0
        await kept.ack()  # still ours after the cancel
        async with ch.consume(q) as messages:
            again = [await messages.receive() for _ in range(9)]
        assert [d.body for d in again] == [b"%d" % i for i in range(1, 10)]
        assert all(d.redelivered for d in again)


async def test_no_ack_consumer_stops_reading_when_its_buffer_is_full(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True)).queue
        await _fill(ch, q, 50)
        async with ch.consume(q, no_ack=True, buffer=5) as messages:
            while len(messages._buffer) < 5:
                await trio.testing.wait_all_tasks_blocked()
            await trio.testing.wait_all_tasks_blocked()
            assert len(messages._buffer) == 5  # the reader waits for room
            bodies = [(await messages.receive()).body for _ in range(50)]
        assert bodies == [b"%d" % i for i in range(50)]
        with pytest.raises(RuntimeError):
            await (await _one(ch, q, no_ack=True)).ack()


async def _one(ch: Channel, queue: str, *, no_ack: bool) -> Delivery:
    await ch.publish(b"one", routing_key=queue)
    await ch.wait_for_confirms()
    d = await ch.get(queue, no_ack=no_ack)
    assert d is not None
    return d


async def test_server_cancel_ends_the_iteration(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch, conn.channel() as other:
        q = (await ch.queue_declare(f"{name}-q")).queue
        await _fill(ch, q, 1)
        with pytest.raises(ConsumerCancelled) as info:
            async with ch.consume(q) as messages:
                async for d in messages:
                    await d.ack()
                    await other.queue_delete(q)
        assert info.value.consumer_tag == messages.consumer_tag
        await ch.queue_declare("", exclusive=True)  # the channel is fine


async def test_channel_error_ends_the_iteration(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True)).queue
        async with trio.open_nursery() as nursery:

            async def consume() -> None:
                with pytest.raises(NotFound):
                    async with ch.consume(q) as messages:
                        async for _ in messages:
                            pass

            nursery.start_soon(consume)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(NotFound):
                await ch.queue_declare(f"{name}-missing", passive=True)


async def test_consume_errors(url: str, name: str) -> None:
    async with connect(url) as conn:
        async with conn.channel() as ch:
            with pytest.raises(NotFound):
                async with ch.consume(f"{name}-missing"):
                    pass
        async with conn.channel() as ch, conn.channel() as ch2:
            q = (await ch.queue_declare(f"{name}-q")).queue
            try:
                async with ch.consume(q, exclusive=True):
                    with pytest.raises((AccessRefused, ResourceLocked)):
                        async with ch2.consume(q):
                            pass
            finally:
                await ch.queue_delete(q)


async def test_cancel_mid_consume_keeps_things_usable(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True)).queue
        # Cancelled while waiting for a message.
        with trio.move_on_after(0.05) as scope:
            async with ch.consume(q) as messages:
                async for _ in messages:
                    pass
        assert scope.cancelled_caught
        # Cancelled while basic.consume is on its way: the consumer is cancelled too.
        with trio.CancelScope() as scope2, cancel_when_sent(conn, scope2):
            async with ch.consume(q):
                pytest.fail("the consume should have been cancelled")
        assert scope2.cancelled_caught
        assert (await ch.queue_declare(q, passive=True)).consumer_count == 0
        await _fill(ch, q, 2)
        async with ch.consume(q) as messages:
            d = await messages.receive()
            await d.ack()
        assert not ch._consumers


async def test_get(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True)).queue
        assert await ch.get(q) is None
        await _fill(ch, q, 2)
        d = await ch.get(q)
        assert d is not None and d.body == b"0" and d.message_count == 1 and d.consumer_tag is None
        await d.reject(requeue=True)
        # A get cancelled after the message was handed out gives it back.
        with trio.CancelScope() as scope, cancel_when_sent(conn, scope):
            await ch.get(q)
        assert scope.cancelled_caught
        bodies = []
        while (d := await ch.get(q, no_ack=True)) is not None:
            bodies.append(d.body)
        assert sorted(bodies) == [b"0", b"1"]
        with pytest.raises(NotFound):
            await ch.get(f"{name}-missing")
