"""The report benchmark measures the report's own memory, not its parent's.

Linux carries ``ru_maxrss`` across ``execve``: ``report_child``, started by a bench process
that hosts moto and every stored item, would report that peak as its own. ``peak_rss_mb``
reads ``VmHWM`` instead. The parent here touches 64 MB and then execs a small child, which
is what exposes the difference (no need for the bench's hundreds of megabytes).
"""

from __future__ import annotations

import subprocess  # nosec B404
import sys

from benchmarks.bench_report import peak_rss_mb

PARENT_MB = 64
_CHILD = (
    "import resource; from benchmarks.bench_report import peak_rss_mb; "
    "print(peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
)
# touch PARENT_MB of memory, then become the child (same process, new image)
_PARENT = (
    "import os, sys\n"
    f"block = bytearray({PARENT_MB} * 1024 * 1024)\n"
    "for offset in range(0, len(block), 4096):\n"
    "    block[offset] = 1\n"
    f"os.execv(sys.executable, [sys.executable, '-c', {_CHILD!r}])\n"
)


def vm_hwm_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_peak_rss_is_this_processs_own_high_water_mark() -> None:
    assert abs(peak_rss_mb() - vm_hwm_mb()) < 1.0


def test_a_child_reports_its_own_peak_rss_not_the_peak_carried_across_exec() -> None:
    completed = subprocess.run(  # nosec B603
        [sys.executable, "-c", _PARENT], capture_output=True, text=True, check=True
    )
    own, maxrss = (float(value) for value in completed.stdout.split())
    # ru_maxrss carries the pre-exec peak; peak_rss_mb is the child's own, far below it
    assert maxrss >= PARENT_MB
    assert own < PARENT_MB / 2
