"""Measurements from counter snapshots, and how they are printed.

A :class:`Snapshot` is a copy of every worker's counters and histogram at one
instant; subtracting two gives the rates and the latency distribution of the
interval between them (:func:`interval`). The progress line and the summary are
both intervals: one second, and the measured window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TextIO

from amqpish.perf import histogram
from amqpish.perf.options import PerfOptions
from amqpish.perf.worker import BLOCKED, CONFIRMED, CPU_US, NACKED, RECEIVED, SENT, SLOTS

__all__ = ["Interval", "Snapshot", "interval", "print_progress", "print_summary", "result_json"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float  # monotonic seconds
    counters: list[int]
    histogram: list[int]  # all workers' histograms added up

    @classmethod
    def take(cls, at: float, counters: Any, histograms: Any, workers: int) -> Snapshot:
        c = counters[:]
        h = histograms[:]
        n = histogram.BUCKETS
        total = h[:n]
        for w in range(1, workers):
            row = h[w * n : (w + 1) * n]
            total = [a + b for a, b in zip(total, row, strict=True)]
        return cls(at, c, total)

    def total(self, column: int) -> int:
        return sum(self.counters[column::SLOTS])


@dataclass(frozen=True, slots=True)
class Interval:
    seconds: float
    sent: int
    confirmed: int
    nacked: int
    received: int
    blocked: int
    cpu_seconds: float
    latency: list[int]  # histogram of the interval

    def rate(self, count: float) -> float:
        return count / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, p: float) -> float:
        return histogram.percentile(self.latency, p) / 1e6

    @property
    def samples(self) -> int:
        return sum(self.latency)


def interval(a: Snapshot, b: Snapshot) -> Interval:
    def d(col: int) -> int:
        return b.total(col) - a.total(col)

    return Interval(
        seconds=b.at - a.at,
        sent=d(SENT),
        confirmed=d(CONFIRMED),
        nacked=d(NACKED),
        received=d(RECEIVED),
        blocked=d(BLOCKED),
        cpu_seconds=d(CPU_US) / 1e6,
        latency=[y - x for x, y in zip(a.histogram, b.histogram, strict=True)],
    )


def _ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _num(x: float | None) -> float | None:
    """JSON has no NaN: a missing figure is null."""
    return None if x is None or math.isnan(x) else round(x, 3)


def print_progress(elapsed: float, iv: Interval, warmup: bool, o: PerfOptions, out: TextIO) -> None:
    parts = [f"time {elapsed:6.1f}s", f"sent {iv.rate(iv.sent):8.0f} msg/s"]
    if o.confirm:
        parts.append(f"confirmed {iv.rate(iv.confirmed):8.0f} msg/s")
    if o.consumers:
        parts.append(f"received {iv.rate(iv.received):8.0f} msg/s")
        if iv.samples:
            parts.append(
                f"latency p50/p95/p99 {_ms(iv.latency_ms(50))}/{_ms(iv.latency_ms(95))}"
                f"/{_ms(iv.latency_ms(99))} ms"
            )
    if iv.nacked:
        parts.append(f"nacked {iv.nacked}")
    if iv.blocked:
        parts.append("BLOCKED")
    if warmup:
        parts.append("(warm-up)")
    print("  ".join(parts), file=out, flush=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(o: PerfOptions) -> str:
    ack = "autoack" if o.autoack else "manual ack"
    if not o.autoack:
        ack += f", prefetch {o.prefetch or 'unlimited'}"
        if o.multi_ack:
            ack += f", multi-ack every {o.multi_ack}"
    parts = [
        _plural(o.producers, "producer"),
        _plural(o.consumers, "consumer"),
        _plural(o.queues, "queue"),
        f"{o.size} B",
        ack,
        f"{o.exchange_type} exchange",
    ]
    if o.confirm:
        parts.append(f"confirms (window {o.confirm})")
    if o.persistent:
        parts.append("persistent")
    if o.rate:
        parts.append(f"rate {o.rate:g} msg/s")
    return ", ".join(parts)


def result_json(
    o: PerfOptions,
    window: Interval,
    progress: list[dict[str, Any]],
    cap: int,
) -> dict[str, Any]:
    lo, hi = histogram.extremes(window.latency)
    return {
        "options": o.as_dict(),
        "in_flight_cap": cap,
        "duration_s": round(window.seconds, 3),
        "warmup_s": o.warmup,
        "msgs_per_s": round(window.rate(window.received if o.consumers else window.sent), 1),
        "sent_per_s": round(window.rate(window.sent), 1),
        "confirmed_per_s": round(window.rate(window.confirmed), 1),
        "received_per_s": round(window.rate(window.received), 1),
        "sent": window.sent,
        "confirmed": window.confirmed,
        "nacked": window.nacked,
        "received": window.received,
        "blocked": window.blocked,
        "latency_ms": {
            "samples": window.samples,
            "min": _num(lo / 1e6),
            "p50": _num(window.latency_ms(50)),
            "p95": _num(window.latency_ms(95)),
            "p99": _num(window.latency_ms(99)),
            "max": _num(hi / 1e6),
        },
        "loadgen_cpu_pct": round(100.0 * window.cpu_seconds / window.seconds, 1)
        if window.seconds > 0
        else 0.0,
        "progress": progress,
    }


def progress_json(elapsed: float, iv: Interval, warmup: bool) -> dict[str, Any]:
    return {
        "t": round(elapsed, 3),
        "warmup": warmup,
        "sent_per_s": round(iv.rate(iv.sent), 1),
        "confirmed_per_s": round(iv.rate(iv.confirmed), 1),
        "received_per_s": round(iv.rate(iv.received), 1),
        "p50_ms": _num(iv.latency_ms(50)),
        "p99_ms": _num(iv.latency_ms(99)),
    }


def print_summary(o: PerfOptions, r: dict[str, Any], out: TextIO) -> None:
    lat = r["latency_ms"]

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f} ms"

    print(f"amqpish perf: {describe(o)}", file=out)
    print(
        f"measured {r['duration_s']:.1f} s after a {o.warmup:g} s warm-up; "
        f"in-flight cap {r['in_flight_cap'] or 'none'}",
        file=out,
    )
    print(f"sent       {r['sent_per_s']:12,.0f} msg/s", file=out)
    if o.confirm:
        nack = f"  ({r['nacked']} nacked)" if r["nacked"] else ""
        print(f"confirmed  {r['confirmed_per_s']:12,.0f} msg/s{nack}", file=out)
    if o.consumers:
        print(f"received   {r['received_per_s']:12,.0f} msg/s", file=out)
        print(
            f"latency    p50 {ms(lat['p50'])}  p95 {ms(lat['p95'])}  p99 {ms(lat['p99'])}"
            f"  max {ms(lat['max'])}  ({lat['samples']:,} samples)",
            file=out,
        )
    if r["blocked"]:
        print(f"blocked    the broker blocked publishers {r['blocked']} times", file=out)
    print(f"cpu        load generator {r['loadgen_cpu_pct']:.0f} % of one core", file=out)
