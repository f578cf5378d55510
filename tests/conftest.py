"""Shared fixtures: a real broker subprocess on free loopback ports."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import BrokerProcess, start_broker


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerProcess]:
    with tempfile.TemporaryDirectory(prefix="amqpish-test-") as d:
        bp = start_broker(Path(d))
        try:
            yield bp
        finally:
            bp.stop()
            tracebacks = [x for x in bp.log_lines if "Traceback" in x or '"exception"' in x]
            assert not tracebacks, "broker logged tracebacks:\n" + "".join(bp.log_lines[-200:])
