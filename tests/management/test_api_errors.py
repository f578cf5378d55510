"""Bad input, missing auth, wrong methods: the right status and a JSON error with a reason."""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.management.helpers import Api, q, sample
from tests.support import BrokerProcess


def error(r: object) -> dict[str, str]:
    body = r.json  # type: ignore[attr-defined]
    assert isinstance(body, dict) and set(body) == {"error", "reason"}, r
    assert body["reason"], r
    return body


def test_missing_and_wrong_credentials(api: Api) -> None:
    r = api.get("/api/overview", auth=False)
    assert r.status == 401
    assert (
        r.headers["www-authenticate"]
        == sample("error-401-no-auth.json")["response_headers"]["www-authenticate"]
    )
    assert error(r)["error"] == "not_authorized"
    r = api.get("/api/overview", headers={"Authorization": "Basic Z3Vlc3Q6bm9wZQ=="})
    assert r.status == 401 and error(r)["reason"] == "Not_Authorized"
    r = api.get("/api/overview", headers={"Authorization": "Basic !!!"})
    assert r.status == 401
    r = api.get("/api/overview", headers={"Authorization": "Bearer abc"})
    assert r.status == 401


def test_method_not_allowed(api: Api) -> None:
    r = api.post("/api/overview", {})
    assert r.status == 405 and "GET" in r.headers["allow"]
    error(r)
    assert api.request("PATCH", "/api/queues").status == 405


def test_not_found(api: Api) -> None:
    for path in (
        "/api/queues/no-such-vhost",
        "/api/queues/%2F/no-such-queue",
        "/api/exchanges/%2F/no-such-exchange",
        "/api/connections/nope",
        "/api/channels/nope%20(1)",
        "/api/users/nobody",
        "/api/nope",
        "/api/vhosts/no-such-vhost",
    ):
        r = api.get(path)
        assert r.status == 404, path
        assert error(r)["error"] == "Object Not Found"
    assert (
        api.get("/api/queues/ui-probe-no-such-vhost").json
        == sample("error-404-vhost.json")["response"]
    )
    assert api.delete("/api/connections/nope").status == 404
    assert api.delete("/api/queues/%2F/no-such-queue").status == 404
    assert api.put("/api/queues/no-such-vhost/q", {}).status == 404


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"{\\"a\\": 1}"', b"\xff\xfe", b"123"],
)
def test_malformed_bodies(api: Api, raw: bytes) -> None:
    r = api.request(
        "PUT", "/api/queues/%2F/err-q", raw=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status == 400, r
    assert error(r)["error"] == "bad_request"


def test_bad_arguments_and_values(api: Api) -> None:
    name = f"err-{uuid.uuid4().hex[:6]}"
    cases = [
        (f"/api/queues/%2F/{name}", {"durable": "maybe"}),
        (f"/api/queues/%2F/{name}", {"arguments": "x"}),
        (f"/api/queues/%2F/{name}", {"arguments": {"x-message-ttl": "abc"}}),
        (f"/api/queues/%2F/{name}", {"arguments": {"x-max-length": -1}}),
        (f"/api/exchanges/%2F/{name}", {"type": "nonsense"}),
        ("/api/exchanges/%2F/amq.default", {"type": "direct"}),
        (f"/api/policies/%2F/{name}", {"pattern": "(", "definition": {"max-length": 1}}),
        (f"/api/policies/%2F/{name}", {"pattern": ".*", "definition": {}}),
        (
            f"/api/policies/%2F/{name}",
            {"pattern": ".*", "definition": {"a": 1}, "priority": "high"},
        ),
        (f"/api/permissions/%2F/{name}", {"configure": ".*", "write": ".*", "read": ".*"}),
        ("/api/permissions/%2F/guest", {"configure": "(", "write": ".*", "read": ".*"}),
        (f"/api/users/{name}", {"password": 5}),
        (f"/api/users/{name}", {"password_hash": "not base64!", "tags": ""}),
    ]
    for path, body in cases:
        r = api.put(path, body)
        assert r.status in (400, 401), (path, body, r)
        error(r)
    assert api.get(f"/api/queues/%2F/{name}").status == 404


def test_redeclare_with_different_properties(api: Api) -> None:
    name = f"err-{uuid.uuid4().hex[:6]}"
    assert api.put(f"/api/queues/%2F/{name}", {"durable": True}).status == 201
    r = api.put(f"/api/queues/%2F/{name}", {"durable": False})
    assert r.status == 400
    assert r.json == {
        "error": "bad_request",
        "reason": f"inequivalent arg 'durable' for queue '{name}' in vhost '/': received 'false' but current is 'true'",
    }
    assert api.delete(f"/api/queues/%2F/{name}").status == 204


def test_queue_get_and_publish_errors(api: Api) -> None:
    name = f"err-{uuid.uuid4().hex[:6]}"
    api.put(f"/api/queues/%2F/{name}", {})
    base = f"/api/queues/%2F/{name}/get"
    for body in (
        {"count": 1, "ackmode": "nonsense", "encoding": "auto"},
        {"ackmode": "ack_requeue_true", "encoding": "auto"},
        {"count": "many", "ackmode": "ack_requeue_true", "encoding": "auto"},
        {"count": 1, "ackmode": "ack_requeue_true", "encoding": "rot13"},
        {"count": -1, "ackmode": "ack_requeue_true", "encoding": "auto"},
    ):
        r = api.post(base, body)
        assert r.status == 400, (body, r)
        error(r)
    pub = "/api/exchanges/%2F/amq.default/publish"
    for body in (
        {"routing_key": name, "payload": "x", "payload_encoding": "base64"},
        {"routing_key": name, "payload": "x", "payload_encoding": "utf-7"},
        {"payload": "x", "payload_encoding": "string"},
        {"routing_key": name, "payload_encoding": "string"},
        {"routing_key": name, "payload": "x", "properties": {"delivery_mode": "fast"}},
        {"routing_key": name, "payload": "x", "properties": {"headers": [1]}},
        {"routing_key": name, "payload": "x", "properties": {"expiration": "soon"}},
        {"routing_key": name, "payload": "x", "properties": {"user_id": "somebody-else"}},
    ):
        r = api.post(pub, body)
        assert r.status == 400, (body, r)
        error(r)
    # RabbitMQ publishes through a channel and answers its 404 channel error as a 400
    r = api.post("/api/exchanges/%2F/no-such-exchange/publish", {"routing_key": "", "payload": ""})
    assert r.status == 400
    assert error(r)["reason"] == "404 NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'"
    api.delete(f"/api/queues/%2F/{name}")


def test_pagination_errors(api: Api) -> None:
    for query in (
        "page=0",
        "page=1&page_size=501",
        "page=x",
        "page=1&page_size=0",
        "page=1000&page_size=1",
        "page=1&name=(&use_regex=true",
        "lengths_age=10&lengths_incr=0",
    ):
        r = api.get(f"/api/queues?{query}")
        assert r.status == 400, (query, r)
        error(r)


def test_conditional_delete(api: Api, mgmt_broker: BrokerProcess) -> None:
    name = f"err-{uuid.uuid4().hex[:6]}"
    api.put(f"/api/queues/%2F/{name}", {})
    api.post(
        "/api/exchanges/%2F/amq.default/publish",
        {"routing_key": name, "payload": "x", "payload_encoding": "string"},
    )
    r = api.delete(f"/api/queues/%2F/{name}?if-empty=true")
    assert r.status == 400 and r.json["reason"] == f"queue '{name}' in vhost '/' not empty"
    assert api.delete(f"/api/queues/%2F/{name}?if-unused=true").status == 204


def test_raw_protocol_garbage_gets_an_answer(mgmt_broker: BrokerProcess) -> None:
    for payload, status in (
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /api/overview HTTP/1.1\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"POST /api/definitions HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n", 413),
    ):
        with socket.create_connection(("127.0.0.1", mgmt_broker.http_port), timeout=10) as s:
            try:
                s.sendall(payload)
            except OSError:
                pass
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(f"HTTP/1.1 {status}".encode()), (payload[:40], data[:200])
            assert b'"reason"' in data or b"\r\n\r\n" in data


def test_management_users_see_only_their_vhosts(api: Api, mgmt_broker: BrokerProcess) -> None:
    tag = uuid.uuid4().hex[:6]
    vh, user = f"own-{tag}", f"user-{tag}"
    assert api.put(f"/api/vhosts/{vh}").status == 201
    # as in RabbitMQ, creating a vhost grants its creator full permissions in it ...
    perms = api.ok(f"/api/vhosts/{vh}/permissions")
    assert [(x["user"], x["configure"], x["write"], x["read"]) for x in perms] == [
        ("guest", ".*", ".*", ".*")
    ]
    # ... and without them even an administrator may not declare in it
    assert api.delete(f"/api/permissions/{vh}/guest").status == 204
    r = api.put(f"/api/queues/{vh}/mine", {})
    assert r.status == 401 and error(r)["error"] == "not_authorised"
    assert (
        api.put(
            f"/api/permissions/{vh}/guest", {"configure": ".*", "write": ".*", "read": ".*"}
        ).status
        == 201
    )
    assert api.put(f"/api/users/{user}", {"password": "pw", "tags": "management"}).status == 201
    assert (
        api.put(
            f"/api/permissions/{vh}/{user}", {"configure": ".*", "write": ".*", "read": ".*"}
        ).status
        == 201
    )
    assert api.put(f"/api/queues/{vh}/mine", {}).status == 201
    assert api.put(f"/api/queues/%2F/not-{tag}", {}).status == 201
    me = Api(mgmt_broker.http_port, user, "pw")
    names = {(x["vhost"], x["name"]) for x in me.ok("/api/queues")}
    assert (vh, "mine") in names and all(v == vh for v, _ in names)
    assert {x["name"] for x in me.ok("/api/vhosts")} == {vh}
    r = me.get("/api/queues/%2F")
    assert r.status == 401 and error(r)["error"] == "not_authorised"
    for path in ("/api/users", "/api/definitions", "/api/nodes", "/api/permissions"):
        assert me.get(path).status == 401, path
    assert me.put(f"/api/vhosts/x-{tag}").status == 401
    assert (
        me.put(f"/api/policies/{vh}/p", {"pattern": ".*", "definition": {"max-length": 1}}).status
        == 401
    )
    assert me.ok("/api/whoami") == {"name": user, "tags": ["management"]}
    # a user without a management tag does not get in at all
    assert api.put(f"/api/users/plain-{tag}", {"password": "pw", "tags": ""}).status == 201
    r = Api(mgmt_broker.http_port, f"plain-{tag}", "pw").get("/api/overview")
    assert r.status == 401 and error(r)["reason"] == "Not management user"
    api.delete(f"/api/queues/%2F/not-{tag}")
    assert api.delete(f"/api/vhosts/{vh}").status == 204
    assert api.delete(f"/api/users/{user}").status == 204
    assert api.delete(f"/api/users/plain-{tag}").status == 204
    assert api.get(f"/api/users/{user}").status == 404


def test_user_password_hash_round_trip(api: Api, mgmt_broker: BrokerProcess) -> None:
    tag = uuid.uuid4().hex[:6]
    assert (
        api.put(f"/api/users/a-{tag}", {"password": "secret", "tags": ["monitoring"]}).status == 201
    )
    h = api.ok(f"/api/users/a-{tag}")["password_hash"]
    assert api.put(f"/api/users/b-{tag}", {"password_hash": h, "tags": "monitoring"}).status == 201
    assert Api(mgmt_broker.http_port, f"b-{tag}", "secret").ok("/api/whoami")["tags"] == [
        "monitoring"
    ]
    assert api.post("/api/users/bulk-delete", {"users": [f"a-{tag}", f"b-{tag}"]}).status == 204
    assert api.get(f"/api/users/a-{tag}").status == 404
    _ = q


# --- every route of the API, from the UI's own route table ------------------------------------


def api_routes() -> list[tuple[str, frozenset[str], dict[str, str]]]:
    """(pattern, methods, access by method) of every /api route."""
    from management_ui import api as api_module
    from management_ui import api_admin
    from management_ui.routing import Router

    r = Router()
    api_module.register(r)
    api_admin.register(r)
    return [
        (route.pattern, frozenset(route.methods), {m: e.access for m, e in route.methods.items()})
        for route in r.routes
        if route.pattern.startswith("/api/")
    ]


# what each path parameter is filled with: names that exist nowhere
PARAMS = {
    "vhost": "%2F",
    "name": "err-missing",
    "node": "nobody%40nowhere",
    "user": "err-missing-user",
    "port": "5",
    "protocol": "amqp091",
    "within": "1",
    "unit": "days",
    "source": "amq.direct",
    "destination": "err-missing",
    "props": "~",
}


def fill(pattern: str, **over: str) -> str:
    values = {**PARAMS, **over}
    return "/".join(values[p[1:-1]] if p.startswith("{") else p for p in pattern.split("/"))


def test_every_route_needs_auth(api: Api) -> None:
    checked = 0
    for pattern, methods, access in api_routes():
        for method in sorted(methods):
            if access[method] == "none":
                continue
            path = fill(pattern)
            body = b"{}" if method in ("PUT", "POST") else None
            for headers in ({}, {"Authorization": "Basic Z3Vlc3Q6bm9wZQ=="}):  # none; guest:nope
                r = api.request(method, path, raw=body, headers=headers, auth=False)
                assert r.status == 401, (method, path, headers, r)
                assert error(r)["error"] == "not_authorized"
                assert r.headers["www-authenticate"] == 'Basic realm="RabbitMQ Management"'
                checked += 1
    assert checked > 100
    # nothing was changed by the refused requests
    assert api.get("/api/queues/%2F/err-missing").status == 404
    assert api.get("/api/users/err-missing-user").status == 404


def test_every_route_rejects_other_methods(api: Api) -> None:
    for pattern, methods, _ in api_routes():
        path = fill(pattern)
        for method in ("GET", "PUT", "POST", "DELETE", "PATCH"):
            if method in methods:
                continue
            r = api.request(method, path, raw=b"{}" if method != "GET" else None)
            assert r.status == 405, (method, path, r)
            assert error(r)["error"] == "Method Not Allowed"
            assert set(r.headers["allow"].split(", ")) == set(methods), (method, path)


def test_every_body_route_rejects_malformed_json(api: Api) -> None:
    bad_bodies = (
        b"{not json",
        b'{"a": 1',
        b"\xff\xfe",
        b"[1, 2]",
        b"42",
        b'{"x": NaN}',
        b"[" * 100_000,  # nesting that would blow Python's recursion limit
    )
    for pattern, methods, _ in api_routes():
        for method in sorted(methods & {"PUT", "POST"}):
            path = fill(pattern)
            for raw in bad_bodies:
                r = api.request(method, path, raw=raw, headers={"Content-Type": "application/json"})
                assert r.status == 400, (method, path, raw[:20], r)
                assert error(r)["error"] == "bad_request"
    # nothing was created from a bad body
    assert api.get("/api/vhosts/%2F").status == 200
    assert api.get("/api/queues/%2F/err-missing").status == 404
    assert api.get("/api/users/err-missing-user").status == 404


def test_every_vhost_route_answers_404_for_an_unknown_vhost(api: Api) -> None:
    bodies = {
        "/api/queues/{vhost}/{name}/get": {
            "count": 1,
            "ackmode": "ack_requeue_true",
            "encoding": "auto",
        },
        "/api/exchanges/{vhost}/{name}/publish": {
            "routing_key": "k",
            "payload": "x",
            "payload_encoding": "string",
            "properties": {},
        },
        "/api/permissions/{vhost}/{user}": {"configure": ".*", "write": ".*", "read": ".*"},
        "/api/policies/{vhost}/{name}": {"pattern": ".*", "definition": {"max-length": 1}},
    }
    checked = 0
    for pattern, methods, _ in api_routes():
        if "{vhost}" not in pattern:
            continue
        for method in sorted(methods):
            if (method, pattern) == ("PUT", "/api/vhosts/{vhost}"):
                continue  # that one creates it
            path = fill(pattern, vhost="err-no-such-vhost", user="guest")
            body = bodies.get(pattern, {}) if method in ("PUT", "POST") else None
            r = api.request(method, path, body=body)
            assert r.status == 404, (method, path, r)
            assert error(r)["error"] == "Object Not Found"
            checked += 1
    assert checked > 30
    assert api.get("/api/vhosts/err-no-such-vhost").status == 404
