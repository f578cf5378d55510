"""Count a pytest JUnit XML file: prints "LABEL: N passed, N failed, N skipped".

Errors (setup/teardown failures) count as failed.  With --json, prints one JSON object with
the counts and the node ids of the failed and skipped tests instead; with --list, the
failed test ids, one per line, each followed by the first line of its message.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET


def outcomes(path: str) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, first line of its message); a test with a failing teardown
    appears twice in the XML, and failed wins."""
    result: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        tid = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, msg = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, msg = "failed", child.get("message", "") or (child.text or "")
                break
            if child.tag == "skipped":
                outcome, msg = "skipped", child.get("message", "")
        msg = msg.strip().splitlines()[0][:200] if msg.strip() else ""
        if result.get(tid, ("",))[0] != "failed":
            result[tid] = (outcome, msg)
    return result


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    path, label = args[0], (args[1] if len(args) > 1 else "suite")
    res = outcomes(path)
    counts = {k: sum(1 for o, _ in res.values() if o == k) for k in ("passed", "failed", "skipped")}
    if "--json" in argv:
        print(
            json.dumps(
                {
                    **counts,
                    "failed_ids": sorted(t for t, (o, _) in res.items() if o == "failed"),
                    "skipped_ids": sorted(t for t, (o, _) in res.items() if o == "skipped"),
                }
            )
        )
    elif "--list" in argv:
        for t, (o, m) in sorted(res.items()):
            if o == "failed":
                print(f"{t}\n    {m}")
    else:
        print(
            f"{label}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
