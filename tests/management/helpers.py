"""Test helpers: a small HTTP client for the management API, and waiting on conditions."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

SAMPLES = "/work/shared/rabbitmq-samples/management-api"


def q(name: str) -> str:
    return quote(name, safe="")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:300]!r}>"


class Api:
    def __init__(self, port: int, user: str | None = "guest", password: str = "guest") -> None:
        self.port = port
        self.user = user
        self.password = password

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        auth: bool = True,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if auth and self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            h.setdefault("Authorization", f"Basic {token}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("PUT", path, body if body is not None else {}, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    def ok(self, path: str) -> Any:
        r = self.get(path)
        assert r.status == 200, r
        return r.json


# Seconds to wait before asserting queue lengths: amqpish's are live, RabbitMQ's lag
# ~5 s (set it so when pointing the real-client tests at a RabbitMQ node to compare).
STATS_LAG = 0.0


def settle() -> None:
    if STATS_LAG:
        time.sleep(STATS_LAG)


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def sample(name: str) -> Any:
    with open(f"{SAMPLES}/{name}") as fh:
        return json.load(fh)


# user data, not schema: compared by value in the tests, not by key
FREE_FORM = {
    "arguments",
    "client_properties",
    "definition",
    "effective_policy_definition",
    "cluster_state",
}


def keys_missing(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Keys present in RabbitMQ's sample and absent from ours (recursively, objects only)."""
    missing: list[str] = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, v in expected.items():
            if k not in actual:
                missing.append(path + k)
            elif isinstance(v, dict) and v and "samples" not in v and k not in FREE_FORM:
                missing.extend(keys_missing(v, actual[k], path + k + "."))
    return missing
