"""Policies: named, per-vhost, matched by regex on a queue or exchange name.

RabbitMQ applies the single matching policy with the highest priority; ties are
broken by name (the greater wins). ``apply-to`` restricts a policy to queues,
exchanges or both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def match_policy(policies: Iterable[dict[str, Any]], name: str, kind: str) -> dict[str, Any] | None:
    best: dict[str, Any] | None = None
    for pol in policies:
        apply_to = pol.get("apply-to", "all")
        if apply_to not in ("all", kind):
            continue
        try:
            if re.search(pol.get("pattern", ""), name) is None:
                continue
        except re.error:
            continue
        if best is None or (pol.get("priority", 0), pol.get("name", "")) > (
            best.get("priority", 0),
            best.get("name", ""),
        ):
            best = pol
    return best
