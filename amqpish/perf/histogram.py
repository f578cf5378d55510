"""A log-linear latency histogram small enough to live in shared memory.

How it works: latencies are integers (nanoseconds). Values below 128 have a bucket
each; above that every power of two is split into 64 equal buckets, so a bucket is
never wider than 1/64 (1.6 %) of the values it holds, whatever the scale: 1 us and
10 s are both recorded to within 1.6 %; 2,688 counters reach about 39 hours. Consumers append raw samples to an ``array`` on the
hot path (the cheapest thing Python can do per message) and fold them into their
shared counters a few dozen times a second (:func:`fold`); the parent subtracts two
snapshots to get the histogram of any interval -- one second for the progress
line, the measured window for the summary -- and reads percentiles from it.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence, Sequence

__all__ = ["BUCKETS", "bucket", "extremes", "fold", "percentile", "value"]

_SUB_BITS = 6
_SUB = 1 << _SUB_BITS  # 64 buckets per octave
_LINEAR = 2 * _SUB  # 0..127 recorded exactly
_OCTAVES = 40

#: Counters per histogram.
BUCKETS = _SUB * (_OCTAVES + 2)
_LAST = BUCKETS - 1


def bucket(v: int) -> int:
    """The bucket index of a value (negative values count as 0; huge ones saturate)."""
    if v < _LINEAR:
        return v if v > 0 else 0
    shift = v.bit_length() - _SUB_BITS - 1  # >= 1: keeps the top 7 bits, 64..127
    i = (shift << _SUB_BITS) + (v >> shift)
    return i if i < _LAST else _LAST


def value(i: int) -> float:
    """A representative value (the midpoint) of bucket ``i``."""
    if i < _LINEAR:
        return float(i)
    shift = (i >> _SUB_BITS) - 1
    mantissa = i - (shift << _SUB_BITS)
    return (mantissa + 0.5) * (1 << shift)


def fold(samples: Sequence[int], counts: MutableSequence[int], base: int = 0) -> int:
    """Add ``samples`` to ``counts[base : base + BUCKETS]``; the number of samples added."""
    if not samples:
        return 0
    local = [0] * BUCKETS
    # bucket() inlined, with locals for the constants: this runs once per message
    linear, bits, top, last = _LINEAR, _SUB_BITS, _SUB_BITS + 1, _LAST
    for v in samples:
        if v < linear:
            local[v if v > 0 else 0] += 1
        else:
            shift = v.bit_length() - top
            i = (shift << bits) + (v >> shift)
            local[i if i < last else last] += 1
    for i in range(bucket(min(samples)), bucket(max(samples)) + 1):
        if local[i]:
            counts[base + i] += local[i]
    return len(samples)


def percentile(counts: Sequence[int], p: float) -> float:
    """The ``p``-th percentile (0 < p <= 100) of a histogram; NaN when it is empty.

    Nearest-rank, as in the shared harness: the value of the ceil(p/100 * n)-th sample.
    """
    total = sum(counts)
    if total <= 0:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * total))
    seen = 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank:
            return value(i)
    return value(len(counts) - 1)  # pragma: no cover - rank <= total


def extremes(counts: Sequence[int]) -> tuple[float, float]:
    """(min, max) representative values; NaNs when empty."""
    nonzero = [i for i, n in enumerate(counts) if n]
    if not nonzero:
        return math.nan, math.nan
    return value(nonzero[0]), value(nonzero[-1])
