"""Command line runner: run scenarios, then record or compare their outcomes.

Each scenario runs in its own daemon thread under a per-scenario deadline; ``--jobs`` such
threads run at once. Results are printed in scenario-name order as they become available,
one line each, then the summary line ``N passed, N failed, N skipped`` (followed by
``, N xfailed, N xpassed`` when the expected-failures list matched anything).

Comparison: a scenario passes when its normalised outcome equals the expected one. The
expected outcome is the recorded RabbitMQ one, unless ``differences.json`` overrides it for a
deliberate difference (documented in DIFFERENCES.md). Scenarios listed in
``expected_failures.txt`` that fail are XFAIL; when they pass they are reported XPASS so the
list can shrink. Neither fails the run.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.core import REGISTRY, Context, Scenario, Skip, normalise
from conformance.mgmt import Mgmt

HERE = Path(__file__).resolve().parent
DEFAULT_EXPECTED = HERE / "expected" / "rabbitmq-3.x.json"
DEFAULT_XFAIL = HERE / "expected_failures.txt"
DEFAULT_DIFFERENCES = HERE / "differences.json"


@dataclass
class Result:
    name: str
    status: str  # PASS FAIL SKIP XFAIL XPASS ERROR
    detail: str = ""
    outcome: Any = None
    seconds: float = 0.0
    problems: tuple[str, ...] = ()


def load_scenarios() -> dict[str, Scenario]:
    import conformance.scenarios  # noqa: F401  (registers everything)

    return REGISTRY


def select(names: list[str], patterns: list[str] | None) -> list[str]:
    if not patterns:
        return sorted(names)
    out = []
    for n in sorted(names):
        for p in patterns:
            if any(c in p for c in "*?[") and fnmatch.fnmatchcase(n, p):
                out.append(n)
                break
            if not any(c in p for c in "*?[") and (
                n == p or n.startswith(p if p.endswith(".") else p + ".")
            ):
                out.append(n)
                break
    return out


def load_xfail(path: str | None) -> dict[str, str]:
    """``scenario_name_or_glob  # feature`` per line; blank lines and ``#`` lines ignored."""
    if not path or not os.path.exists(path):
        return {}
    out = {}
    for line in Path(path).read_text().splitlines():
        entry, _, feature = line.partition("#")
        entry = entry.strip()
        if entry:
            out[entry] = feature.strip() or "expected failure"
    return out


def xfail_feature(name: str, xfail: dict[str, str]) -> str | None:
    if name in xfail:
        return xfail[name]
    for pattern, feature in xfail.items():
        if fnmatch.fnmatchcase(name, pattern):
            return feature
    return None


def diff(expected: Any, actual: Any, path: str = "$", limit: int = 6) -> list[str]:
    """Human-readable differences between two JSON values (at most ``limit``)."""
    out: list[str] = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k in sorted(set(expected) | set(actual)):
            if k not in actual:
                out.append(f"{path}.{k}: missing (expected {json.dumps(expected[k])})")
            elif k not in expected:
                out.append(f"{path}.{k}: unexpected {json.dumps(actual[k])}")
            else:
                out += diff(expected[k], actual[k], f"{path}.{k}", limit)
            if len(out) >= limit:
                break
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out += diff(e, a, f"{path}[{i}]", limit)
            if len(out) >= limit:
                break
    elif expected != actual:
        out.append(f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}")
    return out[:limit]


def run_one(scen: Scenario, url: str, mgmt: Mgmt | None, timeout_scale: float) -> Result:
    if scen.needs_mgmt and mgmt is None:
        return Result(scen.name, "SKIP", "needs --mgmt-url")
    ctx = Context(scen, url, mgmt)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["outcome"] = scen.func(ctx)
        except Skip as e:
            box["skip"] = str(e)
        except BaseException as e:
            box["error"] = e
            box["tb"] = traceback.format_exc(limit=4)

    started = time.monotonic()
    t = threading.Thread(target=target, name=scen.name, daemon=True)
    t.start()
    t.join(scen.timeout * timeout_scale)
    if t.is_alive():
        ctx.abort()
        t.join(5)
        problems = tuple(ctx.cleanup()) if not t.is_alive() else ()
        return Result(
            scen.name,
            "ERROR",
            f"timed out after {scen.timeout * timeout_scale:.0f}s",
            seconds=time.monotonic() - started,
            problems=problems,
        )
    problems = tuple(ctx.cleanup())
    elapsed = time.monotonic() - started
    if "skip" in box:
        return Result(scen.name, "SKIP", box["skip"], seconds=elapsed)
    if "error" in box:
        e = box["error"]
        last = box["tb"].strip().splitlines()
        where = next((ln.strip() for ln in reversed(last) if ln.strip().startswith("File")), "")
        return Result(
            scen.name,
            "ERROR",
            f"{type(e).__name__}: {e} ({where})",
            seconds=elapsed,
            problems=problems,
        )
    try:
        outcome = normalise(box.get("outcome"), ctx.suffix)
        json.dumps(outcome)
    except (TypeError, ValueError) as e:
        return Result(scen.name, "ERROR", f"outcome is not JSON data: {e}", seconds=elapsed)
    return Result(scen.name, "DONE", outcome=outcome, seconds=elapsed, problems=problems)


def judge(
    r: Result,
    expected: dict[str, Any],
    overrides: dict[str, Any],
    xfail: dict[str, str],
    record: bool,
) -> Result:
    feature = None if record else xfail_feature(r.name, xfail)
    if r.status == "DONE":
        if record:
            r.status = "PASS"
        elif r.name in overrides:
            want = overrides[r.name]["expected"]
            r.status = "PASS" if want == r.outcome else "FAIL"
            if r.status == "FAIL":
                r.detail = "; ".join(diff(want, r.outcome)) + " (differences.json)"
        elif r.name not in expected:
            r.status, r.detail = "SKIP", "no recorded outcome"
        else:
            r.status = "PASS" if expected[r.name] == r.outcome else "FAIL"
            if r.status == "FAIL":
                r.detail = "; ".join(diff(expected[r.name], r.outcome))
    elif r.status == "ERROR":
        r.status = "FAIL"
    if feature is not None and r.status == "FAIL":
        r.status, r.detail = "XFAIL", feature
    elif feature is not None and r.status == "PASS":
        r.status = "XPASS"
    return r


def line(r: Result) -> str:
    if r.status == "PASS":
        return f"PASS {r.name}"
    if r.status == "XFAIL":
        return f"XFAIL {r.name} ({r.detail})"
    if r.status == "XPASS":
        return f"XPASS {r.name} \u2014 remove from xfail list"
    return f"{r.status} {r.name}: {r.detail}"


def write_junit(path: str, results: list[Result]) -> None:
    suite = ET.Element(
        "testsuite",
        name="conformance",
        tests=str(len(results)),
        failures=str(sum(r.status == "FAIL" for r in results)),
        skipped=str(sum(r.status in ("SKIP", "XFAIL") for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        area, _, rest = r.name.partition(".")
        case = ET.SubElement(
            suite, "testcase", classname=f"conformance.{area}", name=rest, time=f"{r.seconds:.3f}"
        )
        if r.status == "FAIL":
            ET.SubElement(case, "failure", message=r.detail[:500]).text = r.detail
        elif r.status in ("SKIP", "XFAIL"):
            ET.SubElement(case, "skipped", message=r.detail or r.status)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def dump(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def server_info(url: str) -> dict[str, str]:
    """Product and version the broker announces (recorded as metadata only)."""
    import pika

    from conformance.raw import RawConnection

    p = pika.URLParameters(url)
    try:
        c = RawConnection(p.host, p.port, timeout=5)
        c.send(b"AMQP\x00\x00\x09\x01")
        m = c.read_method()
        c.close()
    except OSError as e:
        raise SystemExit(f"cannot connect to {p.host}:{p.port}: {e}")
    if m is None or m[1] != "connection.start":
        raise SystemExit(f"{p.host}:{p.port} did not answer with connection.start")
    props = m[2]["server_properties"]
    return {k: normalise(props.get(k, "")) for k in ("product", "version")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--url", default=os.environ.get("CONFORMANCE_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    ap.add_argument("--mgmt-url", default=os.environ.get("CONFORMANCE_MGMT_URL"))
    ap.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="a scenario name, a dotted prefix (area or group), or a glob (repeatable)",
    )
    ap.add_argument("--junit", metavar="FILE")
    ap.add_argument("--record", metavar="FILE", help="write every scenario's outcome to FILE")
    ap.add_argument(
        "--compare",
        metavar="FILE",
        help=f"expected outcomes (default {DEFAULT_EXPECTED.relative_to(HERE.parent)})",
    )
    ap.add_argument(
        "--xfail",
        metavar="FILE",
        default=str(DEFAULT_XFAIL),
        help="expected failures ('' for none)",
    )
    ap.add_argument(
        "--differences",
        metavar="FILE",
        default=str(DEFAULT_DIFFERENCES),
        help="deliberate differences ('' for none)",
    )
    ap.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("CONFORMANCE_JOBS", "8")))
    ap.add_argument(
        "--timeout-scale", type=float, default=1.0, help="multiply every scenario's deadline"
    )
    ap.add_argument("--list", action="store_true", help="list scenario names and exit")
    ap.add_argument("--show", action="store_true", help="print each outcome (JSON) after its line")
    args = ap.parse_args(argv)

    scenarios = load_scenarios()
    names = select(list(scenarios), args.only)
    if args.list:
        for n in names:
            print(n)
        return 0
    if not names:
        print("no scenario matches", file=sys.stderr)
        return 2

    record = args.record is not None
    expected: dict[str, Any] = {}
    if not record:
        path = args.compare or str(DEFAULT_EXPECTED)
        if os.path.exists(path):
            expected = json.loads(Path(path).read_text())["scenarios"]
        else:
            print(f"warning: {path} not found: every scenario will be SKIP", file=sys.stderr)
    overrides: dict[str, Any] = {}
    if not record and args.differences and os.path.exists(args.differences):
        overrides = {
            k: v
            for k, v in json.loads(Path(args.differences).read_text()).items()
            if not k.startswith("_")
        }
    xfail = load_xfail(args.xfail) if not record else {}
    mgmt = Mgmt(args.mgmt_url) if args.mgmt_url else None
    info = server_info(args.url)  # also fails fast, clearly, when nothing listens there

    results: dict[str, Result] = {}
    cond = threading.Condition()
    pending = list(names)
    # Slow scenarios (long deadlines) first, so they overlap with the many quick ones.
    pending.sort(key=lambda n: -scenarios[n].timeout)
    queue_lock = threading.Lock()

    def worker() -> None:
        while True:
            with queue_lock:
                if not pending:
                    return
                name = pending.pop(0)
            r = run_one(scenarios[name], args.url, mgmt, args.timeout_scale)
            r = judge(r, expected, overrides, xfail, record)
            with cond:
                results[name] = r
                cond.notify_all()

    started = time.monotonic()
    for _ in range(max(1, min(args.jobs, len(names)))):
        threading.Thread(target=worker, daemon=True).start()
    printed = 0
    with cond:
        while printed < len(names):
            while printed < len(names) and names[printed] in results:
                r = results[names[printed]]
                print(line(r), flush=True)
                if args.show and r.outcome is not None:
                    print("    " + json.dumps(r.outcome, sort_keys=True), flush=True)
                for p in r.problems:
                    print(f"    warning: {p}", flush=True)
                printed += 1
            if printed < len(names):
                cond.wait(1.0)
    elapsed = time.monotonic() - started

    ordered = [results[n] for n in names]
    counts = {
        s: sum(r.status == s for r in ordered) for s in ("PASS", "FAIL", "SKIP", "XFAIL", "XPASS")
    }
    if args.junit:
        write_junit(args.junit, ordered)
    if record:
        recorded = {r.name: r.outcome for r in ordered if r.status == "PASS"}
        path = Path(args.record)
        if args.only and path.exists():  # a partial run updates the file
            old = json.loads(path.read_text())["scenarios"]
            old.update(recorded)
            recorded = old
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump({"recorded_from": info, "scenarios": dict(sorted(recorded.items()))}))
        print(f"recorded {len(recorded)} outcomes in {path}", file=sys.stderr)
    print(f"finished in {elapsed:.1f}s", file=sys.stderr)
    summary = f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"
    if counts["XFAIL"] or counts["XPASS"]:
        summary += f", {counts['XFAIL']} xfailed, {counts['XPASS']} xpassed"
    print(summary, flush=True)
    return 1 if counts["FAIL"] else 0
