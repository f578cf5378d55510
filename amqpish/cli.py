"""The ``amqpish`` command: ``serve`` runs the broker; other sub-commands are tools."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import trio

from amqpish.config import load_config


def _serve(args: argparse.Namespace) -> int:
    from amqpish.server.app import Server
    from amqpish.server.logs import configure_logging

    cfg = load_config(
        args.config,
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        data_dir=args.data_dir,
        log_json=True if args.log_json else None,
    )
    configure_logging(json=cfg.log_json, level=cfg.log_level)

    async def main() -> None:
        server = Server(cfg)
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    server.stop()
                    break

    try:
        trio.run(main)
    except OSError as e:
        print(f"amqpish: {e}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amqpish", description="A RabbitMQ-compatible broker")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the broker")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--http-port", type=int, default=None)
    s.add_argument("--data-dir", default=None)
    s.add_argument("--config", default=None, help="TOML configuration file")
    s.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    s.set_defaults(func=_serve)
    from amqpish.admin_cli import add_admin_commands
    from amqpish.perf import add_perf_command
    from amqpish.tools_cli import add_tool_commands

    add_tool_commands(sub)
    add_admin_commands(sub)
    add_perf_command(sub)
    return p


def main(argv: list[str] | None = None) -> Any:
    parser = build_parser()
    args = parser.parse_args(argv)
    sys.exit(args.func(args))
