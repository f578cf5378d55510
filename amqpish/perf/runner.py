"""One run: declare the topology, fork the workers, keep time, measure, clean up.

How it works. The parent process holds a control connection for the topology
(queues are deleted and re-declared fresh, and deleted again afterwards unless
``--keep``). It forks the consumer workers first and waits until each has its
consumers registered, then the producer workers, then sends every worker ``go``.
From then on the parent only keeps time: it sleeps on the workers' pipes (so a
worker's error ends the run at once) until the next whole second, the end of the
warm-up or the end of the run, and takes a :class:`~amqpish.perf.report.Snapshot`
of the shared counters at each. Rates and latency percentiles of the progress line
and the summary are differences of snapshots. Ctrl-C (or SIGTERM) ends the
measured window early; the summary covers what was measured.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import signal
import sys
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, TextIO

from amqpish.client.url import ConnectionParameters, parse_url
from amqpish.codec import spec
from amqpish.perf import histogram
from amqpish.perf.options import PerfOptions, UsageError
from amqpish.perf.plan import Plan, build_plan
from amqpish.perf.report import (
    Snapshot,
    interval,
    print_progress,
    print_summary,
    progress_json,
    result_json,
)
from amqpish.perf.wire import PerfError, SetupConnection
from amqpish.perf.worker import SLOTS, Role, Shared, new_shared_array, serve_worker

__all__ = ["run"]

_READY_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM: end the measured window now."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted


def run(o: PerfOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the load described by ``o``; the exit code (0 fine, 1 failed)."""
    try:
        params = parse_url(o.url)
    except ValueError as e:
        raise UsageError(str(e)) from None
    plan = build_plan(o)
    ctl = SetupConnection(params, "amqpish perf control")
    try:
        ctl.open_channel(1)
        _declare(ctl, plan, o)
        result = _measure(params, plan, o, out if not o.json else err)
    finally:
        if not o.keep:
            _delete(ctl, plan)
        ctl.close()
    if o.json:
        print(json.dumps(result), file=out, flush=True)
    else:
        print_summary(o, result, out)
    return 0


def _declare(ctl: SetupConnection, plan: Plan, o: PerfOptions) -> None:
    _delete(ctl, plan)
    for q in plan.queues:
        ctl.call(1, spec.QueueDeclare(queue=q, durable=o.persistent), spec.QueueDeclareOk)
    if plan.exchange:
        ctl.call(
            1,
            spec.ExchangeDeclare(
                exchange=plan.exchange, type=plan.exchange_type, durable=o.persistent
            ),
            spec.ExchangeDeclareOk,
        )
        for q, key in plan.bindings:
            ctl.call(
                1,
                spec.QueueBind(queue=q, exchange=plan.exchange, routing_key=key),
                spec.QueueBindOk,
            )


def _delete(ctl: SetupConnection, plan: Plan) -> None:
    try:
        for q in plan.queues:
            ctl.call(1, spec.QueueDelete(queue=q), spec.QueueDeleteOk)
        if plan.exchange:
            ctl.call(1, spec.ExchangeDelete(exchange=plan.exchange), spec.ExchangeDeleteOk)
    except (PerfError, OSError):
        pass  # cleaning up after a failure: the failure is what gets reported


class _Workers:
    """The forked worker processes and their pipes."""

    def __init__(self, params: ConnectionParameters, plan: Plan, o: PerfOptions) -> None:
        groups: list[Role] = [*plan.consumer_groups, *plan.producer_groups]
        self.count = len(groups)
        ctx = mp.get_context("fork")
        self.counters = new_shared_array(ctx, max(1, self.count) * SLOTS)
        self.histograms = new_shared_array(ctx, max(1, self.count) * histogram.BUCKETS)
        shared = Shared(
            counters=self.counters,
            histograms=self.histograms,
            consumer_rows=tuple(range(len(plan.consumer_groups))),
            cap=plan.cap / o.producers if plan.cap else 0.0,
            deliveries_per_message=plan.deliveries_per_message,
            producers=max(1, o.producers),
        )
        self.procs: list[tuple[BaseProcess, Connection]] = []
        try:
            # consumers first, each ready (consuming) before the producers start
            for index, group in enumerate(groups):
                mine, theirs = ctx.Pipe()
                p = ctx.Process(
                    target=serve_worker,
                    args=(params, group, index, shared, theirs),
                    name=f"amqpish-perf-{index}",
                    daemon=True,
                )
                p.start()
                theirs.close()
                self.procs.append((p, mine))
                self._expect(mine, "ready", _READY_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _expect(pipe: Connection, what: str, timeout: float) -> None:
        if not pipe.poll(timeout):
            raise PerfError(f"a worker did not get {what} within {timeout:g} s")
        try:
            tag, info = pipe.recv()
        except EOFError:
            raise PerfError("a worker process died") from None
        if tag == "error":
            raise PerfError(str(info))
        if tag != what:
            raise PerfError(f"a worker said {tag!r}, expected {what!r}")

    def go(self, t0: float) -> None:
        for _, pipe in self.procs:
            pipe.send(("go", t0))

    def wait(self, timeout: float) -> None:
        """Sleep up to ``timeout``; raise PerfError if a worker reports (only errors can)."""
        ready = wait([pipe for _, pipe in self.procs], max(0.0, timeout))
        for pipe in ready:
            assert isinstance(pipe, Connection)
            self._expect(pipe, "(nothing)", 0)

    def snapshot(self) -> Snapshot:
        return Snapshot.take(time.monotonic(), self.counters, self.histograms, self.count)

    def finish(self) -> None:
        """Stop every worker and collect its last word (errors raise PerfError)."""
        for _, pipe in self.procs:
            try:
                pipe.send(("stop",))
            except OSError:
                pass
        errors: list[str] = []
        for _, pipe in self.procs:
            try:
                self._expect(pipe, "done", _STOP_TIMEOUT)
            except PerfError as e:
                errors.append(str(e))
        self.stop()
        if errors:
            raise PerfError(errors[0])

    def stop(self) -> None:
        for _, pipe in self.procs:
            try:
                pipe.send(("stop",))
            except OSError:
                pass
        for p, pipe in self.procs:
            p.join(_STOP_TIMEOUT)
            if p.is_alive():
                p.terminate()
                p.join(1)
            pipe.close()
        self.procs = []


def _measure(
    params: ConnectionParameters, plan: Plan, o: PerfOptions, progress_out: TextIO
) -> dict[str, Any]:
    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    workers: _Workers | None = None
    progress: list[dict[str, Any]] = []
    try:
        workers = _Workers(params, plan, o)
        t0 = time.monotonic() + 0.05
        workers.go(t0)
        start = last = workers.snapshot()
        t_win = t0 + o.warmup
        t_end = t_win + o.duration if o.duration else float("inf")
        window_start: Snapshot | None = None
        window_end: Snapshot | None = None
        next_tick = t0 + 1.0
        try:
            while True:
                now = time.monotonic()
                target = min(next_tick, t_end, t_win if window_start is None else t_end)
                workers.wait(target - now)
                now = time.monotonic()
                if window_start is None and now >= t_win:
                    window_start = workers.snapshot()
                if now >= t_end:
                    window_end = workers.snapshot()
                    break
                if now >= next_tick:
                    snap = workers.snapshot()
                    iv = interval(last, snap)
                    in_warmup = window_start is None or last.at < window_start.at - 1e-9
                    print_progress(snap.at - t0, iv, in_warmup, o, progress_out)
                    progress.append(progress_json(snap.at - t0, iv, in_warmup))
                    last = snap
                    next_tick += 1.0
        except (KeyboardInterrupt, _Interrupted):
            window_end = workers.snapshot()
            if window_start is None:
                window_start = start
        assert window_start is not None and window_end is not None
        workers.finish()
        workers = None
        return result_json(o, interval(window_start, window_end), progress, plan.cap)
    finally:
        if workers is not None:
            workers.stop()
        signal.signal(signal.SIGTERM, old_term)
