"""The management view: ``amqpish.admin``'s BrokerView and BrokerAdmin over the live Server.

Everything here runs in the broker's Trio thread and calls the synchronous model
directly, so each call sees one consistent instant. ``ServerView`` is put together
from one mixin per concern over ``core.ViewCore`` (the shared state, names, lookups
and change hooks):

- ``sampling``: the kinds the stats sampler reads, ``stats`` mappings, history;
- ``snapshots``: identity, node, overview, users, vhosts, permissions, policies;
- ``objects``: queues, consumers, exchanges, bindings, connections, channels;
- ``operations``: declare/delete/bind, users, vhosts, permissions, policies;
- ``messages``: publish, get, move, the aliveness test;
- ``definitions``: export and import in RabbitMQ's format.

``make_view`` returns the view, whose ``sampler.serve`` the composition root starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from amqpish.server.stats import StatsSampler
from amqpish.server.view.convert import LazyStats, jsonable, properties_key
from amqpish.server.view.definitions import export_definitions as _export
from amqpish.server.view.definitions import import_definitions as _import
from amqpish.server.view.messages import MessageOperations, build_properties
from amqpish.server.view.objects import ObjectSnapshots
from amqpish.server.view.operations import AdminOperations
from amqpish.server.view.snapshots import NodeSnapshots

if TYPE_CHECKING:
    from amqpish.server.app import Server


class ServerView(NodeSnapshots, ObjectSnapshots, AdminOperations, MessageOperations):
    """BrokerView and BrokerAdmin over a running ``Server``."""

    def __init__(self, server: Server, sampler: StatsSampler | None = None) -> None:
        super().__init__(server, sampler)
        self._register_kinds()

    def export_definitions(
        self, vhost: str | None = None, *, objects: bool = True
    ) -> dict[str, Any]:
        return _export(self, vhost, objects=objects)

    def import_definitions(self, definitions: Mapping[str, Any], vhost: str | None = None) -> None:
        _import(self, definitions, vhost)


def make_view(server: Server) -> ServerView:
    """The admin view of ``server``; start ``view.sampler.serve`` alongside the UI."""
    return ServerView(server)


__all__ = ["LazyStats", "ServerView", "build_properties", "jsonable", "make_view", "properties_key"]
