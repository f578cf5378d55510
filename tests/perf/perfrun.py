"""Run ``python -m amqpish.perf`` as a user would (it forks worker processes)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def perf(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amqpish.perf", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
