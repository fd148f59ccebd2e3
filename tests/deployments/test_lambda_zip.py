"""The processor zip imports with only the Lambda runtime and the Powertools layer."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from deployments.lambda_zip import build, check


def test_zip_holds_only_our_sources_and_imports_cleanly(tmp_path: Path) -> None:
    path = build(tmp_path / "processor.zip")
    names = zipfile.ZipFile(path).namelist()
    assert "lambdas/processor/handler.py" in names
    assert all(name.startswith("lambdas/") and name.endswith(".py") for name in names)
    report = check(path)
    loaded = set(report["top_level_modules"])
    assert {"pandas", "prefect", "jinja2", "tasks", "flows"}.isdisjoint(loaded)


def test_zip_build_is_reproducible(tmp_path: Path) -> None:
    first = build(tmp_path / "a.zip").read_bytes()
    assert build(tmp_path / "b.zip").read_bytes() == first


def test_a_handler_needing_pandas_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("lambdas/__init__.py", "")
        archive.writestr("lambdas/processor/__init__.py", "")
        archive.writestr("lambdas/processor/handler.py", "import pandas\ndef handler(e, c): ...\n")
    with pytest.raises(RuntimeError, match="pandas is not provided"):
        check(bad)
