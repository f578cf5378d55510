"""Users, password hashes and per-vhost permissions, as RabbitMQ models them.

Password hashes use RabbitMQ's default scheme (rabbit_password_hashing_sha256: a
4-byte salt followed by SHA-256(salt + password), base64-encoded) so that a
definitions file moves between RabbitMQ and amqpish unchanged. Permissions are
three regular expressions per user and vhost (configure, write, read), matched
against resource names with ``re.match`` anchored at both ends, as Erlang's
``re:run`` is used by RabbitMQ (patterns are conventionally written with ^ and $).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

from amqpish.broker.errors import AMQPError, Code

HASHING_ALGORITHM = "rabbit_password_hashing_sha256"


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def check_password(password: str, password_hash: str) -> bool:
    try:
        raw = base64.b64decode(password_hash)
    except ValueError:
        return False
    if len(raw) < 5:
        return False
    salt = raw[:4]
    return hmac.compare_digest(hash_password(password, salt), password_hash)


@dataclass
class User:
    name: str
    password_hash: str
    tags: list[str] = field(default_factory=list)

    @property
    def is_administrator(self) -> bool:
        return "administrator" in self.tags


@dataclass
class Permission:
    configure: str = ".*"
    write: str = ".*"
    read: str = ".*"

    def __post_init__(self) -> None:
        self._compiled = {
            "configure": _compile(self.configure),
            "write": _compile(self.write),
            "read": _compile(self.read),
        }

    def allows(self, kind: str, resource: str) -> bool:
        rx = self._compiled[kind]
        return rx is not None and rx.search(resource) is not None


def _compile(pattern: str) -> re.Pattern[str] | None:
    # An empty pattern grants nothing, as in RabbitMQ.
    if pattern == "":
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


class Users:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.permissions: dict[tuple[str, str], Permission] = {}

    def add(self, name: str, password: str, tags: list[str] | None = None) -> User:
        u = User(name, hash_password(password), list(tags or []))
        self.users[name] = u
        return u

    def authenticate(self, name: str, password: str) -> User | None:
        u = self.users.get(name)
        if u is None or not check_password(password, u.password_hash):
            return None
        return u

    def set_permissions(self, user: str, vhost: str, configure: str, write: str, read: str) -> None:
        self.permissions[(user, vhost)] = Permission(configure, write, read)

    def clear_permissions(self, user: str, vhost: str) -> None:
        self.permissions.pop((user, vhost), None)

    def can_access_vhost(self, user: str, vhost: str) -> bool:
        return (user, vhost) in self.permissions

    def check(self, user: str, vhost: str, kind: str, resource_kind: str, name: str) -> None:
        """Raise 403 unless ``user`` has ``kind`` permission on the resource."""
        perm = self.permissions.get((user, vhost))
        if perm is None or not perm.allows(kind, name):
            raise AMQPError(
                Code.ACCESS_REFUSED,
                f"{kind} access to {resource_kind} '{name}' in vhost '{vhost}' "
                f"refused for user '{user}'",
            )
