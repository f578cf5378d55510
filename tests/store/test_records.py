"""Frames on disk: round trips, and a reader that survives any damage."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from amqpish.store import records
from amqpish.store.records import (
    ACK,
    DELIVERED,
    ENQUEUE,
    FRAME_RECORDS,
    HEADER_SIZE,
    MESSAGE,
    PURGE,
    QUEUE_DELETED,
    encode_frame,
    encode_frames,
    read_frames,
)

ROOT = Path(__file__).resolve().parents[2]

ALL_KINDS = [
    (MESSAGE, 1, "amq.topic", "a.b.c", b"\x80\x00\x02", b"body"),
    (ENQUEUE, "/\x00q", 1, 7),
    (DELIVERED, "/\x00q", 1),
    (ACK, "/\x00q", 1),
    (PURGE, "/\x00q"),
    (QUEUE_DELETED, "/\x00q"),
]


def frames_of(batches: list[list[tuple[object, ...]]]) -> tuple[bytes, list[int]]:
    """Encode each batch as one frame; returns the bytes and each frame's end."""
    data = b""
    ends = []
    for batch in batches:
        data += encode_frame(batch)
        ends.append(len(data))
    return data, ends


def test_every_kind_round_trips() -> None:
    frame = encode_frame(ALL_KINDS)
    result = read_frames(frame)
    assert result.error is None
    assert result.valid_end == len(frame)
    assert result.frames == 1
    assert [tuple(r) for r in result.records] == ALL_KINDS


def test_frame_layout_is_length_crc_cbor() -> None:
    frame = encode_frame([(ACK, "q", 5)])
    length, crc = struct.unpack_from("<II", frame)
    payload = frame[HEADER_SIZE:]
    assert length == len(payload)
    assert crc == zlib.crc32(payload)
    assert cbor2.loads(payload) == [[ACK, "q", 5]]


def test_batches_are_cut_into_bounded_frames() -> None:
    many = [(ACK, "q", i) for i in range(FRAME_RECORDS * 2 + 5)]
    out = encode_frames(many)
    assert [len(recs) for _, recs in out] == [FRAME_RECORDS, FRAME_RECORDS, 5]
    big = [(MESSAGE, i, "", "", b"", b"x" * 400_000) for i in range(7)]
    out = encode_frames(big)
    assert len(out) == 3  # cut once ~1 MiB is reached
    assert sum(len(recs) for _, recs in out) == 7
    data = b"".join(f for f, _ in out)
    assert len(read_frames(data).records) == 7


def test_truncated_anywhere_gives_the_frames_before() -> None:
    batches = [[ALL_KINDS[0], ALL_KINDS[1]], [ALL_KINDS[2]], [ALL_KINDS[3], ALL_KINDS[4]]]
    data, ends = frames_of(batches)  # type: ignore[arg-type]
    for cut in range(len(data) + 1):
        result = read_frames(data[:cut])
        whole = [e for e in ends if e <= cut]
        assert result.valid_end == (whole[-1] if whole else 0)
        assert result.frames == len(whole)
        assert (result.error is None) == (cut in (0, *ends))
        expected = [tuple(r) for b in batches[: len(whole)] for r in b]
        assert [tuple(r) for r in result.records] == expected


def test_bit_flips_stop_at_the_damaged_frame() -> None:
    rnd = random.Random(1234)
    batches = [[(ENQUEUE, "q", i, i), (ACK, "q", i - 1)] for i in range(20)]
    data, ends = frames_of(batches)  # type: ignore[arg-type]
    for _ in range(2000):
        pos = rnd.randrange(len(data))
        damaged = bytearray(data)
        damaged[pos] ^= 1 << rnd.randrange(8)
        result = read_frames(bytes(damaged))
        intact = [e for e in ends if e <= pos]
        assert result.valid_end == (intact[-1] if intact else 0)
        assert result.error is not None
        assert len(result.records) == 2 * len(intact)


def test_zero_filled_tail_is_not_a_frame() -> None:
    data = encode_frame([(ACK, "q", 1)])
    result = read_frames(data + b"\x00" * 64)
    assert result.valid_end == len(data)
    assert result.error == "empty frame"


def _framed(payload: bytes) -> bytes:
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def test_well_checksummed_but_malformed_frames_are_rejected() -> None:
    good = encode_frame([(ACK, "q", 1)])
    for bad in (
        cbor2.dumps({"not": "a list"}),
        cbor2.dumps([]),
        cbor2.dumps([[99, "unknown kind"]]),
        cbor2.dumps([[ACK, "q"]]),  # wrong arity
        cbor2.dumps([[[1], "q", 1]]),  # unhashable kind
        cbor2.dumps([b"\x04ab"]),  # a record that is not an array
        cbor2.dumps([[]]),
        b"\xff\xff\xff",  # not CBOR at all
    ):
        result = read_frames(good + _framed(bad))
        assert result.error == "malformed frame", bad
        assert result.valid_end == len(good)
        assert len(result.records) == 1


@settings(max_examples=300)
@given(st.binary(max_size=300), st.binary(max_size=40))
def test_garbage_never_raises(prefix: bytes, garbage: bytes) -> None:
    data = encode_frame([(ACK, "q", 1)]) + garbage
    result = read_frames(data)
    assert 0 < result.valid_end <= len(data)
    result = read_frames(prefix)
    assert 0 <= result.valid_end <= len(prefix)


def test_read_from_an_offset() -> None:
    a = encode_frame([(ACK, "q", 1)])
    b = encode_frame([(ACK, "q", 2)])
    result = read_frames(a + b, len(a))
    assert [r[2] for r in result.records] == [2]
    assert result.valid_end == len(a) + len(b)


def test_the_store_does_not_import_trio() -> None:
    code = "import sys, amqpish.store; assert 'trio' not in sys.modules, 'trio imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_kind_names_cover_every_kind() -> None:
    assert sorted(records.KIND_NAMES) == [MESSAGE, ENQUEUE, DELIVERED, ACK, PURGE, QUEUE_DELETED]
