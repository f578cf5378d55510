"""Requests, responses and the one HTTP error type, independent of any socket.

A ``Request`` is built by the server from h11 events once the whole body has been
read (bodies are small and bounded); handlers return a ``Response``. Errors raised as
``HTTPError`` carry RabbitMQ's ``{"error": ..., "reason": ...}`` pair and are turned
into a JSON response in exactly one place (``error_response``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from amqpish.admin import UserInfo

JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HTTPError(Exception):
    """An error answer: status, RabbitMQ's error tag and a human reason."""

    def __init__(
        self,
        status: int,
        error: str,
        reason: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(status, error, reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.headers = headers or []


def bad_request(reason: str, error: str = "bad_request") -> HTTPError:
    return HTTPError(400, error, reason)


def not_found(reason: str = "Not Found") -> HTTPError:
    return HTTPError(404, "Object Not Found", reason)


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    client: tuple[str, int] = ("127.0.0.1", 0)
    # filled in by routing and authentication
    segments: list[str] = field(default_factory=list)
    query: dict[str, list[str]] = field(default_factory=dict)
    user: UserInfo | None = None
    auth_via: str = ""  # "basic" or "cookie"
    csrf: str = ""

    def __post_init__(self) -> None:
        path, _, qs = self.target.partition("?")
        self.path = path
        # Split before unquoting: %2F inside a segment (the "/" vhost) stays in it.
        raw = path.split("/")[1:]
        if len(raw) > 1 and raw[-1] == "":
            raw = raw[:-1]
        self.segments = [unquote(s, errors="strict") for s in raw]
        self.query = parse_qs(qs, keep_blank_values=True)

    def arg(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[0] if v else default

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() == "true"

    def int_arg(self, name: str, default: int) -> int:
        v = self.arg(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise bad_request(f"invalid integer for '{name}': {v!r}") from None

    def cookie(self, name: str) -> str | None:
        raw = self.headers.get("cookie", "")
        for part in raw.split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
        return None

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; empty or ``null`` means ``{}`` (as RabbitMQ)."""
        body = self.body.strip()
        if body in (b"", b"null", b"undefined"):
            return {}
        try:
            value = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request(f"Malformed JSON: {e}") from None
        except RecursionError:
            raise bad_request("Malformed JSON: nested too deeply") from None
        if isinstance(value, str):
            raise bad_request(
                "invalid payload: the request body JSON-decoded to a string. "
                "Is the input doubly-JSON-encoded?"
            )
        if not isinstance(value, dict):
            raise bad_request("not_json: the request body must be a JSON object")
        return value

    def form(self) -> dict[str, str]:
        ctype = self.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in ctype and self.body:
            raise HTTPError(415, "unsupported_media_type", "forms must be url-encoded")
        try:
            text = self.body.decode()
        except UnicodeDecodeError:
            raise bad_request("form is not UTF-8") from None
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)

    def all_headers(self) -> list[tuple[str, str]]:
        out = list(self.headers)
        if self.content_type and self.status != 204:
            out.append(("content-type", self.content_type))
        out.append(("cache-control", "no-cache"))
        return out


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON, though Python's parser accepts them."""
    raise ValueError(f"{name} is not a JSON value")


def json_response(
    value: Any, status: int = 200, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return Response(status, body.encode(), JSON_TYPE, headers or [])


def no_content(headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(204, b"", None, headers or [])


def created(headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(201, b"", None, headers or [])


def redirect(location: str) -> Response:
    return Response(303, b"", None, [("location", location)])


def html_response(
    text: str, status: int = 200, headers: list[tuple[str, str]] | None = None
) -> Response:
    return Response(status, text.encode(), HTML_TYPE, headers or [])


def error_response(e: HTTPError) -> Response:
    r = json_response({"error": e.error, "reason": e.reason}, e.status, list(e.headers))
    return r
