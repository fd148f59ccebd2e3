"""``report-regeneration`` as an operator runs it: deployed from ``prefect.yaml`` with the
CLI to the harness's temporary server, started with ``prefect deployment run``, executed
by a process worker against the embedded AWS, the report archived in S3.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectAlreadyExists, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL
from prefect.workers.process import ProcessWorker

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.serve import PREFECT_BIN, WORK_POOL, deploy, prefect_env, run_command, worker_env
from deployments.worker import SAMPLES_DIR, load_sample, send_all
from lambdas.processor.handler import handler
from lambdas.shared.weeks import Week
from tasks.dynamodb.send_ledger import ledger_state
from tasks.s3.reports import latest_report

WEEK = Week(2025, 45)
RUN_TIMEOUT = 300.0
WEEK_PARAM = ("--param", f"week={WEEK}")


def create_process_pool() -> None:
    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(
            WorkPoolCreate(name=WORK_POOL, type="process", base_job_template=template)
        )


def load_sample_traffic(stack: StackInfo) -> None:
    esm = EventSourceMapping(handler)
    send_all(load_sample(), stack.queue_url, between_chunks=esm.drain)


@pytest.mark.integration
def test_report_regeneration_runs_through_a_process_worker(
    stack: StackInfo, tmp_path: Path
) -> None:
    # Given the sample processed on the embedded AWS, a process pool and the deployment
    load_sample_traffic(stack)
    api_url = str(PREFECT_API_URL.value())
    create_process_pool()
    env = prefect_env(api_url)
    output = deploy(["report-regeneration"], env)
    assert "weekly-report/report-regeneration" in output

    # the server refuses a malformed, missing or out-of-range week before any run exists,
    # and a week 53 of a year that has 52
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("weekly-report/report-regeneration")
        refused = ["2025-45", "2025-W53", "0001-W01", "2019-W52", "9998-W01", None]
        for bad in [{}, *({"week": week} for week in refused)]:
            with pytest.raises(PrefectHTTPStatusError, match="week"):
                client.create_flow_run_from_deployment(deployment.id, parameters=bad)
        with pytest.raises(PrefectHTTPStatusError, match="resend"):
            client.create_flow_run_from_deployment(
                deployment.id, parameters={"week": WEEK.id, "resend": 1}
            )

    # When the operator's command creates a run and a worker polls once
    started = run_command(
        [PREFECT_BIN, "deployment", "run", "weekly-report/report-regeneration", *WEEK_PARAM],
        env,
        timeout=120,
    )
    assert "Created flow run" in started.stdout
    run_command(
        [PREFECT_BIN, "worker", "start", "--pool", WORK_POOL, "--run-once"],
        worker_env(api_url, str(stack.endpoint_url), tmp_path / "reports"),
        timeout=RUN_TIMEOUT,
    )

    # Then the run is Completed, named after the week, and the report is in S3
    with get_client(sync_client=True) as client:
        # sort and limit explicit: the server of uv.lock refuses them as null (see serve.py)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=10,
            offset=0,
        )
    [run] = runs
    assert run.state is not None and run.state.is_completed(), run.state
    assert run.name == f"weekly-report-{WEEK}"
    assert run.parameters == {"week": WEEK.id}
    assert "cv-analytics" in run.tags

    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = stack.settings.archive_bucket
    keys = latest_report(stack.settings.archive_bucket, WEEK)
    assert set(keys) == {"report.json", "report.html", "report.txt"}
    report = json.loads(s3.get_object(Bucket=bucket, Key=keys["report.json"])["Body"].read())
    expected = json.loads((SAMPLES_DIR / f"expected-{WEEK}.json").read_text(encoding="utf-8"))
    assert report["week"] == WEEK.id
    assert report["total_queries"] == expected["total_queries"]
    assert (tmp_path / "reports" / WEEK.id / "report.html").is_file()

    # When the operator asks for the current week, which the form cannot refuse (it changes
    # every Monday), Then the run ends Failed when it starts, saying why, having done nothing
    current = Week.of(datetime.now(UTC))
    with get_client(sync_client=True) as client:
        early = client.create_flow_run_from_deployment(
            deployment.id, parameters={"week": current.id}
        )
    run_command(
        [PREFECT_BIN, "worker", "start", "--pool", WORK_POOL, "--run-once"],
        worker_env(api_url, str(stack.endpoint_url), tmp_path / "reports"),
        timeout=RUN_TIMEOUT,
    )
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(early.id).state
    assert state is not None and state.is_failed(), state
    assert f"week {current} has not ended" in (state.message or ""), state.message
    assert latest_report(stack.settings.archive_bucket, current) == {} and ledger_state(
        stack.settings.summaries_table, current
    ) == (None, None)
    assert not (tmp_path / "reports" / current.id).exists()
