"""x-death bookkeeping and cycle detection, as RabbitMQ 3.10-3.12 write them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from amqpish.broker.dead_letter import (
    REASONS,
    dead_letter_headers,
    dead_letter_routing_keys,
    is_cycle,
)

T0 = 1_700_000_000


def die(
    headers: dict[str, Any] | None,
    queue: str,
    reason: str = "expired",
    *,
    exchange: str = "ex",
    routing_key: str = "rk",
    now_s: int = T0,
    expiration: str | None = None,
    dlrk: str | None = None,
) -> dict[str, Any]:
    return dead_letter_headers(
        headers,
        reason=reason,
        queue=queue,
        exchange=exchange,
        routing_keys=dead_letter_routing_keys(routing_key, headers),
        now_s=now_s,
        original_expiration=expiration,
        dead_letter_routing_key=dlrk,
    )


def test_reasons() -> None:
    assert REASONS == ("rejected", "expired", "maxlen", "delivery_limit")


# --- routing keys ----------------------------------------------------------------------


def test_routing_keys_are_the_key_then_cc() -> None:
    assert dead_letter_routing_keys("rk", None) == ["rk"]
    assert dead_letter_routing_keys("rk", {}) == ["rk"]
    assert dead_letter_routing_keys("rk", {"CC": ["a", b"b"], "BCC": ["hidden"]}) == [
        "rk",
        "a",
        "b",
    ]
    # malformed CC headers contribute nothing, as RabbitMQ skips non-longstr entries
    assert dead_letter_routing_keys("rk", {"CC": "a"}) == ["rk"]
    assert dead_letter_routing_keys("rk", {"CC": ["a", 1, None]}) == ["rk", "a"]


# --- the first death -------------------------------------------------------------------


def test_first_death() -> None:
    original = {"app": "v", "CC": ["c1"]}
    snapshot = copy.deepcopy(original)
    h = die(original, "q1", "rejected", exchange="orders", routing_key="order.new")
    assert original == snapshot  # the input is not modified
    assert h["x-first-death-reason"] == "rejected"
    assert h["x-first-death-queue"] == "q1"
    assert h["x-first-death-exchange"] == "orders"
    assert h["app"] == "v" and h["CC"] == ["c1"]
    (entry,) = h["x-death"]
    assert entry == {
        "count": 1,
        "reason": "rejected",
        "queue": "q1",
        "time": datetime.fromtimestamp(T0, UTC),
        "exchange": "orders",
        "routing-keys": ["order.new", "c1"],
    }
    # the first table keeps RabbitMQ's field order
    assert list(entry) == ["count", "reason", "queue", "time", "exchange", "routing-keys"]
    assert isinstance(entry["count"], int)
    assert entry["time"].tzinfo is UTC
    # RabbitMQ sorts the headers table whenever it sets a header
    assert list(h) == sorted(h)


def test_first_death_without_headers() -> None:
    h = die(None, "q1")
    assert set(h) == {
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
    }


def test_original_expiration_is_recorded() -> None:
    h = die(None, "q1", expiration="60000")
    entry = h["x-death"][0]
    assert entry["original-expiration"] == "60000"
    assert list(entry)[-1] == "original-expiration"
    assert "original-expiration" not in die(None, "q1")["x-death"][0]


def test_bcc_never_survives_and_cc_goes_with_a_dead_letter_routing_key() -> None:
    headers = {"CC": ["c1"], "BCC": ["b1"]}
    h = die(headers, "q1")
    assert "BCC" not in h and h["CC"] == ["c1"]
    assert h["x-death"][0]["routing-keys"] == ["rk", "c1"]
    h = die(headers, "q1", dlrk="override")
    assert "BCC" not in h and "CC" not in h
    # the recorded routing keys still include CC
    assert h["x-death"][0]["routing-keys"] == ["rk", "c1"]


def test_existing_first_death_headers_are_overwritten_when_there_is_no_x_death() -> None:
    h = die({"x-first-death-queue": "forged"}, "q1")
    assert h["x-first-death-queue"] == "q1"


# --- later deaths ----------------------------------------------------------------------


def test_same_queue_and_reason_increments_in_place() -> None:
    h1 = die(None, "q1", now_s=T0)
    h2 = die(h1, "q1", now_s=T0 + 60, exchange="dlx", expiration="5")
    (entry,) = h2["x-death"]
    assert entry["count"] == 2
    # only the count changes: time, exchange and keys are those of the first death
    assert entry["time"] == datetime.fromtimestamp(T0, UTC)
    assert entry["exchange"] == "ex"
    assert "original-expiration" not in entry
    assert list(entry) == sorted(entry)  # an updated table is sorted by field name
    assert h1["x-death"][0]["count"] == 1  # the earlier headers are untouched
    assert h2["x-first-death-exchange"] == "ex"


def test_new_queue_goes_to_the_front_sorted() -> None:
    h1 = die(None, "q1", "rejected")
    h2 = die(h1, "q2", "expired", exchange="dlx")
    assert [(d["queue"], d["reason"]) for d in h2["x-death"]] == [
        ("q2", "expired"),
        ("q1", "rejected"),
    ]
    front = h2["x-death"][0]
    assert front["count"] == 1 and front["exchange"] == "dlx"
    assert list(front) == sorted(front)
    assert list(h2["x-death"][1]) == [
        "count",
        "reason",
        "queue",
        "time",
        "exchange",
        "routing-keys",
    ]
    assert h2["x-first-death-queue"] == "q1"
    assert h2["x-first-death-reason"] == "rejected"


def test_same_queue_other_reason_is_another_entry() -> None:
    h = die(die(None, "q1", "rejected"), "q1", "expired")
    assert [(d["queue"], d["reason"], d["count"]) for d in h["x-death"]] == [
        ("q1", "expired", 1),
        ("q1", "rejected", 1),
    ]


def test_match_moves_to_front() -> None:
    h = die(None, "q1")
    h = die(h, "q2")
    h = die(h, "q1")
    assert [(d["queue"], d["count"]) for d in h["x-death"]] == [("q1", 2), ("q2", 1)]


def test_older_entries_come_out_reversed_like_rabbitmq() -> None:
    # With two or more tables RabbitMQ regroups the list with a fold that reverses it,
    # so everything behind the new front entry flips order.
    h = die(None, "q1")
    h = die(h, "q2")
    assert [d["queue"] for d in h["x-death"]] == ["q2", "q1"]
    h = die(h, "q3")
    assert [d["queue"] for d in h["x-death"]] == ["q3", "q1", "q2"]
    h = die(h, "q4")
    assert [d["queue"] for d in h["x-death"]] == ["q4", "q2", "q1", "q3"]


def test_legacy_duplicates_are_grouped() -> None:
    # before RabbitMQ 3.5 every death added a table without a count
    legacy = [
        {"queue": "q1", "reason": "expired"},
        {"queue": "q2", "reason": "rejected"},
        {"queue": "q1", "reason": "expired"},
    ]
    h = die({"x-death": legacy}, "q3")
    assert [(d["queue"], d.get("count")) for d in h["x-death"]] == [
        ("q3", 1),
        ("q2", 1),
        ("q1", 2),
    ]
    h = die({"x-death": legacy}, "q1")
    assert [(d["queue"], d["count"]) for d in h["x-death"]] == [("q1", 3), ("q2", 1)]


def test_bytes_values_in_x_death_still_match() -> None:
    h = die({"x-death": [{"count": 4, "queue": b"q1", "reason": b"expired"}]}, "q1")
    assert [d["count"] for d in h["x-death"]] == [5]


def test_bad_count_restarts_at_one() -> None:
    h = die({"x-death": [{"count": "7", "queue": "q1", "reason": "expired"}]}, "q1")
    assert h["x-death"][0]["count"] == 1


def test_x_death_of_the_wrong_type_is_reset() -> None:
    h = die({"x-death": "mangled by a client"}, "q1", "maxlen")
    (entry,) = h["x-death"]
    assert entry["count"] == 1 and entry["reason"] == "maxlen"
    assert next(iter(entry)) == "count"
    # only a missing x-death counts as a first death
    assert "x-first-death-queue" not in h


def test_empty_x_death_list() -> None:
    h = die({"x-death": []}, "q1")
    assert [d["queue"] for d in h["x-death"]] == ["q1"]
    assert "x-first-death-queue" not in h


def test_junk_entries_are_kept_behind_the_tables() -> None:
    h = die({"x-death": ["junk", {"queue": "q0", "reason": "expired", "count": 1}]}, "q1")
    assert [d if isinstance(d, str) else d["queue"] for d in h["x-death"]] == [
        "q1",
        "q0",
        "junk",
    ]


# --- cycles -------------------------------------------------------------------------------


def test_rejection_is_never_a_cycle() -> None:
    h = die(None, "q1", "rejected")
    assert not is_cycle(h, "q1", "rejected")
    h = die(die(None, "q1", "expired"), "q1", "rejected")
    assert not is_cycle(h, "q1", "rejected")


def test_no_history_no_cycle() -> None:
    assert not is_cycle(None, "q1", "expired")
    assert not is_cycle({}, "q1", "expired")
    assert not is_cycle({"x-death": "junk"}, "q1", "expired")


@pytest.mark.parametrize("reason", ["expired", "maxlen", "delivery_limit"])
def test_dead_lettering_back_to_the_same_queue_is_a_cycle(reason: str) -> None:
    # the headers checked are the new ones, which already record this death
    h = die(None, "q1", reason)
    assert is_cycle(h, "q1", reason)
    assert not is_cycle(h, "q2", reason)


def test_automatic_two_queue_loop_is_dropped_on_return() -> None:
    h = die(None, "q1", "expired")
    assert not is_cycle(h, "q2", "expired")
    h = die(h, "q2", "expired")
    assert is_cycle(h, "q1", "expired")


def test_retry_loop_with_a_reject_is_allowed() -> None:
    # work queue -> (client rejects) -> wait queue -> (TTL) -> work queue, forever
    h: dict[str, Any] | None = None
    for _ in range(5):
        h = die(h, "work", "rejected")
        assert not is_cycle(h, "wait", "rejected")
        h = die(h, "wait", "expired")
        assert not is_cycle(h, "work", "expired")
    assert h is not None
    counts = {(d["queue"], d["reason"]): d["count"] for d in h["x-death"]}
    assert counts == {("work", "rejected"): 5, ("wait", "expired"): 5}


def test_only_deaths_up_to_the_targets_newest_count() -> None:
    h = {
        "x-death": [
            {"queue": "q3", "reason": "expired"},
            {"queue": "q1", "reason": "expired"},
            {"queue": "q2", "reason": "rejected"},  # older than q1's death: irrelevant
            {"queue": "q1", "reason": "rejected"},
        ]
    }
    assert is_cycle(h, "q1", "expired")
    assert not is_cycle(h, "q2", "expired")


def test_non_table_entries_break_the_cycle() -> None:
    h = {"x-death": ["client junk", {"queue": "q1", "reason": "expired"}]}
    assert not is_cycle(h, "q1", "expired")
    h = {"x-death": [{"queue": b"q1", "reason": b"expired"}]}
    assert is_cycle(h, "q1", "expired")


def test_simulated_topology_terminates() -> None:
    # q1 and q2 dead-letter into each other by TTL; RabbitMQ delivers the copy to q2,
    # then drops it on its way back to q1.
    dlx_targets = {"q1": ["q2"], "q2": ["q1"]}
    work = [("q1", None)]
    deliveries = []
    while work:
        queue, headers = work.pop()
        new = die(headers, queue, "expired")
        for target in dlx_targets[queue]:
            if not is_cycle(new, target, "expired"):
                deliveries.append(target)
                work.append((target, new))
    assert deliveries == ["q2"]
