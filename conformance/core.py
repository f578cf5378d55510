"""Scenario registry, the per-scenario context, and outcome normalisation.

A scenario is a function ``f(ctx) -> outcome`` registered under a dotted name whose first
part is its area. The outcome is plain JSON data describing what the broker did. Names a
scenario creates come from ``ctx.name(label)``, which embeds the scenario name and a random
per-run suffix; ``normalise`` replaces that suffix (and server-generated names, timestamps)
so that outcomes are stable from run to run and comparable between brokers.

The context tracks every connection and every name it handed out, and ``ctx.cleanup()``
closes the connections and deletes those queues and exchanges (and any vhost or policy the
scenario created through the management API) so scenarios leave nothing behind.
"""

from __future__ import annotations

import base64
import datetime
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika

from conformance.mgmt import Mgmt
from conformance.raw import RawConnection, Typed


@dataclass(frozen=True)
class Scenario:
    name: str
    func: Callable[[Context], Any]
    needs_mgmt: bool = False
    timeout: float = 30.0

    @property
    def area(self) -> str:
        return self.name.split(".", 1)[0]


REGISTRY: dict[str, Scenario] = {}


def scenario(
    name: str, needs_mgmt: bool = False, timeout: float = 30.0
) -> Callable[[Callable[[Context], Any]], Callable[[Context], Any]]:
    """Register ``f(ctx) -> outcome`` as scenario ``name`` (``area.topic.case``)."""

    def register(func: Callable[[Context], Any]) -> Callable[[Context], Any]:
        if name in REGISTRY:
            raise ValueError(f"duplicate scenario name {name!r}")
        if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", name):
            raise ValueError(f"bad scenario name {name!r}: use dotted lower_snake words")
        REGISTRY[name] = Scenario(name, func, needs_mgmt, timeout)
        return func

    return register


class Skip(Exception):
    """Raised by a scenario that cannot run against this broker setup."""


class Context:
    def __init__(self, scen: Scenario, url: str, mgmt: Mgmt | None) -> None:
        self.scenario = scen
        self.url = url
        self.mgmt = mgmt
        self.suffix = secrets.token_hex(5)
        params = pika.URLParameters(url)
        self.host: str = params.host
        self.port: int = params.port
        self.vhost: str = params.virtual_host
        creds = params.credentials
        self.user: str = creds.username
        self.password: str = creds.password
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._names: list[tuple[str, str]] = []  # (vhost, name) to delete as queue and exchange
        self._queues_only: set[str] = set()
        self._vhosts: list[str] = []
        self._policies: list[tuple[str, str]] = []
        self.aborted = False

    # -- names
    def name(self, label: str = "q") -> str:
        """A unique queue/exchange name for this scenario run, deleted at cleanup."""
        n = f"{self.scenario.name}.{label}.{self.suffix}"
        self._names.append((self.vhost, n))
        return n

    def track(self, name: str, vhost: str | None = None) -> str:
        """Have cleanup delete a (server-named) queue."""
        self._names.append((vhost or self.vhost, name))
        self._queues_only.add(name)
        return name

    # -- connections
    def params(self, vhost: str | None = None, **kw: Any) -> pika.ConnectionParameters:
        kw.setdefault("connection_attempts", 1)
        kw.setdefault("socket_timeout", 5)
        kw.setdefault("stack_timeout", 10)
        kw.setdefault("blocked_connection_timeout", 10)
        creds = kw.pop("credentials", pika.PlainCredentials(self.user, self.password))
        return pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            virtual_host=self.vhost if vhost is None else vhost,
            credentials=creds,
            **kw,
        )

    def connect(self, vhost: str | None = None, **kw: Any) -> pika.BlockingConnection:
        if self.aborted:
            raise RuntimeError("scenario aborted")
        conn = pika.BlockingConnection(self.params(vhost, **kw))
        with self._lock:
            self._connections.append(conn)
        return conn

    def raw(self, typed: bool = False, timeout: float = 5.0) -> RawConnection:
        """A raw TCP connection to the broker, not yet past the protocol header."""
        if self.aborted:
            raise RuntimeError("scenario aborted")
        conn = RawConnection(self.host, self.port, timeout=timeout, typed=typed)
        with self._lock:
            self._connections.append(conn)
        return conn

    def raw_open(
        self, typed: bool = False, timeout: float = 5.0, **handshake: Any
    ) -> RawConnection:
        """A raw connection after a full handshake (heartbeats off unless asked)."""
        conn = self.raw(typed=typed, timeout=timeout)
        handshake.setdefault("user", self.user)
        handshake.setdefault("password", self.password)
        handshake.setdefault("vhost", self.vhost)
        conn.handshake(**handshake)
        return conn

    # -- management API
    def need_mgmt(self) -> Mgmt:
        if self.mgmt is None:
            raise Skip("needs --mgmt-url")
        return self.mgmt

    def make_vhost(self, label: str = "vh", grant: bool = True) -> str:
        mgmt = self.need_mgmt()
        vhost = f"{self.scenario.name}.{label}.{self.suffix}"
        self._vhosts.append(vhost)
        mgmt.create_vhost(vhost, grant=grant)
        return vhost

    def policy(
        self,
        pattern: str,
        definition: dict[str, Any],
        apply_to: str = "queues",
        priority: int = 0,
        vhost: str | None = None,
        label: str = "pol",
    ) -> str:
        mgmt = self.need_mgmt()
        name = f"{self.scenario.name}.{label}.{self.suffix}"
        vh = self.vhost if vhost is None else vhost
        self._policies.append((vh, name))
        mgmt.set_policy(vh, name, pattern, definition, apply_to, priority)
        return name

    # -- teardown
    def abort(self) -> None:
        """Called from another thread when the scenario overruns: break its sockets."""
        self.aborted = True
        with self._lock:
            conns = list(self._connections)
        for c in conns:
            if isinstance(c, RawConnection):
                c.abort()
                continue
            sock = getattr(getattr(getattr(c, "_impl", None), "_transport", None), "_sock", None)
            if sock is not None:
                try:
                    sock.shutdown(2)
                except OSError:
                    pass

    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for c in self._connections:
            try:
                if isinstance(c, RawConnection) or c.is_open:
                    c.close()
            except Exception:
                pass
        self._connections.clear()
        by_vhost: dict[str, list[str]] = {}
        for vh, n in self._names:
            if vh in self._vhosts:
                continue  # deleted with the vhost
            by_vhost.setdefault(vh, [])
            if n not in by_vhost[vh]:
                by_vhost[vh].append(n)
        for vh, names in by_vhost.items():
            try:
                problems += _delete_names(self, vh, names, self._queues_only)
            except Exception as e:
                problems.append(f"cleanup in vhost {vh!r}: {e!r}")
        if self.mgmt is not None:
            for vh, pol in self._policies:
                try:
                    self.mgmt.clear_policy(vh, pol)
                except Exception as e:
                    problems.append(f"clear policy {pol}: {e!r}")
            for vh in self._vhosts:
                try:
                    self.mgmt.delete_vhost(vh)
                except Exception as e:
                    problems.append(f"delete vhost {vh}: {e!r}")
        return problems


def _delete_names(ctx: Context, vhost: str, names: list[str], queues_only: set[str]) -> list[str]:
    conn = pika.BlockingConnection(ctx.params(vhost))
    problems: list[str] = []
    try:
        ch = conn.channel()
        for n in names:
            for kind in ("queue",) if n in queues_only else ("queue", "exchange"):
                try:
                    if kind == "queue":
                        ch.queue_delete(n)
                    else:
                        ch.exchange_delete(n)
                except pika.exceptions.ChannelClosedByBroker as e:
                    if e.reply_code != 404:
                        problems.append(f"delete {kind} {n}: {e.reply_code} {e.reply_text}")
                    ch = conn.channel()
    finally:
        if conn.is_open:
            conn.close()
    return problems


# ---------------------------------------------------------------- normalisation

_GENERATED = [
    (re.compile(r"amq\.gen-[A-Za-z0-9_\-]+"), "amq.gen-*"),
    (re.compile(r"amq\.ctag-[A-Za-z0-9_\-]+"), "amq.ctag-*"),
]


_ERLANG_TERM = re.compile(r"\{|<<")


def reply_text(text: str) -> str:
    """A reply text up to the first Erlang term it quotes (``{...}`` or ``<<...>>``).

    RabbitMQ appends internal Erlang terms to some reply texts (decode errors, argument type
    errors); those are not behaviour another broker can or should reproduce.
    """
    m = _ERLANG_TERM.search(text)
    return text if m is None else text[: m.start()].rstrip() + " ..."


def normalise(value: Any, suffix: str = "") -> Any:
    """JSON-able, deterministic form of an outcome (see module docstring)."""
    if isinstance(value, Typed):
        return {"type": value.tag, "value": normalise(value.value, suffix)}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = normalise(str(k), suffix)
            if key == "time" and isinstance(v, (int, datetime.datetime, Typed)):
                out[key] = "<time>"
            elif key == "reply_text" and isinstance(v, str):
                out[key] = normalise(reply_text(v), suffix)
            else:
                out[key] = normalise(v, suffix)
        return out
    if isinstance(value, (list, tuple)):
        return [normalise(v, suffix) for v in value]
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, str):
        if suffix:
            value = value.replace(suffix, "<id>")
        for rx, repl in _GENERATED:
            value = rx.sub(repl, value)
        return value
    if isinstance(value, datetime.datetime):
        return "<time>"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return repr(value)


def vhost_for_url(vhost: str) -> str:
    return urllib.parse.quote(vhost, safe="")
