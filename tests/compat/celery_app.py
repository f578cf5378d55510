"""The Celery application of the compatibility tests (test_celery.py).

The worker process imports it with ``celery -A tests.compat.celery_app worker``; the
broker URL and the queue come from the environment there, and from ``configure`` in
the test process. The transport is Celery's default for ``amqp://``: py-amqp via kombu.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject

app = Celery("amqpish_compat")


def configure(broker_url: str, queue: str) -> None:
    app.conf.update(
        broker_url=broker_url,
        result_backend="rpc://",
        task_default_queue=queue,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )


if "AMQPISH_CELERY_BROKER" in os.environ:
    configure(os.environ["AMQPISH_CELERY_BROKER"], os.environ["AMQPISH_CELERY_QUEUE"])


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def fail(text: str) -> None:
    raise ValueError(text)


@app.task(bind=True, max_retries=5)
def flaky(self: Task, failures: int) -> dict[str, Any]:
    """Fails ``failures`` times (each failure a retry: a new message), then succeeds."""
    if self.request.retries < failures:
        raise self.retry(countdown=0)
    return {"retries": self.request.retries}


@app.task(bind=True, acks_late=True)
def reject_once(self: Task) -> dict[str, Any]:
    """Acks late; rejects (requeue) its first delivery, succeeds on the redelivery."""
    info = self.request.delivery_info or {}
    if not info.get("redelivered"):
        raise Reject("first delivery", requeue=True)
    return {"redelivered": info.get("redelivered")}
