"""Broker configuration: a frozen dataclass built from defaults, a TOML file, the
environment (``AMQPISH_<FIELD>``) and command-line flags, in that order of
precedence (flags win)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class UserConfig:
    name: str
    password: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyConfig:
    name: str
    pattern: str
    definition: dict[str, Any]
    vhost: str = "/"
    apply_to: str = "all"
    priority: int = 0


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 5672
    http_host: str = "127.0.0.1"
    http_port: int = 15672  # 0 picks a free port; a negative port disables the UI
    data_dir: Path = Path("./data")
    tls_port: int = 5671
    tls_cert: str | None = None
    tls_key: str | None = None
    log_json: bool = False
    log_level: str = "info"
    channel_max: int = 2047
    frame_max: int = 131072
    heartbeat: int = 60
    # RabbitMQ's default: guest may only connect from loopback addresses
    loopback_users: tuple[str, ...] = ("guest",)
    default_user: str = "guest"
    default_pass: str = "guest"
    # publishers are blocked above this RSS; a fraction of RAM when <= 1.0
    memory_high_watermark: float = 0.4
    # bytes of message bodies the queues keep in memory; past it they page bodies out
    # to disk (0: half the memory watermark; negative: never page)
    queue_memory_budget: int = 0
    disk_free_limit: int = 50_000_000
    cluster_name: str = "amqpish@localhost"
    users: tuple[UserConfig, ...] = ()
    policies: tuple[PolicyConfig, ...] = ()
    vhosts: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def memory_limit_bytes(self) -> int:
        if self.memory_high_watermark > 1.0:
            return int(self.memory_high_watermark)
        try:
            pages = os.sysconf("SC_PHYS_PAGES")
            page = os.sysconf("SC_PAGE_SIZE")
            total = pages * page
        except (ValueError, OSError):
            total = 8 << 30
        return int(total * self.memory_high_watermark)

    def queue_memory_budget_bytes(self) -> int | None:
        """The queues' budget for message bodies in memory (None: no paging)."""
        if self.queue_memory_budget < 0:
            return None
        return self.queue_memory_budget or self.memory_limit_bytes() // 2


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def _coerce(name: str, value: Any) -> Any:
    f = _FIELDS[name]
    t = str(f.type)
    if name == "data_dir":
        return Path(value)
    if name == "users":
        return tuple(UserConfig(u["name"], u["password"], tuple(u.get("tags", ()))) for u in value)
    if name == "policies":
        return tuple(
            PolicyConfig(
                p["name"],
                p["pattern"],
                dict(p.get("definition", {})),
                p.get("vhost", "/"),
                p.get("apply-to", p.get("apply_to", "all")),
                int(p.get("priority", 0)),
            )
            for p in value
        )
    if t.startswith("tuple"):
        if isinstance(value, str):
            return tuple(x for x in value.split(",") if x)
        return tuple(value)
    if t == "bool":
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    if t == "int":
        return int(value)
    if t == "float":
        return float(value)
    return value


def load_config(path: str | None = None, **overrides: Any) -> Config:
    values: dict[str, Any] = {}
    if path:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        broker = raw.get("broker", raw)
        for k, v in broker.items():
            k = k.replace("-", "_")
            if k in _FIELDS:
                values[k] = _coerce(k, v)
        for section in ("users", "policies"):
            if section in raw:
                values[section] = _coerce(section, raw[section])
    for name in _FIELDS:
        env = os.environ.get("AMQPISH_" + name.upper())
        if env is not None and name not in ("users", "policies", "extra"):
            values[name] = _coerce(name, env)
    for k, v in overrides.items():
        if v is not None:
            values[k] = _coerce(k, v)
    return Config(**values)
