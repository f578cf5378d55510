"""robust_consumer: reconnects, redeclares and resumes."""

from __future__ import annotations

import trio
import trio.testing

from amqpish.client import Channel, ConnectionLost, ConsumerCancelled, connect, robust_consumer

from .fakes import Proxy


async def test_survives_a_cut_connection(url: str, name: str) -> None:
    queue = f"{name}-q"

    async def topology(ch: Channel) -> None:
        await ch.queue_declare(queue)

    async with (
        connect(url) as conn,
        conn.channel(confirm=True) as pub,
        Proxy(url).running() as proxy,
        robust_consumer(proxy.url, queue, topology=topology, prefetch=10, min_backoff=0.01) as rc,
    ):
        try:
            await rc.wait_consuming(1)
            await pub.publish(b"a", routing_key=queue)
            d = await rc.__anext__()
            assert d.body == b"a"
            await d.ack()

            await pub.publish(b"b", routing_key=queue)
            unacked = await rc.__anext__()
            assert unacked.body == b"b"
            proxy.cut()
            await rc.wait_consuming(2)
            assert isinstance(rc.last_error, ConnectionLost)
            await unacked.ack()  # its connection is gone: a no-op, and it comes again
            again = await rc.__anext__()
            assert again.body == b"b" and again.redelivered
            await again.ack()
            await pub.publish(b"c", routing_key=queue)
            d = await rc.__anext__()
            assert d.body == b"c"
            await d.ack()
        finally:
            await pub.queue_delete(queue)


async def test_resumes_after_its_queue_is_deleted(url: str, name: str) -> None:
    queue = f"{name}-q"
    declared = 0

    async def topology(ch: Channel) -> None:
        nonlocal declared
        declared += 1
        await ch.queue_declare(queue)

    async with (
        connect(url) as conn,
        conn.channel(confirm=True) as pub,
        robust_consumer(url, queue, topology=topology, min_backoff=0.01) as rc,
    ):
        try:
            await rc.wait_consuming(1)
            await pub.queue_delete(queue)
            await rc.wait_consuming(2)
            assert isinstance(rc.last_error, ConsumerCancelled) and declared == 2
            await pub.publish(b"after", routing_key=queue)
            async for d in rc:
                assert d.body == b"after"
                await d.ack()
                break
        finally:
            await pub.queue_delete(queue)


async def test_keeps_retrying_while_the_broker_is_unreachable() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    async with robust_consumer(
        f"amqp://guest:guest@127.0.0.1:{port}/", "q", min_backoff=0.001, max_backoff=0.002
    ) as rc:
        while rc.last_error is None:
            await trio.testing.wait_all_tasks_blocked()
        assert isinstance(rc.last_error, ConnectionLost) and rc.generation == 0
