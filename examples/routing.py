"""RabbitMQ tutorial 4, "Routing", with amqpish.client.

A direct exchange "direct_logs"; receivers bind one queue per severity they want.

    python examples/routing.py --url URL receive_logs_direct warning error
    python examples/routing.py --url URL emit_log_direct error "Run. Run. Or it will explode."
"""

from __future__ import annotations

import argparse
import sys

import trio

from amqpish.client import connect

EXCHANGE = "direct_logs"


async def emit_log_direct(url: str, severity: str, message: str) -> None:
    async with connect(url) as conn, conn.channel() as ch:
        await ch.exchange_declare(EXCHANGE, "direct")
        await ch.publish(message, exchange=EXCHANGE, routing_key=severity)
        print(f" [x] Sent {severity}:{message!r}")


async def receive_logs_direct(
    url: str,
    severities: list[str],
    count: int | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> list[tuple[str, str]]:
    logs: list[tuple[str, str]] = []
    async with connect(url) as conn, conn.channel() as ch:
        await ch.exchange_declare(EXCHANGE, "direct")
        queue = (await ch.queue_declare("", exclusive=True)).queue
        for severity in severities:
            await ch.queue_bind(queue, EXCHANGE, severity)
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
    e = sub.add_parser("emit_log_direct")
    e.add_argument("severity", nargs="?", default="info")
    e.add_argument("message", nargs="*")
    r = sub.add_parser("receive_logs_direct")
    r.add_argument("severities", nargs="+", metavar="severity")
    r.add_argument("--count", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        if args.role == "emit_log_direct":
            trio.run(
                emit_log_direct, args.url, args.severity, " ".join(args.message) or "Hello World!"
            )
        else:
            trio.run(receive_logs_direct, args.url, args.severities, args.count)
    except KeyboardInterrupt:
        print("Interrupted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
