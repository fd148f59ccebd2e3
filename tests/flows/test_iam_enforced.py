"""Least privilege, proven: every flow and the processor run on moto with IAM enforced.

Each runs as an assumed role holding exactly the template's policy for it: the flows as a
role with the ``FlowsPolicy`` managed policy attached (as the ECS task role would be), the
processor handler (and the local stand-in for its event source mapping, which on AWS polls
with the function's role) as a role with ``ProcessorRole``'s inline policy. The policies
are read from ``deployments/template.yaml`` and resolved to the provisioned stack. A call
the policy does not grant is refused by moto with ``AccessDenied``; every refusal any
client sees is recorded, and each test asserts there was none (flows that turn errors into
failed checks would otherwise hide one).

moto's evaluation is not AWS's; :func:`moto_view` translates the policy into what moto can
evaluate, and docs/environment.md ("IAM on moto") says what that leaves unchecked
(conditions; resources of every service but SQS and S3). tests/deployments/test_template.py
checks those parts statically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import enable_iam_authentication
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from deployments.local_stack import EventSourceMapping, StackInfo, local_template
from deployments.template import Template
from deployments.worker import load_sample, send_all
from flows.dlq_triage import dlq_triage
from flows.health_check import health_check
from flows.leads import leads
from flows.monthly_maintenance import monthly_maintenance
from flows.report_regeneration import report_regeneration
from flows.ttl_verification import ttl_verification
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler, reset_clients
from lambdas.shared.weeks import Week
from tasks.aws import reset_aws_clients
from tasks.dynamodb.leads import delivered_count
from tasks.dynamodb.week_index import query_week_records
from tasks.settings import Settings
from tasks.sqs import queues
from tasks.week_archive import read_week
from tests.conftest import query

REGION = "us-east-1"
SAMPLE_WEEK = Week(2025, 45)
STALE_WEEK = Week(2025, 46)
OLD_WEEK = Week(2025, 10)  # far older than archive_after_days: monthly maintenance archives it

#: AWS authorises a batch call as its single action; moto names the batch call itself.
BATCH_ACTIONS = {
    "sqs:SendMessage": "sqs:SendMessageBatch",
    "sqs:DeleteMessage": "sqs:DeleteMessageBatch",
    "sqs:ChangeMessageVisibility": "sqs:ChangeMessageVisibilityBatch",
}
#: moto names an action after the request's signing name, not the IAM service prefix.
SIGNING_NAMES = {"cloudwatch": "monitoring"}
#: Actions of services whose requests moto gives a resource ARN (SQS: the queue of the URL;
#: S3: bucket or bucket/key). Every other request is checked against Resource "*" alone,
#: and SQS's GetQueueUrl (it names a queue, not a URL) too.
_RESOURCE_UNRESOLVED_BY_MOTO = frozenset({"sqs:GetQueueUrl", "sqs:ListQueues"})

DENIAL_CODES = ("AccessDenied", "InvalidClientTokenId", "UnrecognizedClient")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _moto_resolves_resource(action: str) -> bool:
    service = action.split(":", 1)[0]
    return service in ("s3", "sqs") and action not in _RESOURCE_UNRESOLVED_BY_MOTO


def _moto_action(action: str) -> str:
    service, name = action.split(":", 1)
    return f"{SIGNING_NAMES.get(service, service)}:{name}"


def moto_view(document: Mapping[str, Any]) -> dict[str, Any]:
    """The policy as moto can evaluate it, granting no action the policy does not grant.

    Per statement: the same actions, plus the batch names moto uses for them, under the
    signing name moto checks; the same resources for actions moto resolves a resource for,
    Resource "*" for the rest (moto authorises those requests against "*" only, so the
    statement's own ARNs would never match); conditions dropped, as moto skips them for
    identity policies anyway.
    """
    statements: list[dict[str, Any]] = []
    for index, statement in enumerate(_as_list(document["Statement"])):
        actions = _as_list(statement["Action"])
        actions += [BATCH_ACTIONS[a] for a in actions if a in BATCH_ACTIONS]
        resolved = [a for a in actions if _moto_resolves_resource(a)]
        unresolved = [a for a in actions if not _moto_resolves_resource(a)]
        for part, resource in ((resolved, statement["Resource"]), (unresolved, "*")):
            if part:
                statements.append(
                    {
                        "Sid": f"{statement.get('Sid', 'S')}{index}{len(statements)}",
                        "Effect": statement["Effect"],
                        "Action": sorted(_moto_action(a) for a in part),
                        "Resource": resource,
                    }
                )
    return {"Version": "2012-10-17", "Statement": statements}


def _substitute(node: Any, replacements: Mapping[str, str]) -> Any:
    """``node`` with each ``Fn::GetAtt <id>.Arn`` of a replaced resource given as a string."""
    if isinstance(node, dict):
        if list(node) == ["Fn::GetAtt"] and node["Fn::GetAtt"][0] in replacements:
            return replacements[node["Fn::GetAtt"][0]]
        return {key: _substitute(value, replacements) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, replacements) for value in node]
    return node


def resolved_policy(template: Template, raw: Any, key_arns: Mapping[str, str]) -> dict[str, Any]:
    """A policy document of the template resolved to the stack (KMS key ARNs given)."""
    return dict(template.resolve(_substitute(raw, key_arns)))


# ---------------------------------------------------------------------------- principals


@dataclass
class Principals:
    """The two runtime roles, assumed, and every refusal a client has seen since."""

    flows: dict[str, str]
    processor: dict[str, str]
    denials: list[str] = field(default_factory=list)

    def record(self, http_response: Any, parsed: Mapping[str, Any], model: Any, **_: Any) -> None:
        # moto answers a JSON-protocol refusal (DynamoDB) in XML: botocore sees only the 403
        code = str(parsed.get("Error", {}).get("Code", ""))
        if code.startswith(DENIAL_CODES) or http_response.status_code == 403:
            self.denials.append(f"{model.service_model.service_name}:{model.name} {code}")

    def use(self, credentials: Mapping[str, str]) -> None:
        """Make every client made from now on (flows' and processor's) use these credentials."""
        os.environ.update(credentials)
        boto3.setup_default_session(region_name=REGION)  # a session reads credentials once
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("after-call", self.record)
        reset_clients()
        reset_aws_clients()

    @contextmanager
    def acting_as(self, credentials: Mapping[str, str]) -> Iterator[None]:
        """Run as the principal with IAM enforced; the previous credentials afterwards."""
        keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
        previous = {key: os.environ[key] for key in keys}
        self.use(credentials)
        try:
            with enable_iam_authentication():
                yield
        finally:
            self.use(previous)


def _assume(role_arn: str, session: str) -> dict[str, str]:
    sts = boto3.client("sts", region_name=REGION)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


@pytest.fixture
def principals(
    aws: StackInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Principals]:
    """The flows' and the processor's roles, created (IAM not yet enforced) from the template."""
    monkeypatch.setenv("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(tmp_path / "reports"))
    template = local_template(Settings(), DEFAULT_ACCOUNT_ID)
    iam = boto3.client("iam", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    key_arns = {
        key: kms.create_key(Description=key)["KeyMetadata"]["Arn"]
        for key in template.logical_ids("AWS::KMS::Key")
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }

    (policy_id,) = template.logical_ids("AWS::IAM::ManagedPolicy")
    flows_document = resolved_policy(
        template, template.raw_properties(policy_id)["PolicyDocument"], key_arns
    )
    flows_role = iam.create_role(
        RoleName="cv-analytics-flows-task", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    flows_policy = iam.create_policy(
        PolicyName=template.physical_name(policy_id),
        PolicyDocument=json.dumps(moto_view(flows_document)),
    )["Policy"]
    iam.attach_role_policy(RoleName=flows_role["RoleName"], PolicyArn=flows_policy["Arn"])

    (function_id,) = template.logical_ids("AWS::Lambda::Function")
    role_id = template.raw_properties(function_id)["Role"]["Fn::GetAtt"][0]
    processor_role = iam.create_role(
        RoleName="cv-analytics-processor", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    for inline in template.raw_properties(role_id)["Policies"]:
        document = resolved_policy(template, inline["PolicyDocument"], key_arns)
        iam.put_role_policy(
            RoleName=processor_role["RoleName"],
            PolicyName=inline["PolicyName"],
            PolicyDocument=json.dumps(moto_view(document)),
        )

    found = Principals(
        flows=_assume(flows_role["Arn"], "flows"),
        processor=_assume(processor_role["Arn"], "processor"),
    )
    yield found
    boto3.DEFAULT_SESSION = None
    reset_clients()
    reset_aws_clients()


def admin(service: str) -> Any:
    """A client with the test's own (unchecked) credentials, for setting the scene."""
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def emails_sent() -> int:
    return len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def process_queue(principals: Principals) -> None:
    """The processor (and its poller) consume the main queue as the processor's role."""
    with principals.acting_as(principals.processor):
        EventSourceMapping(handler).drain()
    assert queues.queue_total(Settings().queue_name) == 0


def put_dead_letter(stack: StackInfo, body: str, dedup: str) -> None:
    admin("sqs").send_message(
        QueueUrl=stack.dlq_url,
        MessageBody=body,
        MessageGroupId="analytics",
        MessageDeduplicationId=dedup,
    )


# ---------------------------------------------------------------------------- the runs


def test_the_processor_stores_the_sample_under_its_role(
    aws: StackInfo, principals: Principals
) -> None:
    send_all(load_sample(), aws.queue_url, batched=True)

    process_queue(principals)

    assert principals.denials == []
    assert len(query_week_records(aws.settings.analytics_table, SAMPLE_WEEK)) > 0
    assert queues.queue_depth(aws.settings.dlq_name) > 0  # the sample's invalid bodies


def test_weekly_report_and_regeneration_run_under_the_flows_policy(
    aws: StackInfo, principals: Principals
) -> None:
    send_all(load_sample(), aws.queue_url, batched=True)
    process_queue(principals)
    before = emails_sent()

    with principals.acting_as(principals.flows):
        report = weekly_report(STALE_WEEK.id, return_state=True)
        regenerated = report_regeneration(SAMPLE_WEEK.id, return_state=True)

    assert principals.denials == []
    assert report.is_completed(), report.message
    assert regenerated.is_completed(), regenerated.message
    assert emails_sent() == before + 2


def test_the_owners_word_is_stored_and_honoured_under_the_flows_policy(
    aws: StackInfo, principals: Principals
) -> None:
    from flows.owner_feedback import owner_feedback

    send_all(load_sample(), aws.queue_url, batched=True)
    process_queue(principals)

    with principals.acting_as(principals.flows):
        dismissed = owner_feedback("compensation:pay", "dismiss", note="no", return_state=True)
        joined = owner_feedback("skills:cobol", "join", into="skills:fortran", return_state=True)
        undone = owner_feedback("compensation:pay", "undo", return_state=True)
        again = owner_feedback("compensation:pay", "dismiss", return_state=True)
        report = report_regeneration(STALE_WEEK.id, return_state=True)

    assert principals.denials == []
    for state in (dismissed, joined, undone, again, report):
        assert state.is_completed(), state.message
    figures = report.result()
    assert [g.dismissed for g in figures.cv_gaps if g.key == "compensation:pay"] == [True]
    assert "skills:cobol" not in {t.key for t in figures.themes}


def test_dlq_triage_redrives_archives_and_regenerates_under_the_flows_policy(
    aws: StackInfo, principals: Principals
) -> None:
    early = query("early-1", "2025-11-11T10:00:00")
    admin("sqs").send_message(
        QueueUrl=aws.queue_url, MessageBody=json.dumps(early), MessageGroupId="analytics"
    )
    process_queue(principals)
    with principals.acting_as(principals.flows):
        assert weekly_report(STALE_WEEK.id).total_queries == 1  # sent: W46 has a ledger now
    late = query("late-1", "2025-11-12T09:30:00", "does he know Go?")
    put_dead_letter(aws, json.dumps(late), "redrivable")
    put_dead_letter(aws, "{not json", "poison")

    def processor_drains_then_flow_reads(name: str) -> int:
        process_queue(principals)  # the processor, as its role, consumes the redriven event
        return queues.queue_total(name)  # the flow, as its role, sees the queue drained

    with (
        principals.acting_as(principals.flows),
        patch("flows.dlq_triage.main_queue_depth", processor_drains_then_flow_reads),
    ):
        summary = dlq_triage(regenerate_reports=True)

    assert principals.denials == []
    assert (summary.redriven, summary.archived) == (1, 1)
    assert summary.regenerated_weeks == [STALE_WEEK.id]


def test_ttl_health_and_maintenance_run_under_the_flows_policy(
    aws: StackInfo, principals: Principals
) -> None:
    # Given what each flow has work for: a disabled TTL, a log group without retention,
    # PITR off, and (after TTL verification, which would find its TTL long past) an old
    # week to archive, stored by the processor
    settings = aws.settings
    admin("dynamodb").update_time_to_live(
        TableName=settings.query_events_table,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": settings.ttl_attribute},
    )
    admin("logs").create_log_group(logGroupName=f"{settings.log_group_prefix}reporter")
    admin("dynamodb").update_continuous_backups(
        TableName=settings.analytics_table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )
    with principals.acting_as(principals.flows):
        ttl = ttl_verification(fix=True, return_state=True)
        health = health_check(return_state=True)
    old = query("old-1", "2025-03-04T10:00:00")
    admin("sqs").send_message(
        QueueUrl=aws.queue_url, MessageBody=json.dumps(old), MessageGroupId="analytics"
    )
    process_queue(principals)
    with principals.acting_as(principals.flows):
        maintenance = monthly_maintenance(test_alarms=True, return_state=True)
        from_archive = report_regeneration(OLD_WEEK.id, return_state=True)

    assert principals.denials == []
    for state in (ttl, health, maintenance, from_archive):
        assert state.is_completed(), state.message
    assert read_week(OLD_WEEK, aws.settings).source == "archive"


def test_leads_are_recorded_sealed_and_delivered_under_the_flows_policy(
    aws: StackInfo, principals: Principals
) -> None:
    # Given two visitors who left details an hour ago, stored by the processor's role
    asked_at = datetime.now(UTC) - timedelta(hours=1)
    for number, text in enumerate(("mail me at jo@example.org", "call +44 7700 900123")):
        event = query(f"lead-{number}", asked_at.strftime("%Y-%m-%dT%H:%M:%S"), text, "s1")
        admin("sqs").send_message(
            QueueUrl=aws.queue_url, MessageBody=json.dumps(event), MessageGroupId="analytics"
        )
    process_queue(principals)
    before = emails_sent()

    # When the leads flow runs twice, and the weekly report's count is read, as the flows
    with principals.acting_as(principals.flows):
        first = leads()
        second = leads()
    # and again once the visitor left the same number again (a repeat: its session's
    # first lead is decrypted to compare, the repeat recorded, nothing sent)
    again = query("lead-2", asked_at.strftime("%Y-%m-%dT%H:%M:%S"), "call +447700900123", "s1")
    admin("sqs").send_message(
        QueueUrl=aws.queue_url, MessageBody=json.dumps(again), MessageGroupId="analytics"
    )
    process_queue(principals)
    with principals.acting_as(principals.flows):
        third = leads()
        delivered = delivered_count(aws.settings.leads_table, Week.of(asked_at))

    # Then the policy allowed every call (KMS, the leads table and its index, SES)
    assert principals.denials == []
    assert (first.recorded, first.delivered, second.delivered) == (2, 2, 0)
    assert (third.recorded, third.repeats, third.delivered) == (1, 1, 0)
    assert emails_sent() == before + 2
    assert delivered == 3  # the repeat reached the owner with its first lead


# ---------------------------------------------------------------------------- the refusals


def _refused(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        # moto answers a JSON-protocol refusal (SQS, DynamoDB) in XML: botocore sees the 403
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(exc.response["Error"]["Code"]).startswith("AccessDenied") or status == 403
    return False


def test_the_flows_may_not_consume_the_live_queue_nor_leave_their_prefixes(
    aws: StackInfo, principals: Principals
) -> None:
    bucket = aws.settings.archive_bucket
    with principals.acting_as(principals.flows):
        sqs, s3 = boto3.client("sqs"), boto3.client("s3")
        # the live queue: no receive, no delete, no visibility change
        assert _refused(sqs.receive_message, QueueUrl=aws.queue_url)
        assert _refused(sqs.delete_message, QueueUrl=aws.queue_url, ReceiptHandle="any")
        assert _refused(
            sqs.change_message_visibility,
            QueueUrl=aws.queue_url,
            ReceiptHandle="any",
            VisibilityTimeout=0,
        )
        # objects outside the prefixes the flows write
        for key in ("other/object.json", "object.json", "reportsX/object.json"):
            assert _refused(s3.put_object, Bucket=bucket, Key=key, Body=b"x"), key
            assert _refused(s3.get_object, Bucket=bucket, Key=key), key
        # and the same principal may do what triage does (the refusals are not blanket)
        assert not _refused(sqs.receive_message, QueueUrl=aws.dlq_url)
        assert not _refused(
            sqs.send_message,
            QueueUrl=aws.queue_url,
            MessageBody="{}",
            MessageGroupId="analytics",
            MessageDeduplicationId="allowed",
        )
        assert not _refused(
            s3.put_object, Bucket=bucket, Key="dlq/2025/01/01/x.jsonl.gz", Body=b"x"
        )


def test_moto_view_grants_only_the_templates_actions() -> None:
    """The translation adds only moto's names for granted actions, and keeps every resource
    moto can check (a vacuous view, e.g. everything on "*", would make the runs prove nothing)."""
    template = Template()
    (policy_id,) = template.logical_ids("AWS::IAM::ManagedPolicy")
    keys = {
        key: f"arn:aws:kms:{REGION}:{DEFAULT_ACCOUNT_ID}:key/k"
        for key in ("AlarmTopicKey", "LeadsKey")
    }
    document = resolved_policy(template, template.raw_properties(policy_id)["PolicyDocument"], keys)
    granted = {a for s in document["Statement"] for a in _as_list(s["Action"])}
    expected = {_moto_action(a) for a in granted}
    expected |= {BATCH_ACTIONS[a] for a in granted if a in BATCH_ACTIONS}

    view = moto_view(document)["Statement"]

    assert {a for s in view for a in s["Action"]} == expected
    for statement in view:
        for action in statement["Action"]:
            if _moto_resolves_resource(action):
                assert statement["Resource"] != "*", action
