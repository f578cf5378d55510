"""RabbitMQ tutorial 6, "Remote procedure call (RPC)", with amqpish.client.

The server answers on the request's ``reply_to`` queue with its ``correlation_id``. The
client keeps one exclusive reply queue and one consumer for all its calls, which may run
concurrently (a dict of pending calls by correlation id); a cancelled call simply drops
its late reply.

    python examples/rpc.py --url URL rpc_server
    python examples/rpc.py --url URL rpc_client 30
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from amqpish.client import Channel, Connection, Consumer, connect

QUEUE = "rpc_queue"


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


async def rpc_server(
    url: str,
    count: int | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> int:
    served = 0
    async with connect(url) as conn, conn.channel() as ch:
        await ch.queue_declare(QUEUE)
        async with ch.consume(QUEUE, prefetch=1) as requests:
            print(" [x] Awaiting RPC requests", flush=True)
            task_status.started()
            async for request in requests:
                n = int(request.body)
                print(f" [.] fib({n})", flush=True)
                props = request.properties
                if props.reply_to:
                    await ch.publish(
                        str(fib(n)),
                        routing_key=props.reply_to,
                        correlation_id=props.correlation_id or "",
                    )
                await request.ack()
                served += 1
                if served == count:
                    break
    return served


class FibonacciRpcClient:
    """``async with FibonacciRpcClient.open(conn) as rpc: await rpc.call(30)``"""

    def __init__(self, channel: Channel, callback_queue: str) -> None:
        self._channel = channel
        self.callback_queue = callback_queue
        self._pending: dict[str, trio.MemorySendChannel[int]] = {}

    @classmethod
    @asynccontextmanager
    async def open(cls, conn: Connection) -> AsyncIterator[FibonacciRpcClient]:
        async with conn.channel() as ch:
            queue = (await ch.queue_declare("", exclusive=True)).queue
            async with ch.consume(queue, no_ack=True) as replies, trio.open_nursery() as nursery:
                client = cls(ch, queue)
                nursery.start_soon(client._dispatch, replies)
                yield client
                nursery.cancel_scope.cancel()

    async def _dispatch(self, replies: Consumer) -> None:
        async for reply in replies:
            waiter = self._pending.pop(reply.properties.correlation_id or "", None)
            if waiter is not None:  # else: the reply to a call that was cancelled
                waiter.send_nowait(int(reply.body))

    async def call(self, n: int) -> int:
        correlation_id = uuid.uuid4().hex
        send, receive = trio.open_memory_channel[int](1)
        self._pending[correlation_id] = send
        try:
            await self._channel.publish(
                str(n),
                routing_key=QUEUE,
                reply_to=self.callback_queue,
                correlation_id=correlation_id,
            )
            return await receive.receive()
        finally:
            self._pending.pop(correlation_id, None)


async def rpc_client(url: str, n: int = 30) -> int:
    async with connect(url) as conn, FibonacciRpcClient.open(conn) as rpc:
        print(f" [x] Requesting fib({n})")
        result = await rpc.call(n)
        print(f" [.] Got {result}")
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="amqp://guest:guest@localhost:5672/")
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("rpc_server")
    s.add_argument("--count", type=int, default=None, help="exit after this many requests")
    c = sub.add_parser("rpc_client")
    c.add_argument("n", type=int, nargs="?", default=30)
    args = parser.parse_args(argv)
    try:
        if args.role == "rpc_server":
            trio.run(rpc_server, args.url, args.count)
        else:
            trio.run(rpc_client, args.url, args.n)
    except KeyboardInterrupt:
        print("Interrupted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
