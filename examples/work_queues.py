"""RabbitMQ tutorial 2, "Work Queues", with amqpish.client.

A durable queue, persistent messages, fair dispatch (prefetch 1) and manual acks.
Each dot in a task's text is one second of "work".

    python examples/work_queues.py --url URL worker
    python examples/work_queues.py --url URL new_task "A task..."
"""

from __future__ import annotations

import argparse
import sys

import trio

from amqpish.client import connect

QUEUE = "task_queue"


async def new_task(url: str, message: str = "Hello World!") -> None:
    async with connect(url) as conn, conn.channel() as ch:
        await ch.queue_declare(QUEUE, durable=True)
        await ch.publish(message, routing_key=QUEUE, persistent=True)
        print(f" [x] Sent {message!r}")


async def worker(
    url: str,
    count: int | None = None,
    *,
    name: str = "worker",
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> list[str]:
    done: list[str] = []
    async with connect(url) as conn, conn.channel() as ch:
        await ch.queue_declare(QUEUE, durable=True)
        async with ch.consume(QUEUE, prefetch=1) as messages:
            print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)
            task_status.started()
            async for delivery in messages:
                text = delivery.body.decode()
                print(f" [x] {name} received {text!r}", flush=True)
                await trio.sleep(text.count("."))
                print(" [x] Done", flush=True)
                await delivery.ack()
                done.append(text)
                if len(done) == count:
                    break
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="amqp://guest:guest@localhost:5672/")
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("new_task")
    s.add_argument("message", nargs="*")
    w = sub.add_parser("worker")
    w.add_argument("--count", type=int, default=None, help="exit after this many tasks")
    args = parser.parse_args(argv)
    try:
        if args.role == "new_task":
            trio.run(new_task, args.url, " ".join(args.message) or "Hello World!")
        else:
            trio.run(worker, args.url, args.count)
    except KeyboardInterrupt:
        print("Interrupted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
