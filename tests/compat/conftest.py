"""Compatibility tests run against amqpish always, and against RabbitMQ too when
``RABBITMQ_URL`` is set (``tests/client/rmq_node.sh start`` runs a private node), which
shows that what they assert is RabbitMQ's behaviour and not just ours."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", params=["amqpish", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """The AMQP URL of the broker under test."""
    if request.param == "rabbitmq":
        url = os.environ.get("RABBITMQ_URL")
        if not url:
            pytest.skip("RABBITMQ_URL is not set")
        return url
    return str(request.getfixturevalue("broker").url)
