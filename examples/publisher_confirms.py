"""RabbitMQ tutorial 7, "Publisher Confirms", with amqpish.client.

Three ways to publish N messages with confirms, each timed:

1. individually: ``await ch.publish(...)`` returns once the broker confirmed the message;
2. in batches: ``publish(..., wait=False)`` a batch, then ``await ch.wait_for_confirms()``;
3. concurrently: ``publish(..., wait=False)`` everything; the channel's confirm window
   bounds what is outstanding and ``wait_for_confirms()`` collects the end.

    python examples/publisher_confirms.py --url URL [--messages 10000]
"""

from __future__ import annotations

import argparse
import sys
import time

import trio

from amqpish.client import Channel, connect

BATCH = 100


async def publish_individually(ch: Channel, queue: str, n: int) -> None:
    for i in range(n):
        await ch.publish(str(i), routing_key=queue)


async def publish_in_batches(ch: Channel, queue: str, n: int) -> None:
    for i in range(n):
        await ch.publish(str(i), routing_key=queue, wait=False)
        if (i + 1) % BATCH == 0:
            await ch.wait_for_confirms()
    await ch.wait_for_confirms()


async def handle_confirms_concurrently(ch: Channel, queue: str, n: int) -> None:
    for i in range(n):
        await ch.publish(str(i), routing_key=queue, wait=False)
    await ch.wait_for_confirms()


STRATEGIES = {
    "individually": publish_individually,
    "in batches": publish_in_batches,
    "handling confirms concurrently": handle_confirms_concurrently,
}


async def run(url: str, messages: int = 10_000) -> dict[str, float]:
    """Run each strategy on its own queue; returns the seconds each took."""
    timings: dict[str, float] = {}
    async with connect(url) as conn:
        for label, strategy in STRATEGIES.items():
            async with conn.channel(confirm=True, confirm_window=1000) as ch:
                queue = (await ch.queue_declare("", exclusive=True)).queue
                start = time.perf_counter()
                await strategy(ch, queue, messages)
                timings[label] = time.perf_counter() - start
                count = (await ch.queue_declare(queue, passive=True)).message_count
                assert count == messages, f"{label}: {count} of {messages} messages in the queue"
                print(f"Published {messages:,} messages {label} in {timings[label] * 1000:,.0f} ms")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="amqp://guest:guest@localhost:5672/")
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args(argv)
    trio.run(run, args.url, args.messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
