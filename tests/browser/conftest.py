"""The browser tests' stack: ``make serve`` on a free port, and one headless Chromium.

Module-scoped, so the whole browser part starts one stack and one browser:

* ``serve_stack``: ``python -m deployments.serve --port <free port>`` as a subprocess (the
  embedded AWS, the sample as the last two complete weeks, a Prefect server, the worker,
  the six local deployments), ready when the API answers, the six deployments exist and a
  worker of the pool is online. Stopped with SIGTERM (``make serve``'s Ctrl-C path).
* ``browser``: Debian's ``/usr/bin/chromium`` driven by Playwright (no browser download),
  headless, a fresh user-data-dir, only loopback reachable.
* ``page``: a new tab per test; on failure a screenshot goes to ``out/screenshots/`` and
  the stack's log to ``out/screenshots/serve.log``.

No Chromium: the tests fail with how to install it when ``CI`` is set, and skip otherwise
(CI installs it first: ``.ci/run`` calls ``make browser-deps`` before ``make test``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deployments.demo import SAMPLE_LAST_WEEK, expected_figures
from deployments.serve import LOCAL_DEPLOYMENTS, WORK_POOL
from deployments.worker import weeks_between
from lambdas.shared.weeks import Week

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "out" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
READY_TIMEOUT = 150.0  # a fresh PREFECT_HOME migrates its database first
STOP_TIMEOUT = 45.0  # serve.py gives the worker and the server 15 s each


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeStack:
    """A running ``make serve`` and what the tests need to know about it."""

    ui_url: str
    api_url: str
    log: Path
    week: Week  # the last complete week: the sample's 2025-W46, moved
    expected: dict[str, Any]  # samples/expected-2025-W46.json, relabelled for ``week``
    report_dir: Path
    started: float  # time.time() when the stack was ready
    notes: dict[str, Any] = field(default_factory=dict)  # what one test leaves for another
    aws_endpoint: str = ""  # the embedded AWS, as serve prints it for another terminal

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def deployment(self, name: str) -> dict[str, Any]:
        [found] = [d for d in self.api("POST", "/deployments/filter", {}) if d["name"] == name]
        return dict(found)

    def flow_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        body = {"deployments": {"id": {"any_": [deployment_id]}}, "limit": 200}
        return list(self.api("POST", "/flow_runs/filter", body))

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]


def wait_ready(process: subprocess.Popen[bytes], stack: ServeStack) -> None:
    """The API answers, the six deployments are there, a worker of the pool is online."""
    deadline = time.monotonic() + READY_TIMEOUT
    waiting_for = "the Prefect API"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"make serve exited with code {process.returncode} while waiting for "
                f"{waiting_for}:\n{stack.log_tail()}"
            )
        try:
            stack.api("GET", "/health")
            waiting_for = "the six deployments"
            names = {d["name"] for d in stack.api("POST", "/deployments/filter", {})}
            if set(LOCAL_DEPLOYMENTS) <= names:
                waiting_for = f"a worker of {WORK_POOL}"
                workers = stack.api("POST", f"/work_pools/{WORK_POOL}/workers/filter", {})
                if any(w.get("status") == "ONLINE" for w in workers):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.5)
    pytest.fail(
        f"make serve not ready within {READY_TIMEOUT:.0f} s (waiting for {waiting_for}):\n"
        f"{stack.log_tail()}"
    )


def stop_serve(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM is serve.py's Ctrl-C; whatever is left of its process group is killed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # the server and the worker are in serve's own session (start_new_session)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = chromium_path()
    if found is None:
        message = (
            "the browser tests need Debian's chromium and chromium-driver: "
            "`make browser-deps` (root: apt-get install -y chromium chromium-driver)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and Chromium is missing: {message}")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def serve_stack(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServeStack]:
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    # its own folders and a free AWS port: no clash with a `make serve` running, nor with
    # another browser module's serve (`make unit` runs two test files at a time)
    folder = tmp_path_factory.mktemp("serve-out")
    command = [sys.executable, "-m", "deployments.serve", "--port", str(port)]
    command += ["--aws-port", "0", "--out", str(folder)]
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    # serve.py starts the server without PREFECT_API_URL, so the UI's API address falls back
    # to the default port (4200): with --port the UI would talk to another server.
    env["PREFECT_SERVER_UI_API_URL"] = api_url
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    last = Week.last_complete()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = ServeStack(
        ui_url=f"http://127.0.0.1:{port}",
        api_url=api_url,
        log=log,
        week=last,
        expected=expected_figures(weeks_between(SAMPLE_LAST_WEEK, last)),
        report_dir=REPO_ROOT / "out" / "reports",
        started=time.time(),
    )
    try:
        wait_ready(process, stack)
        printed = stack.log_tail(100_000)
        assert last.id in printed, f"serve did not load the sample as {last}:\n{printed}"
        # where serve.py says the worker writes the rendered report (its how-to text)
        written = re.search(r"written to\s+(\S+)/<week>/report\.html", printed)
        if written:
            stack.report_dir = Path(written.group(1))
        endpoint = re.search(r"export AWS_ENDPOINT_URL=(\S+)", printed)
        if endpoint:
            stack.aws_endpoint = endpoint.group(1)
        stack.started = time.time()
        yield stack
    finally:
        stop_serve(process)
        if request.node.session.testsfailed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, SCREENSHOTS / "serve.log")


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    tab = browser.new_page()
    try:
        yield tab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
            try:
                tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
            except Exception as exc:  # the page may be gone: keep the test's own failure
                print(f"no screenshot of {name}: {exc}")
        tab.close()
