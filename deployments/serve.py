"""``make serve``: the product as an operator sees it, on one machine, in the foreground.

Starts the embedded AWS (moto, provisioned, the sample loaded as the last two complete
weeks), a Prefect server with its UI on http://127.0.0.1:4200 (state in
``out/prefect-home``), the process work pool ``cv-analytics-local``, the six deployments
of ``prefect.yaml`` (``prefect deploy --all``, as the README says) and a worker pointed at
the embedded AWS. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess  # nosec B404
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdas.shared.weeks import Week

REPO_ROOT = Path(__file__).resolve().parents[1]
PREFECT_BIN = str(Path(sys.executable).parent / "prefect")
HOST = "127.0.0.1"
PORT = 4200
WORK_POOL = "cv-analytics-local"
LOCAL_DEPLOYMENTS = (
    "weekly-report",
    "report-regeneration",
    "dlq-triage",
    "ttl-verification",
    "health-check",
    "monthly-maintenance",
)
SERVER_START_TIMEOUT = 90.0
COMMAND_TIMEOUT = 300.0
STOP_TIMEOUT = 15.0


# --- environments ------------------------------------------------------------------------


def prefect_env(api_url: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a Prefect command talking to ``api_url`` from this checkout."""
    env = dict(os.environ if base is None else base)
    # prefect.yaml's pull step needs no variable: it goes where `prefect deploy` ran
    # (run_command runs everything from the repository root).
    env.update(
        PREFECT_API_URL=api_url,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p),
    )
    return env


def worker_env(api_url: str, endpoint_url: str, report_dir: Path) -> dict[str, str]:
    """A worker's environment: the API, the embedded AWS and its dummy credentials."""
    from deployments.local_stack import LOCAL_ENV

    env = prefect_env(api_url)
    env.pop("AWS_PROFILE", None)
    env.update(LOCAL_ENV)
    env.update(
        AWS_ENDPOINT_URL=endpoint_url,
        CV_ANALYTICS_REPORT_OUTPUT_DIR=str(report_dir),
        POWERTOOLS_METRICS_DISABLED="true",
    )
    return env


# --- commands -----------------------------------------------------------------------------


def run_command(
    args: Sequence[str], env: dict[str, str], timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository; raise with its output if it fails."""
    done = subprocess.run(  # noqa: S603  # nosec B603
        list(args),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:4])}... exited {done.returncode}:\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    return done


def create_work_pool(env: dict[str, str], name: str = WORK_POOL) -> None:
    """The process work pool (created, or left as it is when it already exists)."""
    run_command([PREFECT_BIN, "work-pool", "create", name, "--type", "process", "--overwrite"], env)


def deploy(names: Sequence[str], env: dict[str, str]) -> str:
    """``prefect deploy --name <n>...`` from ``prefect.yaml``, or ``prefect deploy --all``
    (the local set, the whole file) when no name is given; returns the CLI's output."""
    args = [PREFECT_BIN, "--no-prompt", "deploy"]
    for name in names:
        args += ["--name", name]
    if not names:
        args.append("--all")
    return run_command(args, env).stdout


def wait_healthy(api_url: str, process: subprocess.Popen[Any], timeout: float) -> None:
    """Poll ``<api>/health`` until the server answers; fail early if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:  # noqa: S310  # nosec B310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the Prefect server did not answer on {api_url} within {timeout:.0f} s")


def stop(process: subprocess.Popen[Any] | None, name: str) -> None:
    """Terminate, wait a little, kill if it has to be."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in {STOP_TIMEOUT:.0f} s: killing it")
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) != 0


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM (e.g. ``kill``) stops the foreground loop like Ctrl-C does."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- make serve ---------------------------------------------------------------------------


def how_to(ui_url: str, weeks: tuple[Week, Week], report_dir: Path) -> str:
    return f"""
Prefect UI: {ui_url}   (six deployments under Deployments, with their schedules)

Regenerate a report:
  1. Deployments > report-regeneration > Run > Custom run, type a week ({weeks[0]} or
     {weeks[1]} have sample traffic), Submit.
  2. The run is named weekly-report-<week>; when it is Completed, its Artifacts tab has
     the key figures and the top queries. The rendered report is written to
     {report_dir}/<week>/report.html and archived to s3://<archive bucket>/reports/<week>/.
  CLI (another terminal):
     PREFECT_API_URL={ui_url}/api .venv/bin/prefect deployment run \\
         weekly-report/report-regeneration --param week={weeks[1]}

Run any other flow the same way (Run > Quick run): dlq-triage, ttl-verification,
health-check, monthly-maintenance, weekly-report (the last complete week).
Ctrl-C stops the worker, the server and the embedded AWS.
"""


def serve(port: int = PORT) -> int:
    """Everything up, in the foreground, until Ctrl-C or SIGTERM."""
    from deployments.demo import SAMPLE_LAST_WEEK, DemoState, replay_sample
    from deployments.local_stack import local_stack
    from deployments.worker import weeks_between
    from lambdas.shared.weeks import Week

    if not port_free(HOST, port):
        print(f"port {port} on {HOST} is in use: stop what listens there first", file=sys.stderr)
        return 2
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    prefect_home = REPO_ROOT / "out" / "prefect-home"
    report_dir = REPO_ROOT / "out" / "reports"
    prefect_home.mkdir(parents=True, exist_ok=True)
    api_url = f"http://{HOST}:{port}/api"
    ui_url = f"http://{HOST}:{port}"
    server: subprocess.Popen[Any] | None = None
    worker: subprocess.Popen[Any] | None = None
    with interrupt_on_sigterm(), local_stack() as stack:
        try:
            last = Week.last_complete()
            weeks = (last.previous, last)
            print(f"embedded AWS on {stack.endpoint_url}; loading the sample as {weeks}")
            offset = weeks_between(SAMPLE_LAST_WEEK, last)
            print(replay_sample(DemoState(stack, weeks, offset, last)))

            env = prefect_env(api_url)
            env["PREFECT_HOME"] = str(prefect_home)
            server_env = dict(env)
            server_env.pop("PREFECT_API_URL")
            server_env["PREFECT_SERVER_UI_API_URL"] = api_url  # the UI talks to this port
            server_log = (prefect_home / "server.log").open("w")
            server = subprocess.Popen(  # noqa: S603  # nosec B603
                [PREFECT_BIN, "server", "start", "--host", HOST, "--port", str(port)],
                env=server_env,
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
            print(f"starting the Prefect server (log: {prefect_home / 'server.log'})")
            wait_healthy(api_url, server, SERVER_START_TIMEOUT)

            create_work_pool(env)
            print(f"work pool {WORK_POOL} (process) ready; deploying prefect.yaml")
            deploy((), env)  # prefect.yaml is the local set: `prefect deploy --all`
            print("deployed: " + ", ".join(LOCAL_DEPLOYMENTS))

            wenv = worker_env(api_url, str(stack.endpoint_url), report_dir)
            wenv["PREFECT_HOME"] = str(prefect_home)
            worker = subprocess.Popen(  # noqa: S603  # nosec B603
                [PREFECT_BIN, "worker", "start", "--pool", WORK_POOL], cwd=REPO_ROOT, env=wenv
            )
            print(how_to(ui_url, weeks, report_dir))
            while True:
                for process, name in ((server, "the Prefect server"), (worker, "the worker")):
                    if process.poll() is not None:
                        print(f"{name} exited with code {process.returncode}", file=sys.stderr)
                        return 1
                time.sleep(1)
        except KeyboardInterrupt:
            print("\nstopping the worker, the Prefect server and the embedded AWS")
            return 0
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as exc:
            print(f"make serve failed: {exc}", file=sys.stderr)
            return 1
        finally:
            stop(worker, "the worker")
            stop(server, "the Prefect server")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=PORT, help="Prefect server port (4200)")
    return serve(parser.parse_args(argv).port)


if __name__ == "__main__":
    sys.exit(main())
