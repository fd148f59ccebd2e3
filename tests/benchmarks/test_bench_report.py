"""The report benchmark measures the report's own memory, not its parent's."""

from __future__ import annotations

import subprocess  # nosec B404
import sys

_CHILD = (
    "import resource; from benchmarks.bench_report import peak_rss_mb; "
    "print(peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
)


def test_a_child_reports_its_own_peak_rss_not_the_peak_of_the_process_that_started_it() -> None:
    # Given a parent that has touched 400 MB (as the bench does, hosting moto's items)
    block = bytearray(400 * 1024 * 1024)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    # When it starts a small child, as bench_report starts report_child
    completed = subprocess.run(  # nosec B603
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True
    )
    del block
    own, maxrss = (float(value) for value in completed.stdout.split())
    # Then ru_maxrss carries the parent's peak across exec, and peak_rss_mb does not
    assert maxrss >= 400
    assert own < 150
