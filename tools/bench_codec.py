#!/usr/bin/env python3
"""Micro-benchmark of the codec's per-message paths (not run by the tests).

How it works: builds a stream of basic.publish triplets (method, header with
typical properties, one body frame) and feeds it to a Decoder in 64 KiB
chunks, as socket reads would deliver it; then encodes basic.deliver frames
with the fast encoder, and a few other per-message operations. Each figure is
the best of several runs, in microseconds per message.

Usage: python tools/bench_codec.py [-n 100000] [--body 128]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amqpish.codec import (
    BasicProperties,
    Decoder,
    decode_properties,
    encode_basic_ack,
    encode_basic_deliver,
    encode_basic_publish,
    encode_properties,
)


def best_of(runs: int, fn: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--body", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    n: int = opts.n
    body = b"x" * opts.body
    props = encode_properties(
        BasicProperties(content_type="application/json", delivery_mode=2, message_id="m-1")
    )
    publish = encode_basic_publish(
        1, b"amq.direct", b"bench.queue", False, False, props, body, 131072
    )
    stream = publish * n
    chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]

    def decode_stream() -> None:
        d = Decoder(expect_protocol_header=False)
        count = 0
        for chunk in chunks:
            count += len(d.feed(chunk))
        assert count == n, count

    def decode_whole() -> None:
        d = Decoder(expect_protocol_header=False)
        assert len(d.feed(stream)) == n

    def encode_deliveries() -> None:
        for tag in range(1, n + 1):
            encode_basic_deliver(
                1, b"ctag-1", tag, False, b"amq.direct", b"bench.queue", props, body, 131072
            )

    def encode_publishes() -> None:
        for _ in range(n):
            encode_basic_publish(
                1, b"amq.direct", b"bench.queue", False, False, props, body, 131072
            )

    acks = b"".join(encode_basic_ack(1, tag, False) for tag in range(1, n + 1))

    def decode_acks() -> None:
        d = Decoder(expect_protocol_header=False)
        assert len(d.feed(acks)) == n

    def decode_props() -> None:
        for _ in range(n):
            decode_properties(props)

    results = [
        ("decode publish triplets, 64 KiB reads", decode_stream),
        ("decode publish triplets, one buffer", decode_whole),
        ("encode basic.deliver (fast encoder)", encode_deliveries),
        ("encode basic.publish (fast encoder)", encode_publishes),
        ("decode basic.ack frames", decode_acks),
        ("decode_properties (3 properties)", decode_props),
    ]
    print(
        f"{n} messages, {len(body)}-byte bodies, {len(props)}-byte properties, best of {opts.runs}"
    )
    for label, fn in results:
        seconds = best_of(opts.runs, fn)
        print(f"  {label:42s} {seconds / n * 1e6:6.2f} µs/msg  ({n / seconds:,.0f}/s)")


if __name__ == "__main__":
    main()
