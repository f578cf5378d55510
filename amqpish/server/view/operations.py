"""Admin operations on definitions: queues, exchanges, bindings, connections, users,
vhosts, permissions, policies.

Each operation checks the acting user's permissions as an AMQP client's would be
checked, calls the synchronous model directly (so it sees and changes one consistent
instant), translates the model's ``AMQPError`` with ``convert.translate``, and reports
what changed through the runtime's hooks (``ViewCore._hooks``). Management operations
act as one pseudo-connection (``OWNER``) for exclusivity checks.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from amqpish.admin import AccessRefusedError, BadRequestError, BindingInfo, NotFoundError
from amqpish.broker.auth import User
from amqpish.broker.errors import AMQPError, Code
from amqpish.server.view.convert import (
    EMPTY,
    OWNER,
    amqp_value,
    jsonable,
    properties_key,
    translate,
)
from amqpish.server.view.core import ViewCore


class AdminOperations(ViewCore):
    """BrokerAdmin: everything that changes definitions or closes connections."""

    # --- BrokerAdmin: queues ---------------------------------------------------------------------------

    def declare_queue(
        self,
        actor: str,
        vhost: str,
        name: str,
        *,
        durable: bool,
        auto_delete: bool,
        arguments: Mapping[str, Any],
    ) -> bool:
        vh = self._vhost(vhost)
        if not name:
            raise BadRequestError("queue name must not be empty")
        self._check(actor, vhost, "configure", "queue", name)
        try:
            _, created = vh.declare_queue(
                name,
                owner=OWNER,
                now=time.time(),
                durable=durable,
                auto_delete=auto_delete,
                arguments=amqp_value(dict(arguments)),
            )
        except AMQPError as e:
            raise translate(e) from None
        if created:
            self._hooks().definitions_changed(vh)
        return created

    def delete_queue(
        self, actor: str, vhost: str, name: str, *, if_unused: bool = False, if_empty: bool = False
    ) -> int:
        vh, q = self._queue(vhost, name)
        self._check(actor, vhost, "configure", "queue", name)
        if if_unused and q.consumers:
            raise BadRequestError(f"queue '{name}' in vhost '{vhost}' in use")
        if if_empty and (q.message_count or q.unacked_count):
            raise BadRequestError(f"queue '{name}' in vhost '{vhost}' not empty")
        return self._remove_queue(vh, q)

    def purge_queue(self, actor: str, vhost: str, name: str) -> int:
        _, q = self._queue(vhost, name)
        self._check(actor, vhost, "read", "queue", name)
        n = q.purge()
        self._hooks().queue_purged(q)
        return n

    # --- BrokerAdmin: exchanges, bindings -------------------------------------------------------

    def declare_exchange(
        self,
        actor: str,
        vhost: str,
        name: str,
        *,
        type: str,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: Mapping[str, Any],
    ) -> bool:
        vh = self._vhost(vhost)
        if not name:
            raise AccessRefusedError("operation not permitted on the default exchange")
        self._check(actor, vhost, "configure", "exchange", name)
        existed = name in vh.exchanges
        try:
            vh.declare_exchange(
                name,
                type,
                durable=durable,
                auto_delete=auto_delete,
                internal=internal,
                arguments=amqp_value(dict(arguments)),
            )
        except AMQPError as e:
            if e.code == Code.COMMAND_INVALID:
                raise BadRequestError(f"invalid exchange type '{type}'") from None
            raise translate(e) from None
        if not existed:
            self._hooks().definitions_changed(vh)
        return not existed

    def delete_exchange(
        self, actor: str, vhost: str, name: str, *, if_unused: bool = False
    ) -> None:
        vh = self._vhost(vhost)
        if name not in vh.exchanges:
            raise NotFoundError(f"no exchange '{name}' in vhost '{vhost}'")
        self._check(actor, vhost, "configure", "exchange", name)
        try:
            vh.delete_exchange(name, if_unused=if_unused)
        except AMQPError as e:
            raise translate(e) from None
        self._hooks().definitions_changed(vh)

    def bind(
        self,
        actor: str,
        vhost: str,
        source: str,
        destination_type: str,
        destination: str,
        routing_key: str,
        arguments: Mapping[str, Any],
    ) -> BindingInfo:
        vh = self._vhost(vhost)
        if destination_type not in ("queue", "exchange"):
            raise BadRequestError(f"invalid destination type '{destination_type}'")
        if source not in vh.exchanges:
            raise NotFoundError(f"no exchange '{source}' in vhost '{vhost}'")
        known = vh.queues if destination_type == "queue" else vh.exchanges
        if destination not in known:
            raise NotFoundError(f"no {destination_type} '{destination}' in vhost '{vhost}'")
        self._check(actor, vhost, "write", destination_type, destination)
        self._check(actor, vhost, "read", "exchange", source)
        args = amqp_value(dict(arguments))
        try:
            vh.bind(source, destination, destination_type, routing_key, args, owner=OWNER)
        except AMQPError as e:
            raise translate(e) from None
        self._hooks().definitions_changed(vh)
        return BindingInfo(
            vhost,
            source,
            destination,
            destination_type,
            routing_key,
            jsonable(args) if args else EMPTY,
            properties_key(routing_key, args),
        )

    def unbind(
        self,
        actor: str,
        vhost: str,
        source: str,
        destination_type: str,
        destination: str,
        properties_key_: str,
    ) -> None:
        vh = self._vhost(vhost)
        # the key as listed ("orders.%23"), or once more decoded by the URL ("orders.#")
        wanted = {properties_key_, quote(properties_key_, safe="~")}
        for b in list(vh.bindings_from(source)):
            if (
                b.destination_type == destination_type
                and b.destination == destination
                and properties_key(b.routing_key, b.arguments) in wanted
            ):
                self._check(actor, vhost, "write", destination_type, destination)
                self._check(actor, vhost, "read", "exchange", source)
                try:
                    vh.unbind(
                        source,
                        destination,
                        destination_type,
                        b.routing_key,
                        b.arguments,
                        owner=OWNER,
                    )
                except AMQPError as e:
                    raise translate(e) from None
                self._hooks().definitions_changed(vh)
                return
        raise NotFoundError("binding not found")

    # --- BrokerAdmin: connections ---------------------------------------------------------------------

    def close_connection(self, name: str, reason: str) -> None:
        ac = self._find_connection(name)
        if ac is None:
            raise NotFoundError(f"no connection '{name}'")
        reason = " ".join(reason.split()) or "Closed via management plugin"
        ac.session.force_close(f"CONNECTION_FORCED - {reason}")

    # --- BrokerAdmin: users, vhosts, permissions, policies ------------------------------------------------

    def put_user(
        self,
        name: str,
        *,
        password: str | None,
        password_hash: str | None,
        tags: Sequence[str],
    ) -> bool:
        if not name:
            raise BadRequestError("user name must not be empty")
        users = self.broker.users
        existing = users.users.get(name)
        clean_tags = [t for t in (x.strip() for x in tags) if t]
        if password is not None:
            users.add(name, password, clean_tags)
        elif password_hash is not None:
            if password_hash:
                try:
                    if len(base64.b64decode(password_hash, validate=True)) < 5:
                        raise ValueError
                except ValueError:
                    raise BadRequestError("invalid password_hash") from None
            users.users[name] = User(name, password_hash, clean_tags)
        elif existing is not None:
            existing.tags = clean_tags
        else:
            users.users[name] = User(name, "", clean_tags)
        return existing is None

    def delete_user(self, name: str) -> None:
        users = self.broker.users
        if name not in users.users:
            raise NotFoundError(f"no user '{name}'")
        del users.users[name]
        for key in [k for k in users.permissions if k[0] == name]:
            del users.permissions[key]

    def put_vhost(
        self, name: str, *, description: str = "", tags: Sequence[str] = (), tracing: bool = False
    ) -> bool:
        if not name:
            raise BadRequestError("vhost name must not be empty")
        created = name not in self.broker.vhosts
        vh = self.broker.add_vhost(name)
        vh.description = description
        vh.tags = [t for t in (x.strip() for x in tags) if t]
        vh.tracing = tracing
        if created:
            self._hooks().definitions_changed(vh)
        return created

    def delete_vhost(self, name: str) -> None:
        vh = self._vhost(name)
        for ac in list(self.server.connections):
            if ac.session.vhost_name == name:
                ac.session.force_close(f"CONNECTION_FORCED - vhost '{name}' is deleted")
        for q in list(vh.queues.values()):
            self._remove_queue(vh, q)
        try:
            self.broker.delete_vhost(name)
        except AMQPError as e:
            raise translate(e) from None
        self._mgmt.pop(name, None)
        self._hooks().definitions_changed(vh)

    def set_permissions(
        self, user: str, vhost: str, *, configure: str, write: str, read: str
    ) -> bool:
        users = self.broker.users
        if user not in users.users:
            raise BadRequestError(f"no user '{user}'")
        self._vhost(vhost)
        for what, rx in (("configure", configure), ("write", write), ("read", read)):
            try:
                re.compile(rx)
            except re.error as e:
                raise BadRequestError(f"invalid regular expression for {what}: {e}") from None
        created = (user, vhost) not in users.permissions
        users.set_permissions(user, vhost, configure, write, read)
        return created

    def clear_permissions(self, user: str, vhost: str) -> None:
        users = self.broker.users
        if (user, vhost) not in users.permissions:
            raise NotFoundError(f"no permissions for user '{user}' in vhost '{vhost}'")
        users.clear_permissions(user, vhost)

    def put_policy(
        self,
        vhost: str,
        name: str,
        *,
        pattern: str,
        definition: Mapping[str, Any],
        priority: int = 0,
        apply_to: str = "all",
    ) -> bool:
        vh = self._vhost(vhost)
        if not name:
            raise BadRequestError("policy name must not be empty")
        try:
            re.compile(pattern)
        except re.error as e:
            raise BadRequestError(f"invalid pattern '{pattern}': {e}") from None
        if apply_to not in (
            "all",
            "queues",
            "exchanges",
            "classic_queues",
            "quorum_queues",
            "streams",
        ):
            raise BadRequestError(f"invalid apply-to '{apply_to}'")
        if not definition:
            raise BadRequestError("policy definition must not be empty")
        created = name not in vh.policies
        vh.policies[name] = {
            "vhost": vhost,
            "name": name,
            "pattern": pattern,
            "apply-to": "queues"
            if apply_to.endswith("queues") or apply_to == "streams"
            else apply_to,
            "definition": dict(definition),
            "priority": priority,
        }
        vh.apply_policies()
        self._hooks().definitions_changed(vh)
        return created

    def delete_policy(self, vhost: str, name: str) -> None:
        vh = self._vhost(vhost)
        if name not in vh.policies:
            raise NotFoundError(f"no policy '{name}' in vhost '{vhost}'")
        del vh.policies[name]
        vh.apply_policies()
        self._hooks().definitions_changed(vh)

    def set_cluster_name(self, name: str) -> None:
        if not name:
            raise BadRequestError("cluster name must not be empty")
        self._cluster_name = name


__all__ = ["AdminOperations"]
