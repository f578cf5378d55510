"""Client tests run against every broker at hand: amqpish always, RabbitMQ when
``RABBITMQ_URL`` is set (``tests/client/rmq_node.sh start`` runs a private node on 5711;
its management API, for the ``list`` command, is taken from ``RABBITMQ_MGMT_URL``)."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(params=["amqpish", "rabbitmq"])
def target(request: pytest.FixtureRequest) -> str:
    """The name of the broker under test."""
    if request.param == "rabbitmq" and not os.environ.get("RABBITMQ_URL"):
        pytest.skip("RABBITMQ_URL is not set")
    return str(request.param)


@pytest.fixture
def url(target: str, request: pytest.FixtureRequest) -> str:
    """The AMQP URL of the broker under test."""
    if target == "rabbitmq":
        return os.environ["RABBITMQ_URL"]
    return str(request.getfixturevalue("broker").url)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A name prefix unique to this test run, for queues and exchanges."""
    return f"t-{request.node.originalname}-{uuid.uuid4().hex[:8]}"
