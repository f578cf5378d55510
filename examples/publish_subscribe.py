"""RabbitMQ tutorial 3, "Publish/Subscribe", with amqpish.client.

A fanout exchange "logs"; every receiver binds its own exclusive, server-named queue.

    python examples/publish_subscribe.py --url URL receive_logs
    python examples/publish_subscribe.py --url URL emit_log "info: Hello World!"
"""

from __future__ import annotations

import argparse
import sys

import trio

from amqpish.client import connect

EXCHANGE = "logs"


async def emit_log(url: str, message: str = "info: Hello World!") -> None:
    async with connect(url) as conn, conn.channel() as ch:
        await ch.exchange_declare(EXCHANGE, "fanout")
        await ch.publish(message, exchange=EXCHANGE)
        print(f" [x] Sent {message!r}")


async def receive_logs(
    url: str,
    count: int | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> list[str]:
    logs: list[str] = []
    async with connect(url) as conn, conn.channel() as ch:
        await ch.exchange_declare(EXCHANGE, "fanout")
        queue = (await ch.queue_declare("", exclusive=True)).queue
        await ch.queue_bind(queue, EXCHANGE)
        async with ch.consume(queue, no_ack=True) as messages:
            print(" [*] Waiting for logs. To exit press CTRL+C", flush=True)
            task_status.started()
            async for delivery in messages:
                print(f" [x] {delivery.body.decode()}", flush=True)
                logs.append(delivery.body.decode())
                if len(logs) == count:
                    break
    return logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="amqp://guest:guest@localhost:5672/")
    sub = parser.add_subparsers(dest="role", required=True)
    e = sub.add_parser("emit_log")
    e.add_argument("message", nargs="*")
    r = sub.add_parser("receive_logs")
    r.add_argument("--count", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        if args.role == "emit_log":
            trio.run(emit_log, args.url, " ".join(args.message) or "info: Hello World!")
        else:
            trio.run(receive_logs, args.url, args.count)
    except KeyboardInterrupt:
        print("Interrupted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
