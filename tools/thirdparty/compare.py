"""Run third-party client suites against a reference broker and a candidate, side by side.

    python tools/thirdparty/compare.py [--report] REFERENCE_URL CANDIDATE_URL [LIB ...]

For each LIB (default: all that run.sh knows) it runs ``run.sh LIB URL`` against both
brokers, one after the other, then prints a markdown table of pass/fail/skip counts and,
for every test that passed on the reference but not on the candidate, its id and message.
With --report it runs nothing and reports on the JUnit files the last runs left in
$TP_HOME/results.  Exit status 0 whatever the counts (this is a report, not a gate).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from summarize import outcomes  # noqa: E402

DEFAULT_LIBS = ["amqp", "kombu", "rabbitpy", "amqpstorm", "aiormq", "aio-pika", "celery"]
VERSIONS = {
    "amqp": "5.4.2",
    "kombu": "5.7.0",
    "rabbitpy": "3.0.2",
    "amqpstorm": "3.1.4",
    "aiormq": "7.2.4",
    "aio-pika": "10.2.1",
    "celery": "5.7.0",
}


def run(lib: str, url: str, log_dir: Path, report_only: bool) -> Path | None:
    port = url.rsplit(":", 1)[1].split("/")[0]
    log = log_dir / f"{lib}-{port}.log"
    if not report_only:
        with log.open("w") as fh:
            rc = subprocess.call(
                [str(HERE / "run.sh"), lib, url], stdout=fh, stderr=subprocess.STDOUT
            )
        if rc != 0:
            print(f"{lib} against {url}: run.sh exit {rc} (see {log})", file=sys.stderr)
            return None
    ver = os.environ.get("TP_VERSION", VERSIONS[lib])
    home = Path(os.environ.get("TP_HOME", "/tmp/amqpish-thirdparty"))
    return home / "results" / f"{lib}-{ver}-{port}.xml"


def counts(res: dict[str, tuple[str, str]]) -> str:
    c = {k: sum(1 for o, _ in res.values() if o == k) for k in ("passed", "failed", "skipped")}
    return f"{c['passed']} / {c['failed']} / {c['skipped']}"


def main(argv: list[str]) -> int:
    report_only = "--report" in argv
    argv = [a for a in argv if a != "--report"]
    if len(argv) < 2:
        print(__doc__)
        return 2
    ref, cand, libs = argv[0], argv[1], argv[2:] or DEFAULT_LIBS
    log_dir = Path(os.environ.get("TP_HOME", "/tmp/amqpish-thirdparty")) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    rows, regressions = [], {}
    for lib in libs:
        a, b = run(lib, ref, log_dir, report_only), run(lib, cand, log_dir, report_only)
        ra = outcomes(str(a)) if a and a.exists() else {}
        rb = outcomes(str(b)) if b and b.exists() else {}
        ver = os.environ.get("TP_VERSION", VERSIONS[lib])
        rows.append(f"| {lib} | {ver} | {counts(ra)} | {counts(rb)} |")
        regressions[lib] = {
            t: rb.get(t, ("missing", ""))[1] or rb.get(t, ("missing", ""))[0]
            for t, (o, _) in ra.items()
            if o == "passed" and rb.get(t, ("missing",))[0] != "passed"
        }
        print(f"{lib}: reference {counts(ra)}, candidate {counts(rb)}", file=sys.stderr, flush=True)
    print(f"Run {datetime.date.today()}: reference {ref}, candidate {cand}\n")
    print("| library | version | reference pass / fail / skip | candidate pass / fail / skip |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    print("\nPassed on the reference, not on the candidate:")
    for lib, regs in regressions.items():
        for t, msg in sorted(regs.items()):
            print(f"- {lib}: `{t}`: {msg}")
    if not report_only:
        (log_dir / "compare.json").write_text(json.dumps(regressions, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
