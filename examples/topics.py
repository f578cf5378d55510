"""RabbitMQ tutorial 5, "Topics", with amqpish.client.

A topic exchange "topic_logs"; binding keys like "kern.*" or "*.critical" or "#".

    python examples/topics.py --url URL receive_logs_topic "kern.*" "*.critical"
    python examples/topics.py --url URL emit_log_topic kern.critical "A critical kernel error"
"""

from __future__ import annotations

import argparse
import sys

import trio

from amqpish.client import connect

EXCHANGE = "topic_logs"


async def emit_log_topic(url: str, routing_key: str, message: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        await ch.exchange_declare(EXCHANGE, "topic")
        await ch.publish(message, exchange=EXCHANGE, routing_key=routing_key)
        print(f" [x] Sent {routing_key}:{message!r}")


async def receive_logs_topic(
    url: str,
    binding_keys: list[str],
    count: int | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> list[tuple[str, str]]:
    logs: list[tuple[str, str]] = []
    async with connect(url) as conn, conn.channel() as ch:
        await ch.exchange_declare(EXCHANGE, "topic")
        queue = (await ch.queue_declare("", exclusive=True)).queue
        for key in binding_keys:
            await ch.queue_bind(queue, EXCHANGE, key)
        async with ch.consume(queue, no_ack=True) as messages:
            print(" [*] Waiting for logs. To exit press CTRL+C", flush=True)
            task_status.started()
            async for d in messages:
                print(f" [x] {d.routing_key}:{d.body.decode()}", flush=True)
                logs.append((d.routing_key, d.body.decode()))
                if len(logs) == count:
                    break
    return logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="amqp://guest:guest@localhost:5672/")
    sub = parser.add_subparsers(dest="role", required=True)
    e = sub.add_parser("emit_log_topic")
    e.add_argument("routing_key", nargs="?", default="anonymous.info")
    e.add_argument("message", nargs="*")
    r = sub.add_parser("receive_logs_topic")
    r.add_argument("binding_keys", nargs="+", metavar="binding_key")
    r.add_argument("--count", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        if args.role == "emit_log_topic":
            trio.run(
                emit_log_topic, args.url, args.routing_key, " ".join(args.message) or "Hello World!"
            )
        else:
            trio.run(receive_logs_topic, args.url, args.binding_keys, args.count)
    except KeyboardInterrupt:
        print("Interrupted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
