"""The RabbitMQ tutorials, written with aio-pika, against a real amqpish process.

Each test is one tutorial, asserting what the tutorial's programs would observe:
bodies, order, which queue gets what, redelivery flags, confirms, returns and
exclusivity errors. aio-pika is asyncio; pytest here runs Trio, so each test drives
its own ``asyncio.run`` under a deadline. No sleeps: a test that needs to know a
message did *not* arrive publishes a sentinel after it on the same channel and
waits for that (a queue keeps the publish order of one channel).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import aiormq.abc
import aiormq.exceptions
import pamqp.commands
import pytest

T = TypeVar("T")
DEADLINE = 10.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, DEADLINE)

    return asyncio.run(bounded())


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Inbox:
    """Collects deliveries from a consumer callback; ``take`` waits for them."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()

    async def __call__(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await self.queue.put(message)

    async def take(self, n: int = 1) -> list[aio_pika.abc.AbstractIncomingMessage]:
        return [await asyncio.wait_for(self.queue.get(), 5) for _ in range(n)]

    async def until(self, body: bytes) -> list[bytes]:
        """Bodies up to and including ``body`` (the sentinel)."""
        out: list[bytes] = []
        while not out or out[-1] != body:
            (m,) = await self.take()
            out.append(m.body)
        return out


def test_hello_world(broker_url: str) -> None:
    async def main() -> None:
        q_name = _name("hello")
        async with await aio_pika.connect(broker_url) as conn:
            ch = await conn.channel()
            queue = await ch.declare_queue(q_name)
            ack = await ch.default_exchange.publish(aio_pika.Message(b"Hello World!"), q_name)
            assert isinstance(ack, pamqp.commands.Basic.Ack)
            inbox = Inbox()
            await queue.consume(inbox, no_ack=True)
            (m,) = await inbox.take()
            assert (m.body, m.routing_key, m.exchange) == (b"Hello World!", q_name, "")
            assert (m.redelivered, m.delivery_tag) == (False, 1)
            # aio-pika's Queue.delete() defaults to if_unused/if_empty: refused while consumed
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
                await queue.delete()
            ch = await conn.channel()
            assert (await ch.queue_delete(q_name)).message_count == 0

    run(main())


def test_work_queues_fair_dispatch_ack_and_requeue(broker_url: str) -> None:
    async def main() -> None:
        q_name = _name("task_queue")
        async with await aio_pika.connect(broker_url) as conn:
            pub = await conn.channel()
            await pub.declare_queue(q_name, durable=True)
            for i in range(4):
                await pub.default_exchange.publish(
                    aio_pika.Message(f"task{i}".encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    q_name,
                )  # fmt: skip
            workers = []
            for _ in range(2):
                ch = await conn.channel()
                await ch.set_qos(prefetch_count=1)
                workers.append((ch, Inbox()))
            (ch_a, a), (ch_b, b) = workers
            # worker A starts first and holds one task; B gets the next one
            await (await ch_a.get_queue(q_name)).consume(a)
            (a0,) = await a.take()
            await (await ch_b.get_queue(q_name)).consume(b)
            (b0,) = await b.take()
            assert (a0.body, b0.body) == (b"task0", b"task1")
            assert a0.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            declared = await pub.declare_queue(q_name, passive=True)
            assert declared.declaration_result.message_count == 2
            assert declared.declaration_result.consumer_count == 2
            # prefetch 1: nothing more until an ack
            await a0.ack()
            (a1,) = await a.take()
            assert (a1.body, a1.redelivered) == (b"task2", False)
            # B rejects its task: it goes back to the head of the queue and B gets it again
            await b0.reject(requeue=True)
            (b1,) = await b.take()
            assert (b1.body, b1.redelivered) == (b"task1", True)
            await b1.ack()
            (b2,) = await b.take()
            assert b2.body == b"task3"
            await a1.ack()
            await b2.ack()
            declared = await pub.declare_queue(q_name, passive=True)
            assert declared.declaration_result.message_count == 0
            await pub.queue_delete(q_name)

    run(main())


def test_publish_subscribe_fanout(broker_url: str) -> None:
    async def main() -> None:
        ex_name = _name("logs")
        async with await aio_pika.connect(broker_url) as conn:
            ch = await conn.channel()
            logs = await ch.declare_exchange(ex_name, aio_pika.ExchangeType.FANOUT)
            inboxes = []
            for _ in range(2):
                queue = await ch.declare_queue(exclusive=True)  # server-named
                assert queue.name.startswith("amq.gen-")
                await queue.bind(logs)
                inbox = Inbox()
                await queue.consume(inbox, no_ack=True)
                inboxes.append(inbox)
            bodies = [b"info: one", b"warning: two", b"error: three"]
            for body in bodies:
                await logs.publish(aio_pika.Message(body), routing_key="")
            for inbox in inboxes:
                got = await inbox.take(3)
                assert [m.body for m in got] == bodies
                assert {(m.exchange, m.routing_key) for m in got} == {(ex_name, "")}
            await logs.delete()

    run(main())


def test_routing_direct(broker_url: str) -> None:
    async def main() -> None:
        ex_name = _name("direct_logs")
        async with await aio_pika.connect(broker_url) as conn:
            ch = await conn.channel()
            ex = await ch.declare_exchange(ex_name, aio_pika.ExchangeType.DIRECT)
            errors_only, everything = Inbox(), Inbox()
            q1 = await ch.declare_queue(exclusive=True)
            await q1.bind(ex, routing_key="error")
            q2 = await ch.declare_queue(exclusive=True)
            for severity in ("info", "warning", "error"):
                await q2.bind(ex, routing_key=severity)
            await q1.consume(errors_only, no_ack=True)
            await q2.consume(everything, no_ack=True)
            for severity in ("info", "warning", "error"):
                await ex.publish(aio_pika.Message(severity.encode()), routing_key=severity)
            # nobody binds "debug": the broker returns it (aio-pika publishes mandatory)
            returned = await ex.publish(aio_pika.Message(b"debug"), routing_key="debug")
            assert isinstance(returned, aiormq.abc.DeliveredMessage)
            assert isinstance(returned.delivery, pamqp.commands.Basic.Return)
            assert (returned.delivery.reply_code, returned.delivery.reply_text) == (312, "NO_ROUTE")
            await ex.publish(aio_pika.Message(b"end"), routing_key="error")
            assert await errors_only.until(b"end") == [b"error", b"end"]
            assert await everything.until(b"end") == [b"info", b"warning", b"error", b"end"]
            await ex.delete()

    run(main())


TOPIC_CASES = {
    # routing key: (delivered to Q1 "*.orange.*", delivered to Q2 "*.*.rabbit" + "lazy.#")
    "quick.orange.rabbit": (True, True),
    "lazy.orange.elephant": (True, True),
    "quick.orange.fox": (True, False),
    "lazy.brown.fox": (False, True),
    "lazy.pink.rabbit": (False, True),  # matches both of Q2's bindings: delivered once
    "quick.brown.fox": (False, False),
    "orange": (False, False),
    "quick.orange.male.rabbit": (False, False),
    "lazy.orange.male.rabbit": (False, True),
    "lazy": (False, True),  # "#" matches zero words
}


def test_topics(broker_url: str) -> None:
    async def main() -> None:
        ex_name = _name("topic_logs")
        async with await aio_pika.connect(broker_url) as conn:
            ch = await conn.channel()
            ex = await ch.declare_exchange(ex_name, aio_pika.ExchangeType.TOPIC)
            q1, q2 = await ch.declare_queue(exclusive=True), await ch.declare_queue(exclusive=True)
            await q1.bind(ex, "*.orange.*")
            await q2.bind(ex, "*.*.rabbit")
            await q2.bind(ex, "lazy.#")
            in1, in2 = Inbox(), Inbox()
            await q1.consume(in1, no_ack=True)
            await q2.consume(in2, no_ack=True)
            for key in TOPIC_CASES:
                await ex.publish(aio_pika.Message(key.encode()), routing_key=key, mandatory=False)
            await ex.publish(aio_pika.Message(b"end"), routing_key="end.orange.rabbit")
            want1 = [k.encode() for k, (a, _) in TOPIC_CASES.items() if a] + [b"end"]
            want2 = [k.encode() for k, (_, b) in TOPIC_CASES.items() if b] + [b"end"]
            assert await in1.until(b"end") == want1
            assert await in2.until(b"end") == want2
            await ex.delete()

    run(main())


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def test_rpc(broker_url: str) -> None:
    async def serve(conn: aio_pika.abc.AbstractConnection, rpc_queue: str) -> None:
        ch = await conn.channel()
        await ch.set_qos(prefetch_count=1)
        queue = await ch.declare_queue(rpc_queue)

        async def on_request(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                assert message.reply_to is not None
                n = int(message.body)
                await ch.default_exchange.publish(
                    aio_pika.Message(str(_fib(n)).encode(), correlation_id=message.correlation_id),
                    routing_key=message.reply_to,
                )

        await queue.consume(on_request)

    async def main() -> None:
        rpc_queue = _name("rpc_queue")
        async with (
            await aio_pika.connect(broker_url) as server_conn,
            await aio_pika.connect(broker_url) as client_conn,
            await aio_pika.connect(broker_url) as other_conn,
        ):
            await serve(server_conn, rpc_queue)
            ch = await client_conn.channel()
            callback = await ch.declare_queue(exclusive=True)
            assert callback.name.startswith("amq.gen-")
            futures: dict[str, asyncio.Future[aio_pika.abc.AbstractIncomingMessage]] = {}

            async def on_response(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                assert message.correlation_id is not None
                futures.pop(message.correlation_id).set_result(message)

            await callback.consume(on_response, no_ack=True)

            async def call(n: int) -> int:
                cid = str(uuid.uuid4())
                futures[cid] = asyncio.get_running_loop().create_future()
                await ch.default_exchange.publish(
                    aio_pika.Message(str(n).encode(), correlation_id=cid, reply_to=callback.name),
                    routing_key=rpc_queue,
                )
                reply = await futures[cid]
                assert reply.correlation_id == cid
                return int(reply.body)

            assert await call(30) == 832040
            assert await asyncio.gather(*(call(n) for n in range(10))) == [
                _fib(n) for n in range(10)
            ]

            # the callback queue belongs to the client's connection alone ...
            other = await other_conn.channel()
            with pytest.raises(aiormq.exceptions.ChannelLockedResource) as locked:
                await other.declare_queue(callback.name, passive=True)
            assert str(locked.value).startswith("RESOURCE_LOCKED - cannot obtain exclusive access")
        # ... and goes away with it
        async with await aio_pika.connect(broker_url) as conn:
            ch = await conn.channel()
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
                await ch.declare_queue(callback.name, passive=True)
            ch = await conn.channel()
            await ch.queue_delete(rpc_queue)

    run(main())


def test_publisher_confirms(broker_url: str) -> None:
    async def main() -> None:
        q_name = _name("confirms")
        async with await aio_pika.connect(broker_url) as conn:
            ch = await conn.channel(publisher_confirms=True, on_return_raises=True)
            queue = await ch.declare_queue(q_name)

            def publish(body: bytes) -> Awaitable[Any]:
                return ch.default_exchange.publish(aio_pika.Message(body), routing_key=q_name)

            # one at a time
            for i in range(5):
                assert isinstance(await publish(b"one %d" % i), pamqp.commands.Basic.Ack)
            # a batch in flight at once
            acks = await asyncio.gather(*(publish(b"batch %d" % i) for i in range(100)))
            assert all(isinstance(a, pamqp.commands.Basic.Ack) for a in acks)
            declared = await ch.declare_queue(q_name, passive=True)
            assert declared.declaration_result.message_count == 105
            # unroutable and mandatory: returned, then confirmed -> PublishError
            with pytest.raises(aio_pika.exceptions.PublishError) as returned:
                await ch.default_exchange.publish(
                    aio_pika.Message(b"lost"), routing_key=_name("nowhere")
                )
            assert returned.value.message.delivery.reply_code == 312
            await queue.delete(if_unused=False, if_empty=False)
            # a queue that refuses overflow nacks the publish -> DeliveryError
            full = await ch.declare_queue(
                _name("full"), arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
            )
            await ch.default_exchange.publish(aio_pika.Message(b"fits"), routing_key=full.name)
            with pytest.raises(aio_pika.exceptions.DeliveryError) as nacked:
                await ch.default_exchange.publish(
                    aio_pika.Message(b"overflow"), routing_key=full.name
                )
            assert isinstance(nacked.value.frame, pamqp.commands.Basic.Nack)
            assert (await full.get(no_ack=True)).body == b"fits"
            await full.delete(if_unused=False, if_empty=False)

    run(main())
