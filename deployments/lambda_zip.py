"""Build ``dist/processor.zip`` and prove it imports with only what Lambda provides.

The zip holds our code only: the Python 3.11 runtime brings boto3, and the Powertools v3
layer (built from ``aws-lambda-powertools[all]``) brings pydantic and pydantic-settings.
The check imports the handler from the zip in a fresh interpreter whose import system
refuses every top-level package outside that set, so a stray ``import pandas`` (or
Prefect, or anything from ``tasks/``) fails the build instead of the first invocation.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist" / "processor.zip"
PACKAGE = ROOT / "lambdas"

#: Top-level modules the Lambda python3.11 runtime and the Powertools layer provide.
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
import lambdas.processor.handler as h
elapsed = time.perf_counter() - start
assert callable(h.handler)
loaded = sorted({m.partition(".")[0] for m in sys.modules})
print(json.dumps({"import_seconds": elapsed, "top_level_modules": loaded}))
"""


def build(target: Path = DIST) -> Path:
    """Zip ``lambdas/`` (Python sources only) with the handler at ``lambdas.processor.handler``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(PACKAGE.rglob("*.py")):
            # fixed timestamps: the same sources give the same zip (and the same CodeSha256)
            info = zipfile.ZipInfo(str(path.relative_to(ROOT)), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return target


def check(zip_path: Path = DIST) -> dict[str, Any]:
    """Import the handler from the extracted zip in an interpreter that refuses extras.

    The subprocess runs our own interpreter on our own probe: fixed argv, no shell.
    """
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(folder)
        result = subprocess.run(  # noqa: S603  # nosec B603
            [sys.executable, "-I", "-c", _PROBE, json.dumps(sorted(PROVIDED)), folder],
            capture_output=True,
            text=True,
            env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": ""},
            check=False,
            cwd=folder,
        )
    if result.returncode != 0:
        raise RuntimeError(f"processor zip does not import cleanly:\n{result.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
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
