"""RabbitMQ tutorial 1, "Hello World!", with amqpish.client.

python examples/hello_world.py --url amqp://guest:guest@localhost:5672/ receive
python examples/hello_world.py --url amqp://guest:guest@localhost:5672/ send [TEXT]
"""

from __future__ import annotations

import argparse
import sys

import trio

from amqpish.client import connect

QUEUE = "hello"


async def send(url: str, text: str = "Hello World!") -> None:
    async with connect(url) as conn, conn.channel() as ch:
        await ch.queue_declare(QUEUE)
        await ch.publish(text, routing_key=QUEUE)
        print(f" [x] Sent {text!r}")


async def receive(
    url: str,
    count: int | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> list[str]:
    """Print messages as they come; stop after ``count`` of them (None: never)."""
    received: list[str] = []
    async with connect(url) as conn, conn.channel() as ch:
        await ch.queue_declare(QUEUE)
        async with ch.consume(QUEUE, no_ack=True) as messages:
            print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)
            task_status.started()
            async for delivery in messages:
                text = delivery.body.decode()
                print(f" [x] Received {text!r}", flush=True)
                received.append(text)
                if len(received) == count:
                    break
    return received


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="amqp://guest:guest@localhost:5672/")
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("send")
    s.add_argument("text", nargs="?", default="Hello World!")
    r = sub.add_parser("receive")
    r.add_argument("--count", type=int, default=None, help="exit after this many messages")
    args = parser.parse_args(argv)
    try:
        if args.role == "send":
            trio.run(send, args.url, args.text)
        else:
            trio.run(receive, args.url, args.count)
    except KeyboardInterrupt:
        print("Interrupted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
