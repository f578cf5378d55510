"""The broker model's root: virtual hosts and users.

Created by the runtime with a ``schedule`` callback (the single timer heap) and,
from it, a default vhost ``/`` and the default user guest/guest, as RabbitMQ
starts. Everything below it is synchronous and deterministic.
"""

from __future__ import annotations

from amqpish.broker.auth import Users
from amqpish.broker.errors import AMQPError, Code
from amqpish.broker.queue import QueueLog, Scheduler, _no_schedule
from amqpish.broker.vhost import VHost


class Broker:
    def __init__(
        self,
        *,
        schedule: Scheduler = _no_schedule,
        default_user: bool = True,
        queue_log: QueueLog | None = None,
    ) -> None:
        self.schedule = schedule
        self.queue_log = queue_log
        self.vhosts: dict[str, VHost] = {}
        self.users = Users()
        self.add_vhost("/")
        if default_user:
            self.users.add("guest", "guest", ["administrator"])
            self.users.set_permissions("guest", "/", ".*", ".*", ".*")

    def add_vhost(self, name: str) -> VHost:
        vh = self.vhosts.get(name)
        if vh is None:
            vh = self.vhosts[name] = VHost(name, schedule=self.schedule, queue_log=self.queue_log)
        return vh

    def delete_vhost(self, name: str) -> VHost:
        vh = self.vhosts.pop(name, None)
        if vh is None:
            raise AMQPError(Code.NOT_FOUND, f"no vhost '{name}'")
        for key in [k for k in self.users.permissions if k[1] == name]:
            del self.users.permissions[key]
        return vh
