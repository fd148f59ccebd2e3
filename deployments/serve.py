"""``make serve``: AWS in miniature and the product as an operator sees it, in the foreground.

Starts, until Ctrl-C (or SIGTERM):

* the embedded AWS (moto on http://127.0.0.1:4201, provisioned from the template) with
  the sample traffic loaded twice: as it is, on 2025-W45 and 2025-W46 (the weeks the docs
  and ``samples/expected-*.json`` use), and moved to the last two complete weeks (what the
  scheduled ``weekly-report`` picks), under other request ids;
* what AWS does on its own, each in a background loop (``deployments/local_stack``):
  Lambda's event source mapping (the processor consumes the main queue: batches of at
  most 10, failures back after the visibility timeout, to the DLQ after maxReceiveCount),
  DynamoDB's TTL process (expired items gone within ``TTL_SWEEP_SECONDS``), CloudWatch's
  alarm actions (a state change notifies the alarms topic), and an SQS subscriber of the
  alarms topic whose alerts are printed, masked, and logged;
* a Prefect server with its UI on http://127.0.0.1:4200, the process work pool
  ``cv-analytics-local``, the six deployments of ``prefect.yaml`` (``prefect deploy
  --all``) and a worker pointed at the embedded AWS.

It prints how to reach the embedded AWS from another terminal (and writes it to
``out/serve/aws.env``). Its state is its own (``OUTPUTS["serve"]``: ``out/serve/``), so
``make report`` or ``make demo`` beside it share nothing with it.

From a test: ``running(ServeOptions(...))`` is the whole of it as a context manager,
``embedded_aws(...)`` the AWS half alone (no Prefect); ``python -m deployments.serve
--port 0 --aws-port 0 --out <dir>`` runs it apart on free ports.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import socket
import subprocess  # nosec B404
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from deployments.local_stack.background import BackgroundLoop
from deployments.local_stack.server import free_port
from deployments.local_stack.ttl import TTL_SWEEP_SECONDS
from deployments.worker import WorkerSend
from lambdas.shared.weeks import Week

if TYPE_CHECKING:
    from deployments.demo import Outputs
    from deployments.local_stack import AlarmInbox, StackInfo

REPO_ROOT = Path(__file__).resolve().parents[1]
PREFECT_BIN = str(Path(sys.executable).parent / "prefect")
HOST = "127.0.0.1"
PORT = 4200
#: The embedded AWS's port: fixed, so the endpoint in the docs and in a shell stays right.
AWS_PORT = 4201
#: How long the event source mapping waits after an empty receive (seconds).
POLL_SECONDS = 0.2
WORK_POOL = "cv-analytics-local"
LOCAL_DEPLOYMENTS = (
    "weekly-report",
    "report-regeneration",
    "dlq-triage",
    "ttl-verification",
    "health-check",
    "monthly-maintenance",
    "leads",
    "owner-feedback",
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


# --- the embedded AWS ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServeOptions:
    """``--port``, ``--aws-port`` (0: a free port for either) and ``--out``."""

    port: int = PORT
    aws_port: int = AWS_PORT
    out: Path | None = None  # None: OUTPUTS["serve"]
    sample: bool = True  # load the sample traffic (False: an empty stack, ready sooner)

    def outputs(self) -> Outputs:
        from deployments.demo import OUTPUTS, Outputs

        return OUTPUTS["serve"] if self.out is None else Outputs(self.out.resolve())


@dataclass
class EmbeddedAws:
    """The running embedded AWS: the stack, the weeks with traffic, the local extras."""

    stack: StackInfo
    sample_weeks: tuple[Week, ...]  # the sample as it is (2025-W45, 2025-W46)
    recent_weeks: tuple[Week, ...]  # the sample moved to the last two complete weeks
    inbox: AlarmInbox
    alarms_log: Path
    env_file: Path
    loops: list[BackgroundLoop] = field(default_factory=list)

    @property
    def endpoint_url(self) -> str:
        return str(self.stack.endpoint_url)

    @property
    def weeks(self) -> tuple[Week, ...]:
        return (*self.sample_weeks, *self.recent_weeks)


def relabelled(send: WorkerSend, salt: str) -> WorkerSend:
    """The send with another request id (a stable UUID derived from the old one and
    ``salt``), so a second copy of the sample makes records of its own."""
    event = json.loads(send.body)
    old = str(event["requestId"])
    new = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cv-analytics-serve/{salt}/{old}"))
    event["requestId"] = new
    return WorkerSend(
        json.dumps(event), send.group_id, send.dedup_id.replace(old, new, 1), send.kind
    )


def recent_copy(weeks_moved: int) -> list[WorkerSend]:
    """The sample's valid sends moved by whole weeks under other request ids (its invalid
    ones are sent once, with the copy as it is: the DLQ holds each once)."""
    from deployments.worker import load_sample, shift_send

    return [
        shift_send(relabelled(send, f"moved-{weeks_moved}"), weeks_moved)
        for send in load_sample()
        if not send.kind.startswith("invalid")
    ]


def load_sample_weeks(
    stack: StackInfo, last: Week, show: Callable[[str], None] = print
) -> tuple[tuple[Week, ...], tuple[Week, ...]]:
    """Send the sample as it is, then (when they differ) moved to end on ``last``; the
    weeks of each copy."""
    from deployments.demo import SAMPLE_LAST_WEEK, DemoState, replay_sample
    from deployments.worker import weeks_between

    fixed = (SAMPLE_LAST_WEEK.previous, SAMPLE_LAST_WEEK)
    show(f"loading the sample as it is: {fixed[0]} and {fixed[1]} (the weeks of the docs)")
    show(replay_sample(DemoState(stack, fixed, 0, SAMPLE_LAST_WEEK)))
    offset = weeks_between(SAMPLE_LAST_WEEK, last)
    if offset < len(fixed):  # the last complete weeks are (or overlap) the sample's
        return fixed, ()
    recent = (last.previous, last)
    show(f"loading it again, moved to the last two complete weeks: {recent[0]} and {recent[1]}")
    show(replay_sample(DemoState(stack, recent, offset, last), recent_copy(offset)))
    return fixed, recent


def connection_env(endpoint_url: str) -> dict[str, str]:
    """What points the AWS CLI or boto3 at the embedded AWS: endpoint, dummy credentials,
    region (moto accepts any credentials; these keep real ones out of the way)."""
    from deployments.local_stack import LOCAL_ENV

    return {"AWS_ENDPOINT_URL": endpoint_url, **LOCAL_ENV}


def env_file_text(endpoint_url: str) -> str:
    exports = "\n".join(f"export {k}={v}" for k, v in connection_env(endpoint_url).items())
    return (
        "# make serve's embedded AWS (moto), while it runs: source this file, then use boto3\n"
        "# as usual, or the AWS CLI (v1 ignores AWS_ENDPOINT_URL: pass --endpoint-url)\n"
        f"unset AWS_PROFILE\n{exports}\n"
    )


def connection_text(aws: EmbeddedAws) -> str:
    """How to reach the embedded AWS from another terminal (printed at start-up)."""
    settings = aws.stack.settings
    endpoint = aws.endpoint_url
    env = connection_env(endpoint)
    exports = "\n".join(f"  export {k}={v}" for k, v in env.items())
    region = env["AWS_DEFAULT_REGION"]
    return f"""
Embedded AWS (moto) for another terminal: {endpoint}, region {region}, any credentials
  unset AWS_PROFILE
{exports}
  (or: source {_shown(aws.env_file)})
  queue       {settings.queue_name}   {aws.stack.queue_url}
  DLQ         {settings.dlq_name}   {aws.stack.dlq_url}
  tables      {settings.query_events_table}, {settings.analytics_table},
              {settings.summaries_table}
  bucket      {settings.archive_bucket}
  topic       {aws.stack.topic_arn}
  alerts      printed here (ALERT ...) and appended to {_shown(aws.alarms_log)}, from the
              topic's SQS subscriber {aws.inbox.name}
  e.g.  aws --endpoint-url {endpoint} sqs get-queue-attributes \\
            --queue-url {aws.stack.dlq_url} \\
            --attribute-names ApproximateNumberOfMessages
        aws --endpoint-url {endpoint} dynamodb scan --table-name {settings.analytics_table} \\
            --select COUNT
        python: boto3.client("sqs", endpoint_url="{endpoint}", region_name="{region}",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
"""


def _shown(path: Path) -> str:
    """A path relative to the repository when it is inside it (shorter to read and type)."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def background_loops(aws: EmbeddedAws, show: Callable[[str], None]) -> list[BackgroundLoop]:
    """The AWS behaviours moto lacks, as (not yet started) loops: the event source mapping,
    DynamoDB's TTL process, the alarm inbox's printer."""
    from deployments.local_stack import (
        EventSourceMapping,
        alarm_printer,
        processor_handler,
        ttl_sweeper,
    )

    mapping = EventSourceMapping(processor_handler(), aws.stack.settings, fast_retry=False)
    return [
        BackgroundLoop("event source mapping", mapping.step, POLL_SECONDS),
        ttl_sweeper(aws.stack.settings),
        alarm_printer(aws.inbox, aws.alarms_log, show),
    ]


@contextmanager
def embedded_aws(
    options: ServeOptions, show: Callable[[str], None] = print
) -> Iterator[EmbeddedAws]:
    """The AWS half of serve: moto, provisioned, the sample loaded, expired items swept,
    the alarm inbox subscribed, the background loops running; all stopped on exit."""
    from deployments.local_stack import AlarmInbox, alarm_actions, expire_ttl_items, local_stack

    outputs = options.outputs()
    outputs.root.mkdir(parents=True, exist_ok=True)
    with local_stack(options.aws_port) as stack, alarm_actions():
        show(f"embedded AWS on {stack.endpoint_url}")
        fixed, recent = (
            load_sample_weeks(stack, Week.last_complete(), show) if options.sample else ((), ())
        )
        # the first sweep before anything can look: no item is left past its TTL
        show(
            f"TTL: {expire_ttl_items(stack.settings)} expired raw events deleted, as DynamoDB would"
        )
        aws = EmbeddedAws(
            stack,
            fixed,
            recent,
            AlarmInbox(stack.topic_arn, stack.settings),
            outputs.root / "alarms.log",
            outputs.root / "aws.env",
        )
        aws.env_file.write_text(env_file_text(aws.endpoint_url), encoding="utf-8")
        aws.loops = background_loops(aws, show)
        try:
            for loop in aws.loops:
                loop.start()
            yield aws
        finally:
            for loop in reversed(aws.loops):
                loop.stop()
            aws.env_file.unlink(missing_ok=True)  # its endpoint is gone


# --- the Prefect side ---------------------------------------------------------------------


@dataclass
class ServeInfo:
    """A running serve: the embedded AWS, the Prefect server and the worker."""

    aws: EmbeddedAws
    ui_url: str
    api_url: str
    outputs: Outputs
    server: subprocess.Popen[Any]
    worker: subprocess.Popen[Any]


@contextmanager
def prefect_side(
    options: ServeOptions, aws: EmbeddedAws, show: Callable[[str], None] = print
) -> Iterator[ServeInfo]:
    """The Prefect server (its own home), the work pool, the deployments, the worker."""
    outputs = options.outputs()
    outputs.prefect_home.mkdir(parents=True, exist_ok=True)
    port = options.port or free_port()
    api_url = f"http://{HOST}:{port}/api"
    env = prefect_env(api_url)
    env["PREFECT_HOME"] = str(outputs.prefect_home)
    server_env = dict(env)
    server_env.pop("PREFECT_API_URL")
    server_env["PREFECT_SERVER_UI_API_URL"] = api_url  # the UI talks to this port
    server: subprocess.Popen[Any] | None = None
    worker: subprocess.Popen[Any] | None = None
    try:
        with (outputs.prefect_home / "server.log").open("w") as server_log:
            server = subprocess.Popen(  # noqa: S603  # nosec B603
                [PREFECT_BIN, "server", "start", "--host", HOST, "--port", str(port)],
                env=server_env,
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
        show(f"starting the Prefect server (log: {_shown(outputs.prefect_home / 'server.log')})")
        wait_healthy(api_url, server, SERVER_START_TIMEOUT)

        create_work_pool(env)
        show(f"work pool {WORK_POOL} (process) ready; deploying prefect.yaml")
        deploy((), env)  # prefect.yaml is the local set: `prefect deploy --all`
        show("deployed: " + ", ".join(LOCAL_DEPLOYMENTS))

        wenv = worker_env(api_url, aws.endpoint_url, outputs.reports)
        wenv["PREFECT_HOME"] = str(outputs.prefect_home)
        worker = subprocess.Popen(  # noqa: S603  # nosec B603
            [PREFECT_BIN, "worker", "start", "--pool", WORK_POOL], cwd=REPO_ROOT, env=wenv
        )
        yield ServeInfo(aws, f"http://{HOST}:{port}", api_url, outputs, server, worker)
    finally:
        stop(worker, "the worker")
        stop(server, "the Prefect server")


@contextmanager
def running(options: ServeOptions, show: Callable[[str], None] = print) -> Iterator[ServeInfo]:
    """The whole of ``make serve`` until the block ends (then everything is stopped)."""
    with embedded_aws(options, show) as aws, prefect_side(options, aws, show) as info:
        yield info


# --- make serve ---------------------------------------------------------------------------


def how_to(aws: EmbeddedAws, ui_url: str, api_url: str, reports: Path) -> str:
    """What to do next: the UI, the weeks with traffic, a report regenerated, the extras."""
    weeks = aws.weeks
    latest = weeks[-1] if weeks else Week.last_complete()
    example = weeks[0] if weeks else latest
    lines = [f"Prefect UI: {ui_url}   (six deployments under Deployments, with their schedules)"]
    if aws.sample_weeks:
        lines.append(
            f"\nWeeks with sample traffic: {aws.sample_weeks[0]} and {aws.sample_weeks[1]} (the "
            "sample as it is: the weeks the docs use; their figures are\n"
            f"  samples/expected-{aws.sample_weeks[0]}.json and "
            f"samples/expected-{aws.sample_weeks[1]}.json)"
        )
    if aws.recent_weeks:
        lines.append(
            f"  and {aws.recent_weeks[0]} and {aws.recent_weeks[1]} (the same traffic moved to "
            "the last complete weeks:\n  what the scheduled weekly-report reports)"
        )
    lines.append(f"""
Regenerate a report:
  1. Deployments > report-regeneration > Run > Custom run, type a week (e.g. {example}),
     Submit.
  2. The run is named weekly-report-<week>; when it is Completed, its Artifacts tab has
     the key figures and the top queries. The rendered report is written to
     {reports}/<week>/report.html
     and archived to s3://<archive bucket>/reports/<week>/.
  CLI (another terminal):
     PREFECT_API_URL={api_url} .venv/bin/prefect deployment run \\
         weekly-report/report-regeneration --param week={latest}

Run any other flow the same way (Run > Quick run): dlq-triage, ttl-verification,
health-check, monthly-maintenance, leads (e-mails each visitor who left contact details
once), weekly-report (the last complete week). owner-feedback (Run > Custom run) takes
the owner's word on a theme key the e-mail shows: dismiss, join or undo.
Redriven and newly sent events are processed as they arrive; expired raw events vanish
within {TTL_SWEEP_SECONDS:.0f} s; alerts of the alarms topic are printed here (ALERT ...).
Ctrl-C stops the worker, the server and the embedded AWS.""")
    return "\n".join(lines)


def refusal(options: ServeOptions) -> str | None:
    """Why serve cannot start with these options (a port taken or shared), or None."""
    if options.port and options.port == options.aws_port:
        return f"--port and --aws-port are both {options.port}: give them different ports"
    for port, flag in ((options.port, "--port"), (options.aws_port, "--aws-port")):
        if port and not port_free(HOST, port):
            return (
                f"port {port} on {HOST} ({flag}) is in use: stop what listens there first, "
                f"or pass {flag} <another port> (0: any free port)"
            )
    return None


def watch(info: ServeInfo) -> int:
    """Until Ctrl-C (0) or until the server or the worker exits (1)."""
    while True:
        for process, name in ((info.server, "the Prefect server"), (info.worker, "the worker")):
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}", file=sys.stderr)
                return 1
        time.sleep(1)


def serve(options: ServeOptions | None = None) -> int:
    """Everything up, in the foreground, until Ctrl-C or SIGTERM."""
    options = options or ServeOptions()
    refused = refusal(options)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("deployments").setLevel(logging.INFO)
    with interrupt_on_sigterm():
        try:
            with running(options) as info:
                print(connection_text(info.aws))
                print(how_to(info.aws, info.ui_url, info.api_url, info.outputs.reports))
                try:
                    return watch(info)
                except KeyboardInterrupt:
                    print("\nstopping the worker, the Prefect server and the embedded AWS")
                    return 0
        except KeyboardInterrupt:
            print("\nstopped while starting")
            return 0
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as exc:
            print(f"make serve failed: {exc}", file=sys.stderr)
            return 1


def parse_args(argv: list[str] | None = None) -> ServeOptions:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--port", type=int, default=PORT, help="Prefect UI/API port (4200; 0: free)"
    )
    parser.add_argument(
        "--aws-port", type=int, default=AWS_PORT, help="embedded AWS port (4201; 0: free)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="state and reports folder (out/serve)"
    )
    args = parser.parse_args(argv)
    return ServeOptions(args.port, args.aws_port, args.out)


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # alerts and progress appear at once
    return serve(parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
