"""A real Celery worker (default AMQP transport: py-amqp via kombu) on amqpish.

One worker process (``--pool=solo``) serves the module; tasks are called with
``.delay().get()`` and their results come back through the RPC result backend
(``rpc://``: a reply queue per client, correlation ids). The worker is ready when it
logs ``ready.``; waits are on that line and on results, with deadlines.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.compat import celery_app
from tests.support import ROOT

RESULT_TIMEOUT = 15


@pytest.fixture(scope="module")
def tasks(broker_url: str) -> Iterator[ModuleType]:
    """The task module, with its app pointed at the broker; a worker serves its queue."""
    queue = f"celery-compat-{uuid.uuid4().hex[:8]}"
    name = f"{queue}@compat"
    env = {
        **os.environ,
        "AMQPISH_CELERY_BROKER": broker_url,
        "AMQPISH_CELERY_QUEUE": queue,
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "celery", "-A", "tests.compat.celery_app", "worker",
           "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
           "--loglevel=INFO", "-n", name, "-Q", queue]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    log: list[str] = []
    timer = threading.Timer(60, proc.kill)  # the deadline for "ready."
    timer.start()
    try:
        for line in proc.stderr:
            log.append(line)
            if " ready." in line:
                break
    finally:
        timer.cancel()
    if proc.poll() is not None or not log or " ready." not in log[-1]:
        proc.kill()
        pytest.fail("celery worker did not start:\n" + "".join(log))

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    # a fresh app per broker: Celery caches connections and producers per app
    app_module = importlib.reload(celery_app)
    app_module.configure(broker_url, queue)
    try:
        yield app_module
    finally:
        # a remote-control broadcast (pidbox fanout) wakes the worker's loop at once,
        # where SIGTERM waits for its next poll timeout (several seconds)
        app = app_module.app
        app.control.shutdown(destination=[name])
        # app.close() drops its pools without closing them: close the connections here
        if app.backend.result_consumer._connection is not None:
            app.backend.result_consumer.stop()
        app.pool.force_close_all()
        app.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        t.join(5)
        proc.stderr.close()
    assert proc.returncode == 0, "".join(log[-50:])
    assert not [x for x in log if "consumer: Cannot connect" in x], "".join(log)


def test_delay_get(tasks: ModuleType) -> None:
    result = tasks.add.delay(2, 3)
    assert result.get(timeout=RESULT_TIMEOUT) == 5
    assert result.successful() and result.state == "SUCCESS"
    # one after the other on the same reply queue, matched by task id (correlation id).
    # (Many results in flight at once are fine for the broker but Celery's rpc://
    # result consumer then sometimes waits out its own ~10 s poll: seen on RabbitMQ too.)
    assert [tasks.add.delay(i, i).get(timeout=RESULT_TIMEOUT) for i in range(10)] == [
        2 * i for i in range(10)
    ]


def test_task_error_is_raised_by_get(tasks: ModuleType) -> None:
    result = tasks.fail.delay("boom")
    with pytest.raises(ValueError, match="boom"):
        result.get(timeout=RESULT_TIMEOUT)
    assert result.state == "FAILURE"


def test_retry(tasks: ModuleType) -> None:
    result = tasks.flaky.delay(2)
    assert result.get(timeout=RESULT_TIMEOUT) == {"retries": 2}


def test_acks_late_reject_requeue_is_redelivered(tasks: ModuleType) -> None:
    result = tasks.reject_once.delay()
    assert result.get(timeout=RESULT_TIMEOUT) == {"redelivered": True}


def test_countdown_task_held_by_the_worker(tasks: ModuleType) -> None:
    # an ETA task stays unacked in the worker, which raises its basic.qos prefetch
    # to keep consuming meanwhile: the plain task sent after it finishes first
    later = tasks.add.apply_async((40, 2), countdown=1)
    now = tasks.add.delay(1, 1)
    assert now.get(timeout=RESULT_TIMEOUT) == 2
    assert later.state == "PENDING"
    assert later.get(timeout=RESULT_TIMEOUT) == 42
