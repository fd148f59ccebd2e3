"""``make bench``: every benchmark in its own interpreter, merged into one JSON object.

Each benchmark prints one JSON object; running them as separate processes keeps one's
peak memory and emulator state out of the next one's figures. Sizes are the issues'
goals; ``--quick`` runs them small (a smoke test of the benchmarks themselves).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess  # nosec B404
import sys
import time
from datetime import UTC, datetime
from typing import Any

#: Default sizes: the issue's 10,000 DLQ messages, and a 10,000-request report. The
#: issue's 100,000-request report (`SIZES=issue make bench`) takes about 35 minutes on
#: moto, whose GSI `Query` filters and sorts the whole table for every 1 MB page, so it
#: is not the default; its figures are in docs/performance.md, split into time spent waiting on
#: the emulator and time spent in our own code. Requests per event/message and bytes
#: read per record, the figures that carry over to AWS, do not depend on size.
FULL = {
    "processor": ["benchmarks.bench_processor", "--requests", "2000"],
    "weekly_report": ["benchmarks.bench_report", "--requests", "10000"],
    "dlq_triage": ["benchmarks.bench_triage", "--messages", "10000", "--baseline", "200"],
    "insights": ["benchmarks.bench_insights", "--requests", "100000", "--distinct", "20000"],
    "masking": ["benchmarks.bench_masking", "--kib", "1024"],
}
ISSUE_SIZES = {
    **FULL,
    "weekly_report": ["benchmarks.bench_report", "--requests", "100000"],
}
QUICK = {
    "processor": ["benchmarks.bench_processor", "--requests", "200"],
    "weekly_report": ["benchmarks.bench_report", "--requests", "2000"],
    "dlq_triage": ["benchmarks.bench_triage", "--messages", "500"],
    "insights": ["benchmarks.bench_insights", "--requests", "5000", "--distinct", "2000"],
    "masking": ["benchmarks.bench_masking", "--kib", "64", "--repeat", "1"],
}


def _last_json_object(text: str) -> dict[str, Any]:
    """The JSON object a benchmark printed last (it may log other lines before it)."""
    start = text.rfind("\n{")
    start = 0 if start < 0 and text.startswith("{") else start + 1
    result: dict[str, Any] = json.loads(text[start:])
    return result


def run_one(argv: list[str]) -> dict[str, Any]:
    env = dict(
        os.environ,
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )
    started = time.perf_counter()
    completed = subprocess.run(  # nosec B603
        [sys.executable, "-m", *argv], capture_output=True, text=True, env=env, check=False
    )
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-5:], "argv": argv}
    figures = _last_json_object(completed.stdout.strip())
    figures["benchmark_wall_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the benches")
    parser.add_argument("--only", choices=sorted(FULL), action="append", help="run only these")
    args = parser.parse_args()
    plan = QUICK if args.quick else ISSUE_SIZES if os.environ.get("SIZES") == "issue" else FULL
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "sizes": "quick" if args.quick else os.environ.get("SIZES", "default"),
        }
    }
    for name, argv in plan.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run_one(argv)
    print(json.dumps(results, indent=2))
    if any("error" in value for value in results.values() if isinstance(value, dict)):
        sys.exit(1)


if __name__ == "__main__":
    main()
