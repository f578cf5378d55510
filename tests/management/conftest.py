"""Fixtures: a broker subprocess for the management tests (its own, so the objects these
tests create do not disturb other suites), and an API client on its HTTP port."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.management.helpers import Api
from tests.support import BrokerProcess, start_broker


@pytest.fixture(scope="session")
def mgmt_broker() -> Iterator[BrokerProcess]:
    with tempfile.TemporaryDirectory(prefix="amqpish-mgmt-") as d:
        bp = start_broker(Path(d))
        try:
            assert bp.http_port, "the broker did not report a management listener"
            yield bp
        finally:
            bp.stop()
            crashes = [line for line in bp.log_lines if "crashed" in line or "Traceback" in line]
            assert not crashes, "broker logged crashes:\n" + "".join(crashes[-20:])


@pytest.fixture
def api(mgmt_broker: BrokerProcess) -> Api:
    return Api(mgmt_broker.http_port)
