"""AMQP URIs, as RabbitMQ's URI specification defines them.

``amqp[s]://[user[:password]@]host[:port][/vhost][?key=value&...]``

Every part is percent-decoded. The vhost is the single path segment after the host: a
literal ``/`` in it must be written ``%2f``, and an empty (or absent) path means the
default vhost ``/``. Query keys follow RabbitMQ's URI query parameters: ``heartbeat``
(seconds), ``frame_max``, ``channel_max``, ``connection_timeout`` (milliseconds) and
``auth_mechanism`` (only ``plain``). Unknown keys are an error, so a typo does not go
unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["ConnectionParameters", "parse_url"]

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}
DEFAULT_FRAME_MAX = 131072
DEFAULT_CHANNEL_MAX = 2047
DEFAULT_CONNECTION_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ConnectionParameters:
    """Everything :func:`~amqpish.client.connect` needs, parsed from a URL."""

    host: str = "localhost"
    port: int = 5672
    username: str = "guest"
    password: str = "guest"
    vhost: str = "/"
    tls: bool = False
    heartbeat: int | None = None
    """Requested heartbeat in seconds; None accepts the server's proposal, 0 disables."""
    frame_max: int = DEFAULT_FRAME_MAX
    channel_max: int = DEFAULT_CHANNEL_MAX
    connection_timeout: float = DEFAULT_CONNECTION_TIMEOUT
    """Seconds allowed for TCP connect, TLS and the AMQP handshake together."""

    def display(self) -> str:
        """The URL without the password, for messages."""
        scheme = "amqps" if self.tls else "amqp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{self.username}@{host}:{self.port}/{self.vhost.replace('/', '%2f')}"


def _int(key: str, value: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"URL parameter {key}={value!r} is not an integer") from None
    if not lo <= n <= hi:
        raise ValueError(f"URL parameter {key}={n} is out of range {lo}..{hi}")
    return n


def parse_url(url: str) -> ConnectionParameters:
    """Parse an ``amqp://`` or ``amqps://`` URL; raises ``ValueError`` when malformed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} (expected amqp or amqps)")
    if parts.fragment:
        raise ValueError("an AMQP URL has no fragment")
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"bad port in URL: {e}") from None
    path = parts.path
    if path.startswith("/"):
        path = path[1:]
    if "/" in path:
        raise ValueError("the vhost in an AMQP URL is one path segment; write '/' as %2f")
    heartbeat: int | None = None
    frame_max = DEFAULT_FRAME_MAX
    channel_max = DEFAULT_CHANNEL_MAX
    timeout = DEFAULT_CONNECTION_TIMEOUT
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "heartbeat":
            heartbeat = _int(key, value, 0, 65535)
        elif key == "frame_max":
            frame_max = _int(key, value, 0, 2**32 - 1)
            if 0 < frame_max < 4096:
                raise ValueError("URL parameter frame_max must be 0 or at least 4096")
        elif key == "channel_max":
            channel_max = _int(key, value, 0, 65535)
        elif key == "connection_timeout":
            timeout = _int(key, value, 1, 2**31) / 1000
        elif key == "auth_mechanism":
            if value.lower() != "plain":
                raise ValueError(f"unsupported auth_mechanism {value!r} (only plain)")
        else:
            raise ValueError(f"unknown URL parameter {key!r}")
    return ConnectionParameters(
        host=unquote(parts.hostname or "") or "localhost",
        port=port if port is not None else DEFAULT_PORTS[scheme],
        username=unquote(parts.username) if parts.username is not None else "guest",
        password=unquote(parts.password) if parts.password is not None else "guest",
        vhost=unquote(path) or "/",
        tls=scheme == "amqps",
        heartbeat=heartbeat,
        frame_max=frame_max,
        channel_max=channel_max,
        connection_timeout=timeout,
    )
