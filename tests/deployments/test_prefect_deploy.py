"""``prefect deploy`` as a Prefect user types it (README, "Running the flows").

From the repository root, to a temporary server (``conftest.py``), with no variable of
this project in the environment:

    prefect work-pool create cv-analytics-local --type process   (here: the same, by the client)
    prefect deploy --all
    prefect worker start --pool cv-analytics-local

The plain ``--all`` deploys the local set only, once, each schedule once, every
deployment limited to one run at a time; and a run the worker picks up finds its flow
file and the project's packages although the worker starts it in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.sorting import FlowRunSort
from prefect.workers.process import ProcessWorker

from deployments.local_stack import LOCAL_ENV, StackInfo

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_BIN = str(Path(sys.executable).parent / "prefect")
POOL = "cv-analytics-local"

#: deployment -> (flow, schedules, collision strategy)
LOCAL_SET = {
    "weekly-report": ("weekly-report", 1, "ENQUEUE"),
    "report-regeneration": ("weekly-report", 0, "ENQUEUE"),
    "dlq-triage": ("dlq-triage", 1, "CANCEL_NEW"),
    "ttl-verification": ("ttl-verification", 1, "ENQUEUE"),
    "health-check": ("health-check", 1, "ENQUEUE"),
    "monthly-maintenance": ("monthly-maintenance", 1, "CANCEL_NEW"),
    "leads": ("leads", 1, "CANCEL_NEW"),
    "owner-feedback": ("owner-feedback", 0, "ENQUEUE"),
}


def plain_env(api_url: str) -> dict[str, str]:
    """The user's shell: the API URL set, nothing of this project's (no CV_ANALYTICS_HOME,
    no PYTHONPATH)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CV_ANALYTICS_") and k not in ("PYTHONPATH", "PREFECT_PROFILE")
    }
    env["PREFECT_API_URL"] = api_url
    return env


def prefect(*args: str, env: dict[str, str], cwd: Path = REPO_ROOT, timeout: float = 180) -> str:
    done = subprocess.run(
        [PREFECT_BIN, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


def create_process_pool() -> None:
    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(name=POOL, type="process", base_job_template=template), overwrite=True
        )


@pytest.mark.integration
def test_deploy_all_then_a_worker_as_the_readme_says(
    empty_prefect_server: str, stack: StackInfo, tmp_path: Path
) -> None:
    # Given the process pool (what `prefect work-pool create ... --type process` creates)
    # and the README's commands, typed from the repository root
    create_process_pool()
    env = plain_env(empty_prefect_server)
    output = prefect("deploy", "--all", env=env)
    assert output.count("successfully created") == len(LOCAL_SET), output[-2000:]

    # Then the server holds the local set, once, each schedule once, one run at a time
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(limit=200, offset=0)
        flows = {f.id: f.name for f in client.read_flows(limit=200, offset=0)}
    assert sorted(d.name for d in deployments) == sorted(LOCAL_SET)
    for deployment in deployments:
        flow, schedules, strategy = LOCAL_SET[deployment.name]
        assert flows[deployment.flow_id] == flow
        assert deployment.work_pool_name == POOL, deployment.name
        assert len(deployment.schedules) == schedules, deployment.name
        assert deployment.global_concurrency_limit is not None, deployment.name
        assert deployment.global_concurrency_limit.limit == 1, deployment.name
        assert deployment.concurrency_options is not None, deployment.name
        assert deployment.concurrency_options.collision_strategy.value == strategy
        # the pull step goes to the checkout `prefect deploy` ran in, no variable needed
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}
        ], deployment.name

    # and the Run forms the UI gets from the server: every parameter described and typed,
    # none Optional (no "anyOf ... null" field)
    named = {d.name: d for d in deployments}
    for deployment in deployments:
        schema = deployment.parameter_openapi_schema or {}
        for parameter, prop in schema["properties"].items():
            assert prop.get("description"), (deployment.name, parameter)
            assert "anyOf" not in prop and prop.get("type") != "null", (deployment.name, prop)
    # a Quick run of a deployment that deletes is a dry run; its schedule acts
    for name in ("dlq-triage", "monthly-maintenance"):
        assert named[name].parameters["dry_run"] is True, name
        [schedule] = named[name].schedules
        assert schedule.parameters == {"dry_run": False}, name

    # When a run is created and a worker, started elsewhere and without PYTHONPATH, polls
    # once (the embedded AWS stands in for the user's AWS environment)
    aws = {**LOCAL_ENV, "AWS_ENDPOINT_URL": str(stack.endpoint_url)}
    aws["POWERTOOLS_METRICS_DISABLED"] = "true"
    worker_env = {**env, **aws}
    prefect("deployment", "run", "health-check/health-check", env=env, timeout=60)
    prefect("worker", "start", "--pool", POOL, "--run-once", env=worker_env, cwd=tmp_path)

    # Then the run found its flow file and packages, and completed
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("health-check/health-check")
        [run] = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=10,
            offset=0,
        )
    assert run.state is not None and run.state.is_completed(), run.state
