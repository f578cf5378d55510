"""AMQP URI parsing, per RabbitMQ's URI spec and query parameters."""

from __future__ import annotations

import pytest

from amqpish.client import ConnectionParameters, parse_url


def test_full_url() -> None:
    p = parse_url(
        "amqp://user:pass@rabbit.example:5673/prod?heartbeat=30&frame_max=8192&channel_max=16"
    )
    assert p == ConnectionParameters(
        host="rabbit.example",
        port=5673,
        username="user",
        password="pass",
        vhost="prod",
        heartbeat=30,
        frame_max=8192,
        channel_max=16,
    )


@pytest.mark.parametrize(
    ("url", "vhost"),
    [
        ("amqp://host", "/"),
        ("amqp://host/", "/"),
        ("amqp://host/%2f", "/"),
        ("amqp://host/%2F", "/"),
        ("amqp://host/%2fdev", "/dev"),
        ("amqp://host/a%20b", "a b"),
        ("amqp://host/vh?heartbeat=1", "vh"),
    ],
)
def test_vhost(url: str, vhost: str) -> None:
    assert parse_url(url).vhost == vhost


def test_defaults_and_percent_encoding() -> None:
    p = parse_url("amqp://")
    assert (p.host, p.port, p.username, p.password, p.tls, p.heartbeat) == (
        "localhost",
        5672,
        "guest",
        "guest",
        False,
        None,
    )
    p = parse_url("amqps://us%40er:p%3Ass%2Fw@[::1]/")
    assert (p.username, p.password, p.host, p.port, p.tls) == ("us@er", "p:ss/w", "::1", 5671, True)
    assert "p:ss" not in p.display()


def test_connection_timeout_is_milliseconds() -> None:
    assert parse_url("amqp://h?connection_timeout=2500").connection_timeout == 2.5


@pytest.mark.parametrize(
    "url",
    [
        "http://host/",
        "amqp://host/a/b",
        "amqp://host/?heartbeat=x",
        "amqp://host/?frame_max=100",
        "amqp://host/?channel_max=70000",
        "amqp://host/?bogus=1",
        "amqp://host/?auth_mechanism=external",
        "amqp://host:99999/",
    ],
)
def test_malformed(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)
