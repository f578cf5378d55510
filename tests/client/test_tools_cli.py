"""The client-side ``amqpish`` sub-commands (amqpish/tools_cli.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pika
import pytest

from amqpish.tools_cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_queue_life_cycle(url: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    q = f"{name}-q"
    code, out, _ = run(capsys, "declare", "queue", q, "--url", url, "-a", "x-max-length=100")
    assert code == 0 and f"queue '{q}' declared (0 messages, 0 consumers)" in out
    code, out, _ = run(capsys, "publish", "one", "two", "three", "--url", url, "-r", q, "--confirm")
    assert (code, out) == (0, "3 messages confirmed\n")

    # get requeues by default: the same message twice, the second time redelivered.
    code, out, _ = run(capsys, "get", q, "--url", url, "--json")
    first = json.loads(out)
    assert code == 0 and [m["body"] for m in first] == ["one"] and first[0]["message_count"] == 2
    code, out, _ = run(capsys, "get", q, "--url", url, "-n", "2")
    assert code == 0 and out.splitlines()[0].split() == [
        "routing_key",
        "exchange",
        "remaining",
        "redelivered",
        "body",
    ]
    assert out.splitlines()[1].split()[-2:] == ["yes", "one"]

    code, out, _ = run(capsys, "consume", q, "--url", url, "-n", "1", "--requeue")
    assert (code, out) == (0, "one\n")
    code, out, _ = run(capsys, "consume", q, "--url", url, "-n", "2", "--json")
    assert code == 0 and [json.loads(line)["body"] for line in out.splitlines()] == ["one", "two"]
    code, out, _ = run(capsys, "consume", q, "--url", url, "--no-ack", "--timeout", "0.2")
    assert (code, out) == (0, "three\n")

    run(capsys, "publish", "x", "--url", url, "-r", q, "--confirm")
    code, out, _ = run(capsys, "purge", q, "--url", url, "--json")
    assert code == 0 and json.loads(out) == {"queue": q, "purged": 1}
    code, out, _ = run(capsys, "delete", "queue", q, "--url", url)
    assert (code, out) == (0, f"queue '{q}' deleted (0 messages)\n")


def test_publish_stdin_properties_and_headers(
    url: str, name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    q = f"{name}-q"
    run(capsys, "declare", "queue", q, "--url", url)
    try:
        monkeypatch.setattr(sys, "stdin", io.StringIO("first line\nsecond line\n"))
        code, out, _ = run(
            capsys, "publish", "--url", url, "--routing-key", q, "--persistent", "--confirm",
            "-p", "content_type=text/plain", "-p", "priority=4", "-H", "n=5", "-H", "who=me", "--json",
        )  # fmt: skip
        assert code == 0 and json.loads(out) == {"published": 2, "confirmed": True}
        code, out, _ = run(capsys, "get", q, "--url", url, "--ack", "-n", "5", "--json")
        got = json.loads(out)
        assert [m["body"] for m in got] == ["first line", "second line"]
        assert got[0]["properties"] == {
            "content_type": "text/plain",
            "delivery_mode": 2,
            "priority": 4,
            "headers": {"n": 5, "who": "me"},
        }
        code, out, _ = run(capsys, "get", q, "--url", url)
        assert (code, out) == (0, "(queue is empty)\n")
    finally:
        run(capsys, "delete", "queue", q, "--url", url)


def test_exchanges_and_bindings(url: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst, q = f"{name}-src", f"{name}-dst", f"{name}-q"
    assert run(capsys, "declare", "exchange", src, "--type", "topic", "--url", url)[0] == 0
    assert run(capsys, "declare", "exchange", dst, "--type", "fanout", "--url", url)[0] == 0
    assert run(capsys, "declare", "queue", q, "--url", url)[0] == 0
    try:
        code, out, _ = run(
            capsys,
            "declare",
            "binding",
            src,
            dst,
            "--destination-type",
            "exchange",
            "-r",
            "a.#",
            "--url",
            url,
        )
        assert code == 0 and "binding" in out
        assert run(capsys, "declare", "binding", dst, q, "--url", url)[0] == 0
        code, out, _ = run(
            capsys,
            "publish",
            "routed",
            "-e",
            src,
            "-r",
            "a.b.c",
            "--confirm",
            "--mandatory",
            "--url",
            url,
        )
        assert code == 0
        code, out, err = run(
            capsys,
            "publish",
            "lost",
            "-e",
            src,
            "-r",
            "b",
            "--confirm",
            "--mandatory",
            "--url",
            url,
        )
        assert code == 1 and "returned" in err and "312 NO_ROUTE" in err and out == ""
        code, out, _ = run(capsys, "get", q, "--ack", "--url", url, "--json")
        assert [m["body"] for m in json.loads(out)] == ["routed"]
        code, _, err = run(capsys, "delete", "exchange", src, "--if-unused", "--url", url)
        assert code == 1 and "PreconditionFailed" in err
    finally:
        run(capsys, "delete", "queue", q, "--url", url)
        run(capsys, "delete", "exchange", src, "--url", url)
        run(capsys, "delete", "exchange", dst, "--url", url)


def test_errors_are_one_line_with_an_exit_code(
    url: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "purge", f"{name}-missing", "--url", url)
    assert (
        code == 1
        and out == ""
        and err.startswith("amqpish: NotFound: NOT_FOUND")
        and err.count("\n") == 1
    )
    code, _, err = run(capsys, "consume", f"{name}-missing", "--url", url, "-n", "1")
    assert code == 1 and "NOT_FOUND" in err
    wrong = url.replace("guest:guest@", "guest:wrong@")
    code, _, err = run(capsys, "publish", "x", "--url", wrong)
    assert code == 1 and "AccessRefused" in err and err.count("\n") == 1
    code, _, err = run(capsys, "publish", "x", "--url", url, "-p", "nosuch=1")
    assert code == 2 and err.startswith("amqpish: error: --property")
    code, _, err = run(capsys, "declare", "queue", "q", "--url", url, "-a", "novalue")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = run(capsys, "get", "q", "--url", "http://not-amqp/")
    assert code == 2 and "scheme" in err
    code, _, err = run(capsys, "get", "q", "--url", "amqp://guest:guest@127.0.0.1:1/")
    assert code == 1 and "could not connect" in err
    with pytest.raises(SystemExit) as info:
        main(["consume"])  # no queue: argparse's usage error
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["get", "q", "--ack", "--no-ack"])
    assert info.value.code == 2


def test_runs_as_a_program(url: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "amqpish.tools_cli",
            "declare",
            "queue",
            "--url",
            url,
            "--exclusive",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["queue"].startswith("amq.gen-")


# ---------------------------------------------------------------------- list (management API)


@pytest.fixture
def mgmt_url(target: str, request: pytest.FixtureRequest) -> str:
    if target == "rabbitmq":
        url = os.environ.get("RABBITMQ_MGMT_URL")
        if not url:
            pytest.skip("RABBITMQ_MGMT_URL is not set")
        return url
    port = request.getfixturevalue("broker").http_port
    return f"http://guest:guest@127.0.0.1:{port}"


def _list(
    capsys: pytest.CaptureFixture[str], mgmt_url: str, kind: str, *extra: str
) -> list[dict[str, object]]:
    code, out, err = run(capsys, "list", kind, "--mgmt-url", mgmt_url, "--json", *extra)
    assert code == 0, err
    items: list[dict[str, object]] = json.loads(out)
    return items


def test_list(url: str, mgmt_url: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    q, x = f"{name}-q", f"{name}-x"
    run(capsys, "declare", "queue", q, "--url", url)
    run(capsys, "declare", "exchange", x, "--type", "fanout", "--url", url)
    run(capsys, "declare", "binding", x, q, "-r", "key", "--url", url)
    params = pika.URLParameters(url)
    params.client_properties = {"connection_name": name}
    conn = pika.BlockingConnection(params)
    try:
        assert q in [i["name"] for i in _list(capsys, mgmt_url, "queues")]
        assert q in [i["name"] for i in _list(capsys, mgmt_url, "queues", "--vhost", "/")]
        exchanges = {i["name"]: i for i in _list(capsys, mgmt_url, "exchanges")}
        assert exchanges[x]["type"] == "fanout" and "amq.topic" in exchanges
        bindings = _list(capsys, mgmt_url, "bindings")
        assert {"source": x, "destination": q, "routing_key": "key"}.items() <= next(
            b for b in bindings if b["source"] == x
        ).items()
        deadline = time.monotonic() + 10  # the management API learns of connections asynchronously
        while name not in [c["client_name"] for c in _list(capsys, mgmt_url, "connections")]:
            assert time.monotonic() < deadline, "the connection never showed up"
            time.sleep(0.1)
        code, out, _ = run(capsys, "list", "exchanges", "--mgmt-url", mgmt_url)
        lines = out.splitlines()
        assert code == 0 and lines[0].split() == [
            "vhost",
            "name",
            "type",
            "durable",
            "auto_delete",
            "internal",
        ]
        assert any("(AMQP default)" in line for line in lines)
    finally:
        conn.close()
        run(capsys, "delete", "queue", q, "--url", url)
        run(capsys, "delete", "exchange", x, "--url", url)


def test_list_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list", "queues", "--mgmt-url", "http://guest:guest@127.0.0.1:1")
    assert code == 1 and "cannot reach the management API" in err
    code, _, err = run(capsys, "list", "queues", "--mgmt-url", "ftp://x")
    assert code == 2
