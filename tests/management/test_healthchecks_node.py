"""RabbitMQ's deprecated /api/healthchecks/node, still called by client libraries."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

from tests.support import BrokerProcess


def _get(bp: BrokerProcess, path: str) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(f"http://127.0.0.1:{bp.http_port}{path}")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_healthchecks_node(broker: BrokerProcess) -> None:
    assert _get(broker, "/api/healthchecks/node") == (200, {"status": "ok"})
    node = _get(broker, "/api/overview")[1]["node"]
    assert _get(broker, f"/api/healthchecks/node/{node}") == (200, {"status": "ok"})
    status, body = _get(broker, "/api/healthchecks/node/nobody@nowhere")
    assert status == 404 and "reason" in body
