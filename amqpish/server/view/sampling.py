"""How the management view feeds the stats sampler and reads rates and history back.

Each kind of object (queue, exchange, channel, connection, and the management API's
own publishes per vhost) is registered with ``amqpish.server.stats.StatsSampler`` as a
tuple of counters then gauges, read by a plain function at O(1) per object. The
overview's and a vhost's ``message_stats`` add up several kinds
(``AGGREGATE_SOURCES``): publishing from the channels, delivery from the queues.
Snapshots get their ``stats`` as ``LazyStats`` so that the rates are computed only for
what a request actually shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from amqpish.admin import Rate, Sample
from amqpish.broker.queue import Queue
from amqpish.server.stats import Kind
from amqpish.server.view.convert import LazyStats, MgmtCounters
from amqpish.server.view.core import ViewCore

if TYPE_CHECKING:
    from amqpish.broker.exchange import Exchange
    from amqpish.server.amqp import AMQPConnection
    from amqpish.session.channel import ChannelSession

QUEUE_FIELDS = (
    "publish",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "ack",
    "redeliver",
    "messages_ready",
    "messages_unacknowledged",
)
CHANNEL_FIELDS = (
    "publish",
    "confirm",
    "return_unroutable",
    "drop_unroutable",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "get_empty",
    "ack",
    "redeliver",
)
EXCHANGE_FIELDS = ("publish_in", "publish_out")
CONNECTION_FIELDS = ("recv_oct", "send_oct")
MGMT_FIELDS = ("publish", "drop_unroutable")

# Where the overview's (and a vhost's) message_stats come from: publishing side from
# the channels (plus the management API's own publishes), delivery side from the queues.
AGGREGATE_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "publish": (("channel", "publish"), ("management", "publish")),
    "confirm": (("channel", "confirm"),),
    "return_unroutable": (("channel", "return_unroutable"),),
    "drop_unroutable": (("channel", "drop_unroutable"), ("management", "drop_unroutable")),
    "get_empty": (("channel", "get_empty"),),
    "deliver": (("queue", "deliver"),),
    "deliver_no_ack": (("queue", "deliver_no_ack"),),
    "get": (("queue", "get"),),
    "get_no_ack": (("queue", "get_no_ack"),),
    "ack": (("queue", "ack"),),
    "redeliver": (("queue", "redeliver"),),
    "messages_ready": (("queue", "messages_ready"),),
    "messages_unacknowledged": (("queue", "messages_unacknowledged"),),
    "recv_oct": (("connection", "recv_oct"),),
    "send_oct": (("connection", "send_oct"),),
}
CHURN_SOURCES = {
    "connection_created": "connection.created",
    "connection_closed": "connection.removed",
    "channel_created": "channel.created",
    "channel_closed": "channel.removed",
    "queue_created": "queue.created",
    "queue_declared": "queue.created",
    "queue_deleted": "queue.removed",
}


def read_queue(q: Queue) -> tuple[int, ...]:
    return (
        q.stat_publish,
        q.stat_deliver,
        q.stat_deliver_no_ack,
        q.stat_get,
        q.stat_get_no_ack,
        q.stat_ack,
        q.stat_redeliver,
        len(q.ready),
        q.unacked_count,
    )


def read_channel(ch: ChannelSession) -> tuple[int, ...]:
    # stat_unroutable counts returned and dropped publishes alike
    returned = ch.stat_return_unroutable
    return (
        ch.stat_publish,
        ch.stat_confirm,
        returned,
        ch.stat_unroutable - returned,
        ch.stat_deliver,
        ch.stat_deliver_no_ack,
        ch.stat_get,
        ch.stat_get_no_ack,
        ch.stat_get_empty,
        ch.stat_ack,
        ch.stat_redeliver,
    )


def read_exchange(ex: Exchange) -> tuple[int, ...]:
    return (ex.stat_publish_in, ex.stat_publish_out)


def read_connection(ac: AMQPConnection) -> tuple[int, ...]:
    s = ac.session
    return (s.recv_bytes, s.send_bytes)


def read_mgmt(m: MgmtCounters) -> tuple[int, ...]:
    return (m.publish, m.drop_unroutable)


class Sampling(ViewCore):
    """Registers the sampled kinds; builds ``stats`` mappings; answers history."""

    def _register_kinds(self) -> None:
        s = self.sampler
        s.register(Kind("queue", QUEUE_FIELDS, 7, self._all_queues, read_queue, lambda q: q.vhost))
        s.register(
            Kind(
                "exchange",
                EXCHANGE_FIELDS,
                2,
                self._all_exchanges,
                read_exchange,
                lambda e: e.vhost,
            )
        )
        s.register(
            Kind(
                "channel",
                CHANNEL_FIELDS,
                len(CHANNEL_FIELDS),
                self._all_channels,
                read_channel,
                lambda ch: ch.conn.vhost_name,
            )
        )
        s.register(
            Kind(
                "connection",
                CONNECTION_FIELDS,
                2,
                lambda: list(self.server.connections),
                read_connection,
                lambda ac: ac.session.vhost_name,
            )
        )
        s.register(
            Kind(
                "management",
                MGMT_FIELDS,
                2,
                lambda: list(self._mgmt.values()),
                read_mgmt,
                lambda m: m.vhost,
            )
        )

    def _stats(
        self, kind: str, obj: Any, fields: Sequence[str], values: Sequence[int]
    ) -> LazyStats:
        def compute() -> dict[str, Rate]:
            rates = self.sampler.rates(kind, obj)
            return {f: Rate(v, rates.get(f, 0.0)) for f, v in zip(fields, values, strict=True)}

        return LazyStats(compute)

    def _aggregate_stats(self, group: str, live: Mapping[str, int]) -> LazyStats:
        """message_stats of the overview (group "*") or of one vhost."""

        def compute() -> dict[str, Rate]:
            s = self.sampler
            totals = {k: s.totals(k, group) for k in s.kinds}
            rates = {k: s.rates(k, group=group) for k in s.kinds}
            out: dict[str, Rate] = {}
            for name, sources in AGGREGATE_SOURCES.items():
                value = sum(totals[k][f] for k, f in sources)
                rate = sum(rates[k][f] for k, f in sources)
                out[name] = Rate(live.get(name, value), round(rate, 2))
            ready, unacked = out["messages_ready"], out["messages_unacknowledged"]
            out["messages"] = Rate(ready.value + unacked.value, round(ready.rate + unacked.rate, 2))
            return out

        return LazyStats(compute)

    def _queue_stats(self, q: Queue, values: tuple[int, ...]) -> LazyStats:
        def compute() -> dict[str, Rate]:
            rates = self.sampler.rates("queue", q)
            out = {f: Rate(v, rates[f]) for f, v in zip(QUEUE_FIELDS, values, strict=True)}
            out["get_empty"] = Rate(q.stat_get_empty, 0.0)
            ready, unacked = out["messages_ready"], out["messages_unacknowledged"]
            out["messages"] = Rate(ready.value + unacked.value, round(ready.rate + unacked.rate, 2))
            return out

        return LazyStats(compute)

    def _churn(self) -> dict[str, Rate]:
        s = self.sampler
        counts = s.churn
        out: dict[str, Rate] = {}
        for name, key in CHURN_SOURCES.items():
            out[name] = Rate(counts.get(key, 0), 0.0)
        return out

    # --- history ---------------------------------------------------------------------------------------

    def history(
        self, kind: str, key: tuple[str, ...], fields: Sequence[str], age: int, incr: int
    ) -> list[Sample]:
        s = self.sampler
        if kind in ("overview", "vhost"):
            group = "*" if kind == "overview" else key[0]
            series: dict[str, list[tuple[float, int]]] = {}
            for f in fields:
                parts: tuple[tuple[str, str], ...]
                if f == "messages":
                    parts = (("queue", "messages_ready"), ("queue", "messages_unacknowledged"))
                else:
                    parts = AGGREGATE_SOURCES.get(f, ())
                summed: list[tuple[float, int]] = []
                for k, field in parts:
                    h = s.history(k, [field], age, incr, group=group)
                    if not summed:
                        summed = [(t, v[0]) for t, v in h]
                    else:
                        summed = [(t, a + v[0]) for (t, a), (_, v) in zip(summed, h, strict=False)]
                series[f] = summed
            return merge_history(fields, series)
        obj = self._history_object(kind, key)
        if obj is None:
            return []
        own = s.fields(kind)
        wanted = [f for f in fields if f in own]
        extra_messages = kind == "queue" and "messages" in fields
        query = list(
            dict.fromkeys(
                [
                    *wanted,
                    *(("messages_ready", "messages_unacknowledged") if extra_messages else ()),
                ]
            )
        )
        rows = s.history(kind, query, age, incr, obj)
        out = []
        for t, vals in rows:
            d = dict(zip(query, vals, strict=True))
            if extra_messages:
                d["messages"] = d["messages_ready"] + d["messages_unacknowledged"]
            out.append(Sample(t, {f: d.get(f, 0) for f in fields}))
        return out

    def _history_object(self, kind: str, key: tuple[str, ...]) -> Any:
        if kind == "queue":
            vh = self.broker.vhosts.get(key[0])
            return vh.queues.get(key[1]) if vh is not None else None
        if kind == "exchange":
            vh = self.broker.vhosts.get(key[0])
            return vh.exchanges.get(key[1]) if vh is not None else None
        if kind == "connection":
            return self._find_connection(key[0])
        if kind == "channel":
            return self._find_channel(key[0])
        return None


def merge_history(
    fields: Sequence[str], series: Mapping[str, list[tuple[float, int]]]
) -> list[Sample]:
    n = min((len(v) for v in series.values()), default=0)
    out = []
    for i in range(n):
        t = next(iter(series.values()))[i][0]
        out.append(Sample(t, {f: series[f][i][1] for f in fields}))
    return out


__all__ = [
    "AGGREGATE_SOURCES",
    "CHANNEL_FIELDS",
    "CONNECTION_FIELDS",
    "EXCHANGE_FIELDS",
    "QUEUE_FIELDS",
    "Sampling",
    "read_queue",
]
