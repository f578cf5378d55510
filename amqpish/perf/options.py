"""``amqpish perf`` options: the argparse definition and the validated settings.

The flags follow RabbitMQ's PerfTest where it has one (``-x -y -s -a -q -A -c -f -t -k
-r -z``); what PerfTest lacks comes from the shared harness (``--queues``,
``--bindings``, ``--max-inflight``, ``--pub-procs``/``--con-procs``, ``--warmup``).
As in PerfTest, consumers ack manually unless ``-a`` is given, with no prefetch limit
unless ``-q`` is given, and ``-t direct`` publishes through a direct exchange; ``-t
default`` uses the default exchange (what the shared harness does).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["EXCHANGE_TYPES", "PerfOptions", "UsageError", "add_arguments", "options_from_args"]

EXCHANGE_TYPES = ("direct", "default", "fanout", "topic")
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"


class UsageError(Exception):
    """Options that do not make sense together (exit code 2)."""


@dataclass(frozen=True, slots=True)
class PerfOptions:
    url: str = DEFAULT_URL
    producers: int = 1
    consumers: int = 1
    queues: int = 1
    size: int = 12
    autoack: bool = False
    prefetch: int = 0
    multi_ack: int = 0
    confirm: int = 0
    persistent: bool = False
    exchange_type: str = "direct"
    bindings: int = 0
    routing_key: str | None = None
    rate: float = 0.0
    duration: float = 10.0
    warmup: float = 1.0
    max_inflight: int = 10_000
    pub_procs: int = 1
    con_procs: int = 1
    prefix: str = "amqpish.perf"
    keep: bool = False
    json: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The options for the JSON result (the URL without its password)."""
        out = asdict(self)
        del out["json"]
        parts = urlsplit(self.url)
        if parts.password is not None:
            netloc = parts.netloc.rsplit("@", 1)[1]
            out["url"] = urlunsplit(parts._replace(netloc=f"{parts.username}@{netloc}"))
        return out


def _count(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _seconds(text: str) -> float:
    x = float(text)
    if not (x >= 0 and math.isfinite(x)):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return x


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = PerfOptions()
    p.add_argument("--url", default=d.url, help=f"AMQP URI of the broker (default {d.url})")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    g = p.add_argument_group("load")
    g.add_argument("-x", "--producers", type=_count, default=d.producers, help="producers (1)")
    g.add_argument("-y", "--consumers", type=_count, default=d.consumers, help="consumers (1)")
    g.add_argument("--queues", type=_positive, default=d.queues, help="queues (1)")
    g.add_argument("-s", "--size", type=_count, default=d.size, help="body bytes (12)")
    g.add_argument("-r", "--rate", type=float, default=d.rate, help="total msg/s (0: unlimited)")
    g.add_argument(
        "-f", "--persistent", action="store_true", help="durable queues, delivery-mode 2"
    )
    g.add_argument("-c", "--confirm", type=_count, default=d.confirm, metavar="WINDOW",
                   help="publisher confirms, at most WINDOW unconfirmed (0: off)")  # fmt: skip
    g = p.add_argument_group("consumers")
    g.add_argument("-a", "--autoack", action="store_true", help="no-ack consumers")
    g.add_argument("-q", "--prefetch", type=_count, default=d.prefetch,
                   help="basic.qos prefetch count (0: unlimited)")  # fmt: skip
    g.add_argument("-A", "--multi-ack", type=_count, default=d.multi_ack, metavar="N",
                   help="ack with multiple=true every N messages (0: ack each one)")  # fmt: skip
    g = p.add_argument_group("routing")
    g.add_argument("-t", "--exchange-type", choices=EXCHANGE_TYPES, default=d.exchange_type,
                   help="direct (one binding per queue), default (the default exchange), "
                   "fanout, topic (default direct)")  # fmt: skip
    g.add_argument("--bindings", type=_count, default=d.bindings,
                   help="topic: this many bindings over the queues (default: one per queue)")  # fmt: skip
    g.add_argument("-k", "--routing-key", default=None,
                   help="publish with this key (e.g. an unroutable one, to measure discard)")  # fmt: skip
    g.add_argument("--prefix", default=d.prefix, help=f"queue/exchange name prefix ({d.prefix})")
    g.add_argument("--keep", action="store_true", help="keep queues and exchange after the run")
    g = p.add_argument_group("timing")
    g.add_argument("-z", "--duration", type=_seconds, default=d.duration,
                   help="measured seconds (default 10; 0: until interrupted)")  # fmt: skip
    g.add_argument("--warmup", type=_seconds, default=d.warmup, help="seconds before measuring (1)")
    g.add_argument("--max-inflight", type=_count, default=d.max_inflight,
                   help="stop producers while this many messages are published but not yet "
                   "consumed (default 10000; 0: unbounded, like PerfTest)")  # fmt: skip
    g.add_argument(
        "--pub-procs", type=_positive, default=d.pub_procs, help="producer processes (1)"
    )
    g.add_argument(
        "--con-procs", type=_positive, default=d.con_procs, help="consumer processes (1)"
    )


def options_from_args(args: argparse.Namespace) -> PerfOptions:
    """Validated options; raises UsageError."""
    o = PerfOptions(
        url=args.url,
        producers=args.producers,
        consumers=args.consumers,
        queues=args.queues,
        size=args.size,
        autoack=args.autoack,
        prefetch=args.prefetch,
        multi_ack=args.multi_ack,
        confirm=args.confirm,
        persistent=args.persistent,
        exchange_type=args.exchange_type,
        bindings=args.bindings,
        routing_key=args.routing_key,
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        max_inflight=args.max_inflight,
        pub_procs=args.pub_procs,
        con_procs=args.con_procs,
        prefix=args.prefix,
        keep=args.keep,
        json=args.json,
    )
    if o.producers == 0 and o.consumers == 0:
        raise UsageError("nothing to do: -x and -y are both 0")
    if o.prefetch > 65535:
        raise UsageError(f"-q/--prefetch is at most 65535, got {o.prefetch}")
    if o.autoack and (o.multi_ack or o.prefetch):
        raise UsageError("-A/--multi-ack and -q/--prefetch need manual ack (drop -a)")
    if o.prefetch and o.multi_ack > o.prefetch:
        raise UsageError(
            f"-A {o.multi_ack} can never be reached with prefetch {o.prefetch}: "
            "the consumer would stall"
        )
    if not (o.rate >= 0 and math.isfinite(o.rate)):
        raise UsageError(f"-r/--rate must be >= 0, got {o.rate}")
    if o.bindings and o.exchange_type != "topic":
        raise UsageError("--bindings is for -t topic")
    if not o.prefix or len(o.prefix) > 200:
        raise UsageError("--prefix must be 1..200 characters")
    return o
