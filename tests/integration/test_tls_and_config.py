"""amqps with a self-signed certificate, users and vhosts from a config file."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest
import trustme

from tests.support import BrokerProcess, start_broker


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[BrokerProcess]:
    d = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(d / "server.pem"))
    cfg = d / "amqpish.toml"
    cfg.write_text(
        f"""
[broker]
tls_port = 0
tls_cert = "{d / "server.pem"}"
tls_key = "{d / "server.pem"}"
vhosts = ["/staging"]

[[users]]
name = "alice"
password = "s3cret"
tags = ["management"]
"""
    )
    bp = start_broker(d / "data", "--config", str(cfg))
    yield bp
    bp.stop()


def test_amqps_with_self_signed_certificate(tls_broker: BrokerProcess, ca: trustme.CA) -> None:
    ready = next(line for line in tls_broker.log_lines if "broker_ready" in line)
    port = json.loads(ready)["amqps"].rsplit(":", 1)[1]
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    params = pika.ConnectionParameters(
        host="127.0.0.1",
        port=int(port),
        ssl_options=pika.SSLOptions(ctx, "localhost"),
        credentials=pika.PlainCredentials("guest", "guest"),
    )
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"over tls")
    assert ch.basic_get(q, auto_ack=True)[2] == b"over tls"
    conn.close()


def test_configured_user_without_permissions_is_refused_vhost(tls_broker: BrokerProcess) -> None:
    params = pika.URLParameters(f"amqp://alice:s3cret@127.0.0.1:{tls_broker.port}/%2Fstaging")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        pika.BlockingConnection(params)
    bad = pika.URLParameters(f"amqp://alice:wrong@127.0.0.1:{tls_broker.port}/")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(bad)


def test_config_file_values_and_flag_overrides(tmp_path: Path) -> None:
    from amqpish.config import load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text("port = 5999\nloopback_users = []\n")
    c = load_config(str(cfg), http_port=0)
    assert (c.port, c.http_port, c.loopback_users) == (5999, 0, ())
