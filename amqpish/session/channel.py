"""One AMQP channel: the methods of classes exchange, queue, basic, confirm and tx.

The channel is sans-IO: every reply and delivery is encoded into its connection's
output buffer, and the broker model is called synchronously. Unacknowledged
deliveries are kept in a dict ordered by delivery tag, so ``multiple`` acks pop
from the front. Publisher confirms for messages that need no disk write are
coalesced: the channel remembers the highest tag that can be confirmed and the
connection emits one ``basic.ack multiple`` per read batch.

Errors from the model (``AMQPError``) propagate to the connection, which closes
the channel (soft codes) or the connection (hard codes).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amqpish.broker.args import amqp_type_name
from amqpish.broker.consumers import ChannelCredit, Consumer
from amqpish.broker.errors import AMQPError, Code, not_found, precondition
from amqpish.broker.exchange import Exchange
from amqpish.broker.message import Entry, Message, without_header
from amqpish.broker.queue import Queue
from amqpish.codec import spec
from amqpish.codec.frames import (
    encode_basic_ack,
    encode_basic_deliver,
    encode_basic_get_ok,
    encode_basic_nack,
    encode_basic_return,
    encode_method,
)
from amqpish.session import direct_reply

if TYPE_CHECKING:
    from amqpish.session.connection import ConnectionSession

Unacked = tuple[Queue, Consumer | None, Entry]


def _consumer_tag() -> str:
    return "amq.ctag-" + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


class ChannelSession(ChannelCredit):
    # slots: an idle connection's channel is most of what the connection costs
    __slots__ = (
        "_confirm_sent",
        "_keys",
        "_write_ok",
        "closing",
        "confirm",
        "confirm_upto",
        "conn",
        "consumers",
        "last_queue",
        "nacks",
        "needs_drain",
        "next_tag",
        "number",
        "publish_seq",
        "reply_tag",
        "reply_tag_b",
        "reply_token",
        "stat_ack",
        "stat_confirm",
        "stat_deliver",
        "stat_deliver_no_ack",
        "stat_get",
        "stat_get_empty",
        "stat_get_no_ack",
        "stat_publish",
        "stat_redeliver",
        "stat_return_unroutable",
        "stat_unroutable",
        "sync_from",
        "sync_upto",
        "tx",
        "tx_pending",
        "tx_stored",
        "unacked",
        "vhost",
    )

    def __init__(self, conn: ConnectionSession, number: int) -> None:
        super().__init__()
        self.conn = conn
        self.number = number
        self.vhost = conn.vhost
        self.consumers: dict[str, Consumer] = {}
        self.unacked: dict[int, Unacked] = {}
        self.next_tag = 1
        self.last_queue: str | None = None
        self.confirm = False
        self.publish_seq = 0
        self.confirm_upto = 0  # highest publish tag routed (confirmable unless waiting for disk)
        self._confirm_sent = 0  # highest tag confirmed to the client
        self.nacks: list[int] = []  # refused publishes (x-overflow) not yet nacked, in order
        self.sync_from = 0  # lowest tag waiting for its fsync (0: none)
        self.sync_upto = 0  # highest tag waiting for its fsync
        self.tx_stored = False
        self.tx = False
        self.tx_pending: list[Callable[[], None]] = []
        self.closing = False
        self.needs_drain = False
        self.reply_token: str | None = None
        self.reply_tag = ""
        self.reply_tag_b = b""
        self.stat_publish = 0
        self.stat_confirm = 0
        self.stat_unroutable = 0
        self.stat_deliver = 0
        self.stat_ack = 0
        self.stat_get = 0
        self.stat_get_no_ack = 0
        self.stat_get_empty = 0
        self.stat_deliver_no_ack = 0
        self.stat_return_unroutable = 0
        self.stat_redeliver = 0
        self._write_ok: dict[str, Exchange] = {}
        # routing key -> (the str, its UTF-8): shared by every message published with it
        self._keys: dict[str, tuple[str, bytes]] = {}

    # --- helpers -------------------------------------------------------------------

    def send(self, method: spec.Method) -> None:
        self.conn.write(encode_method(self.number, method))

    @property
    def now(self) -> float:
        return self.conn.now

    def _check(self, kind: str, resource_kind: str, name: str) -> None:
        self.conn.broker.users.check(self.conn.user, self.vhost.name, kind, resource_kind, name)

    def _queue_name(self, name: str) -> str:
        """An empty queue name means the channel's last declared queue (AMQP rule)."""
        if name:
            return name
        if self.last_queue is None:
            raise AMQPError(Code.NOT_FOUND, "no previously declared queue")
        return self.last_queue

    # --- exchange class -----------------------------------------------------------------

    def exchange_declare(self, m: spec.ExchangeDeclare) -> None:
        if not m.passive:
            self._check("configure", "exchange", m.exchange)
        self.vhost.declare_exchange(
            m.exchange,
            m.type,
            passive=m.passive,
            durable=m.durable,
            auto_delete=m.auto_delete,
            internal=m.internal,
            arguments=m.arguments,
        )
        self.conn.definitions_changed()
        if not m.no_wait:
            self.send(spec.ExchangeDeclareOk())

    def exchange_delete(self, m: spec.ExchangeDelete) -> None:
        self._check("configure", "exchange", m.exchange)
        self.vhost.delete_exchange(m.exchange, if_unused=m.if_unused)
        self._write_ok.pop(m.exchange, None)
        self.conn.definitions_changed()
        if not m.no_wait:
            self.send(spec.ExchangeDeleteOk())

    def exchange_bind(self, m: spec.ExchangeBind) -> None:
        self._check("write", "exchange", m.destination)
        self._check("read", "exchange", m.source)
        self.vhost.bind(
            m.source,
            m.destination,
            "exchange",
            m.routing_key,
            m.arguments,
            owner=self.conn,
        )
        self.conn.definitions_changed()
        if not m.no_wait:
            self.send(spec.ExchangeBindOk())

    def exchange_unbind(self, m: spec.ExchangeUnbind) -> None:
        self._check("write", "exchange", m.destination)
        self._check("read", "exchange", m.source)
        self.vhost.unbind(
            m.source, m.destination, "exchange", m.routing_key, m.arguments, owner=self.conn
        )
        self.conn.definitions_changed()
        if not m.no_wait:
            self.send(spec.ExchangeUnbindOk())

    # --- queue class -----------------------------------------------------------------------

    def queue_declare(self, m: spec.QueueDeclare) -> None:
        if m.queue:
            self._check("configure", "queue", m.queue)
        q, created = self.vhost.declare_queue(
            m.queue,
            owner=self.conn,
            now=self.now,
            passive=m.passive,
            durable=m.durable,
            exclusive=m.exclusive,
            auto_delete=m.auto_delete,
            arguments=m.arguments,
        )
        if created:
            if q.exclusive_owner is not None:
                self.conn.exclusive_queues.append(q)
            self.conn.definitions_changed()
        self.last_queue = q.name
        if not m.no_wait:
            self.send(spec.QueueDeclareOk(q.name, q.message_count, q.consumer_count))

    def queue_bind(self, m: spec.QueueBind) -> None:
        name = self._queue_name(m.queue)
        rk = m.routing_key if (m.queue or m.routing_key) else name
        self._check("write", "queue", name)
        self._check("read", "exchange", m.exchange)
        self.vhost.bind(m.exchange, name, "queue", rk, m.arguments, owner=self.conn)
        self.conn.definitions_changed()
        if not m.no_wait:
            self.send(spec.QueueBindOk())

    def queue_unbind(self, m: spec.QueueUnbind) -> None:
        name = self._queue_name(m.queue)
        self._check("write", "queue", name)
        self._check("read", "exchange", m.exchange)
        self.vhost.unbind(m.exchange, name, "queue", m.routing_key, m.arguments, owner=self.conn)
        self.conn.definitions_changed()
        self.send(spec.QueueUnbindOk())

    def queue_purge(self, m: spec.QueuePurge) -> None:
        name = self._queue_name(m.queue)
        self._check("read", "queue", name)
        q = self.vhost.get_queue(name, self.conn)
        n = q.purge()
        self.conn.queue_purged(q)
        if not m.no_wait:
            self.send(spec.QueuePurgeOk(n))

    def queue_delete(self, m: spec.QueueDelete) -> None:
        name = self._queue_name(m.queue)
        self._check("configure", "queue", name)
        q = self.vhost.queues.get(name)
        n, consumers = self.vhost.delete_queue(
            name, owner=self.conn, if_unused=m.if_unused, if_empty=m.if_empty
        )
        # delete-ok first: RabbitMQ's consumers hear of the deletion afterwards
        if not m.no_wait:
            self.send(spec.QueueDeleteOk(n))
        if q is not None:
            self.conn.queue_deleted(q, consumers)

    # --- basic class: consuming ------------------------------------------------------------

    def basic_qos(self, m: spec.BasicQos) -> None:
        if m.prefetch_size != 0:
            raise AMQPError(Code.NOT_IMPLEMENTED, f"prefetch_size!=0 ({m.prefetch_size})")
        if m.global_:
            self.global_prefetch = m.prefetch_count
        else:
            self.consumer_prefetch = m.prefetch_count
        self.send(spec.BasicQosOk())
        self.needs_drain = True

    def basic_consume(self, m: spec.BasicConsume) -> None:
        if m.queue == direct_reply.PSEUDO_QUEUE:
            self._consume_replies(m)
            return
        name = self._queue_name(m.queue)
        self._check("read", "queue", name)
        q = self.vhost.get_queue(name, self.conn)
        tag = m.consumer_tag or _consumer_tag()
        if tag in self.consumers:
            raise AMQPError(Code.NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
        priority = m.arguments.get("x-priority", 0) if m.arguments else 0
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise precondition(
                f"invalid arg 'x-priority' for queue '{q.name}' in vhost '{q.vhost}': "
                f'"expected integer, got {amqp_type_name(priority)}"'
            )
        c = Consumer(
            tag,
            q,
            self,
            no_ack=m.no_ack,
            exclusive=m.exclusive,
            prefetch=self.consumer_prefetch,
            args=m.arguments,
        )
        c.priority = priority
        q.add_consumer(c, self.now)
        self.consumers[tag] = c
        if not m.no_wait:
            self.send(spec.BasicConsumeOk(tag))
        q.drain(self.now)
        self.conn.after_queue_op(q)

    def _consume_replies(self, m: spec.BasicConsume) -> None:
        if not m.no_ack:
            raise precondition("reply consumer cannot acknowledge")
        if self.reply_token is not None:
            raise precondition("reply consumer already set")
        tag = m.consumer_tag or _consumer_tag()
        self.reply_token = direct_reply.register(self)
        self.reply_tag = tag
        self.reply_tag_b = tag.encode()
        if not m.no_wait:
            self.send(spec.BasicConsumeOk(tag))

    def deliver_reply(self, msg: Message) -> None:
        """A reply for this channel's direct reply-to consumer (no-ack, untracked)."""
        tag = self.next_tag
        self.next_tag = tag + 1
        self.stat_deliver += 1
        self.conn.write(
            encode_basic_deliver(
                self.number,
                self.reply_tag_b,
                tag,
                False,
                msg.exchange_b,
                msg.routing_key_b,
                msg.properties_raw,
                msg.body,
                self.conn.frame_max,
            )
        )

    def _drop_replies(self) -> None:
        if self.reply_token is not None:
            direct_reply.unregister(self.reply_token)
            self.reply_token = None

    def basic_cancel(self, m: spec.BasicCancel) -> None:
        if self.reply_token is not None and m.consumer_tag == self.reply_tag:
            self._drop_replies()
            if not m.no_wait:
                self.send(spec.BasicCancelOk(m.consumer_tag))
            return
        c = self.consumers.pop(m.consumer_tag, None)
        if c is not None:
            q = c.queue
            q.remove_consumer(c, self.now)
            q.drain(self.now)
            self.conn.after_queue_op(q)
        if not m.no_wait:
            self.send(spec.BasicCancelOk(m.consumer_tag))

    def consumer_cancelled(self, consumer: Consumer) -> None:
        """The queue was deleted under the consumer: tell the client if it listens."""
        if self.consumers.pop(consumer.tag, None) is None:
            return
        if self.conn.cancel_notify and not self.closing:
            self.send(spec.BasicCancel(consumer.tag, True))

    def basic_get(self, m: spec.BasicGet) -> None:
        name = self._queue_name(m.queue)
        self._check("read", "queue", name)
        q = self.vhost.get_queue(name, self.conn)
        entry = q.get(self.now, m.no_ack)
        self.conn.after_queue_op(q)
        if entry is None:
            self.stat_get_empty += 1
            self.send(spec.BasicGetEmpty())
            return
        tag = self.next_tag
        self.next_tag = tag + 1
        if m.no_ack:
            self.stat_get_no_ack += 1
        else:
            self.stat_get += 1
        if entry.redelivered:
            self.stat_redeliver += 1
        if not m.no_ack:
            self.unacked[tag] = (q, None, entry)
            self.unacked_count += 1
        msg = entry.msg
        self.conn.write(
            encode_basic_get_ok(
                self.number,
                tag,
                entry.redelivered,
                msg.exchange_b,
                msg.routing_key_b,
                q.message_count,
                msg.properties_raw,
                msg.body,
                self.conn.frame_max,
            )
        )

    def deliver(self, consumer: Consumer, queue: Queue, entry: Entry | Message) -> None:
        tag = self.next_tag
        self.next_tag = tag + 1
        if consumer.no_ack:
            self.stat_deliver_no_ack += 1
        else:
            assert type(entry) is Entry
            self.unacked[tag] = (queue, consumer, entry)
            self.unacked_count += 1
            self.stat_deliver += 1
        msg = entry.msg
        self.conn.write(
            encode_basic_deliver(
                self.number,
                consumer.tag_b,
                tag,
                entry.redelivered,
                msg.exchange_b,
                msg.routing_key_b,
                msg.properties_raw,
                msg.body,
                self.conn.frame_max,
            )
        )

    # --- basic class: settlement ----------------------------------------------------------

    def _take(self, tag: int, multiple: bool) -> list[tuple[int, Unacked]]:
        unacked = self.unacked
        if multiple:
            if tag == 0:
                taken = list(unacked.items())
                unacked.clear()
            else:
                if tag not in unacked and (not unacked or tag < next(iter(unacked))):
                    raise precondition(f"unknown delivery tag {tag}")
                taken = []
                for t in list(unacked):
                    if t > tag:
                        break
                    taken.append((t, unacked.pop(t)))
        else:
            u = unacked.pop(tag, None)
            if u is None:
                raise precondition(f"unknown delivery tag {tag}")
            taken = [(tag, u)]
        self.unacked_count -= len(taken)
        return taken

    def basic_ack(self, m: spec.BasicAck) -> None:
        if self.tx:
            self._take_checked_for_tx(m.delivery_tag, m.multiple)
            tag, multiple = m.delivery_tag, m.multiple
            self.tx_pending.append(lambda: self._ack(tag, multiple))
            return
        self._ack(m.delivery_tag, m.multiple)

    def _ack(self, tag: int, multiple: bool) -> None:
        for _, (q, c, entry) in self._take(tag, multiple):
            q.settled(entry, c)
            self.stat_ack += 1
        self.needs_drain = True

    def _take_checked_for_tx(self, tag: int, multiple: bool) -> None:
        if not multiple and tag not in self.unacked:
            raise precondition(f"unknown delivery tag {tag}")

    def basic_reject(self, m: spec.BasicReject) -> None:
        tag, requeue = m.delivery_tag, m.requeue
        if self.tx:
            self._take_checked_for_tx(tag, False)
            self.tx_pending.append(lambda: self._reject(tag, False, requeue))
            return
        self._reject(tag, False, requeue)

    def basic_nack(self, m: spec.BasicNack) -> None:
        tag, multiple, requeue = m.delivery_tag, m.multiple, m.requeue
        if self.tx:
            self._take_checked_for_tx(tag, multiple)
            self.tx_pending.append(lambda: self._reject(tag, multiple, requeue))
            return
        self._reject(tag, multiple, requeue)

    def _reject(self, tag: int, multiple: bool, requeue: bool) -> None:
        taken = self._take(tag, multiple)
        if requeue:
            self._requeue([u for _, u in taken])
        else:
            touched: dict[int, Queue] = {}
            for _, (q, c, entry) in taken:
                q.reject_dropped(entry, c)
                touched[id(q)] = q
            for q in touched.values():
                self.conn.after_queue_op(q)
        self.needs_drain = True

    def _requeue(self, items: list[Unacked]) -> None:
        by_queue: dict[int, tuple[Queue, list[Entry], dict[int, Consumer | None]]] = {}
        for q, c, entry in items:
            slot = by_queue.get(id(q))
            if slot is None:
                slot = by_queue[id(q)] = (q, [], {})
            slot[1].append(entry)
            slot[2][id(entry)] = c
        for q, entries, owners in by_queue.values():
            q.requeue(entries, lambda e, owners=owners: owners.get(id(e)))  # type: ignore[misc]
            q.drain(self.now)
            self.conn.after_queue_op(q)

    def basic_recover(self, m: spec.BasicRecover) -> None:
        self._recover(m.requeue)
        self.send(spec.BasicRecoverOk())

    def basic_recover_async(self, m: spec.BasicRecoverAsync) -> None:
        self._recover(m.requeue)

    def _recover(self, requeue: bool) -> None:
        if not requeue:
            raise AMQPError(Code.NOT_IMPLEMENTED, "requeue=false")
        items = list(self.unacked.values())
        self.unacked.clear()
        self.unacked_count = 0
        self._requeue(items)

    # --- basic class: publishing -------------------------------------------------------------

    def publish(self, m: spec.BasicPublish, properties_raw: bytes, body: bytes) -> None:
        """basic.publish with its content: route, enqueue, confirm or return."""
        if m.immediate:
            raise AMQPError(Code.NOT_IMPLEMENTED, "immediate=true")
        vhost = self.vhost
        name = m.exchange
        ex = self._write_ok.get(name)
        if ex is None or ex.deleted:
            self.conn.has_published = True
            ex = vhost.exchanges.get(name)
            if ex is None:
                raise not_found("exchange", name, vhost.name)
            self._check("write", "exchange", name)
            if ex.internal:
                raise AMQPError(
                    Code.ACCESS_REFUSED,
                    f"cannot publish to internal exchange '{name}' in vhost '{vhost.name}'",
                )
            self._write_ok[name] = ex
        rk = m.routing_key
        keys = self._keys
        cached = keys.get(rk)
        if cached is None:
            cached = (rk, rk.encode())
            if len(keys) < 4096:
                keys[rk] = cached
        try:
            msg = Message(name, cached[0], properties_raw, body, 0, None, ex.name_b, cached[1])
        except ValueError as e:
            raise precondition(str(e)) from None
        if msg.properties_raw != b"\x00\x00":
            uid = msg.props.user_id
            if uid is not None and uid != self.conn.user:
                raise precondition(
                    f"user_id property set to '{uid}' but authenticated user was '{self.conn.user}'"
                )
        if self.confirm:
            self.publish_seq += 1
        if self.tx:
            seq = self.publish_seq
            self.tx_pending.append(lambda: self._route(ex, msg, rk, m.mandatory, seq))
            return
        self._route(ex, msg, rk, m.mandatory, self.publish_seq)

    def _route(self, ex: Exchange, msg: Message, rk: str, mandatory: bool, seq: int) -> None:
        self.stat_publish += 1
        ex.stat_publish_in += 1
        bcc = False
        if msg.properties_raw != b"\x00\x00":
            headers = msg.headers
            bcc = headers is not None and "BCC" in headers
            if msg.props.reply_to == direct_reply.PSEUDO_QUEUE:
                if self.reply_token is None:
                    raise precondition("fast reply consumer does not exist")
                msg = direct_reply.with_reply_to(msg, direct_reply.PREFIX + self.reply_token)
        if not ex.name and rk.startswith(direct_reply.PREFIX):
            target = direct_reply.lookup(rk)
            if target is not None:
                target.deliver_reply(msg)
                if target.conn is not self.conn:
                    target.conn.hooks.wake(target.conn)
            if self.confirm:
                self.confirm_upto = seq
                self.conn.pending_confirms.add(self)
            return
        queues = self.vhost.route(ex, msg, rk)
        if bcc:
            # BCC routes but is never delivered, as in RabbitMQ
            msg = without_header(msg, "BCC")
        now = self.now
        rejected = False
        if queues:
            ex.stat_publish_out += 1
            for q in queues:
                if not q.publish(msg, now):
                    rejected = True
                if q.dead_letters:
                    self.vhost.dead_letter(q, now)
            self.conn.message_routed(msg, queues)
        else:
            self.stat_unroutable += 1
            self.vhost.stat_unroutable += 1
            if mandatory:
                self.stat_return_unroutable += 1
                self.conn.write(
                    encode_basic_return(
                        self.number,
                        Code.NO_ROUTE,
                        "NO_ROUTE",
                        msg.exchange_b,
                        msg.routing_key_b,
                        msg.properties_raw,
                        msg.body,
                        self.conn.frame_max,
                    )
                )
        if self.tx and msg.id:
            self.tx_stored = True
        if self.confirm:
            self.confirm_upto = seq
            if rejected:
                self.nacks.append(seq)
            if msg.id:
                # stored on disk: confirmed only once its batch is fsynced
                if not self.sync_from:
                    self.sync_from = seq
                self.sync_upto = seq
                self.conn.pending_syncs.add(self)
            else:
                self.conn.pending_confirms.add(self)

    def flush_confirms(self) -> None:
        """Send confirms in tag order: acks (coalesced with multiple) and nacks, up to
        the first publish that still waits for its fsync."""
        limit = self.confirm_upto
        if self.sync_from:
            limit = min(limit, self.sync_from - 1)
        sent = self._confirm_sent
        if limit <= sent:
            return
        nacks = self.nacks
        write = self.conn.write
        while nacks and nacks[0] <= limit:
            n = nacks.pop(0)
            if n - 1 > sent:
                write(encode_basic_ack(self.number, n - 1, n - 1 - sent > 1))
            write(encode_basic_nack(self.number, n, False, False))
            sent = n
        if limit > sent:
            write(encode_basic_ack(self.number, limit, limit - sent > 1))
        self.stat_confirm += limit - self._confirm_sent
        self._confirm_sent = limit

    def synced(self, upto: int) -> None:
        """Everything this channel published up to tag ``upto`` is on disk."""
        if self.closing:
            return
        self.sync_from = 0 if self.sync_upto <= upto else upto + 1
        self.flush_confirms()

    def confirm_select(self, m: spec.ConfirmSelect) -> None:
        if self.tx:
            raise precondition("cannot switch from tx to confirm mode")
        self.confirm = True
        if not m.no_wait:
            self.send(spec.ConfirmSelectOk())

    # --- tx class ------------------------------------------------------------------------------

    def tx_select(self, m: spec.TxSelect) -> None:
        if self.confirm:
            raise precondition("cannot switch from confirm to tx mode")
        self.tx = True
        self.send(spec.TxSelectOk())

    def tx_commit(self, m: spec.TxCommit) -> None:
        if not self.tx:
            raise precondition("channel is not transactional")
        pending = self.tx_pending
        self.tx_pending = []
        self.tx_stored = False
        for op in pending:
            op()
        if self.tx_stored:
            # commit-ok promises durability of what it committed: wait for the fsync
            self.conn.hooks.after_sync(lambda: self.send(spec.TxCommitOk()))
        else:
            self.send(spec.TxCommitOk())

    def tx_rollback(self, m: spec.TxRollback) -> None:
        if not self.tx:
            raise precondition("channel is not transactional")
        self.tx_pending = []
        self.send(spec.TxRollbackOk())

    # --- channel class ---------------------------------------------------------------------------

    def channel_flow(self, m: spec.ChannelFlow) -> None:
        # RabbitMQ 3.x refuses client-initiated flow control (it uses credit instead)
        if not m.active:
            raise AMQPError(Code.NOT_IMPLEMENTED, "active=false")
        self.send(spec.ChannelFlowOk(True))

    def drain(self) -> None:
        """Offer messages again to this channel's consumers (credit was freed)."""
        self.needs_drain = False
        now = self.now
        seen: set[int] = set()
        for c in list(self.consumers.values()):
            q = c.queue
            if id(q) in seen:
                continue
            seen.add(id(q))
            q.drain(now)
            self.conn.after_queue_op(q)

    def close(self) -> None:
        """Channel closed (by either side or with the connection): release everything."""
        self.closing = True
        self._drop_replies()
        now = self.now
        for c in list(self.consumers.values()):
            c.queue.remove_consumer(c, now)
            self.conn.after_queue_op(c.queue)
        self.consumers.clear()
        items = list(self.unacked.values())
        self.unacked.clear()
        self.unacked_count = 0
        if items:
            self._requeue(items)
        self.tx_pending = []


# method index -> handler; one table for all channels
HANDLERS: dict[int, Callable[[ChannelSession, Any], None]] = {
    spec.ExchangeDeclare.INDEX: ChannelSession.exchange_declare,
    spec.ExchangeDelete.INDEX: ChannelSession.exchange_delete,
    spec.ExchangeBind.INDEX: ChannelSession.exchange_bind,
    spec.ExchangeUnbind.INDEX: ChannelSession.exchange_unbind,
    spec.QueueDeclare.INDEX: ChannelSession.queue_declare,
    spec.QueueBind.INDEX: ChannelSession.queue_bind,
    spec.QueueUnbind.INDEX: ChannelSession.queue_unbind,
    spec.QueuePurge.INDEX: ChannelSession.queue_purge,
    spec.QueueDelete.INDEX: ChannelSession.queue_delete,
    spec.BasicQos.INDEX: ChannelSession.basic_qos,
    spec.BasicConsume.INDEX: ChannelSession.basic_consume,
    spec.BasicCancel.INDEX: ChannelSession.basic_cancel,
    spec.BasicGet.INDEX: ChannelSession.basic_get,
    spec.BasicAck.INDEX: ChannelSession.basic_ack,
    spec.BasicReject.INDEX: ChannelSession.basic_reject,
    spec.BasicNack.INDEX: ChannelSession.basic_nack,
    spec.BasicRecover.INDEX: ChannelSession.basic_recover,
    spec.BasicRecoverAsync.INDEX: ChannelSession.basic_recover_async,
    spec.ConfirmSelect.INDEX: ChannelSession.confirm_select,
    spec.TxSelect.INDEX: ChannelSession.tx_select,
    spec.TxCommit.INDEX: ChannelSession.tx_commit,
    spec.TxRollback.INDEX: ChannelSession.tx_rollback,
    spec.ChannelFlow.INDEX: ChannelSession.channel_flow,
}
