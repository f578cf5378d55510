"""The web UI: server-rendered pages (jinja2, autoescaped) that work without JavaScript.

Every page is rendered from one set of snapshots and says when they were taken.
Actions are HTML forms that POST and redirect back (post/redirect/get); a result that
must be shown after the redirect (messages fetched from a queue) is kept as a one-shot
flash for the login. Charts are SVG drawn here from the sampler's history; a small
script (``static/app.js``) redraws them and the figures once a second from the JSON
API, so the page is live when JavaScript is on and still correct when it is off.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from amqpish.admin import ACK_MODES, AdminError, QueueInfo, Sample
from management_ui import render
from management_ui.app import SESSION_COOKIE, STATIC, Context
from management_ui.http import (
    HTTPError,
    Request,
    Response,
    bad_request,
    html_response,
    not_found,
    redirect,
)
from management_ui.routing import Router

CHART_AGE = 300  # seconds of history the page charts show
CHART_W, CHART_H = 560, 150
COLORS = ["#2f6fb0", "#e07b24", "#3a9b4b", "#c23b3b", "#7f5fb5", "#8a6d3b", "#1b9aa0"]
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

MSG_RATE_SERIES = (
    ("publish", "publish"),
    ("confirm", "confirm"),
    ("deliver", "deliver (manual ack)"),
    ("deliver_no_ack", "deliver (auto ack)"),
    ("get", "get"),
    ("ack", "ack"),
    ("redeliver", "redeliver"),
    ("drop_unroutable", "unroutable (dropped)"),
    ("return_unroutable", "unroutable (returned)"),
)
QUEUE_RATE_SERIES = (
    ("publish", "publish"),
    ("deliver", "deliver (manual ack)"),
    ("deliver_no_ack", "deliver (auto ack)"),
    ("get", "get"),
    ("ack", "ack"),
    ("redeliver", "redeliver"),
)
LENGTH_SERIES = (
    ("messages_ready", "ready"),
    ("messages_unacknowledged", "unacked"),
    ("messages", "total"),
)


# --- helpers ---------------------------------------------------------------------------------


def fmt_rate(r: float) -> str:
    if r == 0:
        return "0.0/s"
    if abs(r) >= 100:
        return f"{r:,.0f}/s"
    return f"{r:.1f}/s"


def fmt_bytes(n: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    i = 0
    while abs(n) >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.0f} {units[i]}" if i == 0 else f"{n:.1f} {units[i]}"


def fmt_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def u(*parts: str) -> str:
    """A URL path from raw segments (each percent-encoded, / included)."""
    return "/" + "/".join(quote(p, safe="") for p in parts)


def exchange_url_name(name: str) -> str:
    return name or "amq.default"


def chart(
    samples: Sequence[Sample],
    series: Sequence[tuple[str, str]],
    *,
    rate: bool,
    title: str,
    source: str,
    paths: Mapping[str, str],
) -> dict[str, Any]:
    """An SVG chart: polylines for each series over the samples (newest first)."""
    pts = list(reversed(samples))
    lines: list[dict[str, Any]] = []
    values: dict[str, list[tuple[float, float]]] = {}
    for key, _ in series:
        seq: list[tuple[float, float]] = []
        for i, s in enumerate(pts):
            v = s.values.get(key, 0)
            if rate:
                if i == 0:
                    continue
                prev = pts[i - 1]
                dt = s.timestamp - prev.timestamp
                val = (v - prev.values.get(key, 0)) / dt if dt > 0 else 0.0
            else:
                val = float(v)
            seq.append((s.timestamp, max(val, 0.0)))
        values[key] = seq
    top = max((v for seq in values.values() for _, v in seq), default=0.0)
    ymax = nice_max(top)
    t1 = pts[-1].timestamp if pts else time.time()
    # the x axis covers the history there is: at least a minute, at most CHART_AGE
    span = t1 - pts[0].timestamp if pts else 0.0
    window = min(max(span, 60.0), float(CHART_AGE))
    t0 = t1 - window
    for n, (key, label) in enumerate(series):
        seq = values[key]
        poly = " ".join(
            f"{(t - t0) / window * CHART_W:.1f},{CHART_H - (v / ymax) * CHART_H:.1f}"
            for t, v in seq
            if t >= t0
        )
        last = seq[-1][1] if seq else 0.0
        lines.append(
            {
                "key": key,
                "label": label,
                "color": COLORS[n % len(COLORS)],
                "points": poly,
                "last": fmt_rate(last) if rate else f"{last:,.0f}",
                "path": paths.get(key, key),
            }
        )
    return {
        "title": title,
        "lines": lines,
        "ymax": fmt_rate(ymax) if rate else f"{ymax:,.0f}",
        "rate": rate,
        "width": CHART_W,
        "height": CHART_H,
        "age": CHART_AGE,
        "window": int(window),
        "source": source,
        "spec": json.dumps(
            [{"path": ln["path"], "color": ln["color"], "key": ln["key"]} for ln in lines]
        ),
    }


def nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def history(ctx: Context, kind: str, key: tuple[str, ...], fields: Sequence[str]) -> list[Sample]:
    return ctx.view.history(kind, key, list(fields), CHART_AGE, 1)


def list_page(
    req: Request,
    items: Sequence[Any],
    getters: Mapping[str, Callable[[Any], Any]],
    *,
    default_sort: Sequence[str] = ("vhost", "name"),
    name_of: Callable[[Any], str] = lambda x: x.name,
    page_size: int = 50,
) -> tuple[list[Any], dict[str, Any]]:
    """Filter, sort and paginate snapshots for an HTML table (same rules as the API)."""
    name = req.arg("name") or ""
    use_regex = req.flag("use_regex")
    sort = req.arg("sort") or ""
    reverse = req.flag("sort_reverse")
    page = max(1, req.int_arg("page", 1))
    size = min(max(1, req.int_arg("page_size", page_size)), render.MAX_PAGE_SIZE)
    if name:
        if use_regex:
            import re

            try:
                rx = re.compile(name, re.IGNORECASE)
            except re.error as e:
                raise bad_request(f"invalid regular expression: {e}") from None
            items = [i for i in items if rx.search(name_of(i))]
        else:
            items = [i for i in items if name.lower() in name_of(i).lower()]
    keys = [k for k in dict.fromkeys([sort, *default_sort]) if k and k in getters]
    ordered = sorted(items, key=lambda i: tuple(render.sort_value(getters[k](i)) for k in keys))
    if reverse:
        ordered.reverse()
    count = len(ordered)
    pages = max(1, math.ceil(count / size))
    page = min(page, pages)
    shown = ordered[(page - 1) * size : page * size]
    base = {"name": name, "use_regex": "true" if use_regex else "", "page_size": size}

    def link(**kw: Any) -> str:
        q = {**base, "sort": sort, "sort_reverse": "true" if reverse else "", "page": page, **kw}
        return "?" + urlencode({k: v for k, v in q.items() if v not in ("", None)})

    def sort_link(key: str) -> str:
        rev = "true" if (key == sort and not reverse) else ""
        return link(sort=key, sort_reverse=rev, page=1)

    meta = {
        "count": count,
        "page": page,
        "pages": pages,
        "size": size,
        "name": name,
        "use_regex": use_regex,
        "sort": sort,
        "reverse": reverse,
        "prev": link(page=page - 1) if page > 1 else None,
        "next": link(page=page + 1) if page < pages else None,
        "sort_link": sort_link,
    }
    return shown, meta


def page(ctx: Context, req: Request, template: str, **values: Any) -> Response:
    values.setdefault("taken_at", ctx.view.now())
    values.setdefault("ok", req.arg("ok"))
    values.setdefault("err", req.arg("err"))
    tpl = ctx.env.get_template(template)
    text = tpl.render(user=req.user, csrf=req.csrf, cluster_name=ctx.view.cluster_name(), **values)
    return html_response(text)


def back(location: str, *, ok: str | None = None, err: str | None = None) -> Response:
    q = {k: v for k, v in (("ok", ok), ("err", err)) if v}
    sep = "&" if "?" in location else "?"
    return redirect(location + (sep + urlencode(q) if q else ""))


def _vhosts(ctx: Context, req: Request) -> list[str]:
    return ctx.visible_vhosts(req)


def _action(location: str, fn: Callable[[], str | None]) -> Response:
    """Run a form action; redirect back with its message or the error's reason."""
    try:
        msg = fn()
    except AdminError as e:
        return back(location, err=e.reason)
    except HTTPError as e:
        return back(location, err=e.reason)
    return back(location, ok=msg or "Done.")


def _json_field(form: Mapping[str, str], key: str) -> dict[str, Any]:
    raw = form.get(key, "").strip()
    if not raw:
        return {}
    try:
        v = json.loads(raw)
    except ValueError:
        raise bad_request(f"{key}: not valid JSON") from None
    if not isinstance(v, dict):
        raise bad_request(f"{key}: must be a JSON object")
    return v


def _typed_args(form: Mapping[str, str]) -> dict[str, Any]:
    """Arguments from a form: a JSON object; numbers stay numbers."""
    return _json_field(form, "arguments")


# --- login ---------------------------------------------------------------------------------------


def login_form(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    tpl = ctx.env.get_template("login.html")
    return html_response(
        tpl.render(
            error=None,
            next=req.arg("next") or "/",
            user=None,
            taken_at=ctx.view.now(),
            cluster_name=ctx.view.cluster_name(),
        )
    )


def login(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    form = req.form()
    name, password = form.get("username", ""), form.get("password", "")
    nxt = form.get("next", "/")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"
    from management_ui.app import is_loopback

    user = ctx.view.authenticate(name, password)
    error = None
    if user is None:
        error = "Login failed."
    elif ctx.view.loopback_only(user.name) and not is_loopback(req.client[0]):
        error = "User can only log in via localhost."
    elif not user.may_use_management:
        error = "Not a management user."
    if error is not None:
        tpl = ctx.env.get_template("login.html")
        return html_response(
            tpl.render(
                error=error,
                next=nxt,
                user=None,
                taken_at=ctx.view.now(),
                cluster_name=ctx.view.cluster_name(),
            ),
            401,
        )
    assert user is not None
    s = ctx.sessions.create(user.name)
    resp = redirect(nxt)
    resp.headers.append(
        ("set-cookie", f"{SESSION_COOKIE}={s.token}; Path=/; HttpOnly; SameSite=Strict")
    )
    return resp


def logout(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.sessions.drop(req.cookie(SESSION_COOKIE))
    resp = redirect("/login")
    resp.headers.append(
        ("set-cookie", f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
    )
    return resp


def static(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    name = p["file"]
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or not path.is_file():
        raise not_found()
    ctype = STATIC_TYPES.get(path.suffix, "application/octet-stream")
    return Response(200, Path(path).read_bytes(), ctype)


# --- overview ---------------------------------------------------------------------------------------


def overview(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    o = ctx.view.overview()
    rate_fields = [k for k, _ in MSG_RATE_SERIES]
    hist = history(
        ctx, "overview", (), [*rate_fields, "messages_ready", "messages_unacknowledged", "messages"]
    )
    api = f"/api/overview?lengths_age={CHART_AGE}&lengths_incr=1&msg_rates_age={CHART_AGE}&msg_rates_incr=1"
    charts = [
        chart(
            hist,
            LENGTH_SERIES,
            rate=False,
            title="Queued messages",
            source=api,
            paths={k: f"queue_totals.{k}_details" for k, _ in LENGTH_SERIES},
        ),
        chart(
            hist,
            MSG_RATE_SERIES,
            rate=True,
            title="Message rates",
            source=api,
            paths={k: f"message_stats.{k}_details" for k, _ in MSG_RATE_SERIES},
        ),
    ]
    st = o.stats
    unroutable = st["drop_unroutable"].rate + st["return_unroutable"].rate
    return page(
        ctx,
        req,
        "overview.html",
        tab="overview",
        o=o,
        st=st,
        unroutable=unroutable,
        charts=charts,
        node=ctx.view.node(),
        api=api,
    )


# --- queues ---------------------------------------------------------------------------------------------


QUEUE_PAGE_GETTERS: dict[str, Callable[[Any], Any]] = {
    **render.QUEUE_GETTERS,
    "rate_in": lambda q: q.stats["publish"].rate,
    "rate_out": lambda q: sum(
        q.stats[k].rate for k in ("deliver", "deliver_no_ack", "get", "get_no_ack")
    ),
    "rate_ack": lambda q: q.stats["ack"].rate,
}
ARG_BADGES = {
    "x-message-ttl": "TTL",
    "x-expires": "Exp",
    "x-max-length": "Lim",
    "x-max-length-bytes": "Lim B",
    "x-overflow": "Ovfl",
    "x-dead-letter-exchange": "DLX",
    "x-dead-letter-routing-key": "DLK",
    "x-max-priority": "Pri",
    "x-single-active-consumer": "SAC",
    "x-queue-mode": "Mode",
    "x-queue-type": "Type",
}


def queue_badges(q: QueueInfo) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if q.durable:
        out.append(("D", "durable"))
    if q.auto_delete:
        out.append(("AD", "auto-delete"))
    if q.exclusive:
        out.append(("Excl", f"exclusive to {q.owner_connection}"))
    for k, v in q.arguments.items():
        out.append((ARG_BADGES.get(k, "Args"), f"{k}: {v}"))
    return out


def queues(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    visible = set(_vhosts(ctx, req))
    sort = req.arg("sort") or ""
    if not sort or sort in render.KEY_SORTS:
        # sort and page the cheap keys; build snapshots for the shown rows only
        keys = [k for k in ctx.view.queue_keys() if k.vhost in visible]
        shown_keys, meta = list_page(req, keys, render.KEY_SORTS)
        shown = ctx.view.queues_by_key([(k.vhost, k.name) for k in shown_keys])
    else:
        items = [q for q in ctx.view.queues() if q.vhost in visible]
        shown, meta = list_page(req, items, QUEUE_PAGE_GETTERS)
    api = "/api/queues?" + urlencode(
        {
            "page": meta["page"],
            "page_size": meta["size"],
            "name": meta["name"],
            "use_regex": "true" if meta["use_regex"] else "false",
            "sort": meta["sort"] or "name",
            "sort_reverse": "true" if meta["reverse"] else "false",
            "pagination": "true",
        }
    )
    return page(
        ctx,
        req,
        "queues.html",
        tab="queues",
        queues=shown,
        meta=meta,
        badges=queue_badges,
        vhosts=sorted(visible),
        api=api,
    )


def queue_page(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], p["name"]
    ctx.check_vhost(req, vhost)
    q = ctx.view.queue(vhost, name)
    if q is None:
        raise not_found(f"no queue '{name}' in vhost '{vhost}'")
    fields = [k for k, _ in QUEUE_RATE_SERIES]
    hist = history(
        ctx,
        "queue",
        (vhost, name),
        [*fields, "messages_ready", "messages_unacknowledged", "messages"],
    )
    api = (
        u("api", "queues", vhost, name)
        + f"?lengths_age={CHART_AGE}&lengths_incr=1&msg_rates_age={CHART_AGE}&msg_rates_incr=1"
    )
    charts = [
        chart(
            hist,
            LENGTH_SERIES,
            rate=False,
            title="Queued messages",
            source=api,
            paths={k: f"{k}_details" for k, _ in LENGTH_SERIES},
        ),
        chart(
            hist,
            QUEUE_RATE_SERIES,
            rate=True,
            title="Message rates",
            source=api,
            paths={k: f"message_stats.{k}_details" for k, _ in QUEUE_RATE_SERIES},
        ),
    ]
    bindings = ctx.view.bindings(vhost, destination=name, destination_type="queue")
    exchanges = [e.name for e in ctx.view.exchanges(vhost) if e.name]
    others = sorted(x.name for x in ctx.view.queues(vhost) if x.name != name)
    got = ctx.take_flash(req)
    return page(
        ctx,
        req,
        "queue.html",
        tab="queues",
        q=q,
        st=q.stats,
        charts=charts,
        bindings=bindings,
        exchanges=exchanges,
        others=others,
        badges=queue_badges(q),
        got=got if isinstance(got, list) else None,
        ack_modes=ACK_MODES,
        api=api,
        base=u("queues", vhost, name),
    )


def queue_action(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name, action = p["vhost"], p["name"], p["action"]
    ctx.check_vhost(req, vhost)
    form = req.form()
    view = ctx.view
    assert req.user is not None
    who = req.user.name
    here = u("queues", vhost, name)

    def do() -> str | None:
        if action == "purge":
            n = view.purge_queue(who, vhost, name)
            return f"Purged {n} message(s)."
        if action == "publish":
            props = _message_properties(form)
            routed = view.publish(who, vhost, "", name, form.get("payload", "").encode(), props)
            return "Message published." if routed else "Message published, but not routed."
        if action == "get":
            count = _form_int(form, "count", 1)
            ackmode = form.get("ackmode", "ack_requeue_true")
            encoding = form.get("encoding", "auto")
            truncate = _form_int(form, "truncate", 50000)
            got = view.get_messages(who, vhost, name, count=count, ackmode=ackmode)
            ctx.put_flash(req, [render.message_json(m, encoding, truncate) for m in got])
            return f"Got {len(got)} message(s)." if got else "Queue is empty."
        if action == "move":
            dest = form.get("destination", "")
            n = view.move_messages(who, vhost, name, dest)
            return f"Moved {n} message(s) to '{dest}'."
        if action == "bind":
            source = form.get("source", "")
            b = view.bind(
                who, vhost, source, "queue", name, form.get("routing_key", ""), _typed_args(form)
            )
            return f"Bound to '{b.source}'."
        if action == "unbind":
            view.unbind(
                who, vhost, form.get("source", ""), "queue", name, form.get("properties_key", "")
            )
            return "Binding removed."
        raise not_found()

    if action == "delete":
        try:
            view.delete_queue(
                who,
                vhost,
                name,
                if_unused=form.get("if_unused") == "on",
                if_empty=form.get("if_empty") == "on",
            )
        except AdminError as e:
            return back(here, err=e.reason)
        return back("/queues", ok=f"Queue '{name}' deleted.")
    return _action(here, do)


def declare_queue(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    form = req.form()
    vhost = form.get("vhost", "/")
    assert req.user is not None
    who = req.user.name

    def do() -> str:
        ctx.check_vhost(req, vhost)
        name = form.get("name", "").strip()
        created = ctx.view.declare_queue(
            who,
            vhost,
            name,
            durable=form.get("durable") == "true",
            auto_delete=form.get("auto_delete") == "true",
            arguments=_typed_args(form),
        )
        return f"Queue '{name}' declared." if created else f"Queue '{name}' already exists."

    return _action("/queues", do)


def _form_int(form: Mapping[str, str], key: str, default: int) -> int:
    v = form.get(key, "").strip()
    if not v:
        return default
    try:
        return int(v)
    except ValueError:
        raise bad_request(f"{key}: not a number") from None


def _message_properties(form: Mapping[str, str]) -> dict[str, Any]:
    props = _json_field(form, "properties")
    headers = _json_field(form, "headers")
    if headers:
        props["headers"] = headers
    mode = form.get("delivery_mode", "")
    if mode:
        props["delivery_mode"] = mode
    return props


# --- exchanges ---------------------------------------------------------------------------------------------


EXCHANGE_GETTERS: dict[str, Callable[[Any], Any]] = {
    "name": lambda e: e.name,
    "vhost": lambda e: e.vhost,
    "type": lambda e: e.type,
    "rate_in": lambda e: e.stats["publish_in"].rate,
    "rate_out": lambda e: e.stats["publish_out"].rate,
}


def exchanges(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    visible = set(_vhosts(ctx, req))
    items = [e for e in ctx.view.exchanges() if e.vhost in visible]
    shown, meta = list_page(req, items, EXCHANGE_GETTERS)
    return page(
        ctx,
        req,
        "exchanges.html",
        tab="exchanges",
        exchanges=shown,
        meta=meta,
        vhosts=sorted(visible),
    )


def exchange_page(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, name = p["vhost"], p["name"]
    name = "" if name == "amq.default" else name
    ctx.check_vhost(req, vhost)
    e = ctx.view.exchange(vhost, name)
    if e is None:
        raise not_found(f"no exchange '{name}' in vhost '{vhost}'")
    hist = history(ctx, "exchange", (vhost, name), ["publish_in", "publish_out"])
    api = (
        u("api", "exchanges", vhost, exchange_url_name(name))
        + f"?msg_rates_age={CHART_AGE}&msg_rates_incr=1"
    )
    series = (("publish_in", "publish in"), ("publish_out", "publish out"))
    charts = [
        chart(
            hist,
            series,
            rate=True,
            title="Message rates",
            source=api,
            paths={k: f"message_stats.{k}_details" for k, _ in series},
        )
    ]
    outgoing = ctx.view.bindings(vhost, source=name)
    incoming = (
        ctx.view.bindings(vhost, destination=name, destination_type="exchange") if name else []
    )
    return page(
        ctx,
        req,
        "exchange.html",
        tab="exchanges",
        e=e,
        charts=charts,
        outgoing=outgoing,
        incoming=incoming,
        queues=sorted(q.name for q in ctx.view.queues(vhost)),
        exchanges=sorted(x.name for x in ctx.view.exchanges(vhost) if x.name),
        base=u("exchanges", vhost, exchange_url_name(name)),
        api=api,
    )


def exchange_action(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    vhost, action = p["vhost"], p["action"]
    name = "" if p["name"] == "amq.default" else p["name"]
    ctx.check_vhost(req, vhost)
    form = req.form()
    view = ctx.view
    assert req.user is not None
    who = req.user.name
    here = u("exchanges", vhost, exchange_url_name(name))

    def do() -> str | None:
        if action == "publish":
            routed = view.publish(
                who,
                vhost,
                name,
                form.get("routing_key", ""),
                form.get("payload", "").encode(),
                _message_properties(form),
            )
            return "Message published." if routed else "Message published, but not routed."
        if action == "bind":
            dtype = form.get("destination_type", "queue")
            b = view.bind(
                who,
                vhost,
                name,
                dtype,
                form.get("destination", ""),
                form.get("routing_key", ""),
                _typed_args(form),
            )
            return f"Bound to {b.destination_type} '{b.destination}'."
        if action == "unbind":
            view.unbind(
                who,
                vhost,
                form.get("source", name),
                form.get("destination_type", "queue"),
                form.get("destination", ""),
                form.get("properties_key", ""),
            )
            return "Binding removed."
        raise not_found()

    if action == "delete":
        try:
            view.delete_exchange(who, vhost, name, if_unused=form.get("if_unused") == "on")
        except AdminError as e:
            return back(here, err=e.reason)
        return back("/exchanges", ok=f"Exchange '{name}' deleted.")
    return _action(here, do)


def declare_exchange(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    form = req.form()
    vhost = form.get("vhost", "/")
    assert req.user is not None
    who = req.user.name

    def do() -> str:
        ctx.check_vhost(req, vhost)
        name = form.get("name", "").strip()
        created = ctx.view.declare_exchange(
            who,
            vhost,
            name,
            type=form.get("type", "direct"),
            durable=form.get("durable") == "true",
            auto_delete=form.get("auto_delete") == "true",
            internal=form.get("internal") == "true",
            arguments=_typed_args(form),
        )
        return f"Exchange '{name}' declared." if created else f"Exchange '{name}' already exists."

    return _action("/exchanges", do)


# --- connections and channels -----------------------------------------------------------------------------


CONN_GETTERS: dict[str, Callable[[Any], Any]] = {
    "name": lambda c: c.name,
    "vhost": lambda c: c.vhost,
    "user": lambda c: c.user,
    "state": lambda c: c.state,
    "channels": lambda c: c.channels,
    "recv": lambda c: c.stats["recv_oct"].rate,
    "send": lambda c: c.stats["send_oct"].rate,
    "connected_at": lambda c: c.connected_at,
}
CHANNEL_GETTERS: dict[str, Callable[[Any], Any]] = {
    "name": lambda c: c.name,
    "vhost": lambda c: c.vhost,
    "user": lambda c: c.user,
    "state": lambda c: c.state,
    "unacked": lambda c: c.messages_unacknowledged,
    "prefetch": lambda c: c.prefetch_count,
    "publish": lambda c: c.stats["publish"].rate,
    "deliver": lambda c: c.stats["deliver"].rate + c.stats["deliver_no_ack"].rate,
    "ack": lambda c: c.stats["ack"].rate,
}


def connections(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    items = [c for c in ctx.view.connections() if ctx.sees_user(req, c.user)]
    shown, meta = list_page(req, items, CONN_GETTERS, default_sort=("name",))
    return page(ctx, req, "connections.html", tab="connections", conns=shown, meta=meta)


def connection_page(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    c = ctx.view.connection(p["name"])
    if c is None or not ctx.sees_user(req, c.user):
        raise not_found(f"no connection '{p['name']}' (it may have closed)")
    chans = ctx.view.channels(connection=c.name)
    hist = history(ctx, "connection", (c.name,), ["recv_oct", "send_oct"])
    api = u("api", "connections", c.name) + f"?data_rates_age={CHART_AGE}&data_rates_incr=1"
    series = (("recv_oct", "received (B/s)"), ("send_oct", "sent (B/s)"))
    charts = [
        chart(
            hist,
            series,
            rate=True,
            title="Data rates",
            source=api,
            paths={k: f"{k}_details" for k, _ in series},
        )
    ]
    return page(
        ctx,
        req,
        "connection.html",
        tab="connections",
        c=c,
        chans=chans,
        charts=charts,
        base=u("connections", c.name),
    )


def close_connection(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    form = req.form()
    name = p["name"]
    c = ctx.view.connection(name)
    assert req.user is not None
    if c is None:
        return back("/connections", err=f"Connection '{name}' is already closed.")
    if not req.user.is_administrator and req.user.name != c.user:
        return back(u("connections", name), err="User not authorised to close this connection")
    reason = form.get("reason", "").strip() or "Closed via management plugin"
    ctx.view.close_connection(name, reason)
    return back("/connections", ok=f"Connection '{name}' closed: {reason}")


def channels(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    items = [c for c in ctx.view.channels() if ctx.sees_user(req, c.user)]
    shown, meta = list_page(req, items, CHANNEL_GETTERS, default_sort=("name",))
    return page(ctx, req, "channels.html", tab="channels", chans=shown, meta=meta)


# --- admin ---------------------------------------------------------------------------------------------------


def admin(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    view = ctx.view
    return page(
        ctx,
        req,
        "admin.html",
        tab="admin",
        users=sorted(view.users(), key=lambda x: x.name),
        vhosts=sorted(view.vhosts(), key=lambda x: x.name),
        permissions=sorted(view.permissions(), key=lambda x: (x.vhost, x.user)),
        policies=sorted(view.policies(), key=lambda x: (x.vhost, x.name)),
    )


def admin_action(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    form = req.form()
    view = ctx.view
    action = p["action"]

    def do() -> str:
        if action == "add-user":
            name = form.get("name", "").strip()
            tags = [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
            view.put_user(
                name, password=form.get("password") or None, password_hash=None, tags=tags
            )
            return f"User '{name}' saved."
        if action == "delete-user":
            view.delete_user(form.get("name", ""))
            return "User deleted."
        if action == "add-vhost":
            name = form.get("name", "").strip()
            view.put_vhost(name, description=form.get("description", ""))
            return f"Vhost '{name}' saved."
        if action == "delete-vhost":
            view.delete_vhost(form.get("name", ""))
            return "Vhost deleted."
        if action == "set-permission":
            view.set_permissions(
                form.get("user", ""),
                form.get("vhost", ""),
                configure=form.get("configure", ".*"),
                write=form.get("write", ".*"),
                read=form.get("read", ".*"),
            )
            return "Permissions set."
        if action == "clear-permission":
            view.clear_permissions(form.get("user", ""), form.get("vhost", ""))
            return "Permissions cleared."
        if action == "set-policy":
            view.put_policy(
                form.get("vhost", "/"),
                form.get("name", "").strip(),
                pattern=form.get("pattern", ""),
                definition=_json_field(form, "definition"),
                priority=_form_int(form, "priority", 0),
                apply_to=form.get("apply_to", "all"),
            )
            return "Policy set."
        if action == "delete-policy":
            view.delete_policy(form.get("vhost", ""), form.get("name", ""))
            return "Policy deleted."
        raise not_found()

    return _action("/admin", do)


GLOBALS = {
    "fmt_rate": fmt_rate,
    "fmt_bytes": fmt_bytes,
    "fmt_time": fmt_time,
    "u": u,
    "xname": exchange_url_name,
    "ok": None,
    "err": None,
}


def register(r: Router) -> None:
    add = r.add
    add("GET", "/login", login_form, access="none", summary="Login page")
    add("POST", "/login", login, access="none", summary="Log in (form)")
    add("POST", "/logout", logout, summary="Log out")
    add("GET", "/static/{file}", static, access="none", summary="Static files")
    add("GET", "/", overview, summary="Overview page")
    add("GET", "/queues", queues, summary="Queues page")
    add("POST", "/queues", declare_queue, summary="Declare a queue (form)")
    add("GET", "/queues/{vhost}/{name}", queue_page, summary="Queue page")
    add("POST", "/queues/{vhost}/{name}/{action}", queue_action, summary="Queue actions (form)")
    add("GET", "/exchanges", exchanges, summary="Exchanges page")
    add("POST", "/exchanges", declare_exchange, summary="Declare an exchange (form)")
    add("GET", "/exchanges/{vhost}/{name}", exchange_page, summary="Exchange page")
    add(
        "POST",
        "/exchanges/{vhost}/{name}/{action}",
        exchange_action,
        summary="Exchange actions (form)",
    )
    add("GET", "/connections", connections, summary="Connections page")
    add("GET", "/connections/{name}", connection_page, summary="Connection page")
    add(
        "POST",
        "/connections/{name}/close",
        close_connection,
        summary="Force-close a connection (form)",
    )
    add("GET", "/channels", channels, summary="Channels page")
    add("GET", "/admin", admin, access="admin", summary="Admin page")
    add("POST", "/admin/{action}", admin_action, access="admin", summary="Admin actions (form)")
