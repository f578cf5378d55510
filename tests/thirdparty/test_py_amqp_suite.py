"""py-amqp's own live-broker tests (t/integration/test_rmq.py from its PyPI sdist) against a
fresh amqpish: the pass count must equal the one recorded against RabbitMQ 3.10.8
(tools/thirdparty/README.md).  tools/thirdparty/run.sh downloads the sdist and builds a venv
under $TP_HOME (default /tmp/amqpish-thirdparty) the first time, ~15 s; the suite itself
runs in about a second.  Skips when PyPI cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, start_broker

pytestmark = pytest.mark.slow

RUN_SH = ROOT / "tools" / "thirdparty" / "run.sh"
# recorded against RabbitMQ 3.10.8 (tools/thirdparty/README.md): 12 passed, 0 failed, 0 skipped
RABBITMQ_PASSED = 12


def test_py_amqp_integration_suite_passes_as_on_rabbitmq(tmp_path: Path) -> None:
    bp = start_broker(tmp_path / "data")
    try:
        env = {
            **os.environ,
            "TP_PYTHON": sys.executable,
            "TP_HTTP_PORT": str(bp.http_port),
            "TP_TIMEOUT": "120",
        }
        env.pop("PYTHONPATH", None)
        proc = subprocess.run(
            ["bash", str(RUN_SH), "amqp", bp.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        bp.stop()
    if proc.returncode == 3:
        pytest.skip("py-amqp sdist or its test venv unavailable: " + proc.stderr.strip()[-300:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("amqp 5.4.2: "), proc.stdout[-3000:]
    passed, failed, _skipped = (int(part.split()[0]) for part in summary.split(": ")[1].split(", "))
    assert (passed, failed) == (RABBITMQ_PASSED, 0), proc.stdout[-5000:]
    tracebacks = [x for x in bp.log_lines if "Traceback" in x or '"exception"' in x]
    assert not tracebacks, "".join(bp.log_lines[-100:])
