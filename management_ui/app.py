"""The application: routing, authentication, access checks and error translation.

``App.handle`` is a synchronous function from a ``Request`` to a ``Response``; the
server calls it between reading a request and writing the answer, so a handler sees
the broker at one instant. Authentication is HTTP Basic (for API clients) or a session
cookie set by the login page (for the browser); either way only users tagged
administrator, monitoring, policymaker or management get in, as in RabbitMQ.

Errors of every kind become ``{"error": ..., "reason": ...}`` here and nowhere else:
``HTTPError`` as it is, the admin layer's errors by their meaning (not found 404,
bad request 400, access refused 401 as RabbitMQ answers it), anything unexpected as a
logged 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import structlog

from amqpish.admin import (
    AccessRefusedError,
    AdminError,
    BrokerAdmin,
    NotFoundError,
    UserInfo,
)
from management_ui.http import (
    HTTPError,
    Request,
    Response,
    error_response,
    html_response,
    json_response,
    redirect,
)
from management_ui.routing import Router

log = structlog.get_logger("amqpish.management")

REALM = 'Basic realm="RabbitMQ Management"'
SESSION_COOKIE = "amqpish_session"
SESSION_TTL = 8 * 3600.0
MAX_SESSIONS = 10_000
ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def unauthenticated(reason: str = "Not_Authorized") -> HTTPError:
    return HTTPError(401, "not_authorized", reason, [("www-authenticate", REALM)])


def not_authorised(reason: str) -> HTTPError:
    return HTTPError(401, "not_authorised", reason)


@dataclass
class Session:
    token: str
    user: str
    csrf: str
    expires: float


class Sessions:
    """Login sessions in memory: random tokens, sliding expiry, bounded count."""

    def __init__(self, ttl: float = SESSION_TTL) -> None:
        self.ttl = ttl
        self._sessions: dict[str, Session] = {}

    def create(self, user: str) -> Session:
        now = time.monotonic()
        if len(self._sessions) >= MAX_SESSIONS:
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
            while len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
        s = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(16), now + self.ttl)
        self._sessions[s.token] = s
        return s

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        s = self._sessions.get(token)
        if s is None:
            return None
        now = time.monotonic()
        if s.expires < now:
            del self._sessions[token]
            return None
        s.expires = now + self.ttl
        return s

    def drop(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)


def is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "localhost", "::ffff:127.0.0.1")


class Context:
    """What handlers get: the admin view, the templates, the sessions."""

    def __init__(self, view: BrokerAdmin, sessions: Sessions) -> None:
        self.view = view
        self.sessions = sessions
        self.router: Router | None = None
        self.secret = os.urandom(32)
        # one-shot results shown after a redirect (queue "get"), keyed by login
        self.flash: dict[str, tuple[float, Any]] = {}
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def basic_csrf(self, user: str) -> str:
        return hmac.new(self.secret, b"basic:" + user.encode(), hashlib.sha256).hexdigest()[:32]

    # --- access checks used by handlers ------------------------------------------------

    def visible_vhosts(self, req: Request) -> list[str]:
        """Vhosts whose objects ``req.user`` may list: all for administrators."""
        user = req.user
        assert user is not None
        names = self.view.vhost_names()
        if user.is_administrator:
            return names
        allowed = {p.vhost for p in self.view.permissions(user=user.name)}
        return [n for n in names if n in allowed]

    def listable_vhosts(self, req: Request) -> list[str]:
        """Vhosts ``/api/vhosts`` shows: all for monitors (RabbitMQ's list_visible_vhosts)."""
        user = req.user
        assert user is not None
        if user.is_monitor:
            return self.view.vhost_names()
        return self.visible_vhosts(req)

    def check_vhost(self, req: Request, vhost: str) -> None:
        """404 for an unknown vhost, 401 for one the user may not access."""
        if vhost not in self.view.vhost_names():
            raise NotFoundError("Not Found")
        user = req.user
        assert user is not None
        if user.is_administrator:
            return
        if not self.view.permissions(vhost=vhost, user=user.name):
            raise not_authorised("User not authorised to access virtual host")

    def flash_key(self, req: Request) -> str:
        assert req.user is not None
        if req.auth_via == "cookie":
            return "cookie:" + (req.cookie(SESSION_COOKIE) or "")
        return "basic:" + req.user.name

    def put_flash(self, req: Request, value: Any) -> None:
        now = time.monotonic()
        if len(self.flash) > 1000:
            self.flash = {k: v for k, v in self.flash.items() if v[0] > now}
        self.flash[self.flash_key(req)] = (now + 300, value)

    def take_flash(self, req: Request) -> Any:
        item = self.flash.pop(self.flash_key(req), None)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def sees_user(self, req: Request, owner: str) -> bool:
        """Connections and channels: monitors see all, others their own."""
        user = req.user
        assert user is not None
        return user.is_monitor or user.name == owner


class App:
    def __init__(self, view: BrokerAdmin) -> None:
        from management_ui import api, api_admin, metrics, pages

        self.ctx = Context(view, Sessions())
        self.router = Router()
        self.ctx.router = self.router
        api.register(self.router)
        api_admin.register(self.router)
        metrics.register(self.router)
        pages.register(self.router)
        self.ctx.env.globals.update(pages.GLOBALS)

    # --- authentication -------------------------------------------------------------------

    def _authenticate(self, req: Request, *, api: bool) -> UserInfo:
        view = self.ctx.view
        auth = req.headers.get("authorization")
        if auth is not None:
            scheme, _, cred = auth.partition(" ")
            if scheme.lower() != "basic":
                raise unauthenticated()
            try:
                decoded = base64.b64decode(cred.strip(), validate=True).decode()
            except (binascii.Error, ValueError, UnicodeDecodeError):
                raise unauthenticated() from None
            name, sep, password = decoded.partition(":")
            if not sep:
                raise unauthenticated()
            user = view.authenticate(name, password)
            if user is None:
                raise unauthenticated()
            req.auth_via = "basic"
            req.csrf = self.ctx.basic_csrf(user.name)
        else:
            session = self.ctx.sessions.get(req.cookie(SESSION_COOKIE))
            found = view.user(session.user) if session is not None else None
            if session is None or found is None:
                raise unauthenticated()
            user = found
            req.auth_via = "cookie"
            req.csrf = session.csrf
        if view.loopback_only(user.name) and not is_loopback(req.client[0]):
            raise not_authorised("User can only log in via localhost")
        if not user.may_use_management:
            raise not_authorised("Not management user")
        return user

    def _authorize(self, user: UserInfo, access: str) -> None:
        if access == "admin" and not user.is_administrator:
            raise not_authorised("Not administrator user")
        if access == "monitor" and not user.is_monitor:
            raise not_authorised("Not monitor user")
        if access == "policymaker" and not user.is_policymaker:
            raise not_authorised("User not authorised to access object")

    def _check_csrf(self, req: Request, api: bool) -> None:
        if req.method in ("GET", "HEAD", "OPTIONS"):
            return
        if api:
            # API clients authenticate with Basic; a browser session must prove its origin.
            if req.auth_via == "cookie" and req.headers.get("x-csrf-token") != req.csrf:
                raise HTTPError(403, "forbidden", "missing or wrong X-CSRF-Token header")
            return
        token = req.form().get("_csrf", "")
        if not hmac.compare_digest(token, req.csrf):
            raise HTTPError(403, "forbidden", "the form has expired; reload the page and retry")

    # --- dispatch -------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        api = req.path.startswith("/api/") or req.path == "/api"
        try:
            return self._dispatch(req, api)
        except HTTPError as e:
            if (
                not api
                and e.status == 401
                and req.method in ("GET", "HEAD")
                and not req.headers.get("authorization")
            ):
                return redirect("/login?next=" + _quote_next(req.target))
            return self._error(e, api)
        except AdminError as e:
            return self._error(translate(e), api)
        except Exception:
            log.exception("http_handler_crashed", method=req.method, path=req.path)
            return self._error(
                HTTPError(500, "internal_server_error", "the server failed to handle the request"),
                api,
            )

    def _error(self, e: HTTPError, api: bool) -> Response:
        if api:
            return error_response(e)
        try:
            page = self.ctx.env.get_template("error.html").render(
                status=e.status,
                error=e.error,
                reason=e.reason,
                user=None,
                taken_at=time.time(),
                cluster_name=self.ctx.view.cluster_name(),
                ok=None,
                err=None,
            )
        except jinja2.TemplateError:
            return error_response(e)
        return html_response(page, e.status, list(e.headers))

    def _dispatch(self, req: Request, api: bool) -> Response:
        found = self.router.match(req.segments)
        if found is None:
            raise HTTPError(404, "Object Not Found", "Not Found")
        route, params = found
        method = "GET" if req.method == "HEAD" else req.method
        allowed = sorted(route.methods)
        if method == "OPTIONS":
            return Response(204, b"", None, [("allow", ", ".join([*allowed, "HEAD", "OPTIONS"]))])
        endpoint = route.methods.get(method)
        if endpoint is None:
            raise HTTPError(
                405,
                "Method Not Allowed",
                f"{req.method} is not allowed on {route.pattern}; allowed: {', '.join(allowed)}",
                [("allow", ", ".join(allowed))],
            )
        if endpoint.access != "none":
            req.user = self._authenticate(req, api=api)
            self._authorize(req.user, endpoint.access)
            if not endpoint.csrf_exempt:
                self._check_csrf(req, api)
        return endpoint.handler(self.ctx, req, params)


def translate(e: AdminError) -> HTTPError:
    if isinstance(e, NotFoundError):
        return HTTPError(404, "Object Not Found", e.reason or "Not Found")
    if isinstance(e, AccessRefusedError):
        return not_authorised(e.reason)
    return HTTPError(400, "bad_request", e.reason)


def _quote_next(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="")


def json_ok(value: Any) -> Response:
    return json_response(value)
