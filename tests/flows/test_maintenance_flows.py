"""The three operational flows end to end under the Prefect harness, on in-process moto.

Few on purpose (the harness is shared and slow): a failing health check ends Failed and
its alert reaches the alarms topic; TTL verification passes on a healthy stack, fails on
one millisecond TTL and repairs a disabled TTL with ``fix``; monthly maintenance changes
nothing in a dry run and does everything in a real one.
"""

from __future__ import annotations

import json
import time
from typing import Any
from unittest.mock import patch

import boto3
from prefect import State, get_client

from deployments.local_stack import StackInfo
from flows.health_check import health_check
from flows.monthly_maintenance import monthly_maintenance
from flows.ttl_verification import ttl_verification
from lambdas.processor.storage import store_events
from lambdas.shared.contract import parse_event
from lambdas.shared.weeks import Week
from tasks.dynamodb.week_index import query_week_records
from tasks.week_archive import read_week
from tests.conftest import alerts_received, client_error, subscribe_alarm_inbox
from tests.flows.surfaces import retry_from_ui, run_artifacts, run_logs, run_name

REGION = "us-east-1"
OLD_WEEK = Week(2025, 10)


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def seed_old_week(stack: StackInfo, count: int) -> None:
    start = OLD_WEEK.start_ms
    events = [
        parse_event(
            json.dumps(
                {"eventType": "query", "requestId": f"r{i}", "timestamp": start + i, "query": "Go?"}
            )
        )
        for i in range(count)
    ]
    settings = stack.settings
    store_events(
        client("dynamodb"),
        events,  # type: ignore[arg-type]
        query_events_table=settings.query_events_table,
        analytics_table=settings.analytics_table,
        ttl_days=settings.query_events_ttl_days,
    )


def findings_markdown(state: State, key: str) -> str:
    """The findings artifact of one flow run, read from the harness's API.

    A raw filter request: the 3.8 client sends ``null`` for filters it is not given, which
    the server refuses, and an empty task-run filter would drop flow-level artifacts.
    """
    body = {
        "artifacts": {"key": {"any_": [key]}},
        "flow_runs": {"id": {"any_": [str(state.state_details.flow_run_id)]}},
        "sort": "CREATED_DESC",
        "limit": 1,
        "offset": 0,
    }
    with get_client(sync_client=True) as prefect:
        artifacts = prefect.request("POST", "/artifacts/filter", json=body).json()
    assert len(artifacts) == 1, f"no {key} artifact for the run"
    return str(artifacts[0]["data"])


def test_health_check_passes_on_a_healthy_stack(aws: StackInfo) -> None:
    state = health_check(return_state=True)
    assert state.is_completed()
    assert "# health-check: PASSED" in findings_markdown(state, "health-check-try01-1-findings")


def test_failing_health_check_ends_failed_and_alerts_the_topic(aws: StackInfo) -> None:
    url = subscribe_alarm_inbox(aws.topic_arn)
    sqs = client("sqs")
    for i in range(11):
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=f"bad {i}", MessageGroupId="analytics")

    state = health_check(return_state=True)

    assert state.is_failed()
    assert "# health-check: FAILED" in findings_markdown(state, "health-check-try01-1-findings")
    # the failure says what is wrong and what to do, once, with no traceback to bury it
    message = state.message or ""
    assert "holds 11 messages (more than 10)" in message
    assert "Next: run dlq-triage" in message and "docs/runbook.md#dlq-alarm" in message
    assert "What to do: docs/runbook.md#failed-health-check" in message
    logs = run_logs(state.state_details.flow_run_id)
    assert not [line for line in logs if "Traceback" in line], logs
    (alert,) = alerts_received(url)
    assert alert["Subject"].startswith("cv-analytics health-check FAILED")
    assert "[FAILED] dead-letter queue" in alert["Message"]
    assert "docs/runbook.md#failed-health-check" in alert["Message"]


def test_a_retried_run_keeps_each_tries_artifacts_apart_and_in_order(aws: StackInfo) -> None:
    # Given a health check that fails (11 messages on the DLQ), retried twice from the UI
    sqs = client("sqs")
    for i in range(11):
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=f"bad {i}", MessageGroupId="analytics")
    state = health_check(return_state=True)
    for _ in range(2):
        state = retry_from_ui(health_check, state)
        assert state.is_failed()
    # Then the run holds one findings artifact per try, each key its own, and the keys
    # sort in the order the artifacts were made
    artifacts = run_artifacts(state.state_details.flow_run_id)
    keys = [a["key"] for a in artifacts]  # oldest first
    assert keys == [f"health-check-try0{n}-1-findings" for n in (1, 2, 3)], keys
    assert sorted(keys) == keys and len(set(keys)) == 3


def test_ttl_verification_passes_then_fails_on_one_millisecond_ttl(aws: StackInfo) -> None:
    assert ttl_verification(return_state=True).is_completed()

    now_ms = int(time.time() * 1000)
    client("dynamodb").put_item(
        TableName=aws.settings.query_events_table,
        Item={
            "requestId": {"S": "bug"},
            "eventKey": {"S": f"query#{now_ms:013d}"},
            "timestamp": {"N": str(now_ms)},
            "ttl": {"N": str(now_ms + 7 * 86_400_000)},
        },
    )
    state = ttl_verification(return_state=True)
    assert state.is_failed()
    assert "TTL milliseconds: 1 items with a TTL in milliseconds" in (state.message or "")


def test_ttl_verification_proves_the_leads_retention(aws: StackInfo) -> None:
    # Given a lead kept past its retention (the owner's 30 days) plus the grace period
    assert ttl_verification(return_state=True).is_completed()
    long_ago = int(time.time()) - 40 * 86_400
    client("dynamodb").put_item(
        TableName=aws.settings.leads_table,
        Item={
            "requestId": {"S": "old-lead"},
            "week": {"S": "2025-W01"},
            "status": {"S": "sent"},
            "ttl": {"N": str(long_ago + 30 * 86_400)},
        },
    )
    # Then ttl-verification checks the leads table too, and fails on the overdue lead
    state = ttl_verification(return_state=True)
    assert state.is_failed()
    assert aws.settings.leads_table in (state.message or "")


def test_ttl_verification_fix_enables_a_disabled_ttl(aws: StackInfo) -> None:
    table = aws.settings.query_events_table
    dynamodb = client("dynamodb")
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    assert ttl_verification(return_state=True).is_failed()

    assert ttl_verification(fix=True, return_state=True).is_completed()
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")


def test_monthly_maintenance_dry_run_changes_nothing_and_real_run_does_everything(
    aws: StackInfo,
) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    settings = aws.settings
    seed_old_week(aws, 3)
    logs, dynamodb = client("logs"), client("dynamodb")
    group = "/aws/lambda/cv-analytics-reporter"
    logs.create_log_group(logGroupName=group)
    dynamodb.update_continuous_backups(
        TableName=settings.analytics_table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages

    def retention() -> int | None:
        found = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
        days: int | None = found.get("retentionInDays")
        return days

    def pitr() -> str:
        backups = dynamodb.describe_continuous_backups(TableName=settings.analytics_table)
        return str(
            backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
                "PointInTimeRecoveryStatus"
            ]
        )

    def backups() -> list[str]:
        found = dynamodb.list_backups(TableName=settings.analytics_table)["BackupSummaries"]
        return [b["BackupName"] for b in found]

    # Dry run: reports, changes nothing, sends nothing.
    dry = monthly_maintenance(dry_run=True, return_state=True)
    assert run_name(dry.state_details.flow_run_id).startswith("monthly-maintenance-dry-run-")
    assert dry.is_completed(), dry.message
    assert (
        len(query_week_records(aws.settings.analytics_table, OLD_WEEK)) == 3
        and read_week(OLD_WEEK, aws.settings).source == "dynamodb"
    )
    assert (retention(), pitr(), backups(), len(sent)) == (None, "DISABLED", [], 0)
    markdown = findings_markdown(dry, "monthly-maintenance-try01-1-findings")
    assert "would archive 3 records" in markdown and "would enable" in markdown

    # Real run: all of it.
    state = monthly_maintenance(return_state=True)
    assert state.is_completed(), state.message
    assert query_week_records(aws.settings.analytics_table, OLD_WEEK) == []
    assert (
        read_week(OLD_WEEK, aws.settings).source == "archive"
        and len(read_week(OLD_WEEK, aws.settings).table) == 3
    )
    assert (retention(), pitr()) == (14, "ENABLED")
    (name,) = backups()
    assert name.startswith("cv-analytics-analytics-monthly-")
    assert len(sent) == 1 and "monthly maintenance" in sent[0].subject
    alarm = client("cloudwatch").describe_alarms(AlarmNames=["cv-analytics-dlq-depth"])
    assert alarm["MetricAlarms"][0]["StateValue"] == "OK"
    markdown = findings_markdown(state, "monthly-maintenance-try01-1-findings")
    assert "set to ALARM (read back ALARM) and back to OK (read back OK)" in markdown


def test_failed_archival_fails_the_run_deletes_nothing_and_alerts(aws: StackInfo) -> None:
    url = subscribe_alarm_inbox(aws.topic_arn)
    seed_old_week(aws, 2)
    denied = client_error("AccessDenied", "PutObject", status=403, message="denied")

    with patch("tasks.week_archive.put_bytes", side_effect=denied):
        state = monthly_maintenance(test_alarms=False, return_state=True)

    assert state.is_failed()
    assert f"[FAILED] archive {OLD_WEEK}: not archived, nothing deleted" in (state.message or "")
    assert (
        len(query_week_records(aws.settings.analytics_table, OLD_WEEK)) == 2
        and read_week(OLD_WEEK, aws.settings).source == "dynamodb"
    )
    (alert,) = alerts_received(url)
    assert f"archive {OLD_WEEK}" in alert["Message"]


def test_findings_survive_an_alert_that_cannot_be_published(aws: StackInfo) -> None:
    client("sns").delete_topic(TopicArn=aws.topic_arn)
    client("cloudwatch").set_alarm_state(
        AlarmName="cv-analytics-processor-errors", StateValue="ALARM", StateReason="test"
    )
    state = health_check(return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert "cv-analytics-processor-errors" in message and "alert NOT published" in message


def test_ttl_verification_refuses_a_segment_count_that_is_not_an_integer_before_any_work(
    aws: StackInfo,
) -> None:
    # Given a disabled TTL, which a run with fix=True would enable
    table = aws.settings.query_events_table
    dynamodb = client("dynamodb")
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    # When the segments (or fix) are not what the form sends: True is not 1, "3" is not 3
    refused: list[tuple[dict[str, Any], str]] = [
        ({"fix": True, "segments": True}, "segments"),
        ({"fix": True, "segments": "3"}, "segments"),
        ({"fix": True, "segments": 65}, "segments"),
        ({"fix": "true", "segments": 3}, "fix"),
    ]
    for parameters, named in refused:
        state = ttl_verification(**parameters, return_state=True)
        # Then each run is refused, names the parameter, and did nothing (TTL still off)
        assert state.is_failed(), parameters
        message = state.message or ""
        assert "Validation of flow parameters failed" in message and named in message, message
    status = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert status["TimeToLiveStatus"] == "DISABLED"
    assert alerts_received(inbox) == []
