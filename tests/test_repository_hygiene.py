"""No credentials or private keys are committed, whatever file they hide in."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO_ROOT

SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?(?!testing\b)[A-Za-z0-9/+=]{40}"
    ),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "Prefect Cloud API key": re.compile(r"\bpnu_[A-Za-z0-9]{36}\b"),
}


def _tracked_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:  # not a git checkout: scan the tree instead
        return [str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.rglob("*") if p.is_file()]
    return result.stdout.split()


def test_no_credentials_in_the_repository() -> None:
    found = []
    for name in _tracked_files():
        path = REPO_ROOT / name
        if not path.is_file() or name == "uv.lock" or ".venv" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        found += [f"{name}: {what}" for what, rx in SECRET_PATTERNS.items() if rx.search(text)]
    assert found == []


def test_the_secret_patterns_do_find_secrets() -> None:
    fake_key_id = "AKIA" + "ABCDEFGHIJKLMNOP"
    assert SECRET_PATTERNS["AWS access key id"].search(f"key = {fake_key_id}")
    header = "-----BEGIN RSA " + "PRIVATE KEY-----"  # split so this file holds no key header
    assert SECRET_PATTERNS["private key"].search(header)
