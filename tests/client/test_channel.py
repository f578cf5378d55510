"""Channels: topology methods, channel errors, concurrent and cancelled calls."""

from __future__ import annotations

import random

import pytest
import trio

from amqpish.client import (
    AccessRefused,
    ChannelClosed,
    ConnectionClosed,
    NotFound,
    PreconditionFailed,
    ResourceLocked,
    connect,
)

from .fakes import cancel_when_sent


async def test_topology_round_trip(url: str, name: str) -> None:
    # Confirms make the counts exact: a confirmed message is in its queue.
    async with connect(url) as conn, conn.channel(confirm=True) as ch:
        await ch.exchange_declare(f"{name}-src", "topic")
        await ch.exchange_declare(f"{name}-dst", "fanout")
        await ch.exchange_declare(f"{name}-src", "topic", passive=True)
        await ch.exchange_bind(f"{name}-dst", f"{name}-src", "a.*")
        declared = await ch.queue_declare(
            f"{name}-q", exclusive=True, arguments={"x-max-length": 10}
        )
        assert declared.queue == f"{name}-q"
        assert (declared.message_count, declared.consumer_count) == (0, 0)
        await ch.queue_bind(declared.queue, f"{name}-dst")

        await ch.publish(b"1", exchange=f"{name}-src", routing_key="a.b")
        await ch.publish(b"2", exchange=f"{name}-src", routing_key="b.b")  # no match
        again = await ch.queue_declare(f"{name}-q", passive=True)
        assert again.message_count == 1

        await ch.exchange_unbind(f"{name}-dst", f"{name}-src", "a.*")
        await ch.publish(b"3", exchange=f"{name}-src", routing_key="a.b")
        await ch.queue_unbind(declared.queue, f"{name}-dst")
        await ch.publish(b"4", exchange=f"{name}-dst")
        assert await ch.queue_purge(declared.queue) == 1
        await ch.publish(b"5", routing_key=declared.queue)
        assert await ch.queue_delete(declared.queue) == 1
        await ch.exchange_delete(f"{name}-dst")
        await ch.exchange_delete(f"{name}-src", if_unused=True)
        with pytest.raises(NotFound):
            await ch.exchange_declare(f"{name}-src", passive=True)


async def test_server_named_queue(url: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = await ch.queue_declare(exclusive=True)
        assert q.queue.startswith("amq.gen-")


async def test_channel_error_closes_only_the_channel(url: str, name: str) -> None:
    async with connect(url) as conn:
        async with conn.channel() as ch:
            with pytest.raises(NotFound) as info:
                await ch.queue_declare(f"{name}-missing", passive=True)
            err = info.value
            assert isinstance(err, ChannelClosed) and not isinstance(err, ConnectionClosed)
            assert err.reply_code == 404 and "NOT_FOUND" in err.reply_text
            assert (err.class_id, err.method_id) == (50, 10)
            assert ch.is_closed
            with pytest.raises(NotFound):  # the channel stays unusable, with its error
                await ch.queue_declare(f"{name}-other", exclusive=True)
            with pytest.raises(NotFound):
                await ch.publish(b"x")
        async with conn.channel() as ch:  # the connection is fine
            await ch.queue_declare(f"{name}-ok", exclusive=True)


async def test_reply_code_classes(url: str, name: str) -> None:
    async with connect(url) as conn:
        async with conn.channel() as ch:
            await ch.queue_declare(f"{name}-q", exclusive=True, arguments={"x-max-length": 1})
            with pytest.raises(PreconditionFailed) as pf:
                await ch.queue_declare(f"{name}-q", exclusive=True, arguments={"x-max-length": 2})
            assert pf.value.reply_code == 406
        async with conn.channel() as ch:
            with pytest.raises(AccessRefused) as ar:
                await ch.queue_declare("amq.reserved-name")
            assert ar.value.reply_code == 403 and isinstance(ar.value, ChannelClosed)
        async with connect(url) as other, other.channel() as ch2:
            with pytest.raises(ResourceLocked) as rl:
                await ch2.queue_declare(f"{name}-q", passive=True)
            assert rl.value.reply_code == 405


async def test_concurrent_calls_on_one_channel(url: str, name: str) -> None:
    results: dict[int, str] = {}

    async def declare(i: int) -> None:
        results[i] = (await ch.queue_declare(f"{name}-{i}", exclusive=True)).queue

    async with connect(url) as conn, conn.channel() as ch, trio.open_nursery() as nursery:
        for i in range(30):
            nursery.start_soon(declare, i)
    assert results == {i: f"{name}-{i}" for i in range(30)}


async def test_cancelled_calls_leave_the_channel_consistent(url: str, name: str) -> None:
    """Cancel calls at every stage (before sending, while the reply is in flight): later
    calls on the same channel still get their own answers."""
    rng = random.Random(1234)
    got: dict[int, str] = {}

    async def declare(i: int, timeout: float) -> None:
        with trio.move_on_after(timeout):
            got[i] = (await ch.queue_declare(f"{name}-{i}", exclusive=True)).queue

    async with connect(url) as conn, conn.channel() as ch:
        async with trio.open_nursery() as nursery:
            for i in range(60):
                nursery.start_soon(declare, i, rng.choice([0, 0.0005, 0.001, 0.002, 0.005, 1]))
        assert all(got[i] == f"{name}-{i}" for i in got)
        # Deterministically: the reply is certainly in flight when the caller is cancelled.
        with trio.CancelScope() as scope, cancel_when_sent(conn, scope):
            await ch.queue_declare(f"{name}-cancelled", exclusive=True)
        assert scope.cancelled_caught
        for i in range(3):
            q = await ch.queue_declare(f"{name}-after-{i}", exclusive=True)
            assert q.queue == f"{name}-after-{i}"
        assert not ch.is_closed and not conn.is_closed


async def test_cancel_during_channel_open(url: str) -> None:
    async with connect(url) as conn:
        for _ in range(3):
            with trio.CancelScope() as scope, cancel_when_sent(conn, scope):
                await conn.open_channel()
            assert scope.cancelled_caught
        async with conn.channel() as ch:
            await ch.queue_declare("", exclusive=True)
        assert len(conn._channels) == 0


async def test_tx(url: str, name: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        q = (await ch.queue_declare(f"{name}-q", exclusive=True)).queue
        await ch.tx_select()
        await ch.publish(b"rolled back", routing_key=q)
        await ch.tx_rollback()
        await ch.publish(b"committed", routing_key=q)
        await ch.tx_commit()
        d = await ch.get(q, no_ack=True)
        assert d is not None and d.body == b"committed"
        assert await ch.get(q) is None
