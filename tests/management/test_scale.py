"""10,000 queues: the paginated queue list answers in well under 200 ms."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.management.helpers import Api
from tests.support import BrokerProcess, start_broker

N = 10_000


@pytest.fixture(scope="module")
def big() -> Iterator[Api]:
    with tempfile.TemporaryDirectory(prefix="amqpish-scale-") as d:
        bp: BrokerProcess = start_broker(Path(d))
        try:
            api = Api(bp.http_port)
            queues = [
                {
                    "name": f"scale-{i:05d}",
                    "vhost": "/",
                    "durable": False,
                    "auto_delete": False,
                    "arguments": {},
                }
                for i in range(N)
            ]
            assert api.post("/api/definitions", {"queues": queues}).status == 204
            yield api
        finally:
            bp.stop()


def best_of(api: Api, path: str, n: int = 5) -> tuple[float, dict]:  # type: ignore[type-arg]
    times = []
    body: dict = {}  # type: ignore[type-arg]
    for _ in range(n):
        t0 = time.perf_counter()
        r = api.get(path)
        times.append(time.perf_counter() - t0)
        assert r.status == 200, r
        body = r.json
    return min(times), body


@pytest.mark.parametrize(
    "query",
    [
        "page=1&page_size=100",
        "page=73&page_size=100&sort=name&sort_reverse=true",
        "page=1&page_size=100&sort=messages&sort_reverse=true",
        "page=1&page_size=100&name=scale-09&use_regex=false",
        "page=1&page_size=500&columns=name,messages",
    ],
)
def test_paginated_queue_list_is_fast(big: Api, query: str) -> None:
    elapsed, body = best_of(big, f"/api/queues?{query}")
    assert body["total_count"] >= N
    assert body["item_count"] > 0
    assert elapsed < 0.2, f"{query}: {elapsed * 1000:.0f} ms"


def test_pages_are_consistent(big: Api) -> None:
    _, p1 = best_of(big, "/api/queues/%2F?page=1&page_size=100", 1)
    _, p2 = best_of(big, "/api/queues/%2F?page=2&page_size=100", 1)
    assert p1["page_count"] == 100 or p1["page_count"] == 101
    assert p1["items"][-1]["name"] < p2["items"][0]["name"]
    _, flt = best_of(big, "/api/queues?page=1&page_size=10&name=scale-0999", 1)
    assert flt["filtered_count"] == 10


def test_the_queues_page_and_overview_are_fast(big: Api) -> None:
    elapsed, _ = best_of(big, "/api/overview")
    assert elapsed < 0.2, f"overview: {elapsed * 1000:.0f} ms"
    t0 = time.perf_counter()
    r = big.get("/queues?page=3&page_size=50")
    assert r.status == 200 and b"scale-00100" in r.body
    assert time.perf_counter() - t0 < 0.5
