"""The ``weekly-report`` flow for one week in a process of its own (``bench_report``).

The benchmark process hosts moto's server and every item it stores, so its memory says
more about the emulator than about the report. Run here, against that server (the
parent's ``AWS_ENDPOINT_URL``), the peak RSS is the report's own: Prefect's client and
engine, the week's table, the figures, the rendered e-mail. Prints one JSON object.

Usage: ``python -m benchmarks.report_child 2025-W46``
"""

from __future__ import annotations

import json
import os
import sys
import time

from benchmarks.bench_report import peak_rss_mb
from benchmarks.http_wait import HttpWait
from benchmarks.temporary_prefect import temporary_prefect_env

os.environ.update(temporary_prefect_env("bench-report-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def main(week: str) -> None:
    from flows.weekly_report import weekly_report

    warm_started = time.perf_counter()
    weekly_report("2024-W10")  # an empty week: starts Prefect's temporary server
    warm_up = time.perf_counter() - warm_started
    with HttpWait().measuring() as waited:
        started = time.perf_counter()
        figures = weekly_report(week)
        seconds = time.perf_counter() - started
    result = {
        "seconds": round(seconds, 2),
        **waited.split(seconds),
        "warm_up_seconds": round(warm_up, 2),
        "total_queries": figures.total_queries,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
