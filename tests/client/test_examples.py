"""The examples/ programs (the RabbitMQ tutorials on amqpish.client), each exercised."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

from amqpish.client import connect

from .fakes import cancel_when_sent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _reset(url: str, *queues: str) -> None:
    """The tutorials use fixed names: start each test from empty queues."""
    async with connect(url) as conn, conn.channel() as ch:
        for q in queues:
            await ch.queue_delete(q)


async def test_hello_world_as_programs(url: str) -> None:
    """Run as the tutorial does: two processes, ``python examples/hello_world.py ...``."""
    await _reset(url, "hello")
    script = str(EXAMPLES / "hello_world.py")
    async with trio.open_nursery() as nursery:
        receiver = await trio.lowlevel.open_process(
            [sys.executable, script, "--url", url, "receive", "--count", "1"],
            stdout=subprocess.PIPE,
        )
        assert receiver.stdout is not None
        out = b""
        while b"Waiting for messages" not in out:
            chunk = await receiver.stdout.receive_some()
            assert chunk, out
            out += chunk
        sent = await trio.run_process(
            [sys.executable, script, "--url", url, "send"], capture_stdout=True
        )
        assert b"Sent 'Hello World!'" in sent.stdout
        while chunk := await receiver.stdout.receive_some():
            out += chunk
        assert await receiver.wait() == 0
        assert b"Received 'Hello World!'" in out
        nursery.cancel_scope.cancel()


async def test_hello_world(url: str) -> None:
    hello = _load("hello_world")
    await _reset(url, "hello")
    async with trio.open_nursery() as nursery:
        result: list[list[str]] = []

        async def receive(task_status: trio.TaskStatus[None]) -> None:
            result.append(await hello.receive(url, 2, task_status=task_status))

        await nursery.start(receive)
        await hello.send(url)
        await hello.send(url, "again")
    assert result == [["Hello World!", "again"]]


async def test_work_queues_dispatch_fairly(url: str) -> None:
    work = _load("work_queues")
    await _reset(url, "task_queue")
    done: dict[str, list[str]] = {}

    async def worker(name: str, task_status: trio.TaskStatus[None]) -> None:
        done[name] = await work.worker(url, 3, name=name, task_status=task_status)

    async with trio.open_nursery() as nursery:
        await nursery.start(worker, "w1")
        await nursery.start(worker, "w2")
        for i in range(6):
            await work.new_task(url, f"task {i}")
    assert sorted(done["w1"] + done["w2"]) == [f"task {i}" for i in range(6)]
    assert len(done["w1"]) == len(done["w2"]) == 3


async def test_publish_subscribe(url: str) -> None:
    pubsub = _load("publish_subscribe")
    got: list[list[str]] = []

    async def receiver(task_status: trio.TaskStatus[None]) -> None:
        got.append(await pubsub.receive_logs(url, 2, task_status=task_status))

    async with trio.open_nursery() as nursery:
        await nursery.start(receiver)
        await nursery.start(receiver)
        await pubsub.emit_log(url, "info: one")
        await pubsub.emit_log(url, "warning: two")
    assert got == [["info: one", "warning: two"]] * 2


async def test_routing(url: str) -> None:
    routing = _load("routing")
    got: dict[str, list[tuple[str, str]]] = {}

    async def receiver(severities: list[str], n: int, task_status: trio.TaskStatus[None]) -> None:
        got[",".join(severities)] = await routing.receive_logs_direct(
            url, severities, n, task_status=task_status
        )

    async with trio.open_nursery() as nursery:
        await nursery.start(receiver, ["error"], 1)
        await nursery.start(receiver, ["info", "warning", "error"], 3)
        for severity in ("info", "warning", "error"):
            await routing.emit_log_direct(url, severity, f"{severity} message")
    assert got["error"] == [("error", "error message")]
    assert [s for s, _ in got["info,warning,error"]] == ["info", "warning", "error"]


async def test_topics(url: str) -> None:
    topics = _load("topics")
    got: dict[str, list[tuple[str, str]]] = {}

    async def receiver(keys: list[str], n: int, task_status: trio.TaskStatus[None]) -> None:
        got[" ".join(keys)] = await topics.receive_logs_topic(url, keys, n, task_status=task_status)

    async with trio.open_nursery() as nursery:
        await nursery.start(receiver, ["#"], 3)
        await nursery.start(receiver, ["kern.*"], 2)
        await nursery.start(receiver, ["*.critical"], 2)
        for key in ("kern.critical", "kern.info", "cron.critical"):
            await topics.emit_log_topic(url, key, key)
    assert [k for k, _ in got["#"]] == ["kern.critical", "kern.info", "cron.critical"]
    assert [k for k, _ in got["kern.*"]] == ["kern.critical", "kern.info"]
    assert [k for k, _ in got["*.critical"]] == ["kern.critical", "cron.critical"]


async def test_rpc(url: str) -> None:
    rpc = _load("rpc")
    await _reset(url, "rpc_queue")
    async with trio.open_nursery() as nursery:
        await nursery.start(rpc.rpc_server, url, 4)
        assert await rpc.rpc_client(url, 10) == 55
        async with connect(url) as conn, rpc.FibonacciRpcClient.open(conn) as client:
            results: dict[int, int] = {}

            async def call(n: int) -> None:
                results[n] = await client.call(n)

            # A call cancelled mid-RPC: its late reply is dropped, the next calls work.
            with trio.CancelScope() as scope, cancel_when_sent(conn, scope):
                await client.call(25)
            assert scope.cancelled_caught
            async with trio.open_nursery() as calls:
                for n in (20, 30):
                    calls.start_soon(call, n)
            assert results == {20: 6765, 30: 832040}


async def test_publisher_confirms(url: str) -> None:
    confirms = _load("publisher_confirms")
    timings = await confirms.run(url, 300)
    assert set(timings) == set(confirms.STRATEGIES)


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("hello_world", ["--help"]),
        ("work_queues", ["worker", "--help"]),
        ("publish_subscribe", ["--help"]),
        ("routing", ["--help"]),
        ("topics", ["--help"]),
        ("rpc", ["--help"]),
        ("publisher_confirms", ["--help"]),
    ],
)
def test_command_lines(name: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _load(name).main(argv)
    assert info.value.code == 0
    assert "--url" in capsys.readouterr().out or name == "work_queues"
