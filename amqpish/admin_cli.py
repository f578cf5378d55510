"""``amqpish users|vhosts|permissions|policies|definitions``: administration commands.

A running broker is changed through its HTTP API (``--mgmt-url``), as rabbitmqctl
talks to a running node. When nothing answers there, the commands edit the data
directory's durable definitions instead (``--data-dir``), so that users and vhosts
can be prepared before the first start; a broker that is running owns that file,
so the offline path is only taken when the API is unreachable.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amqpish.broker.auth import HASHING_ALGORITHM, hash_password
from amqpish.store.definitions import (
    DefinitionsError,
    load_definitions,
    new_definitions,
    save_definitions,
)
from amqpish.store.journal import DefinitionsJournal, replay

DEFAULT_MGMT = "http://guest:guest@127.0.0.1:15672"


class Unreachable(Exception):
    pass


class CommandError(Exception):
    pass


def _q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def _api(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    url = urllib.parse.urlsplit(args.mgmt_url)
    base = f"{url.scheme}://{url.hostname}:{url.port or 15672}"
    req = urllib.request.Request(base + path, method=method)
    user = urllib.parse.unquote(url.username or "guest")
    password = urllib.parse.unquote(url.password or "guest")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data=data, timeout=10) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        try:
            reason = json.loads(e.read()).get("reason", e.reason)
        except ValueError:
            reason = e.reason
        raise CommandError(f"{e.code}: {reason}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
        raise Unreachable(str(e)) from None
    return json.loads(raw) if raw.strip() else None


# --- offline edits of the definitions file ----------------------------------------------


def _defs_path(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) / "definitions.json"


def _journal(args: argparse.Namespace) -> DefinitionsJournal:
    return DefinitionsJournal(Path(args.data_dir) / "definitions.journal")


def _load(args: argparse.Namespace) -> dict[str, Any]:
    doc = load_definitions(_defs_path(args))
    batches = _journal(args).read()
    if batches:
        # the broker's changes since its last snapshot (store/journal.py)
        doc = replay(doc if doc is not None else new_definitions("", ""), batches)
    if doc is None:
        # first boot has not happened: start from what the broker would create
        doc = {
            "users": [
                {
                    "name": "guest",
                    "password_hash": hash_password("guest"),
                    "hashing_algorithm": HASHING_ALGORITHM,
                    "tags": ["administrator"],
                    "limits": {},
                }
            ],
            "vhosts": [{"name": "/"}],
            "permissions": [
                {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
            ],
            "policies": [],
            "queues": [],
            "exchanges": [],
            "bindings": [],
        }
    return doc


def _offline(args: argparse.Namespace, change: Callable[[dict[str, Any]], Any]) -> Any:
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    doc = _load(args)
    result = change(doc)
    save_definitions(_defs_path(args), doc)
    # the snapshot now holds what the journal said
    _journal(args).truncate()
    return result


def _upsert(items: list[dict[str, Any]], match: dict[str, Any], value: dict[str, Any]) -> None:
    for i, it in enumerate(items):
        if all(it.get(k) == v for k, v in match.items()):
            items[i] = value
            return
    items.append(value)


def _remove(items: list[dict[str, Any]], match: dict[str, Any]) -> bool:
    before = len(items)
    items[:] = [it for it in items if not all(it.get(k) == v for k, v in match.items())]
    return len(items) != before


# --- commands ------------------------------------------------------------------------------


def _run(args: argparse.Namespace, online: Callable[[], Any], offline: Callable[[], Any]) -> Any:
    try:
        return online()
    except Unreachable:
        return offline()


def _tags(s: str) -> list[str]:
    return [t for t in s.split(",") if t]


def users_cmd(args: argparse.Namespace) -> Any:
    a = args.action
    if a == "add":
        tags = _tags(args.tags)

        def off(doc: dict[str, Any]) -> None:
            _upsert(
                doc.setdefault("users", []),
                {"name": args.name},
                {
                    "name": args.name,
                    "password_hash": hash_password(args.password),
                    "hashing_algorithm": HASHING_ALGORITHM,
                    "tags": tags,
                    "limits": {},
                },
            )

        return _run(
            args,
            lambda: _api(
                args,
                "PUT",
                f"/api/users/{_q(args.name)}",
                {"password": args.password, "tags": ",".join(tags)},
            ),
            lambda: _offline(args, off),
        )
    if a == "delete":

        def off_del(doc: dict[str, Any]) -> None:
            if not _remove(doc.setdefault("users", []), {"name": args.name}):
                raise CommandError(f"no user '{args.name}'")
            _remove(doc.setdefault("permissions", []), {"user": args.name})

        return _run(
            args,
            lambda: _api(args, "DELETE", f"/api/users/{_q(args.name)}"),
            lambda: _offline(args, off_del),
        )
    return _run(
        args,
        lambda: [{"name": u["name"], "tags": u["tags"]} for u in _api(args, "GET", "/api/users")],
        lambda: [{"name": u["name"], "tags": u["tags"]} for u in _load(args).get("users", [])],
    )


def vhosts_cmd(args: argparse.Namespace) -> Any:
    a = args.action
    if a == "add":
        return _run(
            args,
            lambda: _api(args, "PUT", f"/api/vhosts/{_q(args.name)}", {}),
            lambda: _offline(
                args,
                lambda doc: _upsert(
                    doc.setdefault("vhosts", []), {"name": args.name}, {"name": args.name}
                ),
            ),
        )
    if a == "delete":
        return _run(
            args,
            lambda: _api(args, "DELETE", f"/api/vhosts/{_q(args.name)}"),
            lambda: _offline(
                args, lambda doc: _remove(doc.setdefault("vhosts", []), {"name": args.name})
            ),
        )
    return _run(
        args,
        lambda: [{"name": v["name"]} for v in _api(args, "GET", "/api/vhosts")],
        lambda: [{"name": v["name"]} for v in _load(args).get("vhosts", [])],
    )


def permissions_cmd(args: argparse.Namespace) -> Any:
    if args.action == "set":
        perm = {"configure": args.configure, "write": args.write, "read": args.read}
        return _run(
            args,
            lambda: _api(args, "PUT", f"/api/permissions/{_q(args.vhost)}/{_q(args.user)}", perm),
            lambda: _offline(
                args,
                lambda doc: _upsert(
                    doc.setdefault("permissions", []),
                    {"user": args.user, "vhost": args.vhost},
                    {"user": args.user, "vhost": args.vhost, **perm},
                ),
            ),
        )
    if args.action == "clear":
        return _run(
            args,
            lambda: _api(args, "DELETE", f"/api/permissions/{_q(args.vhost)}/{_q(args.user)}"),
            lambda: _offline(
                args,
                lambda doc: _remove(
                    doc.setdefault("permissions", []), {"user": args.user, "vhost": args.vhost}
                ),
            ),
        )
    return _run(
        args,
        lambda: _api(args, "GET", "/api/permissions"),
        lambda: _load(args).get("permissions", []),
    )


def policies_cmd(args: argparse.Namespace) -> Any:
    if args.action == "set":
        try:
            definition = json.loads(args.definition)
        except ValueError as e:
            raise CommandError(f"definition is not JSON: {e}") from None
        if not isinstance(definition, dict):
            raise CommandError("definition must be a JSON object")
        pol = {
            "pattern": args.pattern,
            "definition": definition,
            "priority": args.priority,
            "apply-to": args.apply_to,
        }
        return _run(
            args,
            lambda: _api(args, "PUT", f"/api/policies/{_q(args.vhost)}/{_q(args.name)}", pol),
            lambda: _offline(
                args,
                lambda doc: _upsert(
                    doc.setdefault("policies", []),
                    {"vhost": args.vhost, "name": args.name},
                    {"vhost": args.vhost, "name": args.name, **pol},
                ),
            ),
        )
    if args.action == "clear":
        return _run(
            args,
            lambda: _api(args, "DELETE", f"/api/policies/{_q(args.vhost)}/{_q(args.name)}"),
            lambda: _offline(
                args,
                lambda doc: _remove(
                    doc.setdefault("policies", []), {"vhost": args.vhost, "name": args.name}
                ),
            ),
        )
    return _run(
        args, lambda: _api(args, "GET", "/api/policies"), lambda: _load(args).get("policies", [])
    )


def definitions_cmd(args: argparse.Namespace) -> Any:
    if args.action == "export":
        doc = _run(args, lambda: _api(args, "GET", "/api/definitions"), lambda: _load(args))
        text = json.dumps(doc, indent=2, sort_keys=True)
        if args.file == "-":
            print(text)
        else:
            Path(args.file).write_text(text + "\n")
        return None
    try:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        doc = json.loads(raw)
    except (OSError, ValueError) as e:
        raise CommandError(f"cannot read {args.file}: {e}") from None

    def merge(current: dict[str, Any]) -> None:
        for key in ("users", "vhosts", "permissions", "policies", "queues", "exchanges"):
            current.setdefault(key, []).extend(doc.get(key, []))
        current.setdefault("bindings", []).extend(doc.get("bindings", []))

    return _run(
        args, lambda: _api(args, "POST", "/api/definitions", doc), lambda: _offline(args, merge)
    )


def _main(fn: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            result = fn(args)
        except CommandError as e:
            print(f"amqpish: {e}", file=sys.stderr)
            return 1
        except DefinitionsError as e:
            print(f"amqpish: {e}", file=sys.stderr)
            return 1
        if isinstance(result, list):
            if args.json:
                print(json.dumps(result, indent=2))
            else:
                for item in result:
                    print("\t".join(str(v) for v in item.values()))
        return 0

    return run


def add_admin_commands(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--mgmt-url", default=DEFAULT_MGMT, help="a running broker's HTTP API")
        p.add_argument("--data-dir", default="./data", help="used when no broker answers")
        p.add_argument("--json", action="store_true")

    u = sub.add_parser("users", help="manage users")
    uact = u.add_subparsers(dest="action", required=True)
    ua = uact.add_parser("add")
    ua.add_argument("name")
    ua.add_argument("password")
    ua.add_argument("--tags", default="", help="comma-separated, e.g. administrator")
    ud = uact.add_parser("delete")
    ud.add_argument("name")
    ul = uact.add_parser("list")
    for p in (ua, ud, ul):
        common(p)
    u.set_defaults(func=_main(users_cmd))

    v = sub.add_parser("vhosts", help="manage virtual hosts")
    vact = v.add_subparsers(dest="action", required=True)
    va = vact.add_parser("add")
    va.add_argument("name")
    vd = vact.add_parser("delete")
    vd.add_argument("name")
    vl = vact.add_parser("list")
    for p in (va, vd, vl):
        common(p)
    v.set_defaults(func=_main(vhosts_cmd))

    pm = sub.add_parser("permissions", help="per-vhost permissions (regular expressions)")
    pact = pm.add_subparsers(dest="action", required=True)
    ps = pact.add_parser("set")
    ps.add_argument("user")
    ps.add_argument("--vhost", default="/")
    ps.add_argument("--configure", default=".*")
    ps.add_argument("--write", default=".*")
    ps.add_argument("--read", default=".*")
    pc = pact.add_parser("clear")
    pc.add_argument("user")
    pc.add_argument("--vhost", default="/")
    pl = pact.add_parser("list")
    for p in (ps, pc, pl):
        common(p)
    pm.set_defaults(func=_main(permissions_cmd))

    po = sub.add_parser("policies", help="queue and exchange policies")
    poact = po.add_subparsers(dest="action", required=True)
    pos = poact.add_parser("set")
    pos.add_argument("name")
    pos.add_argument("pattern")
    pos.add_argument("definition", help="JSON, e.g. '{\"max-length\": 1000}'")
    pos.add_argument("--vhost", default="/")
    pos.add_argument("--priority", type=int, default=0)
    pos.add_argument("--apply-to", default="all", choices=["all", "queues", "exchanges"])
    poc = poact.add_parser("clear")
    poc.add_argument("name")
    poc.add_argument("--vhost", default="/")
    pol = poact.add_parser("list")
    for p in (pos, poc, pol):
        common(p)
    po.set_defaults(func=_main(policies_cmd))

    d = sub.add_parser("definitions", help="export/import RabbitMQ-format definitions")
    dact = d.add_subparsers(dest="action", required=True)
    de = dact.add_parser("export")
    de.add_argument("file", help="path, or - for stdout")
    di = dact.add_parser("import")
    di.add_argument("file", help="path, or - for stdin")
    for p in (de, di):
        common(p)
    d.set_defaults(func=_main(definitions_cmd))
