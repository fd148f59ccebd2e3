"""Build ``dist/processor.zip`` and prove it imports with only what Lambda provides.

The zip holds our code only: the Python 3.13 runtime brings boto3, and the Powertools v3
layer (built from ``aws-lambda-powertools[all]``) brings pydantic and pydantic-settings.
Beside each source it carries the compiled module (``__pycache__/*.cpython-313.pyc``,
unchecked-hash, so no timestamps): ``/var/task`` is read-only, so without them every
cold start would compile our sources again before the first event.
The check imports the handler from the zip in a fresh interpreter whose import system
refuses every top-level package outside that set, so a stray ``import pandas`` (or
Prefect, or anything from ``tasks/``) fails the build instead of the first invocation.
It then parses one event, which imports pydantic and builds the contract's models: the
handler's import leaves that to the first event, and the probe times it too.
"""

from __future__ import annotations

import importlib.util
import json
import py_compile
import subprocess  # nosec B404
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist" / "processor.zip"
PACKAGE = ROOT / "lambdas"

#: Top-level modules the Lambda python3.13 runtime and the Powertools layer provide.
PROVIDED = frozenset(
    {
        # runtime
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "dateutil",
        "urllib3",
        "six",
        "awslambdaric",
        # Powertools layer ([all] extra)
        "aws_lambda_powertools",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "typing_extensions",
        "annotated_types",
        "typing_inspection",
        "dotenv",
        "fastjsonschema",
        "aws_xray_sdk",
        "wrapt",
        "jsonpath_ng",
        "ply",
    }
)

#: The line the probe writes to stderr once the handler is imported.
_IMPORTED = "probe: handler imported"

_PROBE = r"""
import importlib.abc, json, sys, time
allowed = set(json.loads(sys.argv[1])) | set(sys.stdlib_module_names) | {"lambdas"}
sys.path.insert(0, sys.argv[2])
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in allowed and not top.startswith("_"):
            raise ModuleNotFoundError(f"{name} is not provided by the Lambda runtime or layer")
        return None
sys.meta_path.insert(0, Refuse())
start = time.perf_counter()
import boto3  # the handler's first import; timed apart, so "ours" is paired with it
boto3_done = time.perf_counter()
import lambdas.processor.handler as h
elapsed = time.perf_counter() - start
ours = time.perf_counter() - boto3_done
assert callable(h.handler)
loaded = sorted({m.partition(".")[0] for m in sys.modules})
import os
modules = [m for m in sys.modules.values() if m.__name__.partition(".")[0] == "lambdas"]
from_bytecode = sum(1 for m in modules if m.__spec__.cached and os.path.exists(m.__spec__.cached))
print("@IMPORTED@", file=sys.stderr, flush=True)  # what follows is the parse
body = json.dumps({"eventType": "query", "requestId": "r", "timestamp": 1762819200000, "query": ""})
start = time.perf_counter()
event = h.parse_event(body, now_ms=1762819200000)
first_parse = time.perf_counter() - start
assert not isinstance(event, h.Invalid), event
print(json.dumps({"import_seconds": elapsed, "after_boto3_seconds": ours,
                  "top_level_modules": loaded, "our_modules": len(modules),
                  "our_modules_with_bytecode": from_bytecode, "first_parse_seconds": first_parse}))
""".replace("@IMPORTED@", _IMPORTED)


#: The Lambda runtime of the template (``python3.13``): the compiled modules must match it.
RUNTIME_CACHE_TAG = "cpython-313"


def _compiled(source: Path, name: str) -> bytes:
    """Bytecode of one module as the runtime would cache it, checked by source hash only."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "module.pyc"
        py_compile.compile(
            str(source),
            cfile=str(target),
            dfile=name,  # tracebacks name the path inside the zip, not this machine's
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        return target.read_bytes()


def build(target: Path = DIST) -> Path:
    """Zip ``lambdas/`` (sources and bytecode): the processor and the shared kernel it
    imports (``lambdas/shared/``); the handler is ``lambdas.processor.handler``."""
    if sys.implementation.cache_tag != RUNTIME_CACHE_TAG:
        raise RuntimeError(
            f"build with Python 3.13 (the Lambda runtime), not {sys.implementation.cache_tag}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(PACKAGE.rglob("*.py")):
            name = str(path.relative_to(ROOT))
            _add(archive, name, path.read_bytes())
            _add(archive, importlib.util.cache_from_source(name), _compiled(path, name))
    return target


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    # fixed timestamps: the same sources give the same zip (and the same CodeSha256)
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    archive.writestr(info, data, zipfile.ZIP_DEFLATED)


def probe(folder: Path, *, by_package: bool = False) -> dict[str, Any]:
    """Import the handler from an extracted zip in an interpreter that refuses extras.

    ``-B`` as on Lambda, where ``/var/task`` is read-only: only the bytecode the zip
    carries is used. ``import_seconds`` is the whole import, boto3 (imported first, as
    the handler does) included; ``after_boto3_seconds`` the part of it after boto3, in the
    same interpreter. After the import it parses one valid event
    (``first_parse_seconds``: the pydantic import and model build the handler's import
    defers to the first event). ``by_package`` adds where each of the two goes (``-X
    importtime`` self times summed per top-level package; the tracing itself adds a
    little). The subprocess runs our own interpreter on our own probe: fixed argv, no shell.
    """
    flags = ["-X", "importtime"] if by_package else []
    result = subprocess.run(  # noqa: S603  # nosec B603
        [
            sys.executable,
            "-I",
            "-B",
            *flags,
            "-c",
            _PROBE,
            json.dumps(sorted(PROVIDED)),
            str(folder),
        ],
        capture_output=True,
        text=True,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": ""},
        check=False,
        cwd=folder,
    )
    if result.returncode != 0:
        raise RuntimeError(f"processor zip does not import cleanly:\n{result.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if by_package:
        imported, _, parsed = result.stderr.partition(_IMPORTED)
        report["import_self_seconds_by_package"] = _self_seconds_by_package(imported)
        report["first_parse_self_seconds_by_package"] = _self_seconds_by_package(parsed)
    return report


def _self_seconds_by_package(importtime: str) -> dict[str, float]:
    """``-X importtime`` lines (``import time: self | cumulative | name``) -> s per package."""
    totals: dict[str, int] = {}
    for line in importtime.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line
        package = fields[2].strip().partition(".")[0]
        package = package if package in PROVIDED or package == "lambdas" else "stdlib"
        totals[package] = totals.get(package, 0) + int(fields[0])
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return {package: round(micros / 1e6, 3) for package, micros in ranked}


def check(zip_path: Path = DIST) -> dict[str, Any]:
    """Extract the zip and :func:`probe` it; adds the zip's size."""
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(folder)
        report = probe(Path(folder))
    report["zip_bytes"] = zip_path.stat().st_size
    return report


def main() -> None:
    path = build()
    report = check(path)
    print(
        f"built {path.relative_to(ROOT)} ({report['zip_bytes']} bytes); "
        f"handler imports in {report['import_seconds']:.3f} s with runtime + layer only"
    )


if __name__ == "__main__":
    main()
