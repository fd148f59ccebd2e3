"""``prefect.yaml`` (local set) and ``prefect.ecs.yaml`` (production set) against the
operator's table, without a server.

Every entrypoint is imported and must be the named Prefect flow; schedules, parameters,
concurrency and shared settings are read as ``prefect deploy`` reads them
(``yaml.safe_load``, then Prefect's own model of the file). The two files hold the same
eight deployments under the same names, with the same flow parts, on different pools.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.utilities.callables import parameter_schema

from flows.parameters import WEEK_SCHEMA_PATTERN

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO_ROOT / "prefect.yaml"
PREFECT_ECS_YAML = REPO_ROOT / "prefect.ecs.yaml"

#: deployment -> (flow name, cron or None, parameters the deployment sets)
TABLE: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "weekly-report": ("weekly-report", "0 7 * * 1", {"resend": False}),
    "report-regeneration": ("weekly-report", None, {}),
    # a Quick run of a deployment that deletes or redrives is a dry run ...
    "dlq-triage": ("dlq-triage", "30 5 * * *", {"dry_run": True, "max_messages": 0}),
    "ttl-verification": ("ttl-verification", "0 6 * * *", {"fix": False}),
    "health-check": ("health-check", "0 7 * * *", {}),
    "monthly-maintenance": (
        "monthly-maintenance",
        "0 3 1 * *",
        {"dry_run": True, "test_alarms": True},
    ),
    "leads": ("leads", "5 * * * *", {"lookback_hours": 48}),
    # the owner's word: manual only, every parameter typed in the Run form
    "owner-feedback": ("owner-feedback", None, {}),
}
#: ... and its schedule acts: the parameters each schedule passes over the deployment's
SCHEDULE_PARAMETERS: dict[str, dict[str, Any]] = {
    "dlq-triage": {"dry_run": False},
    "monthly-maintenance": {"dry_run": False},
}
#: docs/runbook.md's sections, fixed for the project (a test of docs/runbook.md checks
#: that each exists there): the only anchors a description or message may cite.
RUNBOOK_ANCHORS = frozenset(
    {
        "dlq-alarm",
        "report-regeneration",
        "failed-health-check",
        "ttl-findings",
        "monthly-maintenance",
        "failed-flow-run",
        "unfinished-report-send",
        "processor-alarms",
        "queue-age-alarm",
        "old-runbook-mapped",
    }
)
RUNBOOK_LINK = re.compile(r"docs/runbook\.md#([A-Za-z0-9_-]*)")
#: deployment -> collision strategy (limit 1 each); why: docs/flows.md
COLLISIONS = {
    "weekly-report": "ENQUEUE",
    "report-regeneration": "ENQUEUE",
    "dlq-triage": "CANCEL_NEW",
    "ttl-verification": "ENQUEUE",
    "health-check": "ENQUEUE",
    "monthly-maintenance": "CANCEL_NEW",
    "leads": "CANCEL_NEW",
    "owner-feedback": "ENQUEUE",
}
SET_STEP = "prefect.deployments.steps.set_working_directory"


def read(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return read(PREFECT_YAML)


@pytest.fixture(scope="module")
def ecs_config() -> dict[str, Any]:
    return read(PREFECT_ECS_YAML)


def by_name(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    named = {d["name"]: d for d in config["deployments"]}
    assert len(named) == len(config["deployments"]), "deployment names must be unique"
    return named


@pytest.fixture(scope="module")
def deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return by_name(config)


@pytest.fixture(scope="module")
def ecs_deployments(ecs_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return by_name(ecs_config)


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


def test_prefect_reads_every_deployment(config: dict[str, Any], ecs_config: dict[str, Any]) -> None:
    # Given each file, when Prefect's own model validates it, nothing is dropped
    for loaded in (config, ecs_config):
        model = PrefectYamlModel.model_validate(loaded)
        assert {d.name for d in model.deployments} == set(TABLE)


def test_each_file_deploys_one_pool(config: dict[str, Any], ecs_config: dict[str, Any]) -> None:
    # `prefect deploy --all` takes every deployment of one file: one target each
    assert {d["work_pool"]["name"] for d in config["deployments"]} == {"cv-analytics-local"}
    assert {d["work_pool"]["name"] for d in ecs_config["deployments"]} == {"cv-analytics-ecs"}


def test_both_files_share_the_flow_parts(
    config: dict[str, Any], ecs_config: dict[str, Any]
) -> None:
    # the flows, schedules and concurrency cannot drift between the two targets
    for key in ("flows", "schedules", "concurrency", "tags"):
        assert config["definitions"][key] == ecs_config["definitions"][key], key
    local, ecs = by_name(config), by_name(ecs_config)
    for name in TABLE:
        for key in ("entrypoint", "description", "parameters", "schedules", "concurrency_limit"):
            assert local[name].get(key) == ecs[name].get(key), (name, key)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_one_run_at_a_time(
    name: str,
    deployments: dict[str, dict[str, Any]],
    ecs_deployments: dict[str, dict[str, Any]],
) -> None:
    for deployment in (deployments[name], ecs_deployments[name]):
        limit = deployment["concurrency_limit"]
        assert limit == {"limit": 1, "collision_strategy": COLLISIONS[name]}
        # a value Prefect's server accepts
        assert ConcurrencyLimitStrategy(limit["collision_strategy"])


@pytest.mark.parametrize("name", sorted(TABLE))
def test_entrypoint_is_the_named_flow(
    name: str,
    deployments: dict[str, dict[str, Any]],
    ecs_deployments: dict[str, dict[str, Any]],
) -> None:
    flow_name, _, _ = TABLE[name]
    for deployment in (deployments[name], ecs_deployments[name]):
        entrypoint = deployment["entrypoint"]
        assert entrypoint.count(":") == 1 and entrypoint.split(":")[0].endswith(".py")
        flow = load_entrypoint(entrypoint)
        assert isinstance(flow, Flow), f"{entrypoint} is not a Prefect flow"
        assert flow.name == flow_name


@pytest.mark.parametrize("name", sorted(TABLE))
def test_schedule_and_parameters_as_in_the_table(
    name: str,
    deployments: dict[str, dict[str, Any]],
    ecs_deployments: dict[str, dict[str, Any]],
) -> None:
    _, cron, parameters = TABLE[name]
    for deployment in (deployments[name], ecs_deployments[name]):
        schedules = deployment.get("schedules") or []
        if cron is None:
            assert schedules == []
        else:
            expected: dict[str, Any] = {"cron": cron, "timezone": "UTC"}
            if name in SCHEDULE_PARAMETERS:
                expected["parameters"] = SCHEDULE_PARAMETERS[name]
            assert schedules == [expected]
        assert deployment.get("parameters", {}) | parameters == deployment.get("parameters", {})
        assert deployment["enforce_parameter_schema"] is True
        assert "cv-analytics" in deployment["tags"]
        assert deployment.get("description"), "the UI shows the description to the operator"
        # and the parameters the deployment sets are parameters of its flow
        flow = load_entrypoint(deployment["entrypoint"])
        known = set(parameter_schema(flow).properties)
        assert set(deployment.get("parameters", {})) <= known


def test_report_regeneration_requires_a_week_of_the_reportable_years(
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

    # the server and the Run form refuse, before a run exists, anything but a week that
    # exists in 2020 to the year after the deploy (searched, as JSON schema does)
    assert week["pattern"] == WEEK_SCHEMA_PATTERN
    next_year = datetime.now(UTC).year + 1
    for good in ("2025-W45", "2020-W01", "2020-W53", "2026-W53", f"{next_year}-W01"):
        assert re.search(WEEK_SCHEMA_PATTERN, good), good
    for bad in (
        *("2025-45", "2025-W00", "2025-W54", "25-W01", "2025-w45", " 2025-W45"),
        *("2025-W53", "2021-W53", "0001-W01", "2019-W52", f"{next_year + 1}-W01", "9998-W01"),
    ):
        assert not re.search(WEEK_SCHEMA_PATTERN, bad), bad
    # the scheduled deployment's optional week carries the same pattern
    optional = parameter_schema(load_entrypoint(deployments["weekly-report"]["entrypoint"]))
    assert WEEK_SCHEMA_PATTERN in str(optional.properties["week"])
    assert optional.properties["resend"] == {
        "default": False,
        "description": "Send the e-mail again even if this week's report was already sent.",
        "position": 1,
        "title": "resend",
        "type": "boolean",
    }
    # left empty (the schedule's "last complete week") is a valid value of the form too
    assert optional.properties["week"]["default"] == ""
    assert re.search(optional.properties["week"]["pattern"], "")
    assert not re.search(optional.properties["week"]["pattern"], "2025-45")


# --- the Run form: what `prefect deploy` sends as parameter_openapi_schema ----------------


def form_schema(deployment: dict[str, Any]) -> dict[str, Any]:
    """The deployment's ``parameter_openapi_schema`` as ``prefect deploy`` computes it
    (``prefect.cli.deploy._core``: ``parameter_schema(flow)``) and the UI renders it."""
    flow = load_entrypoint(deployment["entrypoint"])
    schema: dict[str, Any] = parameter_schema(flow).model_dump_for_openapi()
    return schema


def null_typed(node: Any) -> list[str]:
    """Every place in a JSON schema where ``null`` is a type (an Optional parameter)."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "null" or "null" in (node.get("type") or []):
            found.append(str(node))
        for value in node.values():
            found += null_typed(value)
    elif isinstance(node, list):
        for value in node:
            found += null_typed(value)
    return found


@pytest.mark.parametrize("name", sorted(TABLE))
def test_every_parameter_is_described_and_strictly_typed_in_the_run_form(
    name: str, deployments: dict[str, dict[str, Any]]
) -> None:
    from prefect.utilities.schema_tools import validate

    deployment = deployments[name]
    schema = form_schema(deployment)
    for parameter, prop in schema["properties"].items():
        # a description the form shows under the field; a type, never "anyOf ... null"
        # (the form would show a second "Property is type None" field)
        assert len(prop.get("description") or "") >= 20, (name, parameter)
        assert prop.get("type") in ("boolean", "integer", "string"), (name, parameter, prop)
        assert "anyOf" not in prop and not null_typed(prop), (name, parameter, prop)
    # the deployment's own values and each schedule's pass the server's check
    flow = load_entrypoint(deployment["entrypoint"])
    values = [deployment.get("parameters", {})]
    values += [
        deployment.get("parameters", {}) | s.get("parameters", {})
        for s in deployment.get("schedules") or []
    ]
    for value in values:
        validate(value, schema, raise_on_error=True, ignore_required=True)
        if not schema.get("required"):  # a required parameter is typed in each run
            flow.validate_parameters(value)


def described_texts(deployment: dict[str, Any]) -> list[str]:
    """What the UI renders as Markdown for a deployment: its description, its flow's
    (the docstring) and each parameter's."""
    props = form_schema(deployment)["properties"].values()
    flow = load_entrypoint(deployment["entrypoint"])
    return [
        deployment["description"],
        str(flow.description or ""),
        *(str(p.get("description", "")) for p in props),
    ]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_descriptions_render_as_written_and_cite_real_runbook_sections(
    name: str, deployments: dict[str, dict[str, Any]]
) -> None:
    texts = described_texts(deployments[name])
    for text in texts:
        # Markdown drops an unknown tag: "reports/<week>/." would read "reports//."
        assert not re.search(r"<[^>\s]*>", text), (name, text)
        for anchor in RUNBOOK_LINK.findall(text):
            assert anchor in RUNBOOK_ANCHORS, (name, anchor)
        assert 'runbook "' not in text, f"{name}: cite docs/runbook.md#<anchor>, not a title"
    # the deployment says where its runbook section is
    assert RUNBOOK_LINK.search(deployments[name]["description"]), name


def test_every_runbook_anchor_the_code_cites_is_a_section() -> None:
    from tasks.core.checks import RUNBOOK_SECTIONS

    assert set(RUNBOOK_SECTIONS) == RUNBOOK_ANCHORS
    files = [
        *sorted((REPO_ROOT / "flows").glob("*.py")),
        *(REPO_ROOT / f for f in ("tasks/conclude.py", "tasks/dlq_pages.py")),
        *(REPO_ROOT / "tasks/core" / f for f in ("triage.py", "health.py", "checks.py")),
        REPO_ROOT / "deployments/automations.py",
        PREFECT_YAML,
        PREFECT_ECS_YAML,
        REPO_ROOT / "docs/flows.md",
        REPO_ROOT / "docs/reliability.md",
    ]
    cited = {
        (file.name, anchor)
        for file in files
        for anchor in RUNBOOK_LINK.findall(file.read_text(encoding="utf-8"))
    }
    assert cited, "the flows cite the runbook"
    assert {(f, a) for f, a in cited if a not in RUNBOOK_ANCHORS} == set()


@pytest.mark.parametrize("name", ["dlq-triage", "monthly-maintenance"])
def test_a_quick_run_of_a_deployment_that_deletes_is_a_dry_run_and_its_schedule_acts(
    name: str,
    deployments: dict[str, dict[str, Any]],
    ecs_deployments: dict[str, dict[str, Any]],
) -> None:
    for deployment in (deployments[name], ecs_deployments[name]):
        # Quick run: the server merges the deployment's parameters with none of its own
        flow = load_entrypoint(deployment["entrypoint"])
        quick = flow.validate_parameters(dict(deployment["parameters"]))
        assert quick["dry_run"] is True, name
        # a scheduled run: the deployment's parameters, then the schedule's
        [schedule] = deployment["schedules"]
        scheduled = flow.validate_parameters(deployment["parameters"] | schedule["parameters"])
        assert scheduled["dry_run"] is False, name


def test_shared_settings_come_from_definitions(
    config: dict[str, Any], ecs_config: dict[str, Any]
) -> None:
    # YAML anchors are resolved by the loader: shared objects are the *same* objects
    for loaded, pool in ((config, "local"), (ecs_config, "ecs")):
        definitions = loaded["definitions"]
        assert {id(d["work_pool"]) for d in loaded["deployments"]} == {
            id(definitions["work_pools"][pool])
        }
        assert {id(d["tags"]) for d in loaded["deployments"]} == {id(definitions["tags"])}


def test_local_pull_step_goes_to_where_prefect_deploy_ran(config: dict[str, Any]) -> None:
    # No variable: the build step records the folder of `prefect deploy` (the repository
    # root), the pull step goes there. No deployment overrides either.
    [build] = config["build"]
    shell = build["prefect.deployments.steps.run_shell_script"]
    assert shell["script"] == "pwd"
    assert config["pull"] == [{SET_STEP: {"directory": "{{ " + shell["id"] + ".stdout }}"}}]
    assert "$" not in yaml.safe_dump(config["pull"])
    for deployment in config["deployments"]:
        assert "pull" not in deployment and "build" not in deployment, deployment["name"]


def test_ecs_pull_step_goes_to_the_image_code(ecs_config: dict[str, Any]) -> None:
    assert ecs_config["pull"] == [{SET_STEP: {"directory": "/opt/cv-analytics"}}]
    assert ecs_config.get("build") is None
    for deployment in ecs_config["deployments"]:
        # explicit: no "build a Docker image?" question from an interactive deploy
        assert "build" in deployment and deployment["build"] is None, deployment["name"]
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "WORKDIR /opt/cv-analytics" in dockerfile


def test_work_pools_and_ecs_job_variables(
    config: dict[str, Any], ecs_config: dict[str, Any]
) -> None:
    assert config["definitions"]["work_pools"]["local"]["name"] == "cv-analytics-local"
    ecs = ecs_config["definitions"]["work_pools"]["ecs"]
    assert ecs["name"] == "cv-analytics-ecs"
    variables = ecs["job_variables"]
    for key in ("image", "cluster", "task_role_arn", "cpu", "memory", "vpc_id"):
        assert variables.get(key), key
    # placeholders only: no account ids, ARNs, network ids or secrets in the repository
    for key in ("image", "cluster", "task_role_arn", "execution_role_arn", "vpc_id"):
        assert variables[key].startswith("{{ $"), key
    network = variables["network_configuration"]
    assert network["subnets"] == ["{{ $CV_ANALYTICS_SUBNET_ID }}"]
    assert network["securityGroups"] == ["{{ $CV_ANALYTICS_SECURITY_GROUP_ID }}"]
    assert network["assignPublicIp"] == "DISABLED"
    env = variables["env"]
    assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "true"
    assert env["PREFECT_DEFAULT_RESULT_STORAGE_BLOCK"] == "s3-bucket/cv-analytics-results"
    assert env["CV_ANALYTICS_AWS_CREDENTIALS_BLOCK"] == "{{ $CV_ANALYTICS_AWS_CREDENTIALS_BLOCK }}"

    from prefect_aws.workers.ecs_worker import ECSVariables

    unknown = set(variables) - set(ECSVariables.model_fields)
    assert not unknown, f"not ECS worker job variables: {unknown}"


def test_aws_sdk_warnings_reach_the_run_log_in_every_pool(
    config: dict[str, Any], ecs_config: dict[str, Any]
) -> None:
    for deployment in [*config["deployments"], *ecs_config["deployments"]]:
        env = deployment["work_pool"]["job_variables"]["env"]
        assert "botocore" in env["PREFECT_LOGGING_EXTRA_LOGGERS"].split(","), deployment["name"]


def test_botocore_debug_output_never_reaches_a_log() -> None:
    import logging

    import tasks.aws  # noqa: F401 - importing it sets the levels

    assert logging.getLogger("botocore").getEffectiveLevel() == logging.WARNING
