"""Run the whole conformance suite against a throw-away amqpish broker (``make conformance``).

Starts ``python -m amqpish serve`` on free ports with a temporary data directory, waits
until its AMQP port accepts connections (20 s deadline), runs the suite in --compare mode
with the expected-failures list and the management URL, then stops the broker (SIGTERM,
SIGKILL after 10 s) and exits with the runner's exit code. Extra arguments are passed to
the runner (e.g. ``--only exchange.topic``).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conformance.runner import main as run_suite

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if (
        importlib.util.find_spec("amqpish") is None
        or importlib.util.find_spec("amqpish.__main__") is None
    ):
        print(
            "amqpish is not importable (no amqpish/__main__.py yet): cannot run the conformance suite against it"
        )
        return 1
    port, http_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="amqpish-conformance-") as data_dir:
        log_path = Path(data_dir) / "broker.log"
        cmd = [
            sys.executable,
            "-m",
            "amqpish",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http-port",
            str(http_port),
            "--data-dir",
            str(Path(data_dir) / "data"),
        ]
        print("starting:", " ".join(cmd), flush=True)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_for_port(port, proc, time.monotonic() + 20):
                print(
                    f"amqpish did not accept connections on 127.0.0.1:{port} within 20 s (exit code {proc.poll()})"
                )
                print(log_path.read_text(errors="replace")[-4000:])
                return 1
            args = [
                "--url",
                f"amqp://guest:guest@127.0.0.1:{port}/",
                "--mgmt-url",
                f"http://guest:guest@127.0.0.1:{http_port}",
                *argv,
            ]
            code = run_suite(args)
        finally:
            stop(proc)
        if code != 0:
            tail = log_path.read_text(errors="replace")[-3000:]
            if tail:
                print("--- last lines of the broker's log ---")
                print(tail)
        return code


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
