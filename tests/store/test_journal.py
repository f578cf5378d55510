"""The definitions journal: frames, torn tails, and replay over a snapshot."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amqpish.store.definitions import new_definitions
from amqpish.store.journal import DefinitionsJournal, encode_frame, replay


def q(name: str, vhost: str = "/") -> dict[str, Any]:
    return {"name": name, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}


def b(dest: str, key: str, vhost: str = "/", args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "source": "amq.direct",
        "vhost": vhost,
        "destination": dest,
        "destination_type": "queue",
        "routing_key": key,
        "arguments": args or {},
    }


def test_frames_round_trip_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    j = DefinitionsJournal(tmp_path / "j")
    first = [["q", "/", "a", q("a")]]
    second = [["b", "/", b("a", "k"), True]]
    j.append(encode_frame(first))
    j.append(encode_frame(second))
    whole = (tmp_path / "j").read_bytes()
    assert DefinitionsJournal(tmp_path / "j").read() == [first, second]
    for cut in range(len(whole) - 1, len(encode_frame(first)) - 1, -1):
        (tmp_path / "j").write_bytes(whole[:cut])
        j2 = DefinitionsJournal(tmp_path / "j")
        assert j2.read() == [first]
        # the torn frame is gone from the file, so the next append follows a whole one
        assert (tmp_path / "j").stat().st_size == len(encode_frame(first)) == j2.size


def test_a_corrupt_frame_ends_the_journal(tmp_path: Path) -> None:
    j = DefinitionsJournal(tmp_path / "j")
    j.append(encode_frame([["q", "/", "a", q("a")]]))
    j.append(encode_frame([["q", "/", "b", q("b")]]))
    data = bytearray((tmp_path / "j").read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "j").write_bytes(bytes(data))
    assert DefinitionsJournal(tmp_path / "j").read() == [[["q", "/", "a", q("a")]]]


def test_replay_sets_and_removes_objects_in_order() -> None:
    doc = new_definitions("3.10.8", "x")
    doc["queues"] = [q("old"), q("kept")]
    doc["bindings"] = [b("old", "k1"), b("kept", "k2")]
    batches = [
        [["q", "/", "new", q("new")], ["b", "/", b("new", "k3", args={"x": 1}), True]],
        [["q", "/", "old", None], ["b", "/", b("old", "k1"), False]],
        [["b", "/", b("new", "k3", args={"x": 1}), False], ["b", "/", b("new", "k3"), True]],
    ]
    out = replay(doc, batches)
    assert [x["name"] for x in out["queues"]] == ["kept", "new"]
    assert [(x["destination"], x["routing_key"], x["arguments"]) for x in out["bindings"]] == [
        ("kept", "k2", {}),
        ("new", "k3", {}),
    ]
    # the journal replayed over the state it led to changes nothing (a crash between
    # writing a new snapshot and emptying the journal)
    assert replay(out, batches) == out


def test_globals_replace_and_drop_objects_of_deleted_vhosts() -> None:
    doc = new_definitions("3.10.8", "x")
    doc["vhosts"] = [{"name": "/"}, {"name": "gone"}]
    doc["queues"] = [q("a"), q("b", "gone")]
    part = {"vhosts": [{"name": "/"}], "users": [{"name": "u"}], "policies": []}
    out = replay(doc, [[["g", part]]])
    assert out["vhosts"] == [{"name": "/"}] and out["users"] == [{"name": "u"}]
    assert [x["name"] for x in out["queues"]] == ["a"]
    # a vhost deleted and created again between two batches loses its old objects
    out = replay(doc, [[["v", "gone"], ["q", "gone", "c", q("c", "gone")]]])
    assert [(x["vhost"], x["name"]) for x in out["queues"]] == [("/", "a"), ("gone", "c")]


@given(tail=st.binary(max_size=200), garbage=st.binary(max_size=200))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_garbage_after_whole_frames_is_cut_never_raised(
    tmp_path: Path, tail: bytes, garbage: bytes
) -> None:
    path = tmp_path / "fuzz"
    good = [["q", "/", "a", q("a")]]
    # a CRC-valid frame of arbitrary bytes (not a batch of records) ends the journal too
    crafted = struct.pack(">II", len(garbage), zlib.crc32(garbage)) + garbage
    path.write_bytes(encode_frame(good) + crafted + tail)
    assert DefinitionsJournal(path).read()[:1] == [good]
