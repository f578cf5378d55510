"""``amqpish perf``: a load generator modelled on RabbitMQ's PerfTest.

    amqpish perf [--url URL] [-x PRODUCERS] [-y CONSUMERS] [--queues N] [-s BYTES]
                 [-a | -q PREFETCH [-A N]] [-c WINDOW] [-f] [-t direct|default|fanout|topic]
                 [--bindings N] [-k KEY] [-r RATE] [-z SECONDS] [--warmup SECONDS]
                 [--max-inflight N] [--pub-procs N] [--con-procs N] [--prefix P] [--keep] [--json]

It prints a progress line per second (sent, confirmed, received msg/s, latency
percentiles) and a summary of the measured window; ``--json`` prints the summary as
one JSON object on stdout (progress then goes to stderr). Exit codes: 0 done,
1 the broker or the network failed, 2 bad options, 130 interrupted before measuring.

Producers and consumers run in forked worker processes that drive raw sockets with
pre-encoded frames from one epoll loop each (see ``clients`` and ``worker``), so the
tool costs the broker little CPU on a small machine; README.md in this folder gives
the method and the tool's own ceiling.

``amqpish/cli.py`` registers the command with :func:`add_perf_command`;
``python -m amqpish.perf`` runs it without the rest of the ``amqpish`` command.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_perf_command", "main"]

PROG = "amqpish perf"


def _cmd_perf(args: argparse.Namespace) -> int:
    from amqpish.perf.options import UsageError, options_from_args
    from amqpish.perf.runner import run
    from amqpish.perf.wire import PerfError

    try:
        return run(options_from_args(args))
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except (PerfError, OSError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _configure(p: argparse.ArgumentParser) -> None:
    from amqpish.perf.options import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_perf)


def add_perf_command(subparsers: Any) -> None:
    """Add ``perf`` to ``subparsers`` (the result of ``ArgumentParser.add_subparsers()``)."""
    p = subparsers.add_parser(
        "perf",
        help="load generator (PerfTest-style): throughput and latency of a broker",
        description="Load generator modelled on RabbitMQ's PerfTest.",
    )
    _configure(p)


def main(argv: list[str] | None = None) -> int:
    """``python -m amqpish.perf ...``"""
    p = argparse.ArgumentParser(prog=PROG, description="Load generator modelled on PerfTest.")
    _configure(p)
    args = p.parse_args(argv)
    return int(args.func(args))
