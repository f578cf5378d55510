"""Worker processes: each drives all its connections with one epoll loop.

How it works. The parent forks one process per group of producers or consumers.
A worker opens its connections (for consumers: up to basic.consume-ok), says
``ready`` on its pipe and waits for ``go``; from then on it runs :func:`_loop` until
the parent says ``stop`` (or goes away: the pipe is in the same selector as the
sockets, so no polling is needed). The parent, not the worker, keeps time and
takes the measurements: every loop iteration the worker stores its running totals
in its row of a shared ``RawArray`` (:data:`SENT`, :data:`CONFIRMED`, ...) and
folds fresh latency samples into its shared histogram; the parent subtracts
snapshots. Producers read the consumers' rows to apply the in-flight cap, which
makes the whole run a closed loop that cannot grow an unbounded backlog.
"""

from __future__ import annotations

import ctypes
import resource
import selectors
import signal
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from amqpish.client.url import ConnectionParameters
from amqpish.codec import spec
from amqpish.perf import histogram
from amqpish.perf.clients import Consumer, ConsumerSpec, Publisher, PublisherSpec
from amqpish.perf.wire import PerfError, SetupConnection

__all__ = [
    "BLOCKED",
    "CONFIRMED",
    "CPU_US",
    "NACKED",
    "RECEIVED",
    "SENT",
    "SLOTS",
    "Shared",
    "serve_worker",
]

# Columns of a worker's row in Shared.counters.
SENT, CONFIRMED, NACKED, RECEIVED, CPU_US, BLOCKED = range(6)
SLOTS = 6

_FOLD_EVERY = 0.02  # seconds between latency folds / CPU updates
_IDLE_WAKE = 0.05
_CAP_POLL = 0.001  # blocked by the in-flight cap: no socket event will say when it opens

Role = Sequence[PublisherSpec | ConsumerSpec]
SharedArray = Any  # a ctypes array of c_int64 in shared memory (RawArray)


@dataclass(frozen=True, slots=True)
class Shared:
    """Shared memory of one run: a counters row and a histogram per worker."""

    counters: SharedArray
    histograms: SharedArray
    consumer_rows: tuple[int, ...]  # workers whose RECEIVED the in-flight cap reads
    cap: float  # per producer (0: no cap)
    deliveries_per_message: float  # fan-out: each publish is consumed this many times
    producers: int


def _cpu_us() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return int((r.ru_utime + r.ru_stime) * 1e6)


def _open(
    params: ConnectionParameters, s: PublisherSpec | ConsumerSpec, name: str
) -> Publisher | Consumer:
    conn = SetupConnection(params, name)
    try:
        conn.open_channel(1)
        if isinstance(s, PublisherSpec):
            if s.confirm:
                conn.call(1, spec.ConfirmSelect(), spec.ConfirmSelectOk)
            return Publisher(conn, s)
        if s.prefetch:
            conn.call(1, spec.BasicQos(0, s.prefetch, False), spec.BasicQosOk)
        conn.call(1, spec.BasicConsume(0, s.queue, s.tag, no_ack=s.autoack), spec.BasicConsumeOk)
        return Consumer(conn, s)
    except BaseException:
        conn.close(0.5)
        raise


def serve_worker(
    params: ConnectionParameters,
    specs: Role,
    index: int,
    shared: Shared,
    pipe: Connection,
) -> None:
    """A worker process's main function (its exit is reported on the pipe)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends the run on Ctrl-C
    clients: list[Publisher | Consumer] = []
    try:
        for i, s in enumerate(specs):
            kind = "producer" if isinstance(s, PublisherSpec) else "consumer"
            clients.append(_open(params, s, f"amqpish perf {kind} {index}.{i}"))
        pipe.send(("ready", None))
        msg = pipe.recv()
        if msg[0] == "go":
            _loop(clients, msg[1], index, shared, pipe)
            pipe.send(("done", None))
    except PerfError as e:
        _send_error(pipe, str(e))
    except (EOFError, BrokenPipeError):
        pass  # the parent is gone
    except OSError as e:
        _send_error(pipe, f"network error: {e}")
    except Exception:
        _send_error(pipe, traceback.format_exc())
    finally:
        for c in clients:
            try:
                c.flush(1.0)
            except OSError:
                pass
            c.conn.close(1.0)


def _send_error(pipe: Connection, text: str) -> None:
    try:
        pipe.send(("error", text))
    except OSError:
        pass


def _report(clients: Sequence[Publisher | Consumer], index: int, shared: Shared) -> None:
    """Store this worker's running totals in its row of the shared counters."""
    row = index * SLOTS
    counters = shared.counters
    sent = confirmed = nacked = received = blocked = 0
    for c in clients:
        if isinstance(c, Publisher):
            sent += c.sent
            confirmed += c.confirms.confirmed
            nacked += c.confirms.nacked
            blocked += c.blocked
        else:
            received += c.received
    counters[row + SENT] = sent
    counters[row + CONFIRMED] = confirmed
    counters[row + NACKED] = nacked
    counters[row + RECEIVED] = received
    counters[row + BLOCKED] = blocked


def _fold(consumers: Sequence[Consumer], index: int, shared: Shared) -> None:
    """Move fresh latency samples into this worker's shared histogram; update its CPU time."""
    for c in consumers:
        if c.latencies:
            histogram.fold(c.latencies, shared.histograms, index * histogram.BUCKETS)
            del c.latencies[:]
    shared.counters[index * SLOTS + CPU_US] = _cpu_us()


def _loop(
    clients: Sequence[Publisher | Consumer],
    t0: float,
    index: int,
    shared: Shared,
    pipe: Connection,
) -> None:
    sel = selectors.DefaultSelector()
    pubs = [c for c in clients if isinstance(c, Publisher)]
    cons = [c for c in clients if isinstance(c, Consumer)]
    counters = shared.counters
    if shared.cap:
        rows = [r * SLOTS + RECEIVED for r in shared.consumer_rows]
        share = shared.deliveries_per_message * shared.producers

        def consumed() -> float:
            return float(sum([counters[i] for i in rows])) / share

        for p in pubs:
            p.cap = shared.cap
            p.consumed = consumed
    for c in clients:
        c.sock.setblocking(False)
        c.sel = sel
        events = selectors.EVENT_READ
        if isinstance(c, Publisher):
            c.t0 = t0
            if not c.rate:
                events |= selectors.EVENT_WRITE
                c.want_write = True
        sel.register(c.sock, events, c)
    sel.register(pipe.fileno(), selectors.EVENT_READ, None)
    timed = [p for p in pubs if p.rate]
    capped = [p for p in pubs if p.cap and not p.rate]
    next_fold = 0.0
    for c in cons:
        c.on_read(time.monotonic_ns())  # deliveries that came with consume-ok
    try:
        while True:
            now = time.monotonic()
            timeout = _IDLE_WAKE
            for p in timed:
                p.tick(now)
                timeout = min(timeout, max(0.0, p.next_due() - now))
            for p in capped:
                if not p.want_write:
                    p.tick(now)
                    if p.capped:
                        timeout = min(timeout, _CAP_POLL)
            ready = sel.select(timeout)
            now_ns = time.monotonic_ns()
            now = now_ns / 1e9
            for key, mask in ready:
                c = key.data
                if c is None:
                    return  # "stop" from the parent, or the parent is gone
                if mask & selectors.EVENT_READ:
                    c.on_read(now_ns)
                if mask & selectors.EVENT_WRITE:
                    c.on_write(now)
            # every iteration: the parent's snapshots and the in-flight cap read these
            _report(clients, index, shared)
            if now >= next_fold:
                _fold(cons, index, shared)
                next_fold = now + _FOLD_EVERY
    finally:
        _report(clients, index, shared)
        _fold(cons, index, shared)
        sel.close()


def new_shared_array(ctx: Any, size: int) -> SharedArray:
    """A zeroed shared int64 array (``ctx`` is a multiprocessing context)."""
    return ctx.RawArray(ctypes.c_int64, size)
