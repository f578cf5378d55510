"""The client-side sub-commands of ``amqpish``, built on :mod:`amqpish.client`.

``amqpish/cli.py`` registers them with :func:`add_tool_commands`; each sub-command is a
function ``(args) -> int`` set as the parser's ``func``. Every command takes ``--url``
(an AMQP URI) and ``--json``; ``list`` reads RabbitMQ's HTTP management API at
``--mgmt-url`` instead. Output is a human-readable table or text by default, JSON with
``--json`` (one object per line for message streams). Exit codes: 0 success, 1 an error
from the broker or the network, 2 a usage error; errors are one line on stderr.

    amqpish publish [--exchange X] [--routing-key K] [--property k=v] [--header k=v]
                    [--persistent] [--confirm] [--mandatory] [MESSAGE ...]   (else stdin lines)
    amqpish consume QUEUE [--ack | --requeue | --no-ack] [--count N] [--timeout S] [--prefetch N]
    amqpish get QUEUE [--ack | --requeue | --no-ack] [--count N]
    amqpish declare exchange NAME [--type T] [--durable] [--auto-delete] [--internal] [--argument k=v]
    amqpish declare queue NAME [--durable] [--exclusive] [--auto-delete] [--argument k=v]
    amqpish declare binding SOURCE DESTINATION [--routing-key K] [--destination-type queue|exchange]
    amqpish delete exchange NAME [--if-unused]
    amqpish delete queue NAME [--if-unused] [--if-empty]
    amqpish purge QUEUE
    amqpish list queues|exchanges|bindings|connections [--mgmt-url URL] [--vhost V]
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

import trio

from amqpish.client import (
    AMQPError,
    BasicProperties,
    ConsumerCancelled,
    Delivery,
    PublishError,
    connect,
)

__all__ = ["add_tool_commands", "main"]

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_MGMT_URL = "http://guest:guest@127.0.0.1:15672"
PROG = "amqpish"


class UsageError(Exception):
    """Bad arguments found after argparse (exit code 2)."""


# ---------------------------------------------------------------------- output helpers


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str], out: TextIO) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(list(headers)), file=out)
    for r in cells:
        print(line(r), file=out)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_cell(x)}" for k, x in v.items())
    return str(v)


def _json_value(v: Any) -> Any:
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            return base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)


def _properties_dict(p: BasicProperties) -> dict[str, Any]:
    fields = ("content_type", "content_encoding", "headers", "delivery_mode", "priority", "correlation_id",
              "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id", "cluster_id")  # fmt: skip
    return {f: _json_value(getattr(p, f)) for f in fields if getattr(p, f) is not None}


def _delivery_json(d: Delivery) -> dict[str, Any]:
    try:
        body, encoding = d.body.decode(), "string"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(d.body).decode(), "base64"
    out: dict[str, Any] = {
        "exchange": d.exchange,
        "routing_key": d.routing_key,
        "redelivered": d.redelivered,
        "delivery_tag": d.delivery_tag,
        "properties": _properties_dict(d.properties),
        "body": body,
        "body_encoding": encoding,
    }
    if d.message_count is not None:
        out["message_count"] = d.message_count
    return out


def _print_delivery(d: Delivery, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(_delivery_json(d)), flush=True)
        return
    body = d.body.decode(errors="replace")
    print(body, flush=True)


# ---------------------------------------------------------------------- argument values


def _value(text: str) -> Any:
    """``--argument``/``--header`` values: JSON when it parses (numbers, true, ...), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} must be KEY=VALUE, got {item!r}")
        out[key] = _value(value)
    return out


_PROPERTY_TYPES: dict[str, type] = {
    "content_type": str,
    "content_encoding": str,
    "delivery_mode": int,
    "priority": int,
    "correlation_id": str,
    "reply_to": str,
    "expiration": str,
    "message_id": str,
    "timestamp": int,
    "type": str,
    "user_id": str,
    "app_id": str,
}


def _properties(args: argparse.Namespace) -> BasicProperties:
    fields: dict[str, Any] = {}
    for item in args.property or []:
        key, sep, value = item.partition("=")
        key = key.replace("-", "_")
        if not sep or key not in _PROPERTY_TYPES:
            raise UsageError(
                f"--property must be NAME=VALUE with NAME one of {', '.join(_PROPERTY_TYPES)}; got {item!r}"
            )
        try:
            fields[key] = _PROPERTY_TYPES[key](value)
        except ValueError:
            raise UsageError(f"--property {key} needs an integer, got {value!r}") from None
    headers = _pairs(args.header, "--header")
    if headers:
        fields["headers"] = headers
    if args.persistent:
        fields["delivery_mode"] = 2
    return BasicProperties(**fields)


# ---------------------------------------------------------------------- running


def _run(args: argparse.Namespace, fn: Callable[[], Awaitable[int]]) -> int:
    """Run ``fn`` under Trio; map errors to one stderr line and an exit code."""
    try:
        return trio.run(fn)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # a malformed URL, an unencodable name, ...
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except (AMQPError, PublishError, ConsumerCancelled, OSError) as e:
        print(f"{PROG}: {_describe(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _describe(e: BaseException) -> str:
    if isinstance(e, AMQPError) and e.reply_code:
        return f"{type(e).__name__}: {e.reply_text}"
    return str(e) or type(e).__name__


# ---------------------------------------------------------------------- commands

Command = Callable[[argparse.Namespace], int]


def _command(fn: Command) -> Command:
    """A reader of our output that goes away (``| head``) is not an error."""

    @functools.wraps(fn)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0

    return wrapper


@_command
def cmd_publish(args: argparse.Namespace) -> int:
    async def run() -> int:
        props = _properties(args)
        messages: Sequence[str] | TextIO = args.message if args.message else sys.stdin
        count = 0
        async with (
            connect(args.url, name="amqpish publish") as conn,
            conn.channel(confirm=args.confirm) as ch,
        ):
            for line in messages:
                body = line[:-1] if line.endswith("\n") else line
                await ch.publish(
                    body,
                    exchange=args.exchange,
                    routing_key=args.routing_key,
                    properties=props,
                    mandatory=args.mandatory,
                    wait=False,
                )
                count += 1
            if args.confirm:
                await ch.wait_for_confirms()
        if args.json:
            print(json.dumps({"published": count, "confirmed": bool(args.confirm)}))
        else:
            what = "confirmed" if args.confirm else "sent"
            print(f"{count} message{'s' if count != 1 else ''} {what}")
        return 0

    return _run(args, run)


def _ack_mode(args: argparse.Namespace, default: str) -> str:
    return str(args.ackmode or default)


@_command
def cmd_consume(args: argparse.Namespace) -> int:
    mode = _ack_mode(args, "ack")

    async def run() -> int:
        held: list[Delivery] = []
        count = 0
        prefetch = args.prefetch if args.prefetch is not None else (args.count or 100)
        async with (
            connect(args.url, name="amqpish consume") as conn,
            conn.channel() as ch,
            ch.consume(args.queue, prefetch=prefetch, no_ack=mode == "no-ack") as messages,
        ):
            while args.count is None or count < args.count:
                with trio.move_on_after(args.timeout if args.timeout is not None else float("inf")):
                    d = await messages.receive()
                    _print_delivery(d, args)
                    count += 1
                    if mode == "ack":
                        await d.ack()
                    elif mode == "requeue":
                        held.append(d)  # requeued at the end, so each shows once
                    continue
                break  # --timeout without a message
            for d in held:
                await d.nack(requeue=True)
        return 0

    return _run(args, run)


@_command
def cmd_get(args: argparse.Namespace) -> int:
    mode = _ack_mode(args, "requeue")

    async def run() -> int:
        got: list[Delivery] = []
        async with connect(args.url, name="amqpish get") as conn, conn.channel() as ch:
            for _ in range(args.count):
                d = await ch.get(args.queue, no_ack=mode == "no-ack")
                if d is None:
                    break
                got.append(d)
            for d in got:
                if mode == "ack":
                    await d.ack()
                elif mode == "requeue":
                    await d.nack(requeue=True)
        if args.json:
            print(json.dumps([_delivery_json(d) for d in got]))
        elif not got:
            print("(queue is empty)")
        else:
            rows = [
                (
                    d.routing_key,
                    d.exchange,
                    d.message_count,
                    d.redelivered,
                    d.body.decode(errors="replace"),
                )
                for d in got
            ]
            _table(
                rows, ["routing_key", "exchange", "remaining", "redelivered", "body"], sys.stdout
            )
        return 0

    return _run(args, run)


@_command
def cmd_declare(args: argparse.Namespace) -> int:
    async def run() -> int:
        arguments = _pairs(args.argument, "--argument")
        result: dict[str, Any]
        async with connect(args.url, name="amqpish declare") as conn, conn.channel() as ch:
            if args.kind == "exchange":
                await ch.exchange_declare(
                    args.name, args.type, durable=args.durable, auto_delete=args.auto_delete,
                    internal=args.internal, arguments=arguments,
                )  # fmt: skip
                result = {"exchange": args.name, "type": args.type}
                text = f"exchange {args.name!r} ({args.type}) declared"
            elif args.kind == "queue":
                q = await ch.queue_declare(
                    args.name, durable=args.durable, exclusive=args.exclusive,
                    auto_delete=args.auto_delete, arguments=arguments,
                )  # fmt: skip
                result = {
                    "queue": q.queue,
                    "messages": q.message_count,
                    "consumers": q.consumer_count,
                }
                text = f"queue {q.queue!r} declared ({q.message_count} messages, {q.consumer_count} consumers)"
            else:
                if args.destination_type == "queue":
                    await ch.queue_bind(
                        args.destination, args.source, args.routing_key, arguments=arguments
                    )
                else:
                    await ch.exchange_bind(
                        args.destination, args.source, args.routing_key, arguments=arguments
                    )
                result = {
                    "source": args.source,
                    "destination": args.destination,
                    "destination_type": args.destination_type,
                    "routing_key": args.routing_key,
                }
                text = f"binding {args.source!r} -> {args.destination_type} {args.destination!r} (key {args.routing_key!r}) declared"
        print(json.dumps(result) if args.json else text)
        return 0

    return _run(args, run)


@_command
def cmd_delete(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with connect(args.url, name="amqpish delete") as conn, conn.channel() as ch:
            if args.kind == "exchange":
                await ch.exchange_delete(args.name, if_unused=args.if_unused)
                result: dict[str, Any] = {"exchange": args.name, "deleted": True}
                text = f"exchange {args.name!r} deleted"
            else:
                n = await ch.queue_delete(
                    args.name, if_unused=args.if_unused, if_empty=args.if_empty
                )
                result = {"queue": args.name, "deleted": True, "messages": n}
                text = f"queue {args.name!r} deleted ({n} messages)"
        print(json.dumps(result) if args.json else text)
        return 0

    return _run(args, run)


@_command
def cmd_purge(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with connect(args.url, name="amqpish purge") as conn, conn.channel() as ch:
            n = await ch.queue_purge(args.queue)
        print(
            json.dumps({"queue": args.queue, "purged": n})
            if args.json
            else f"queue {args.queue!r} purged ({n} messages)"
        )
        return 0

    return _run(args, run)


# ---------------------------------------------------------------------- list (management API)

_LISTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # kind: (endpoint, [(column header, JSON field path)])
    "queues": (
        "queues",
        [("vhost", "vhost"), ("name", "name"), ("type", "type"), ("messages", "messages"),
         ("ready", "messages_ready"), ("unacked", "messages_unacknowledged"),
         ("consumers", "consumers"), ("state", "state")],
    ),
    "exchanges": (
        "exchanges",
        [("vhost", "vhost"), ("name", "name"), ("type", "type"), ("durable", "durable"),
         ("auto_delete", "auto_delete"), ("internal", "internal")],
    ),
    "bindings": (
        "bindings",
        [("vhost", "vhost"), ("source", "source"), ("destination", "destination"),
         ("destination_type", "destination_type"), ("routing_key", "routing_key"), ("arguments", "arguments")],
    ),
    "connections": (
        "connections",
        [("name", "name"), ("user", "user"), ("vhost", "vhost"), ("state", "state"),
         ("channels", "channels"), ("client", "client_properties.product"),
         ("client_name", "client_properties.connection_name")],
    ),
}  # fmt: skip


def _field(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _http_get_json(mgmt_url: str, path: str, timeout: float) -> Any:
    parts = urllib.parse.urlsplit(mgmt_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--mgmt-url must be an http(s) URL, got {mgmt_url!r}")
    user = urllib.parse.unquote(parts.username or "guest")
    password = urllib.parse.unquote(parts.password or "guest")
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if ":" in parts.hostname:
        netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + path, "", ""))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        url, headers={"Authorization": f"Basic {token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        try:
            reason = json.load(e).get("reason") or e.reason
        except (ValueError, AttributeError):
            reason = e.reason
        raise ManagementError(f"management API {path}: HTTP {e.code} {reason}") from None
    except urllib.error.URLError as e:
        raise ManagementError(f"cannot reach the management API at {netloc}: {e.reason}") from None
    except ValueError as e:
        raise ManagementError(f"management API {path}: not JSON ({e})") from None


class ManagementError(Exception):
    """The management API failed (exit code 1)."""


@_command
def cmd_list(args: argparse.Namespace) -> int:
    endpoint, columns = _LISTS[args.kind]
    path = f"/api/{endpoint}"
    if args.vhost is not None and args.kind != "connections":
        path += "/" + urllib.parse.quote(args.vhost, safe="")
    try:
        items = _http_get_json(args.mgmt_url, path, args.http_timeout)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except (ManagementError, OSError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    if not isinstance(items, list):
        print(f"{PROG}: management API {path}: expected a list", file=sys.stderr)
        return 1
    if args.kind == "connections" and args.vhost is not None:
        items = [i for i in items if i.get("vhost") == args.vhost]
    if args.json:
        print(json.dumps([{h: _field(i, p) for h, p in columns} for i in items]))
        return 0
    rows = []
    for item in items:
        row = [_field(item, p) for _, p in columns]
        if args.kind == "exchanges" and row[1] == "":
            row[1] = "(AMQP default)"
        rows.append(row)
    _table(rows, [h for h, _ in columns], sys.stdout)
    return 0


# ---------------------------------------------------------------------- parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url", default=DEFAULT_URL, help=f"AMQP URI of the broker (default {DEFAULT_URL})"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _ack_options(p: argparse.ArgumentParser, default: str) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--ack",
        dest="ackmode",
        action="store_const",
        const="ack",
        help="acknowledge (remove) messages",
    )
    g.add_argument(
        "--requeue",
        dest="ackmode",
        action="store_const",
        const="requeue",
        help="give messages back to the queue",
    )
    g.add_argument(
        "--no-ack",
        dest="ackmode",
        action="store_const",
        const="no-ack",
        help="consume in no-ack mode",
    )
    p.set_defaults(ackmode=None)
    p.epilog = f"The default is --{default}."


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def add_tool_commands(subparsers: Any) -> None:
    """Add publish, consume, get, declare, delete, purge and list to ``subparsers``
    (the result of ``ArgumentParser.add_subparsers()``)."""
    p = subparsers.add_parser("publish", help="publish messages (arguments, or stdin lines)")
    _common(p)
    p.add_argument("message", nargs="*", help="message bodies (default: one per line of stdin)")
    p.add_argument("--exchange", "-e", default="", help="exchange (default: the default exchange)")
    p.add_argument(
        "--routing-key",
        "-r",
        default="",
        help="routing key (a queue name for the default exchange)",
    )
    p.add_argument(
        "--property",
        "-p",
        action="append",
        metavar="NAME=VALUE",
        help="a message property, e.g. content_type=text/plain",
    )
    p.add_argument(
        "--header",
        "-H",
        action="append",
        metavar="KEY=VALUE",
        help="a header (values that parse as JSON are typed)",
    )
    p.add_argument("--persistent", action="store_true", help="delivery_mode=2")
    p.add_argument("--confirm", action="store_true", help="wait for publisher confirms")
    p.add_argument(
        "--mandatory",
        action="store_true",
        help="fail (with --confirm) when a message is unroutable",
    )
    p.set_defaults(func=cmd_publish)

    p = subparsers.add_parser("consume", help="print messages from a queue as they arrive")
    _common(p)
    p.add_argument("queue")
    _ack_options(p, "ack")
    p.add_argument("--count", "-n", type=_positive, default=None, help="stop after N messages")
    p.add_argument(
        "--timeout", "-t", type=float, default=None, help="stop after S seconds without a message"
    )
    p.add_argument(
        "--prefetch", type=int, default=None, help="prefetch window (default: --count or 100)"
    )
    p.set_defaults(func=cmd_consume)

    p = subparsers.add_parser("get", help="fetch messages with basic.get")
    _common(p)
    p.add_argument("queue")
    _ack_options(p, "requeue")
    p.add_argument(
        "--count", "-n", type=_positive, default=1, help="fetch up to N messages (default 1)"
    )
    p.set_defaults(func=cmd_get)

    p = subparsers.add_parser("declare", help="declare an exchange, a queue or a binding")
    kinds = p.add_subparsers(dest="kind", required=True)
    k = kinds.add_parser("exchange", help="declare an exchange")
    _common(k)
    k.add_argument("name")
    k.add_argument(
        "--type", default="direct", help="direct, fanout, topic, headers, ... (default direct)"
    )
    k.add_argument("--durable", action="store_true")
    k.add_argument("--auto-delete", action="store_true")
    k.add_argument("--internal", action="store_true")
    k.add_argument("--argument", "-a", action="append", metavar="KEY=VALUE")
    k.set_defaults(func=cmd_declare)
    k = kinds.add_parser("queue", help="declare a queue")
    _common(k)
    k.add_argument("name", nargs="?", default="", help="queue name (default: server-named)")
    k.add_argument("--durable", action="store_true")
    k.add_argument("--exclusive", action="store_true")
    k.add_argument("--auto-delete", action="store_true")
    k.add_argument(
        "--argument", "-a", action="append", metavar="KEY=VALUE", help="e.g. x-max-length=10"
    )
    k.set_defaults(func=cmd_declare)
    k = kinds.add_parser("binding", help="bind a queue (or exchange) to an exchange")
    _common(k)
    k.add_argument("source", help="source exchange")
    k.add_argument("destination", help="destination queue or exchange")
    k.add_argument("--routing-key", "-r", default="")
    k.add_argument("--destination-type", choices=["queue", "exchange"], default="queue")
    k.add_argument("--argument", "-a", action="append", metavar="KEY=VALUE")
    k.set_defaults(func=cmd_declare)

    p = subparsers.add_parser("delete", help="delete an exchange or a queue")
    kinds = p.add_subparsers(dest="kind", required=True)
    k = kinds.add_parser("exchange", help="delete an exchange")
    _common(k)
    k.add_argument("name")
    k.add_argument("--if-unused", action="store_true")
    k.set_defaults(func=cmd_delete)
    k = kinds.add_parser("queue", help="delete a queue")
    _common(k)
    k.add_argument("name")
    k.add_argument("--if-unused", action="store_true")
    k.add_argument("--if-empty", action="store_true")
    k.set_defaults(func=cmd_delete)

    p = subparsers.add_parser("purge", help="remove the ready messages of a queue")
    _common(p)
    p.add_argument("queue")
    p.set_defaults(func=cmd_purge)

    p = subparsers.add_parser(
        "list", help="list queues, exchanges, bindings or connections (management API)"
    )
    p.add_argument("kind", choices=sorted(_LISTS))
    p.add_argument(
        "--mgmt-url",
        default=DEFAULT_MGMT_URL,
        help=f"management API base URL (default {DEFAULT_MGMT_URL})",
    )
    p.add_argument("--vhost", default=None, help="only this vhost")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--http-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="AMQP 0-9-1 command-line tools")
    add_tool_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m amqpish.tools_cli ...`` (the same commands without ``serve``)."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
