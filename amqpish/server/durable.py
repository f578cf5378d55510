"""Durability wiring: durable queues' logs, durable definitions, recovery at start.

``Durability`` is the ``QueueLog`` of every durable queue: it turns queue events
into store records (buffered, no I/O) and wakes the persister, whose single task
writes and fsyncs them in batches. A message routed to several durable queues is
stored once: its id is allocated on the first enqueue.

Durable definitions (vhosts, users, permissions, policies, durable exchanges and
queues, bindings between durable objects) are kept in ``definitions.json`` in
RabbitMQ's format (the snapshot) and ``definitions.journal`` (what changed since,
see ``store/journal.py``). A change only marks them dirty (the vhosts keep which
objects changed); the persister journals them in the same batch as the message
records, before the fsync whose completion releases publisher confirms, so a
confirmed message never outlives its queue's declaration. When the journal has
grown past the snapshot, that batch writes a new snapshot and empties the journal
instead: the cost of a declare does not grow with the topology.

Recovery (``recover``) runs before the listeners open: definitions first, then the
message store, whose live messages are put back in their queues in their original
order, flagged redelivered when they had been delivered before the restart. With a
memory budget, the store returns at most that many bytes of bodies; the other
messages come back paged out and are read back as their queues reach them.

``pager`` (``server/paging.py``) is the queues' pager; every queue finds it here,
through the log it is given, durable or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from amqpish.broker.message import PAGED_OUT, Entry, Message
from amqpish.broker.queue import Queue
from amqpish.broker.vhost import VHost
from amqpish.codec import BasicProperties
from amqpish.server.paging import Pager
from amqpish.server.persister import Persister
from amqpish.store.definitions import (
    DefinitionsError,
    load_definitions,
    new_definitions,
    save_definitions,
)
from amqpish.store.journal import DefinitionsJournal, Record, encode_frame, replay
from amqpish.store.segments import SegmentStore
from amqpish.store.spill import SpillStore

if TYPE_CHECKING:
    from amqpish.server.app import Server

log = structlog.get_logger("amqpish.store")


# the journal is never folded into the snapshot below this size
JOURNAL_MIN = 1 << 20


def queue_key(q: Queue) -> str:
    return f"{q.vhost}\x00{q.name}"


class Durability:
    def __init__(
        self,
        data_dir: Path,
        *,
        on_accepting_changed: Callable[[bool], None] | None = None,
        memory_budget: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = SegmentStore(data_dir / "messages")
        # None: bodies are never paged out
        self.pager = (
            None
            if memory_budget is None
            else Pager(memory_budget, self.store, SpillStore(data_dir / "spill"))
        )
        self.persister = Persister(
            self.store, prepare=self._prepare, on_accepting_changed=on_accepting_changed
        )
        self.definitions_path = data_dir / "definitions.json"
        self.journal = DefinitionsJournal(data_dir / "definitions.journal")
        # the journal is folded into a new snapshot once it is larger than this
        self.snapshot_bytes = 0
        self.next_id = 1
        self._defs_dirty = False
        self._export: Callable[[], dict[str, Any]] | None = None
        self._export_globals: Callable[[], dict[str, Any]] | None = None
        self._server: Server | None = None
        self._globals: dict[str, Any] | None = None  # as last journalled
        # which VHost object each name was at the last batch (the object itself, not its
        # id: an id can be reused once the old object is freed)
        self._vhosts: dict[str, VHost] = {}

    # --- QueueLog --------------------------------------------------------------------

    def enqueued(self, queue: Queue, entry: Entry) -> None:
        msg = entry.msg
        store = self.store
        if not msg.id:
            msg.id = self.next_id
            self.next_id += 1
            store.append_message(
                msg.id, msg.exchange, msg.routing_key, msg.properties_raw, msg.body
            )
        # ids are handed out in publish order, so they order a queue's messages too
        store.enqueue(queue_key(queue), msg.id, msg.id)
        self.persister.wake()

    def delivered(self, queue: Queue, entry: Entry) -> None:
        self.store.delivered(queue_key(queue), entry.msg.id)
        self.persister.wake()

    def settled(self, queue: Queue, entry: Entry | Message) -> None:
        self.store.ack(queue_key(queue), entry.msg.id)
        self.persister.wake()

    def deleted(self, queue: Queue) -> None:
        self.store.delete_queue(queue_key(queue))
        self.persister.wake()

    # --- definitions --------------------------------------------------------------------

    def definitions_changed(self) -> None:
        self._defs_dirty = True
        self.persister.wake()

    def _prepare(self) -> Callable[[], None] | None:
        """On the event loop, before a sync: the definitions to save in that batch."""
        if not self._defs_dirty or self._export is None or self._server is None:
            return None
        self._defs_dirty = False
        records = self._changes()
        if not records:
            return None
        frame = encode_frame(records)
        journal = self.journal
        if journal.size + len(frame) <= max(JOURNAL_MIN, self.snapshot_bytes):
            return lambda: journal.append(frame)
        doc = self._export()
        return lambda: self._save_snapshot(doc)

    def _save_snapshot(self, doc: dict[str, Any]) -> None:
        """In the persister's thread: the whole document, then an empty journal (a
        crash between the two replays the old journal over the new snapshot, which
        changes nothing: see store/journal.py)."""
        save_definitions(self.definitions_path, doc)
        self.snapshot_bytes = self.definitions_path.stat().st_size
        self.journal.truncate()

    def _changes(self) -> list[Record]:
        """Journal records for what changed since the last call, and forget it."""
        from amqpish.server.view.definitions import (
            binding_definition,
            exchange_definition,
            queue_definition,
        )

        assert self._server is not None and self._export_globals is not None
        records: list[Record] = []
        g = self._export_globals()
        if g != self._globals:
            records.append(["g", g])
            self._globals = g
        for name, vh in self._server.broker.vhosts.items():
            if self._vhosts.get(name, vh) is not vh:
                # deleted and created again since the last batch
                records.append(["v", name])
            self._vhosts[name] = vh
            dirty = vh.dirty
            if not dirty:
                continue
            for (kind, key), b in dirty.items():
                if kind == "q":
                    q = vh.queues.get(key)
                    qd = None
                    if q is not None and q.durable and q.exclusive_owner is None:
                        qd = queue_definition(q, name)
                    records.append(["q", name, key, qd])
                elif kind == "x":
                    x = vh.exchanges.get(key)
                    xd = exchange_definition(x, name) if x is not None and x.durable else None
                    records.append(["x", name, key, xd])
                else:
                    assert b is not None
                    records.append(
                        ["b", name, binding_definition(b, name), key in vh.kept_bindings]
                    )
            dirty.clear()
        for name in [n for n in self._vhosts if n not in self._server.broker.vhosts]:
            del self._vhosts[name]
        return records

    # --- recovery -------------------------------------------------------------------------

    def recover(
        self,
        server: Server,
        export: Callable[[], dict[str, Any]],
        import_: Callable[[dict[str, Any]], None],
        export_globals: Callable[[], dict[str, Any]] | None = None,
    ) -> bool:
        """Rebuild durable state; True on first boot (no definitions were saved).

        ``export_globals``: the definitions without queues, exchanges and bindings
        (journalled whole when they change)."""
        self._export = export
        self._export_globals = export_globals or export
        self._server = server
        t0 = time.perf_counter()
        try:
            doc = load_definitions(self.definitions_path)
        except DefinitionsError as e:
            # the previous version is kept as a backup exactly for this
            log.error("definitions_unreadable", path=str(self.definitions_path), error=str(e))
            doc = load_definitions(self.definitions_path, use_backup=True)
            log.warning("definitions_from_backup", path=str(e.backup))
        if doc is not None and self.definitions_path.exists():
            self.snapshot_bytes = self.definitions_path.stat().st_size
        batches = self.journal.read()
        if batches:
            if doc is None:
                doc = new_definitions("", "")
            doc = replay(doc, batches)
            log.info("definitions_journal_replayed", batches=len(batches))
        if doc is not None:
            import_(doc)
        # what recovery declared is on disk already: only later changes are journalled
        for name, recovered in server.broker.vhosts.items():
            self._vhosts[name] = recovered
            if recovered.dirty:
                recovered.dirty.clear()
        self._globals = self._export_globals()
        pager = self.pager
        state = self.store.recover(resident_bytes=None if pager is None else pager.budget)
        self.next_id = state.max_msg_id + 1
        paged_sizes = state.paged_sizes
        names: dict[tuple[str, str], tuple[str, str, bytes, bytes]] = {}
        shared_props: dict[bytes, tuple[bytes, BasicProperties]] = {}
        now = time.time()
        restored = 0
        for key, messages in state.queues.items():
            vhost_name, _, name = key.partition("\x00")
            vh = server.broker.vhosts.get(vhost_name)
            q = vh.queues.get(name) if vh is not None else None
            if q is None or not q.durable:
                log.warning(
                    "recovered_messages_without_queue",
                    vhost=vhost_name,
                    queue=name,
                    messages=len(messages),
                )
                self.store.delete_queue(key)
                continue
            entries = []
            for rm in messages:
                # one copy of each exchange, routing key and properties, as publishers
                # share theirs: a million recovered messages mostly repeat a few
                ex, rk, ex_b, rk_b = names.get((rm.exchange, rm.routing_key)) or names.setdefault(
                    (rm.exchange, rm.routing_key),
                    (rm.exchange, rm.routing_key, rm.exchange.encode(), rm.routing_key.encode()),
                )
                raw, decoded = shared_props.get(rm.properties_raw) or (rm.properties_raw, None)
                body = rm.body
                if body is None:
                    msg = Message(ex, rk, raw, PAGED_OUT, rm.msg_id, decoded, ex_b, rk_b)
                    msg.size = paged_sizes[rm.msg_id]
                else:
                    msg = Message(ex, rk, raw, body, rm.msg_id, decoded, ex_b, rk_b)
                if decoded is None:
                    # properties are read-only once decoded: one object for all copies
                    shared_props[raw] = (raw, msg.props)
                ttl = q.message_ttl
                if msg.ttl is not None and (ttl is None or msg.ttl < ttl):
                    ttl = msg.ttl
                entry = Entry(None, msg, None if ttl is None else now + ttl / 1000.0)
                entry.redelivered = rm.redelivered
                entry.logged = True
                entries.append(entry)
            q.restore(entries)
            restored += len(entries)
        if pager is not None:
            pager.rebalance(q for vh in server.broker.vhosts.values() for q in vh.queues.values())
        log.info(
            "recovered",
            messages=state.messages,
            queue_entries=restored,
            segments=state.segments,
            bytes_read=state.bytes_read,
            truncated=len(state.truncated),
            paged_out=len(paged_sizes),
            seconds=round(time.perf_counter() - t0, 3),
        )
        return doc is None

    def durable_definitions(self, full: dict[str, Any]) -> dict[str, Any]:
        """Only what must survive a restart: durable queues/exchanges and their bindings."""
        doc = dict(full)
        queues = [q for q in full.get("queues", []) if q.get("durable")]
        exchanges = [x for x in full.get("exchanges", []) if x.get("durable")]
        durable_q = {(q.get("vhost"), q["name"]) for q in queues}
        durable_x = {(x.get("vhost"), x["name"]) for x in exchanges}

        def keep(b: dict[str, Any]) -> bool:
            vh = b.get("vhost")
            src_ok = b["source"].startswith("amq.") or (vh, b["source"]) in durable_x
            dest = (vh, b["destination"])
            dest_ok = (
                dest in durable_q
                if b["destination_type"] == "queue"
                else (b["destination"].startswith("amq.") or dest in durable_x)
            )
            return src_ok and dest_ok

        doc["queues"] = queues
        doc["exchanges"] = exchanges
        doc["bindings"] = [b for b in full.get("bindings", []) if keep(b)]
        return doc
