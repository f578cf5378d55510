"""Replaying records: what is live, and where its records are.

One ``Ledger`` gives both stores their semantics. ``MemoryStore`` applies each synced
batch to one; ``SegmentStore`` applies each batch as it is written (so it knows which
segment every live record is in) and, on recovery, replays its segment files into a
fresh one. Because the same code decides liveness at runtime and on replay, what a
store believes before a crash is what it recovers after.

Replay rules, chosen so that compaction may copy live records forward (to the end of
the log) without changing the outcome:

* MESSAGE for a known id moves it (a compacted copy); refs are unchanged.
* ENQUEUE for a live pair moves it and keeps its delivered flag; else it is new.
* DELIVERED applies to a live pair only; the latest DELIVERED record is the live one.
* ACK settles a live pair; PURGE and QUEUE_DELETED settle all of a queue's pairs.
* A message dies with its last pair; ENQUEUE may come before MESSAGE (a moved
  message), so messages are joined to pairs at the end and pairs whose message never
  turned up are orphans.

Settlement records are never moved: a tombstone that kills a record in an older
segment is needed as long as that segment exists. ``tombs[seg]`` counts such needs
and ``deps[older][seg]`` says whom an older segment's deletion frees. A segment can be
deleted when it holds no live record and no needed tombstone.

The maps pack several small ints into one int because a store tracks one entry per
queued message and a Python int is a fraction of the size of a tuple or an object.
A message's entry also says where its body starts in its segment, when the caller
knows (``apply(..., locs)``): that is how a paged-out body is read back.

With ``body_budget``, a ledger that keeps payloads keeps at most about that many
bytes of bodies: past it, a message's payload keeps the body's length instead of the
body. That is decided only for records applied with ``locs`` (so that the body can
be read back); the caller passes none while everything still fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Final

from amqpish.store.interface import RecoveredMessage
from amqpish.store.records import (
    ACK,
    DELIVERED,
    ENQUEUE,
    MESSAGE,
    MESSAGE_OVERHEAD,
    PAIR_COST,
    QUEUE_DELETED,
    Record,
)

_M32: Final = (1 << 32) - 1
# msgs[msg_id] = refs | segment << 24 | size << 56 | body offset << 96
# (body offset 0: unknown; a body never starts a segment, a frame header does; it is
# the top field so that without it the int stays one 30-bit digit smaller)
_REFS: Final = (1 << 24) - 1
_MSEG_SHIFT: Final = 24
_SIZE_SHIFT: Final = 56
_M40: Final = (1 << 40) - 1  # sizes: a body of a terabyte is not in memory to be written
_OFF_SHIFT: Final = 96
# queues[queue_key][msg_id] = enqueue_segment | delivered_segment << 32 | seq << 64
_D_SHIFT: Final = 32
_D_FIELD: Final = _M32 << _D_SHIFT
_SEQ_SHIFT: Final = 64

_BY_SEQ = itemgetter(0)


def message_segment(packed: int) -> int:
    return packed >> _MSEG_SHIFT & _M32


def body_offset(packed: int) -> int:
    """Where the message's body starts in its segment (0: not known)."""
    return packed >> _OFF_SHIFT


def enqueue_segment(packed: int) -> int:
    return packed & _M32


def delivered_segment(packed: int) -> int:
    return packed >> _D_SHIFT & _M32


class Ledger:
    def __init__(
        self, *, keep_payloads: bool, track_fresh: bool, body_budget: int | None = None
    ) -> None:
        self.msgs: dict[int, int] = {}
        self.queues: dict[str, dict[int, int]] = {}
        # per segment: live records, their estimated bytes, needed tombstones
        self.live: dict[int, int] = {}
        self.live_bytes: dict[int, int] = {}
        self.tombs: dict[int, int] = {}
        # older segment -> {segment holding tombstones for it: how many}
        self.deps: dict[int, dict[int, int]] = {}
        # msg_id -> its MESSAGE record, when the caller needs the content back
        self.payloads: dict[int, Record] | None = {} if keep_payloads else None
        self.body_budget = body_budget
        self.payload_bytes = 0  # bodies held in payloads
        self.bodies_left_out = 0  # payloads holding a length instead of the body
        # after snapshot(): msg_id -> body length, for the bodies left out
        self.left_out_sizes: dict[int, int] = {}
        self.max_msg_id = 0
        self.records = 0
        # Messages first seen in the last batch and still unreferenced. Their ENQUEUEs
        # may be in the next batch (a sync can take the buffer between the calls), but
        # no later: one sync at most runs during one step of the event loop.
        self._fresh: list[int] | None = [] if track_fresh else None
        self._unreferenced: list[int] = []

    def apply(self, records: Sequence[Record], seg: int, locs: Sequence[int] | None = None) -> None:
        """Apply records written to (or read from) segment ``seg`` (>= 1), in order;
        ``locs``: where each MESSAGE record's body starts in ``seg``, in order."""
        msgs = self.msgs
        queues = self.queues
        live = self.live
        lbytes = self.live_bytes
        payloads = self.payloads
        fresh = self._fresh
        settle = self._settle
        if seg not in live:
            live[seg] = 0
            lbytes[seg] = 0
        mx = self.max_msg_id
        added = 0
        added_bytes = 0
        li = 0
        kept = 0
        for r in records:
            tag = r[0]
            if tag == MESSAGE:
                m = r[1]
                if m > mx:
                    mx = m
                blen = len(r[5])
                size = blen + len(r[4]) + MESSAGE_OVERHEAD
                where = seg << _MSEG_SHIFT | size << _SIZE_SHIFT
                if locs is not None:
                    where |= locs[li] << _OFF_SHIFT
                    li += 1
                v = msgs.get(m)
                if v is None:
                    msgs[m] = where
                    if fresh is not None:
                        fresh.append(m)
                else:
                    oseg = v >> _MSEG_SHIFT & _M32
                    if oseg:
                        live[oseg] -= 1
                        lbytes[oseg] -= v >> _SIZE_SHIFT & _M40
                    msgs[m] = (v & _REFS) | where
                added += 1
                added_bytes += size
                if payloads is not None:
                    if locs is None:
                        # all of it fits (see body_budget); a moved copy counts twice
                        payloads[m] = r
                        kept += blen
                    else:
                        self._keep_payload(m, r, blen)
            elif tag == ENQUEUE:
                q = r[1]
                m = r[2]
                if m > mx:
                    mx = m
                pairs = queues.get(q)
                if pairs is None:
                    pairs = queues[q] = {}
                old = pairs.get(m)
                if old is None:
                    v = msgs.get(m)
                    # a placeholder (refs 1, no segment) until the MESSAGE turns up
                    msgs[m] = 1 if v is None else v + 1
                    pairs[m] = seg | r[3] << _SEQ_SHIFT
                else:
                    oe = old & _M32
                    live[oe] -= 1
                    lbytes[oe] -= PAIR_COST
                    pairs[m] = seg | (old & _D_FIELD) | r[3] << _SEQ_SHIFT
                added += 1
                added_bytes += PAIR_COST
            elif tag == ACK:
                m = r[2]
                if m > mx:
                    mx = m
                pairs = queues.get(r[1])
                if pairs is not None:
                    v = pairs.pop(m, None)
                    if v is not None:
                        settle(m, v, seg)
            elif tag == DELIVERED:
                m = r[2]
                if m > mx:
                    mx = m
                pairs = queues.get(r[1])
                if pairs is not None:
                    old = pairs.get(m)
                    if old is not None:
                        od = old >> _D_SHIFT & _M32
                        if od:
                            live[od] -= 1
                            lbytes[od] -= PAIR_COST
                        pairs[m] = (old & ~_D_FIELD) | seg << _D_SHIFT
                        added += 1
                        added_bytes += PAIR_COST
            else:  # PURGE, QUEUE_DELETED
                q = r[1]
                pairs = queues.get(q)
                if pairs is not None:
                    for m, v in pairs.items():
                        settle(m, v, seg)
                    if tag == QUEUE_DELETED:
                        del queues[q]
                    else:
                        pairs.clear()
        live[seg] += added
        lbytes[seg] += added_bytes
        self.payload_bytes += kept
        self.max_msg_id = mx
        self.records += len(records)

    def _keep_payload(self, m: int, r: Record, blen: int) -> None:
        payloads = self.payloads
        assert payloads is not None
        old = payloads.get(m)
        if old is not None:
            self._unkeep(old)
        budget = self.body_budget
        if budget is not None and self.payload_bytes + blen > budget:
            # over budget: keep the length; the body is read back from the segment
            payloads[m] = (r[0], m, r[2], r[3], r[4], blen)
            self.bodies_left_out += 1
        else:
            payloads[m] = r
            self.payload_bytes += blen

    def _unkeep(self, p: Record) -> None:
        body = p[5]
        if type(body) is bytes:
            self.payload_bytes -= len(body)
        else:  # a length, or None once snapshot() has run
            self.bodies_left_out -= 1

    def _settle(self, m: int, v: int, seg: int) -> None:
        """The pair (packed ``v``) for message ``m`` is gone; ``seg`` holds the
        settling record, or is 0 when nothing on disk settles it (an orphan)."""
        live = self.live
        lbytes = self.live_bytes
        e = v & _M32
        live[e] -= 1
        lbytes[e] -= PAIR_COST
        if seg and e != seg:
            # the ENQUEUE is in an older segment: this tombstone must outlive it
            tombs = self.tombs
            tombs[seg] = tombs.get(seg, 0) + 1
            d = self.deps.get(e)
            if d is None:
                d = self.deps[e] = {}
            d[seg] = d.get(seg, 0) + 1
        ds = v >> _D_SHIFT & _M32
        if ds:
            live[ds] -= 1
            lbytes[ds] -= PAIR_COST
        mv = self.msgs[m]
        if mv & _REFS == 1:
            self._kill(m, mv)
        else:
            self.msgs[m] = mv - 1

    def _kill(self, m: int, mv: int) -> None:
        del self.msgs[m]
        ms = mv >> _MSEG_SHIFT & _M32
        if ms:
            self.live[ms] -= 1
            self.live_bytes[ms] -= mv >> _SIZE_SHIFT & _M40
        if self.payloads is not None:
            p = self.payloads.pop(m, None)
            if p is not None and self.body_budget is not None:
                self._unkeep(p)

    def end_batch(self) -> None:
        """After each batch: drop messages that no queue took in two batches."""
        msgs = self.msgs
        for m in self._unreferenced:
            v = msgs.get(m)
            if v is not None and not v & _REFS:
                self._kill(m, v)
        fresh = self._fresh
        if fresh is not None:
            self._unreferenced = [m for m in fresh if not msgs.get(m, 1) & _REFS]
            fresh.clear()

    def drop_unreferenced(self) -> None:
        """After a replay: messages no queue holds are garbage (nothing follows)."""
        msgs = self.msgs
        for m in [m for m, v in msgs.items() if not v & _REFS]:
            self._kill(m, msgs[m])

    def drop_orphans(self, orphans: list[tuple[str, int]]) -> None:
        """Forget pairs whose message record was lost (see ``snapshot``)."""
        for q, m in orphans:
            self._settle(m, self.queues[q].pop(m), 0)

    def drop_segment(self, seg: int) -> list[int]:
        """Forget a deleted segment; returns segments whose tombstones it freed."""
        self.live.pop(seg, None)
        self.live_bytes.pop(seg, None)
        self.tombs.pop(seg, None)
        freed = []
        tombs = self.tombs
        for t, n in self.deps.pop(seg, {}).items():
            left = tombs[t] - n
            tombs[t] = left
            if not left:
                freed.append(t)
        return freed

    def forget_payloads(self) -> None:
        self.payloads = None
        self.payload_bytes = 0
        self.bodies_left_out = 0
        self.left_out_sizes = {}

    def track_fresh(self) -> None:
        """From now on, sweep messages that no queue takes (see ``end_batch``)."""
        self._fresh = []

    def live_messages(self) -> int:
        return sum(1 for v in self.msgs.values() if v & _REFS)

    def snapshot(self) -> tuple[dict[str, list[RecoveredMessage]], int, list[tuple[str, int]]]:
        """Every queue's live messages in seq order, the number of them, and the
        orphans: (queue, msg_id) pairs whose MESSAGE record was lost to damage."""
        payloads = self.payloads
        assert payloads is not None, "snapshot() needs a ledger that keeps payloads"
        if self.bodies_left_out:
            # a recovery larger than the budget: body None, its length on the side
            sizes = self.left_out_sizes
            for m, p in payloads.items():
                if type(p[5]) is int:
                    sizes[m] = p[5]
                    payloads[m] = (*p[:5], None)
        new = tuple.__new__
        out: dict[str, list[RecoveredMessage]] = {}
        orphans: list[tuple[str, int]] = []
        total = 0
        for q, pairs in self.queues.items():
            if not pairs:
                continue
            try:
                msgs = [
                    new(
                        RecoveredMessage,
                        (
                            v >> _SEQ_SHIFT,
                            m,
                            p[2],
                            p[3],
                            p[4],
                            p[5],
                            v & _D_FIELD != 0,
                        ),
                    )
                    for m, v in pairs.items()
                    for p in (payloads[m],)
                ]
            except KeyError:
                lost = [m for m in pairs if m not in payloads]
                orphans.extend((q, m) for m in lost)
                msgs = [
                    new(
                        RecoveredMessage,
                        (
                            v >> _SEQ_SHIFT,
                            m,
                            p[2],
                            p[3],
                            p[4],
                            p[5],
                            v & _D_FIELD != 0,
                        ),
                    )
                    for m, v in pairs.items()
                    if m in payloads
                    for p in (payloads[m],)
                ]
            # pairs are mostly in ENQUEUE order already: timsort makes this linear
            msgs.sort(key=_BY_SEQ)
            out[q] = msgs
            total += len(msgs)
        return out, total, orphans
