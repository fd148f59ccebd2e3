"""The processor zip imports with only the Lambda runtime and the Powertools layer."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

from deployments.lambda_zip import build, check, probe


def test_zip_holds_only_our_sources_and_imports_cleanly(tmp_path: Path) -> None:
    path = build(tmp_path / "processor.zip")
    names = zipfile.ZipFile(path).namelist()
    assert "lambdas/processor/handler.py" in names
    assert all(name.startswith("lambdas/") and name.endswith((".py", ".pyc")) for name in names)
    report = check(path)
    loaded = set(report["top_level_modules"])
    assert {"pandas", "prefect", "jinja2", "tasks", "flows"}.isdisjoint(loaded)


def test_every_module_ships_its_bytecode_and_the_import_uses_it(tmp_path: Path) -> None:
    # Given the built zip
    archive = zipfile.ZipFile(build(tmp_path / "processor.zip"))
    sources = [name for name in archive.namelist() if name.endswith(".py")]
    # Then each source has Python 3.13 bytecode beside it, checked by hash only (flags 0b01):
    # read-only /var/task could not cache it, and no timestamp can invalidate it
    for source in sources:
        header = archive.read(importlib.util.cache_from_source(source))[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b01
    # And the handler imports from that bytecode, writing nothing (-B, as on Lambda)
    report = check(tmp_path / "processor.zip")
    assert report["our_modules_with_bytecode"] == report["our_modules"] > 0


def test_the_import_profile_names_where_the_time_goes(tmp_path: Path) -> None:
    path = build(tmp_path / "processor.zip")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "task")
    report = probe(tmp_path / "task", by_package=True)
    shares = report["import_self_seconds_by_package"]
    assert {"lambdas", "botocore", "aws_lambda_powertools"} <= set(shares)
    assert all(seconds >= 0 for seconds in shares.values())
    # the first event's parse is traced apart: pydantic and the contract's models
    first = report["first_parse_self_seconds_by_package"]
    assert {"lambdas", "pydantic"} <= set(first)
    assert report["first_parse_seconds"] > 0


def test_the_handler_import_leaves_pydantic_to_the_first_event(tmp_path: Path) -> None:
    # Given the built zip, imported as Lambda does (runtime + layer only)
    report = check(build(tmp_path / "processor.zip"))
    # Then neither pydantic (the contract's models) nor pydantic-settings/python-dotenv (the
    # settings, a plain dataclass now) is imported by the handler's import: the cold start's
    # own cost; the probe's first parse, after the import, is what brings pydantic in
    loaded = set(report["top_level_modules"])
    assert {"pydantic", "pydantic_core", "pydantic_settings", "dotenv"}.isdisjoint(loaded)


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
