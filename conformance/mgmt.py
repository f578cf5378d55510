"""A minimal client for the RabbitMQ-style management HTTP API (stdlib only).

Scenarios use it for what AMQP 0-9-1 cannot do: create and delete virtual hosts, grant
permissions, set and clear policies. Only documented endpoints of the management API are used.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class MgmtError(Exception):
    pass


class Mgmt:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.user = urllib.parse.unquote(parts.username or "guest")
        self.password = urllib.parse.unquote(parts.password or "guest")
        host = parts.hostname or "127.0.0.1"
        port = f":{parts.port}" if parts.port else ""
        self.base = f"{parts.scheme or 'http'}://{host}{port}{parts.path.rstrip('/')}"
        self.timeout = timeout
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        self.auth = f"Basic {token}"

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", self.auth)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        except OSError as e:
            raise MgmtError(f"{method} {path}: {e}") from e
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def check(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.request(method, path, body)
        if status >= 300:
            raise MgmtError(f"{method} {path} -> {status}: {data}")
        return data

    @staticmethod
    def q(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    def create_vhost(self, vhost: str, grant: bool = True) -> None:
        self.check("PUT", f"/api/vhosts/{self.q(vhost)}", {})
        if grant:
            self.grant(vhost, self.user)
        else:  # the creating user may have been granted access implicitly
            self.request("DELETE", f"/api/permissions/{self.q(vhost)}/{self.q(self.user)}")
        # A vhost is usable once the broker lists it; wait for that, not for a fixed time.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, _ = self.request("GET", f"/api/vhosts/{self.q(vhost)}")
            if status == 200:
                return
            time.sleep(0.05)
        raise MgmtError(f"vhost {vhost} did not appear")

    def grant(
        self, vhost: str, user: str, configure: str = ".*", write: str = ".*", read: str = ".*"
    ) -> None:
        self.check(
            "PUT",
            f"/api/permissions/{self.q(vhost)}/{self.q(user)}",
            {"configure": configure, "write": write, "read": read},
        )

    def delete_vhost(self, vhost: str) -> None:
        self.request("DELETE", f"/api/vhosts/{self.q(vhost)}")

    def set_policy(
        self,
        vhost: str,
        name: str,
        pattern: str,
        definition: dict[str, Any],
        apply_to: str = "queues",
        priority: int = 0,
    ) -> None:
        self.check(
            "PUT",
            f"/api/policies/{self.q(vhost)}/{self.q(name)}",
            {
                "pattern": pattern,
                "definition": definition,
                "apply-to": apply_to,
                "priority": priority,
            },
        )

    def clear_policy(self, vhost: str, name: str) -> None:
        self.request("DELETE", f"/api/policies/{self.q(vhost)}/{self.q(name)}")
