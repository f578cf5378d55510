"""Records and their framing on disk.

A segment file is a sequence of frames::

    [u32 length][u32 crc32 of payload][payload]      (little-endian header)

and a frame's payload is one CBOR array holding one or more records. Records are
compact CBOR arrays with an int kind first (``[1, msg_id, exchange, ...]``): no maps,
no field names, so cbor2's C encoder and decoder do all the work. A batch is encoded
in a few ``cbor2.dumps`` calls (one per frame), not one per record, and a reader
decodes a whole frame in one ``cbor2.loads``: recovery is bound by the decoder, not by
a Python loop over headers.

A frame is also the unit of damage. The reader walks frames until the first one that
is torn (the file ends inside it), has a bad CRC, is empty, or does not decode to a
list of well-formed records, and reports where the last good frame ended so that
recovery can truncate the file there. Because one ``sync()`` writes whole frames and
fsyncs once, a crash can only tear frames that were never confirmed.

The record kinds (see ``MessageStore`` for when each is written):

=================  ==========================================================
MESSAGE            msg_id, exchange, routing_key, properties_raw, body: stored
                   once, however many queues the message was routed to
ENQUEUE            queue_key, msg_id, seq: the message is in that queue at seq
DELIVERED          queue_key, msg_id: redelivered after a restart
ACK                queue_key, msg_id: settled (acked, dropped, dead-lettered,
                   expired) in that queue
PURGE              queue_key: every message enqueued there so far is settled
QUEUE_DELETED      queue_key: the queue and all its messages are gone
=================  ==========================================================
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cbor2

MESSAGE: Final = 1
ENQUEUE: Final = 2
DELIVERED: Final = 3
ACK: Final = 4
PURGE: Final = 5
QUEUE_DELETED: Final = 6

KIND_NAMES: Final = {
    MESSAGE: "MESSAGE",
    ENQUEUE: "ENQUEUE",
    DELIVERED: "DELIVERED",
    ACK: "ACK",
    PURGE: "PURGE",
    QUEUE_DELETED: "QUEUE_DELETED",
}

# Items per record, kind included: the reader rejects a frame with anything else, so
# the replay code can index records without checking them again.
_ARITY: Final = {
    MESSAGE: 6,
    ENQUEUE: 4,
    DELIVERED: 3,
    ACK: 3,
    PURGE: 2,
    QUEUE_DELETED: 2,
}

# A record as buffered (a tuple) or as decoded (a list).
Record = Sequence[Any]

HEADER: Final = struct.Struct("<II")
HEADER_SIZE: Final = HEADER.size

# Frames are cut at whichever comes first. Small enough that a torn or corrupt frame
# loses little and a frame never needs much memory to decode; large enough that the
# per-frame cost (header, CRC call, loads call) disappears in the per-record cost.
FRAME_RECORDS: Final = 4096
FRAME_BYTES: Final = 1 << 20

# Rough encoded sizes, for chunking and for ``pending()``. Exactness does not matter:
# they only decide where frames are cut and how full the buffer looks.
MESSAGE_OVERHEAD: Final = 48
PAIR_COST: Final = 32


def message_cost(record: Record) -> int:
    """Approximate encoded size of a MESSAGE record (dominated by the body)."""
    return len(record[5]) + len(record[4]) + MESSAGE_OVERHEAD


def encode_frame(records: Sequence[Record]) -> bytes:
    """One frame (header included) holding ``records``, which must not be empty."""
    payload = cbor2.dumps(records)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode_frames(records: Sequence[Record]) -> list[tuple[bytes, Sequence[Record]]]:
    """Cut ``records`` into frames; returns ``(frame, the records in it)`` pairs."""
    out: list[tuple[bytes, Sequence[Record]]] = []
    start = 0
    est = 0
    n = len(records)
    for i in range(n):
        r = records[i]
        est += message_cost(r) if r[0] == MESSAGE else PAIR_COST
        if est >= FRAME_BYTES or i + 1 - start >= FRAME_RECORDS:
            chunk = records[start : i + 1]
            out.append((encode_frame(chunk), chunk))
            start = i + 1
            est = 0
    if start < n:
        chunk = records[start:]
        out.append((encode_frame(chunk), chunk))
    return out


def _bytes_head(n: int) -> bytes:
    """The CBOR head of a byte string of length ``n`` (cbor2 always writes the
    shortest one)."""
    if n < 24:
        return bytes((0x40 + n,))
    if n < 0x100:
        return bytes((0x58, n))
    if n < 0x10000:
        return b"\x59" + n.to_bytes(2, "big")
    if n < 0x100000000:
        return b"\x5a" + n.to_bytes(4, "big")
    return b"\x5b" + n.to_bytes(8, "big")


def locate_bodies(
    data: bytes, records: Sequence[Record], start: int = 0, base: int = 0
) -> list[int]:
    """Where the body of each MESSAGE record of ``records`` starts, in order.

    ``data`` holds the records encoded, in order, from ``start`` on (one frame, or a
    whole segment); the result is offsets into ``data`` plus ``base``. Each body is
    searched for from the end of the previous one, by its CBOR head and first bytes,
    and checked whole: a match is byte for byte the body, so even a match earlier than
    the record itself (the same bytes inside an earlier record) reads back right.
    """
    out: list[int] = []
    pos = start
    find = data.find
    startswith = data.startswith
    for r in records:
        if r[0] != MESSAGE:
            continue
        body = r[5]
        head = _bytes_head(len(body))
        hl = len(head)
        needle = head + body[:32]
        off = find(needle, pos)
        while off >= 0 and not startswith(body, off + hl):
            off = find(needle, off + 1)
        if off < 0:
            raise ValueError(f"body of message {r[1]} not found in its encoding")
        off += hl
        out.append(base + off)
        pos = off + len(body)
    return out


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What a walk over frames found.

    ``valid_end`` is the offset just past the last good frame (where a damaged file
    should be truncated); ``error`` says why the walk stopped early, or is None when
    it consumed everything it was given.
    """

    records: list[list[Any]]
    valid_end: int
    frames: int
    error: str | None


def _check_records(recs: object) -> bool:
    if type(recs) is not list or not recs:
        return False
    arity = _ARITY
    try:
        for r in recs:
            if type(r) is not list or arity[r[0]] != len(r):
                return False
    except (KeyError, IndexError, TypeError):
        return False
    return True


def read_frames(data: bytes | bytearray | memoryview, start: int = 0) -> ReadResult:
    """Decode every good frame of ``data`` from ``start``; stops at the first bad one.

    Never raises for bad input: whatever the bytes are, the result is the records of
    the frames before the damage and the offset where the damage starts.
    """
    view = memoryview(data)
    end = len(view)
    off = start
    out: list[list[Any]] = []
    extend = out.extend
    unpack = HEADER.unpack_from
    crc32 = zlib.crc32
    loads = cbor2.loads
    frames = 0
    error: str | None = None
    while off < end:
        if end - off < HEADER_SIZE:
            error = "torn frame header"
            break
        length, crc = unpack(view, off)
        body_start = off + HEADER_SIZE
        body_end = body_start + length
        if length == 0:
            # zero-filled space (a filesystem may leave some after a crash) looks like
            # an empty frame with a matching CRC; no real frame is empty
            error = "empty frame"
            break
        if body_end > end:
            error = "torn frame"
            break
        payload = view[body_start:body_end]
        if crc32(payload) != crc:
            error = "bad crc"
            break
        try:
            recs = loads(payload)
            ok = _check_records(recs)
        except Exception:
            # the CRC matched, so this is not random damage; still, a reader of
            # untrusted bytes must not raise (e.g. a frame from a newer version)
            ok = False
        if not ok:
            error = "malformed frame"
            break
        extend(recs)
        frames += 1
        off = body_end
    return ReadResult(out, off, frames, error)


_TORN = ("torn frame header", "torn frame")


def read_segment_chunks(
    path: Path, chunk: int = 2 << 20
) -> Iterator[tuple[bytes, int, ReadResult]]:
    """Walk a segment file a chunk at a time, so that a recovery never holds a whole
    segment (and all its decoded bodies) in memory.

    Yields ``(data, offset of data in the file, the walk over data)``; ``data`` ends
    on a frame boundary except in the last item, whose walk carries the error (if
    any) that ends the file's good frames. A frame larger than ``chunk`` is read whole.
    """
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        base = 0
        pending = b""
        want = chunk
        while True:
            data = fh.read(max(0, min(want, size - base - len(pending))))
            buf = pending + data if pending else data
            result = read_frames(buf)
            if result.error in _TORN and data:
                # the chunk ends inside a frame: hand over the whole ones, read on
                end = result.valid_end
                yield buf, base, ReadResult(result.records, end, result.frames, None)
                pending = buf[end:]
                base += end
                want = chunk
                if len(pending) >= HEADER_SIZE:
                    want = max(chunk, HEADER_SIZE + HEADER.unpack_from(pending)[0] - len(pending))
                continue
            yield buf, base, result
            return


def read_segment(path: Path) -> tuple[ReadResult, int]:
    """Read a whole segment file; returns the walk and the file's size."""
    data = path.read_bytes()
    return read_frames(data), len(data)
