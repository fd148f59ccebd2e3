"""The masking benchmark runs and reports a figure for every hostile shape."""

from __future__ import annotations

from benchmarks.bench_masking import SHAPES, run
from benchmarks.run import FULL, QUICK


def test_the_bench_reports_every_shape_and_is_registered() -> None:
    figures = run(kib=4, repeat=1)
    shapes = figures["shapes"]
    assert isinstance(shapes, dict) and set(shapes) == set(SHAPES)
    assert figures["worst_shape"] in SHAPES
    assert "masking" in FULL and "masking" in QUICK
