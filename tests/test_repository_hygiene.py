"""Repository hygiene: no credentials committed, and nothing refers outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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


# --- nothing refers outside the repository ----------------------------------------------
#
# The repository must stand on its own: a clone on another machine has none of this
# machine's folders and nothing beside the checkout. A reference outside it is one of:
# a relative path that climbs above the repository root; a ``Path(__file__)`` chain
# whose ``parents[N]`` (or ``.parent`` count) climbs above it, judged from the file's
# depth; an absolute path of this machine's data folders; or the old sibling folders
# of the samples and the specs by name (now ``samples/`` and ``docs/spec/``).

#: Absolute paths of this machine (not preceded by a URL host, a word or another path).
MACHINE_PATH = re.compile(r"(?<![\w.~/$:-])/(?:work|root|home|tmp)(?![\w-])")
#: The sibling folders the samples and the specs used to be read from.
SIBLING_FOLDER = re.compile(r"\bshared/(?:samples|spec)\b")
#: A run of parent-folder steps (dot, dot, slash) at the start of a path.
CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+)")
#: ``Path(__file__)``, then ``.resolve()``/``.absolute()``/``.parent`` steps, maybe ``.parents[N]``.
FILE_ANCESTOR = re.compile(
    r"Path\(__file__\)((?:\.(?:resolve|absolute)\(\)|\.parent\b)*)(?:\.parents\[(\d+)\])?"
)
#: Files whose relative links resolve against their own folder (everything else runs
#: from the repository root, as ``make`` and the tests do).
DOCUMENT_SUFFIXES = frozenset({".md", ".rst", ".html", ".txt"})
#: Generated or binary-ish files that are not ours to word.
NOT_SCANNED = frozenset({"uv.lock"})


def outside_references(name: str, text: str) -> list[str]:
    """Every place in one file (``name``, relative to the root) that points outside it."""
    folder_depth = len(Path(name).parent.parts)
    relative_base = folder_depth if Path(name).suffix in DOCUMENT_SUFFIXES else 0
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{name}:{number}"
        for match in MACHINE_PATH.finditer(line):
            found.append(f"{where}: absolute path of this machine {match.group(0)!r}")
        for match in SIBLING_FOLDER.finditer(line):
            found.append(f"{where}: sibling folder {match.group(0)!r} outside the repository")
        for match in CLIMB.finditer(line):
            if len(match.group(1)) // 3 > relative_base:
                found.append(f"{where}: relative path climbs above the root {match.group(0)!r}")
        if name.endswith(".py"):
            for match in FILE_ANCESTOR.finditer(line):
                # level 1 is the file's own folder; parents[N] is level N + 1
                level = match.group(1).count(".parent") + (
                    int(match.group(2)) + 1 if match.group(2) is not None else 0
                )
                if level - 1 > folder_depth:
                    found.append(f"{where}: {match.group(0)} climbs above the root")
    return found


def _text_files() -> list[tuple[str, str]]:
    """(name, text) of every tracked or new, not ignored, text file (binaries skipped)."""
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    names = result.stdout.split() if result.returncode == 0 else _tracked_files()
    files = []
    for name in sorted(set(names)):
        path = REPO_ROOT / name
        if name in NOT_SCANNED or ".venv" in path.parts or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue
        try:
            files.append((name, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return files


def test_nothing_refers_outside_the_repository() -> None:
    found = [hit for name, text in _text_files() for hit in outside_references(name, text)]
    assert not found, "references outside the repository:\n" + "\n".join(found)


def test_the_outside_reference_detector_finds_escapes() -> None:
    up = ".." + "/"
    machine = "/" + "work/main/samples/worker-events.jsonl"
    sibling = "shared" + "/spec/events.md"
    # climbing out, from code (run from the root) and from a document (its own folder)
    assert outside_references("deployments/demo.py", f'open("{up}{sibling}")')
    assert outside_references("docs/spec/events.md", f"[x]({up * 3}outside.md)")
    assert outside_references("README.md", f"see {up}samples")
    # absolute paths of this machine and the sibling folders by name
    assert outside_references("Makefile", f"cat {machine}")
    assert outside_references("prefect.yaml", "DIR: /" + "tmp/reports")
    assert outside_references("README.md", f"as `{sibling}` says")
    # Path(__file__) chains, judged from the file's depth
    ancestor = "Path(__file__).resolve()."
    assert outside_references("deployments/worker.py", ancestor + "parents[2]")
    assert outside_references("tasks/core/render.py", ancestor + "parent.parent.parent.parent")
    assert outside_references("setup.py", ancestor + "parents[1]")


def test_the_outside_reference_detector_lets_the_repository_be() -> None:
    up = ".." + "/"
    ancestor = "Path(__file__).resolve()."
    assert outside_references("samples/README.md", f"[spec]({up}docs/spec/events.md)") == []
    assert outside_references("docs/spec/events.md", f"[a]({up * 2}README.md)") == []
    assert outside_references("deployments/worker.py", ancestor + "parents[1]") == []
    assert outside_references("tests/tasks/test_x.py", ancestor + "parents[2]") == []
    assert outside_references("tasks/core/render.py", ancestor + "parent / 'templates'") == []
    url = "https://github.com/owner/repo/tree/main" + "/" + "home/x"
    assert outside_references("README.md", f"see {url}") == []
    assert outside_references("README.md", "the shared message group, cv-analytics/spec") == []
