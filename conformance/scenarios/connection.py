"""Connection negotiation: protocol header, start/tune/open, authentication, vhosts, channels.

Mostly raw frames: a client library would hide or refuse most of these exchanges.
"""

from __future__ import annotations

import time
from typing import Any

from conformance.core import Context, scenario
from conformance.helpers import raw_event, raw_until_close
from conformance.raw import FRAME_HEARTBEAT, PROTOCOL_HEADER, decode_method, enc_table

# RabbitMQ closes the socket silently 3 s after an error before connection.open-ok (to slow
# down password guessing); a deadline well past that keeps "eof" outcomes deterministic.
PRE_OPEN_WAIT = 8.0

# ------------------------------------------------------------------ protocol header


def header_reply(ctx: Context, header: bytes) -> dict[str, Any]:
    """What the server answers to a protocol header, and whether it then closes."""
    c = ctx.raw()
    c.send(header)
    head = c.recv_bytes(8, time.monotonic() + 5)
    out: dict[str, Any] = {}
    if head[:4] == b"AMQP":
        out["reply"] = "protocol header " + ".".join(str(b) for b in head[4:])
        rest = c.read_until_eof(5)
        out["then"] = "eof" if c.closed and not rest else f"{len(rest)} bytes"
    elif head[:1] == b"\x01":
        c.buf[:0] = head
        m = c.read_method()
        assert m is not None
        out["reply"] = m[1]
        if m[1] == "connection.start":
            out["version"] = f"{m[2]['version_major']}-{m[2]['version_minor']}"
    else:
        out["reply"] = head.hex() if head else "nothing"
        out["then"] = "eof" if c.closed else "open"
    return out


HEADERS = {
    "amqp_0_9_1": PROTOCOL_HEADER,
    "amqp_0_9_1_old_style": b"AMQP\x01\x01\x09\x01",
    "amqp_0_9": b"AMQP\x00\x00\x09\x00",
    "amqp_0_8": b"AMQP\x01\x01\x08\x00",
    "amqp_0_10": b"AMQP\x01\x01\x00\x0a",
    "amqp_1_0": b"AMQP\x00\x01\x00\x00",
    "amqp_1_0_sasl": b"AMQP\x03\x01\x00\x00",
    "amqp_1_0_tls": b"AMQP\x02\x01\x00\x00",
    "future_0_10_0": b"AMQP\x00\x00\x0a\x00",
    "amqp_0_9_2": b"AMQP\x00\x00\x09\x02",
    "wrong_magic": b"AMQX\x00\x00\x09\x01",
    "lowercase_magic": b"amqp\x00\x00\x09\x01",
    "http_request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
}


def _header_case(key: str, header: bytes) -> None:
    @scenario(f"connection.header.{key}")
    def run(ctx: Context) -> Any:
        return header_reply(ctx, header)


for _k, _h in HEADERS.items():
    _header_case(_k, _h)


# ------------------------------------------------------------------ connection.start


def start_args(ctx: Context) -> dict[str, Any]:
    c = ctx.raw()
    c.send(PROTOCOL_HEADER)
    return c.expect("connection.start", 0)


@scenario("connection.start.version")
def start_version(ctx: Context) -> Any:
    a = start_args(ctx)
    return {"major": a["version_major"], "minor": a["version_minor"]}


@scenario("connection.start.mechanisms")
def start_mechanisms(ctx: Context) -> Any:
    return sorted(start_args(ctx)["mechanisms"].decode().split())


@scenario("connection.start.locales")
def start_locales(ctx: Context) -> Any:
    return start_args(ctx)["locales"].decode().split()


@scenario("connection.start.server_property_keys")
def start_property_keys(ctx: Context) -> Any:
    props = start_args(ctx)["server_properties"]
    # values (product name, version, platform) are the broker's own; the keys are what clients read
    return sorted(props)


@scenario("connection.start.capabilities")
def start_capabilities(ctx: Context) -> Any:
    return start_args(ctx)["server_properties"].get("capabilities")


@scenario("connection.start.property_types")
def start_property_types(ctx: Context) -> Any:
    c = ctx.raw(typed=True)
    c.send(PROTOCOL_HEADER)
    props = c.expect("connection.start", 0)["server_properties"]
    return {
        k: v.tag
        for k, v in sorted(props.items())
        if k in ("capabilities", "product", "version", "platform")
    }


# ------------------------------------------------------------------ authentication


def _auth(ctx: Context, mechanism: str, response: bytes, caps: dict[str, Any] | None = None) -> Any:
    """start-ok with the given mechanism/response: the server's next event(s)."""
    c = ctx.raw()
    c.send(PROTOCOL_HEADER)
    c.expect("connection.start", 0)
    capabilities = {"authentication_failure_close": True} if caps is None else caps
    c.send_method(
        0,
        "connection.start_ok",
        client_properties={"capabilities": capabilities},
        mechanism=mechanism,
        response=response,
        locale="en_US",
    )
    ev = c.read_method(PRE_OPEN_WAIT)
    if ev is not None and ev[1] == "connection.tune":
        t = ev[2]
        c.send_method(
            0,
            "connection.tune_ok",
            channel_max=t["channel_max"],
            frame_max=t["frame_max"],
            heartbeat=0,
        )
        c.send_method(0, "connection.open", virtual_host=ctx.vhost)
        return ["connection.tune", *raw_until_close(c, timeout=PRE_OPEN_WAIT)]
    if ev is None:
        return ["eof" if c.closed else "timeout"]
    first = raw_event(ev)
    if ev[1] == "connection.close":
        c.send_method(0, "connection.close_ok")
        c.read_until_eof(2)
        return [first, "eof" if c.closed else "open"]
    return [first, *raw_until_close(c, timeout=PRE_OPEN_WAIT)]


def plain(user: str, password: str) -> bytes:
    return b"\x00" + user.encode() + b"\x00" + password.encode()


def amqplain(user: str, password: str) -> bytes:
    return enc_table({"LOGIN": user, "PASSWORD": password})[4:]


@scenario("connection.auth.plain_ok")
def auth_plain_ok(ctx: Context) -> Any:
    return _auth(ctx, "PLAIN", plain(ctx.user, ctx.password))[:2]


@scenario("connection.auth.amqplain_ok")
def auth_amqplain_ok(ctx: Context) -> Any:
    return _auth(ctx, "AMQPLAIN", amqplain(ctx.user, ctx.password))[:2]


@scenario("connection.auth.plain_bad_password")
def auth_plain_bad(ctx: Context) -> Any:
    return _auth(ctx, "PLAIN", plain(ctx.user, ctx.password + "-wrong"))


@scenario("connection.auth.plain_unknown_user")
def auth_plain_unknown_user(ctx: Context) -> Any:
    return _auth(ctx, "PLAIN", plain("nobody-" + ctx.suffix, "x"))


@scenario("connection.auth.amqplain_bad_password")
def auth_amqplain_bad(ctx: Context) -> Any:
    return _auth(ctx, "AMQPLAIN", amqplain(ctx.user, ctx.password + "-wrong"))


@scenario("connection.auth.bad_password_without_failure_close_capability")
def auth_bad_no_cap(ctx: Context) -> Any:
    return _auth(ctx, "PLAIN", plain(ctx.user, ctx.password + "-wrong"), caps={})


@scenario("connection.auth.unknown_mechanism")
def auth_unknown_mechanism(ctx: Context) -> Any:
    return _auth(ctx, "CRAM-MD5", b"x")


@scenario("connection.auth.plain_without_separators")
def auth_plain_malformed(ctx: Context) -> Any:
    return _auth(ctx, "PLAIN", (ctx.user + ctx.password).encode())


@scenario("connection.auth.plain_empty_response")
def auth_plain_empty(ctx: Context) -> Any:
    return _auth(ctx, "PLAIN", b"")


@scenario("connection.auth.plain_with_authzid")
def auth_plain_authzid(ctx: Context) -> Any:
    return _auth(ctx, "PLAIN", ctx.user.encode() + plain(ctx.user, ctx.password))[:2]


@scenario("connection.auth.amqplain_missing_password")
def auth_amqplain_missing(ctx: Context) -> Any:
    return _auth(ctx, "AMQPLAIN", enc_table({"LOGIN": ctx.user})[4:])


# ------------------------------------------------------------------ virtual hosts


def _open_vhost(ctx: Context, vhost: str) -> Any:
    c = ctx.raw()
    c.handshake(user=ctx.user, password=ctx.password, open_vhost=False)
    c.send_method(0, "connection.open", virtual_host=vhost)
    return raw_until_close(c, timeout=PRE_OPEN_WAIT)


@scenario("connection.vhost.default_opens")
def vhost_default(ctx: Context) -> Any:
    return _open_vhost(ctx, ctx.vhost)[:1]


@scenario("connection.vhost.unknown")
def vhost_unknown(ctx: Context) -> Any:
    return _open_vhost(ctx, "no-such-vhost-" + ctx.suffix)


@scenario("connection.vhost.no_permission", needs_mgmt=True)
def vhost_no_permission(ctx: Context) -> Any:
    return _open_vhost(ctx, ctx.make_vhost(grant=False))


@scenario("connection.vhost.granted", needs_mgmt=True)
def vhost_granted(ctx: Context) -> Any:
    return _open_vhost(ctx, ctx.make_vhost())[:1]


@scenario("connection.vhost.open_twice")
def vhost_open_twice(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(0, "connection.open", virtual_host=ctx.vhost)
    return raw_until_close(c, timeout=3.0)


# ------------------------------------------------------------------ tune


@scenario("connection.tune.server_proposal")
def tune_proposal(ctx: Context) -> Any:
    c = ctx.raw_open()
    return c.tune


def _tune(ctx: Context, **tune: Any) -> Any:
    c = ctx.raw()
    c.handshake(user=ctx.user, password=ctx.password, vhost=ctx.vhost, open_vhost=False, **tune)
    c.send_method(0, "connection.open", virtual_host=ctx.vhost)
    ev = c.next_event(PRE_OPEN_WAIT)
    if isinstance(ev, tuple) and ev[1] == "connection.open_ok":
        c.send_method(1, "channel.open")
        return [raw_event(ev), raw_event(c.next_event())]
    return [raw_event(ev), *([] if ev is None else raw_until_close(c, PRE_OPEN_WAIT))]


@scenario("connection.tune.frame_max_minimum_4096")
def tune_fm_min(ctx: Context) -> Any:
    return _tune(ctx, frame_max=4096)


@scenario("connection.tune.frame_max_below_minimum")
def tune_fm_below(ctx: Context) -> Any:
    return _tune(ctx, frame_max=4095)


@scenario("connection.tune.frame_max_zero")
def tune_fm_zero(ctx: Context) -> Any:
    return _tune(ctx, frame_max=0)


@scenario("connection.tune.frame_max_above_server")
def tune_fm_above(ctx: Context) -> Any:
    return _tune(ctx, frame_max=1 << 20)


@scenario("connection.tune.channel_max_above_server")
def tune_cm_above(ctx: Context) -> Any:
    return _tune(ctx, channel_max=65535)


@scenario("connection.tune.channel_max_zero")
def tune_cm_zero(ctx: Context) -> Any:
    return _tune(ctx, channel_max=0)


@scenario("connection.tune.heartbeat_above_server")
def tune_hb_above(ctx: Context) -> Any:
    return _tune(ctx, heartbeat=600)


@scenario("connection.tune.open_without_tune_ok")
def tune_skip(ctx: Context) -> Any:
    c = ctx.raw()
    c.send(PROTOCOL_HEADER)
    c.expect("connection.start", 0)
    c.send_method(
        0,
        "connection.start_ok",
        client_properties={"capabilities": {"authentication_failure_close": True}},
        mechanism="PLAIN",
        response=plain(ctx.user, ctx.password),
        locale="en_US",
    )
    c.expect("connection.tune", 0)
    c.send_method(0, "connection.open", virtual_host=ctx.vhost)
    return raw_until_close(c, timeout=PRE_OPEN_WAIT)


@scenario("connection.tune.channel_open_before_connection_open")
def tune_channel_before_open(ctx: Context) -> Any:
    c = ctx.raw()
    c.handshake(user=ctx.user, password=ctx.password, open_vhost=False)
    c.send_method(1, "channel.open")
    return raw_until_close(c, timeout=PRE_OPEN_WAIT)


@scenario("connection.tune.method_before_start_ok")
def tune_method_before_start_ok(ctx: Context) -> Any:
    c = ctx.raw()
    c.send(PROTOCOL_HEADER)
    c.expect("connection.start", 0)
    c.send_method(0, "connection.open", virtual_host=ctx.vhost)
    return raw_until_close(c, timeout=PRE_OPEN_WAIT)


# ------------------------------------------------------------------ channel numbers


def _channel_max_case(ctx: Context, channel_max: int | None, channel: int) -> Any:
    c = ctx.raw_open(channel_max=channel_max)
    c.send_method(channel, "channel.open")
    ev = c.next_event(2.0)
    if ev is None:
        return ["eof" if c.closed else "timeout"]
    events = [raw_event(ev)]
    if isinstance(ev, tuple) and ev[1] == "connection.close":
        c.send_method(0, "connection.close_ok")
        c.read_until_eof(2)
        events.append("eof" if c.closed else "open")
    return events


@scenario("connection.channel_max.channel_count_limit")
def cm_count(ctx: Context) -> Any:
    c = ctx.raw_open(channel_max=2)
    c.open_channel(1)
    c.open_channel(2)
    c.send_method(3, "channel.open")
    return raw_until_close(c)


@scenario("connection.channel_max.count_limit_after_close")
def cm_count_after_close(ctx: Context) -> Any:
    c = ctx.raw_open(channel_max=2)
    c.open_channel(1)
    c.open_channel(2)
    c.rpc(2, "channel.close", "channel.close_ok", reply_code=200, reply_text="bye")
    c.send_method(3, "channel.open")
    return raw_event(c.read_method())


@scenario("connection.channel_max.number_above_negotiated_max")
def cm_number_above(ctx: Context) -> Any:
    c = ctx.raw_open(channel_max=3)
    c.send_method(10, "channel.open")
    return raw_event(c.read_method())


@scenario("connection.channel_max.number_above_server_max")
def cm_number_above_server(ctx: Context) -> Any:
    c = ctx.raw_open()
    n = c.tune["channel_max"] + 1
    c.send_method(n, "channel.open")
    ev = c.read_method()
    return {"channel_max_plus": raw_event(ev)["method"] if ev else "eof"}


@scenario("connection.channel_max.highest_channel_number")
def cm_highest_number(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(65535, "channel.open")
    return raw_event(c.read_method())


@scenario("connection.channel.open_twice")
def ch_open_twice(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(1, "channel.open")
    return raw_until_close(c)


@scenario("connection.channel.open_on_channel_zero")
def ch_open_zero(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(0, "channel.open")
    return raw_until_close(c)


@scenario("connection.channel.method_on_unopened_channel")
def ch_unopened(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(5, "queue.declare", queue="", exclusive=True)
    return raw_until_close(c)


@scenario("connection.channel.close_unopened_channel")
def ch_close_unopened(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(5, "channel.close", reply_code=200, reply_text="bye")
    return raw_until_close(c, timeout=1.5)


@scenario("connection.channel.unsolicited_close_ok")
def ch_unsolicited_close_ok(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(1, "channel.close_ok")
    c.send_method(1, "queue.declare", queue="", exclusive=True)
    return raw_until_close(c, timeout=1.5)[:1]


@scenario("connection.channel.open_ok_payload")
def ch_open_ok(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(1, "channel.open")
    return c.expect("channel.open_ok", 1)


@scenario("connection.channel.close_and_reopen_same_number")
def ch_reopen(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.rpc(1, "channel.close", "channel.close_ok", reply_code=200, reply_text="bye")
    out = ["channel.close_ok"]
    c.send_method(1, "channel.open")
    out.append(raw_event(c.read_method()))
    return out


@scenario("connection.channel.methods_after_server_close_are_discarded")
def ch_discard(ctx: Context) -> Any:
    q = ctx.name("q")
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(1, "queue.declare", queue=ctx.name("missing"), passive=True)
    first = raw_event(c.read_method())
    # before answering the close: a declare that must be ignored
    c.send_method(1, "queue.declare", queue=q, auto_delete=True)
    c.send_method(1, "channel.close_ok")
    c.open_channel(1)
    c.send_method(1, "queue.declare", queue=q, passive=True)
    return [first, raw_event(c.read_method())]


@scenario("connection.channel.client_close_with_error_code")
def ch_client_close_code(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(
        1, "channel.close", reply_code=406, reply_text="client says no", class_id=50, method_id=10
    )
    out = [raw_event(c.read_method())]
    c.open_channel(2)
    out.append("channel 2 opens")
    return out


# ------------------------------------------------------------------ close
# After a client-initiated close the server answers close-ok; who closes the socket then is
# left open by the spec (RabbitMQ waits for the client), so it is not part of the outcome.


@scenario("connection.close.client_initiated")
def close_client(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(0, "connection.close", reply_code=200, reply_text="Goodbye")
    return raw_event(c.read_method())


@scenario("connection.close.client_initiated_with_open_channels")
def close_client_channels(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.open_channel(2)
    c.send_method(0, "connection.close", reply_code=200, reply_text="Goodbye")
    return raw_event(c.read_method())


@scenario("connection.close.methods_after_close_ignored")
def close_then_methods(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(0, "connection.close", reply_code=200, reply_text="Goodbye")
    c.send_method(1, "queue.declare", queue="", exclusive=True)
    return raw_event(c.read_method())


@scenario("connection.close.client_error_code")
def close_client_error(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_method(
        0, "connection.close", reply_code=320, reply_text="client shutdown", class_id=0, method_id=0
    )
    return raw_event(c.read_method())


@scenario("connection.close.close_ok_after_server_close_then_eof")
def close_server_eof(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_method(1, "exchange.declare", exchange=ctx.name("x"), type="no-such-type")
    return raw_until_close(c)


# ------------------------------------------------------------------ heartbeats


@scenario("connection.heartbeat.server_sends_heartbeats", timeout=20)
def hb_server_sends(ctx: Context) -> Any:
    c = ctx.raw_open(heartbeat=1)
    deadline = time.monotonic() + 5
    got = None
    while time.monotonic() < deadline:
        f = c.read_frame(max(0.0, deadline - time.monotonic()))
        # keep the connection alive from our side too
        c.send_frame(FRAME_HEARTBEAT, 0, b"")
        if f is None:
            break
        if f.type == FRAME_HEARTBEAT:
            got = {"type": f.type, "channel": f.channel, "size": len(f.payload)}
            break
    return {"heartbeat_frame": got}


@scenario("connection.heartbeat.missed_heartbeats_close_connection", timeout=30)
def hb_missed(ctx: Context) -> Any:
    c = ctx.raw_open(heartbeat=1)
    c.open_channel(1)
    deadline = time.monotonic() + 15
    events = []
    while time.monotonic() < deadline:
        f = c.read_frame(max(0.0, deadline - time.monotonic()))
        if f is None:
            break
        if f.type == FRAME_HEARTBEAT:
            continue
        events.append(decode_method(f.payload)[0] if f.type == 1 else f"frame type {f.type}")
    return {"closed": c.closed, "frames_before_close": events}


@scenario("connection.heartbeat.client_heartbeats_keep_connection_open", timeout=20)
def hb_client_keeps(ctx: Context) -> Any:
    c = ctx.raw_open(heartbeat=1)
    end = time.monotonic() + 3.5
    while time.monotonic() < end:
        c.send_frame(FRAME_HEARTBEAT, 0, b"")
        f = c.read_frame(0.3)
        if f is None and c.closed:
            return {"closed": True}
    c.send_method(1, "channel.open")
    m = c.read_method(2)
    return {"closed": c.closed, "after": m[1] if m else None}


@scenario("connection.heartbeat.other_traffic_keeps_connection_open", timeout=20)
def hb_traffic_keeps(ctx: Context) -> Any:
    c = ctx.raw_open(heartbeat=1)
    c.open_channel(1)
    end = time.monotonic() + 3.5
    while time.monotonic() < end:
        c.send_method(1, "exchange.declare", exchange="amq.direct", type="direct", passive=True)
        m = c.read_method(0.5)
        if m is None and c.closed:
            return {"closed": True}
        time.sleep(0.2)
    c.send_method(1, "channel.close", reply_code=200, reply_text="bye")
    return {"closed": c.closed, "after": c.read_method(2)[1]}  # type: ignore[index]


@scenario("connection.heartbeat.zero_disables", timeout=20)
def hb_zero(ctx: Context) -> Any:
    c = ctx.raw_open(heartbeat=0)
    # absence check: nothing (no heartbeat, no close) arrives within 2.5 s
    f = c.read_frame(2.5)
    c.send_method(1, "channel.open")
    m = c.read_method(2)
    return {
        "frame_received": None if f is None else f.type,
        "closed": c.closed,
        "after": m[1] if m else None,
    }


@scenario("connection.heartbeat.frame_on_nonzero_channel")
def hb_nonzero_channel(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    c.send_frame(FRAME_HEARTBEAT, 1, b"")
    return raw_until_close(c, timeout=2.0)


@scenario("connection.heartbeat.frame_with_payload")
def hb_payload(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.send_frame(FRAME_HEARTBEAT, 0, b"xx")
    return raw_until_close(c, timeout=2.0)


@scenario("connection.heartbeat.before_handshake_completes")
def hb_early(ctx: Context) -> Any:
    c = ctx.raw()
    c.send(PROTOCOL_HEADER)
    c.expect("connection.start", 0)
    c.send_frame(FRAME_HEARTBEAT, 0, b"")
    c.send_method(
        0,
        "connection.start_ok",
        client_properties={},
        mechanism="PLAIN",
        response=plain(ctx.user, ctx.password),
        locale="en_US",
    )
    m = c.read_method(3)
    return raw_event(m)["method"] if m else ("eof" if c.closed else "timeout")
