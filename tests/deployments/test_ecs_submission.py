"""The production path up to ECS: ``prefect.ecs.yaml`` deployed with the CLI to a temporary
Prefect server (``conftest.py``), a run created, and prefect-aws's real ``ECSWorker``
polling the work pool and submitting it to moto's ECS. The assertions read what ECS
received back from moto, and that a second run of a limited deployment never reaches ECS.

How far this goes: the worker's whole submission path runs against moto (EC2
``DescribeVpcs``/``DescribeSubnets`` to check the subnet, ECS ``RegisterTaskDefinition``
and ``RunTask``). What follows in AWS cannot follow here, and the test stops there:

- moto 5.2's ``RunTask`` raises ``TypeError`` for a Fargate task definition that sets
  memory on the task only (valid in AWS, and what the worker registers): its EC2
  placement arithmetic adds up container memory. ``tolerate_task_level_memory`` patches
  that one function for the test;
- moto's ``RunTask`` in ``awsvpc`` mode fails (``AttributeError: private_dns_name``) in a
  VPC without DNS host names; the test's VPC has them on, as VPC endpoints need anyway;
- moto's ECS never starts the container, so the flow run stays Pending (no engine runs);
- moto's ECS publishes no "ECS Task State Change" events to EventBridge, so the worker's
  observer (an SQS poller on ``prefect-ecs-tasks-events``, through aiobotocore) would
  have nothing to read; it is replaced by a no-op here. Its later calls (ECS
  ``DescribeTasks``/``ListTagsForResource``, Logs ``GetLogEvents`` for a crashed run,
  ``DeregisterTaskDefinition``) are only made in answer to those events.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun
from prefect.testing.cli import invoke_and_assert
from prefect_aws.workers import ecs_worker
from prefect_aws.workers.ecs_worker import ECSWorker

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_ECS_YAML = REPO_ROOT / "prefect.ecs.yaml"
REGION = "us-east-1"
POOL = "cv-analytics-ecs"
CLUSTER = "cv-analytics"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cv-analytics-flows:test"


@pytest.fixture
def aws_network() -> Iterator[dict[str, str]]:
    """In-process moto: the cluster, the two roles and a private subnet with its group."""
    with mock_aws():
        ecs = boto3.client("ecs", region_name=REGION)
        ec2 = boto3.client("ec2", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)
        ecs.create_cluster(clusterName=CLUSTER)
        trust = (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
        )
        roles = {
            name: iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
            for name in ("cv-analytics-flows", "cv-analytics-ecs-execution")
        }
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        # as VPC endpoints need it; moto's RunTask also fails without it (below)
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(
            GroupName="cv-analytics-flows", Description="flows tasks", VpcId=vpc
        )["GroupId"]
        yield {
            "CV_ANALYTICS_IMAGE": IMAGE,
            "CV_ANALYTICS_ECS_CLUSTER": CLUSTER,
            "CV_ANALYTICS_TASK_ROLE_ARN": roles["cv-analytics-flows"],
            "CV_ANALYTICS_EXECUTION_ROLE_ARN": roles["cv-analytics-ecs-execution"],
            "CV_ANALYTICS_VPC_ID": vpc,
            "CV_ANALYTICS_SUBNET_ID": subnet,
            "CV_ANALYTICS_SECURITY_GROUP_ID": group,
            "CV_ANALYTICS_AWS_CREDENTIALS_BLOCK": "",
        }


def create_ecs_pool() -> None:
    """What ``prefect work-pool create cv-analytics-ecs --type ecs`` creates."""
    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=POOL, type="ecs", base_job_template=ECSWorker.get_default_base_job_template()
            ),
            overwrite=True,
        )


def deploy_ecs_set(variables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The command of docs/deploy.md, from the repository root, the variables exported
    (the CLI in-process, with Prefect's own test runner: no second interpreter to start)."""
    for key in [k for k in os.environ if k.startswith("CV_ANALYTICS_")]:
        monkeypatch.delenv(key)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    result = invoke_and_assert(
        ["deploy", "--all", "--prefect-file", "prefect.ecs.yaml"],
        temp_dir=str(REPO_ROOT),
        echo=False,
    )
    return str(result.stdout)


def tolerate_task_level_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto sums container memory for placement even on Fargate; AWS needs none there."""
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def tolerant(task_definition: Any) -> dict[str, Any]:
        containers = task_definition.container_definitions
        task_definition.container_definitions = [
            {**c, "memory": c.get("memory") or c.get("memoryReservation") or 0} for c in containers
        ]
        try:
            return original(task_definition)
        finally:
            task_definition.container_definitions = containers

    monkeypatch.setattr(
        EC2ContainerServiceBackend, "_calculate_task_resource_requirements", staticmethod(tolerant)
    )


async def _no_observer() -> None:
    """The observer reads EventBridge's ECS events from SQS; moto's ECS sends none."""


async def poll_once() -> None:
    """One iteration of ``prefect worker start --pool cv-analytics-ecs``: sync, poll, submit."""
    async with ECSWorker(work_pool_name=POOL) as worker:
        await worker.sync_with_backend()
        submitted = await worker.get_and_submit_flow_runs()
        assert submitted, "the worker found no scheduled run in the pool"
    # leaving the context waits for the submissions the worker started


def run_of(deployment_name: str, **parameters: Any) -> FlowRun:
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_name)
        return client.create_flow_run_from_deployment(deployment.id, parameters=parameters)


def read_run(run: FlowRun) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run.id)


def yaml_env() -> dict[str, str]:
    """The container environment prefect.ecs.yaml asks for (placeholders as deployed)."""
    config = yaml.safe_load(PREFECT_ECS_YAML.read_text(encoding="utf-8"))
    env: dict[str, str] = config["definitions"]["work_pools"]["ecs"]["job_variables"]["env"]
    return env


def test_ecs_runs_reach_moto_ecs_as_prefect_ecs_yaml_describes(
    empty_prefect_server: str, aws_network: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the ECS pool and the ECS set deployed as docs/deploy.md says
    monkeypatch.setattr(ecs_worker, "start_observer", _no_observer)
    monkeypatch.setattr(ecs_worker, "stop_observer", _no_observer)
    monkeypatch.setattr(ecs_worker, "_TASK_DEFINITION_CACHE", {})
    tolerate_task_level_memory(monkeypatch)
    create_ecs_pool()
    output = deploy_ecs_set(aws_network, monkeypatch)
    assert output.count("successfully created") == 8, output[-2000:]

    # When a triage run is created and the ECS worker polls once
    run = run_of("dlq-triage/dlq-triage", dry_run=True)
    asyncio.run(poll_once())

    # Then ECS has one task definition, registered from the pool's template and the yaml
    ecs = boto3.client("ecs", region_name=REGION)
    [definition_arn] = ecs.list_task_definitions()["taskDefinitionArns"]
    definition = ecs.describe_task_definition(taskDefinition=definition_arn)["taskDefinition"]
    [container] = definition["containerDefinitions"]
    assert container["name"] == "prefect"
    assert container["image"] == IMAGE
    assert definition["executionRoleArn"] == aws_network["CV_ANALYTICS_EXECUTION_ROLE_ARN"]
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["networkMode"] == "awsvpc"
    assert (definition["cpu"], definition["memory"]) == ("512", "1024")
    logs = container["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-region"] == REGION

    # and one task in the cluster, started the way prefect.ecs.yaml says
    [task_arn] = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    [task] = ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"]
    assert task["taskDefinitionArn"] == definition_arn
    assert task["launchType"] == "FARGATE"
    assert task["clusterArn"].endswith(f":cluster/{CLUSTER}")
    overrides = task["overrides"]
    assert overrides["taskRoleArn"] == aws_network["CV_ANALYTICS_TASK_ROLE_ARN"]
    [override] = overrides["containerOverrides"]
    assert override["name"] == "prefect"
    assert override["command"][:3] == ["prefect", "flow-run", "execute"] or override["command"][
        :3
    ] == ["python", "-m", "prefect.engine"], override["command"]
    environment = {item["name"]: item["value"] for item in override["environment"]}
    expected = dict(yaml_env(), CV_ANALYTICS_AWS_CREDENTIALS_BLOCK="")
    assert {k: environment.get(k) for k in expected} == expected
    assert environment["PREFECT__FLOW_RUN_ID"] == str(run.id)
    assert environment["PREFECT_API_URL"] == empty_prefect_server
    assert not [k for k in environment if k.startswith("AWS_")], "the task role, not keys"
    tags = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=task_arn)["tags"]}
    assert tags.get("prefect.io/flow-run-id") == str(run.id)

    # the network: the private subnet and its group, no public IP
    [attachment] = task["attachments"]
    details = {d["name"]: d["value"] for d in attachment["details"]}
    assert details["subnetId"] == aws_network["CV_ANALYTICS_SUBNET_ID"]
    ec2 = boto3.client("ec2", region_name=REGION)
    [eni] = ec2.describe_network_interfaces(NetworkInterfaceIds=[details["networkInterfaceId"]])[
        "NetworkInterfaces"
    ]
    assert [g["GroupId"] for g in eni["Groups"]] == [aws_network["CV_ANALYTICS_SECURITY_GROUP_ID"]]
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    recorded = ecs_backends[DEFAULT_ACCOUNT_ID][REGION].tasks[CLUSTER][task_arn]
    assert recorded.network_configuration == {
        "awsvpcConfiguration": {
            "subnets": [aws_network["CV_ANALYTICS_SUBNET_ID"]],
            "securityGroups": [aws_network["CV_ANALYTICS_SECURITY_GROUP_ID"]],
            "assignPublicIp": "DISABLED",
        }
    }

    # and the run knows its task: Pending (moto starts no container), the task as its pid
    submitted = read_run(run)
    assert submitted.state is not None and submitted.state.is_pending(), submitted.state
    assert submitted.infrastructure_pid == f"{CLUSTER}::{task_arn}"

    # When, the first still holding its slot, a second triage run and two weekly reports
    # come in (prefect.ecs.yaml: limit 1; triage CANCEL_NEW, reports ENQUEUE)
    second_triage = run_of("dlq-triage/dlq-triage")
    reports = [run_of("weekly-report/weekly-report") for _ in range(2)]
    asyncio.run(poll_once())

    # Then the second triage is cancelled before ECS hears of it, one report gets a task
    # and the other waits for the slot
    cancelled = read_run(second_triage)
    assert cancelled.state is not None and cancelled.state.is_cancelled(), cancelled.state
    assert cancelled.infrastructure_pid is None
    states = sorted(
        (str(r.state_type and r.state_type.value), r.state_name) for r in map(read_run, reports)
    )
    assert states == [("PENDING", "Submitting"), ("SCHEDULED", "AwaitingConcurrencySlot")], states
    assert len(ecs.list_tasks(cluster=CLUSTER)["taskArns"]) == 2
