"""Test support: a real broker subprocess on free loopback ports."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BrokerProcess:
    proc: subprocess.Popen[str]
    port: int
    http_port: int
    data_dir: Path
    log_lines: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def stop(self, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pump is not None:
            self.pump.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


def start_broker(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> BrokerProcess:
    """Start ``amqpish serve`` on port 0 and wait for its ready line (the event, not a sleep)."""
    cmd = [
        sys.executable,
        "-m",
        "amqpish",
        "serve",
        "--port",
        "0",
        "--http-port",
        "0",
        "--data-dir",
        str(data_dir),
        "--log-json",
        *extra,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stderr is not None
    lines: list[str] = []
    ready: dict[str, str] = {}
    timer = threading.Timer(30, proc.kill)
    timer.start()
    try:
        for line in proc.stderr:
            lines.append(line)
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "broker_ready":
                ready = ev
                break
    finally:
        timer.cancel()
    if not ready:
        raise RuntimeError("broker did not start:\n" + "".join(lines))
    bp = BrokerProcess(
        proc,
        int(ready["amqp"].rsplit(":", 1)[1]),
        int(ready.get("http", "0:0").rsplit(":", 1)[1]),
        data_dir,
        lines,
    )

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            bp.log_lines.append(line)

    bp.pump = threading.Thread(target=pump, daemon=True)
    bp.pump.start()
    return bp


def http_api(bp: BrokerProcess, path: str, method: str = "GET", body: Any = None) -> Any:
    """One call to the broker's HTTP API as guest; the decoded JSON reply (None if empty)."""
    req = urllib.request.Request(f"http://127.0.0.1:{bp.http_port}{path}", method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    req.add_header("content-type", "application/json")
    data = (
        json.dumps(body if body is not None else {}).encode() if method in ("PUT", "POST") else None
    )
    with urllib.request.urlopen(req, data=data, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw.strip() else None
