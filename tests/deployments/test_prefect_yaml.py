"""``prefect.yaml`` against the operator's table, without a server.

Every entrypoint is imported and must be the named Prefect flow; schedules, parameters
and shared settings are read as ``prefect deploy`` reads them (``yaml.safe_load``, then
Prefect's own model of the file).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.utilities.callables import parameter_schema

from lambdas.processor.weeks import WEEK_SCHEMA_PATTERN

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO_ROOT / "prefect.yaml"

#: deployment -> (flow name, cron or None, parameters the deployment sets)
TABLE: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "weekly-report": ("weekly-report", "0 7 * * 1", {"resend": False}),
    "report-regeneration": ("weekly-report", None, {}),
    "dlq-triage": ("dlq-triage", "30 5 * * *", {"dry_run": False}),
    "ttl-verification": ("ttl-verification", "0 6 * * *", {"fix": False}),
    "health-check": ("health-check", "0 7 * * *", {}),
    "monthly-maintenance": ("monthly-maintenance", "0 3 1 * *", {"test_alarms": True}),
}
ECS_SUFFIX = "-ecs"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_name = {d["name"]: d for d in config["deployments"]}
    assert len(by_name) == len(config["deployments"]), "deployment names must be unique"
    return by_name


def load_entrypoint(entrypoint: str) -> Any:
    """Import ``path.py:function`` the way a worker does (by file path)."""
    path, _, attribute = entrypoint.partition(":")
    file = REPO_ROOT / path
    assert file.is_file(), f"{entrypoint}: {path} does not exist"
    module_name = "entrypoint_" + path.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(module_name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, attribute)


def test_prefect_reads_every_deployment(config: dict[str, Any]) -> None:
    # Given the file, when Prefect's own model validates it, nothing is dropped
    model = PrefectYamlModel.model_validate(config)
    names = {d.name for d in model.deployments}
    assert names == set(TABLE) | {name + ECS_SUFFIX for name in TABLE}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_entrypoint_is_the_named_flow(name: str, deployments: dict[str, dict[str, Any]]) -> None:
    flow_name, _, _ = TABLE[name]
    for deployment in (deployments[name], deployments[name + ECS_SUFFIX]):
        entrypoint = deployment["entrypoint"]
        assert entrypoint.count(":") == 1 and entrypoint.split(":")[0].endswith(".py")
        flow = load_entrypoint(entrypoint)
        assert isinstance(flow, Flow), f"{entrypoint} is not a Prefect flow"
        assert flow.name == flow_name


@pytest.mark.parametrize("name", sorted(TABLE))
def test_schedule_and_parameters_as_in_the_table(
    name: str, deployments: dict[str, dict[str, Any]]
) -> None:
    _, cron, parameters = TABLE[name]
    for deployment in (deployments[name], deployments[name + ECS_SUFFIX]):
        schedules = deployment.get("schedules") or []
        if cron is None:
            assert schedules == []
        else:
            assert schedules == [{"cron": cron, "timezone": "UTC"}]
        assert deployment.get("parameters", {}) | parameters == deployment.get("parameters", {})
        assert deployment["enforce_parameter_schema"] is True
        assert "cv-analytics" in deployment["tags"]
        assert deployment.get("description"), "the UI shows the description to the operator"
        # and the parameters the deployment sets are parameters of its flow
        flow = load_entrypoint(deployment["entrypoint"])
        known = set(parameter_schema(flow).properties)
        assert set(deployment.get("parameters", {})) <= known


def test_report_regeneration_requires_a_well_formed_week(
    deployments: dict[str, dict[str, Any]],
) -> None:
    flow = load_entrypoint(deployments["report-regeneration"]["entrypoint"])
    schema = parameter_schema(flow)
    assert schema.required == ["week"]
    week = schema.properties["week"]
    assert week["type"] == "string" and week["pattern"]
    assert week.get("description"), "the Run form explains the week"
    assert schema.properties["resend"]["default"] is False
    assert "week" not in deployments["report-regeneration"].get("parameters", {})

    import re

    assert week["pattern"] == WEEK_SCHEMA_PATTERN
    assert re.match(WEEK_SCHEMA_PATTERN, "2025-W45")
    for bad in ("2025-45", "2025-W00", "2025-W54", "25-W01", "2025-w45"):
        assert not re.match(WEEK_SCHEMA_PATTERN, bad), bad


def test_shared_settings_come_from_definitions(config: dict[str, Any]) -> None:
    # YAML anchors are resolved by the loader: shared objects are the *same* objects
    definitions = config["definitions"]
    local = [d for d in config["deployments"] if not d["name"].endswith(ECS_SUFFIX)]
    ecs = [d for d in config["deployments"] if d["name"].endswith(ECS_SUFFIX)]
    assert {id(d["work_pool"]) for d in local} == {id(definitions["work_pools"]["local"])}
    assert {id(d["work_pool"]) for d in ecs} == {id(definitions["work_pools"]["ecs"])}
    assert {id(d["tags"]) for d in config["deployments"]} == {id(definitions["tags"])}
    assert {id(d["pull"]) for d in local} == {id(definitions["pulls"]["local"])}
    assert {id(d["pull"]) for d in ecs} == {id(definitions["pulls"]["image"])}


def test_pull_steps_set_the_working_directory(config: dict[str, Any]) -> None:
    pulls = config["definitions"]["pulls"]
    step = "prefect.deployments.steps.set_working_directory"
    assert pulls["local"] == [{step: {"directory": "{{ $CV_ANALYTICS_HOME }}"}}]
    assert pulls["image"] == [{step: {"directory": "/opt/cv-analytics"}}]
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "WORKDIR /opt/cv-analytics" in dockerfile


def test_work_pools_and_ecs_job_variables(config: dict[str, Any]) -> None:
    pools = config["definitions"]["work_pools"]
    assert pools["local"]["name"] == "cv-analytics-local"
    ecs = pools["ecs"]
    assert ecs["name"] == "cv-analytics-ecs"
    variables = ecs["job_variables"]
    for key in ("image", "cluster", "task_role_arn", "cpu", "memory"):
        assert variables.get(key), key
    # placeholders only: no account ids, ARNs or secrets in the repository
    for key in ("image", "cluster", "task_role_arn", "execution_role_arn"):
        assert variables[key].startswith("{{ $"), key
    env = variables["env"]
    assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "true"
    assert env["PREFECT_DEFAULT_RESULT_STORAGE_BLOCK"] == "s3-bucket/cv-analytics-results"
    assert env["CV_ANALYTICS_AWS_CREDENTIALS_BLOCK"] == "{{ $CV_ANALYTICS_AWS_CREDENTIALS_BLOCK }}"

    from prefect_aws.workers.ecs_worker import ECSVariables

    unknown = set(variables) - set(ECSVariables.model_fields)
    assert not unknown, f"not ECS worker job variables: {unknown}"


def test_aws_sdk_warnings_reach_the_run_log_in_every_pool(config: dict[str, Any]) -> None:
    for deployment in config["deployments"]:
        env = deployment["work_pool"]["job_variables"]["env"]
        assert "botocore" in env["PREFECT_LOGGING_EXTRA_LOGGERS"].split(","), deployment["name"]


def test_botocore_debug_output_never_reaches_a_log() -> None:
    import logging

    import tasks.aws  # noqa: F401 - importing it sets the levels

    assert logging.getLogger("botocore").getEffectiveLevel() == logging.WARNING
