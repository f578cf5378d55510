"""The fake broker used to measure the load generator's own ceiling (README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.perf.perfrun import perf
from tests.support import ROOT


def _fake(mode: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "amqpish.perf.fakebroker", "--port", "0", "--mode", mode,
         "--seconds", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "fakebroker MODE listening on HOST:PORT": the event
    assert "listening on" in line, line
    port = line.rsplit(":", 1)[1].strip()
    try:
        yield f"amqp://guest:guest@127.0.0.1:{port}/", proc
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.fixture
def sink() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    yield from _fake("sink")


@pytest.fixture
def source() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    yield from _fake("source")


def test_publish_into_sink(sink: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = sink
    p = perf("--url", url, "-y", "0", "-t", "default", "-s", "16", "--json", "-z", "1",
             "--warmup", "0.2")  # fmt: skip
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["sent"] > 10_000
    assert proc.stdout is not None
    counted = json.loads(proc.stdout.readline())  # the sink's own count, at close
    assert counted["mode"] == "sink" and counted["msgs"] >= r["sent"]


def test_consume_from_source(source: tuple[str, subprocess.Popen[str]]) -> None:
    url, _ = source
    p = perf("--url", url, "-x", "0", "-q", "1000", "-A", "100", "-t", "default", "--json",
             "-z", "1", "--warmup", "0.2")  # fmt: skip
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["received"] > 10_000 and r["latency_ms"]["samples"] > 0
