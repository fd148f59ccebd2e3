"""Operational AWS tasks against in-process moto (``aws`` fixture), through ``.fn()``.

Each check is exercised on a healthy stack and on the fault it exists for; archival is
shown to lose nothing when an upload or a read-back fails.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.exceptions import ClientError

from deployments.local_stack import StackInfo
from lambdas.processor.contract import parse_event
from lambdas.processor.storage import store_events, write_items
from lambdas.processor.weeks import week_bounds_ms
from tasks import cloudwatch, ses
from tasks.core.archive import ArchiveMismatchError, manifest_key, records_key
from tasks.core.health import alarms_check, dlq_check
from tasks.core.maintenance import BackupInfo, backup_name, backup_prefix, backups_to_delete
from tasks.core.ttl import TtlPolicy, item_checks, merge_all, status_check
from tasks.dynamodb import backups, week_index
from tasks.dynamodb import ttl as ttl_tasks
from tasks.dynamodb.week_index import query_week_records
from tasks.s3 import week_archive
from tasks.s3.objects import get_bytes
from tasks.s3.week_archive import read_archived_week, read_week
from tasks.sqs.queues import queue_counts
from tests.conftest import client_error

OLD_WEEK = "2025-W10"  # ended 2025-03-10: long past any 90-day cutoff
POLICY = TtlPolicy()


def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def seed(stack: StackInfo, week: str, count: int, answered: bool = True) -> list[str]:
    """Store ``count`` requests whose queries fall in ``week`` through the processor's path."""
    start, _ = week_bounds_ms(week)
    events = []
    ids = []
    for i in range(count):
        rid = f"{week}-req-{i:03d}"
        ids.append(rid)
        ts = start + 3_600_000 * (i + 1)
        events.append(
            {"eventType": "query", "requestId": rid, "timestamp": ts, "query": f"Go skills {i}?"}
        )
        if answered:
            events.append(
                {
                    "eventType": "response",
                    "requestId": rid,
                    "timestamp": ts + 2000,
                    "matchType": "partial",
                    "matchScore": 61.5,
                    "reasoning": "Match",
                    "performance": {"totalTime": 1234.5, "cacheHit": False},
                    "metadata": {"sourcesUsed": ["Go"]},
                }
            )
    parsed = [parse_event(json.dumps(e)) for e in events]
    settings = stack.settings
    store_events(
        dynamodb(),
        parsed,  # type: ignore[arg-type]
        query_events_table=settings.query_events_table,
        analytics_table=settings.analytics_table,
        ttl_days=settings.query_events_ttl_days,
    )
    return ids


def scan_summary(stack: StackInfo, segments: int = 3) -> Any:
    now_s = int(time.time())
    table = stack.settings.query_events_table
    return merge_all(
        ttl_tasks.scan_ttl_segment.fn(table, POLICY, s, segments, now_s) for s in range(segments)
    )


def put_raw_event(stack: StackInfo, rid: str, ttl: dict[str, str], ts_ms: int) -> None:
    dynamodb().put_item(
        TableName=stack.settings.query_events_table,
        Item={
            "requestId": {"S": rid},
            "eventKey": {"S": f"query#{ts_ms:013d}"},
            "timestamp": {"N": str(ts_ms)},
            "ttl": ttl,
        },
    )


# --- TTL ---------------------------------------------------------------------------------


def test_ttl_healthy_stack_passes_every_check(aws: StackInfo) -> None:
    now_ms = int(time.time() * 1000)
    recent = datetime.fromtimestamp(now_ms / 1000 - 3600, UTC).strftime("%G-W%V")
    seed(aws, recent, 4)
    table = aws.settings.query_events_table
    status, attribute = ttl_tasks.ttl_status.fn(table)
    assert status_check(table, status, attribute, POLICY).ok
    summary = scan_summary(aws)
    assert summary.items_checked == 8  # a query and a response per request
    assert all(check.ok for check in item_checks(table, summary, POLICY))


def test_ttl_disabled_fails_and_fix_enables_it(aws: StackInfo) -> None:
    table = aws.settings.query_events_table
    dynamodb().update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    status, attribute = ttl_tasks.ttl_status.fn(table)
    assert not status_check(table, status, attribute, POLICY).ok

    ttl_tasks.enable_ttl.fn(table, "ttl")
    assert ttl_tasks.ttl_status.fn(table) == ("ENABLED", "ttl")


def test_one_item_in_milliseconds_fails_the_milliseconds_check(aws: StackInfo) -> None:
    now_ms = int(time.time() * 1000)
    put_raw_event(aws, "fine", {"N": str(now_ms // 1000 + 7 * 86_400)}, now_ms)
    put_raw_event(aws, "bug-ms", {"N": str(now_ms + 7 * 86_400_000)}, now_ms)
    summary = scan_summary(aws)
    assert summary.items_checked == 2
    failed = [c for c in item_checks("t", summary, POLICY) if not c.ok]
    assert [c.name for c in failed] == ["t: TTL milliseconds"]
    assert failed[0].figures["examples"] == [f"bug-ms/query#{now_ms:013d}"]


def test_one_overdue_item_fails_with_its_age(aws: StackInfo) -> None:
    # moto never deletes expired items, exactly like a table whose TTL is not working.
    now_s = int(time.time())
    ts_ms = (now_s - 10 * 86_400) * 1000
    put_raw_event(aws, "stale", {"N": str(ts_ms // 1000 + 7 * 86_400)}, ts_ms)
    summary = scan_summary(aws)
    assert summary.counts["overdue"] == 1
    assert 3 * 86_400 - 60 <= summary.oldest_overdue_seconds <= 3 * 86_400 + 60
    assert [c.name for c in item_checks("t", summary, POLICY) if not c.ok] == ["t: TTL overdue"]


# --- health ------------------------------------------------------------------------------


def test_dlq_of_eleven_fails_and_empty_dlq_passes(aws: StackInfo) -> None:
    name = aws.settings.dlq_name
    assert dlq_check(name, queue_counts(name)["visible"], 10).ok
    sqs = boto3.client("sqs", region_name="us-east-1")
    for i in range(11):
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=f"bad {i}", MessageGroupId="analytics")
    depth = queue_counts(name)
    assert depth == {"visible": 11, "in flight": 0, "delayed": 0}
    assert not dlq_check(name, depth["visible"], 10).ok


def test_alarm_in_alarm_fails_and_all_ok_passes(aws: StackInfo) -> None:
    alarms = cloudwatch.describe_alarms.fn("cv-analytics-")
    assert len(alarms) == 4 and alarms_check(alarms).ok
    cloudwatch.set_alarm_state.fn("cv-analytics-queue-age", "ALARM", "test")
    check = alarms_check(cloudwatch.describe_alarms.fn("cv-analytics-"))
    assert not check.ok and "cv-analytics-queue-age" in check.detail
    with pytest.raises(ValueError, match="not one of"):
        cloudwatch.set_alarm_state.fn("cv-analytics-queue-age", "RED", "test")


def test_metric_statistic_is_none_without_data_and_sums_datapoints(aws: StackInfo) -> None:
    function = aws.settings.processor_function
    dims = {"FunctionName": function}

    def total() -> float | None:
        return cloudwatch.metric_statistic.fn("CVTest", "Invocations", dims, window_seconds=86_400)

    assert total() is None
    minutes_ago = datetime.now(UTC) - timedelta(minutes=5)
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="CVTest",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": name}],
                "Value": value,
                "Timestamp": minutes_ago - timedelta(hours=hours),
            }
            for name, value, hours in ((function, 3.0, 0), (function, 4.0, 5), ("other", 100.0, 0))
        ],
    )
    assert total() == 7.0


def test_read_recent_records_finds_awaiting_queries(aws: StackInfo) -> None:
    seed(aws, "2025-W45", 2, answered=False)
    records, orphans = week_index.read_recent_records.fn(["2025-W44", "2025-W45"])
    assert sorted(r["requestId"] for r in records) == ["2025-W45-req-000", "2025-W45-req-001"]
    assert orphans == [] and all("responseTs" not in r for r in records)


# --- log groups, tables, PITR, backups, e-mail ---------------------------------------------


def test_log_groups_report_bytes_and_retention(aws: StackInfo) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/aws/lambda/cv-analytics-reporter")
    logs.create_log_group(logGroupName="/aws/lambda/other-function")
    groups = {g.name: g for g in cloudwatch.describe_log_groups.fn("/aws/lambda/cv-analytics-")}
    assert set(groups) == {
        "/aws/lambda/cv-analytics-processor",
        "/aws/lambda/cv-analytics-reporter",
    }
    assert groups["/aws/lambda/cv-analytics-processor"].retention_days == 14
    assert groups["/aws/lambda/cv-analytics-reporter"].retention_days is None
    assert groups["/aws/lambda/cv-analytics-reporter"].stored_bytes == 0
    cloudwatch.put_retention_policy.fn("/aws/lambda/cv-analytics-reporter", 14)
    after = {g.name: g for g in cloudwatch.describe_log_groups.fn("/aws/lambda/cv-analytics-")}
    assert after["/aws/lambda/cv-analytics-reporter"].retention_days == 14


def test_table_facts_and_pitr_repair(aws: StackInfo) -> None:
    seed(aws, OLD_WEEK, 3)
    facts = backups.describe_table.fn(aws.settings.analytics_table)
    assert (facts.item_count, facts.billing_mode) == (3, "PAY_PER_REQUEST")
    table = aws.settings.analytics_table
    assert backups.pitr_status.fn(table) == "ENABLED"
    dynamodb().update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    assert backups.pitr_status.fn(table) == "DISABLED"
    backups.enable_pitr.fn(table)
    assert backups.pitr_status.fn(table) == "ENABLED"


def test_backup_rotation_keeps_four_of_ours_and_any_other_backup(aws: StackInfo) -> None:
    table = aws.settings.analytics_table
    manual = backups.create_backup.fn(table, "before-migration")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    made = [
        backups.create_backup.fn(table, backup_name(table, base + timedelta(days=30 * i)))
        for i in range(6)
    ]
    doomed = backups_to_delete(backups.list_backups.fn(table), backup_prefix(table), 4)
    assert [b.arn for b in doomed] == [made[1], made[0]]
    for backup in doomed:
        backups.delete_backup.fn(backup.arn)
    left = {b.arn for b in backups.list_backups.fn(table)}
    assert left == {manual, *made[2:]}


def test_backups_list_as_backup_info(aws: StackInfo) -> None:
    arn = backups.create_backup.fn(aws.settings.analytics_table, "x-monthly-1")
    (listed,) = backups.list_backups.fn(aws.settings.analytics_table)
    assert isinstance(listed, BackupInfo) and listed.arn == arn and listed.created.tzinfo


def test_summary_email_goes_to_the_recipients_masked(aws: StackInfo) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    leak = "visitor wrote jane@example.org"
    ses.send_summary_email.fn("subject", leak, f"<p>{leak}</p>")  # moto keeps the HTML
    (message,) = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert message.destinations["ToAddresses"] == aws.settings.report_recipients
    assert "jane@example.org" not in message.body and "[email]" in message.body


# --- archival ------------------------------------------------------------------------------


def test_find_archivable_weeks_lists_only_weeks_with_records(aws: StackInfo) -> None:
    seed(aws, OLD_WEEK, 3)
    seed(aws, "2025-W12", 1)
    found = week_archive.find_archivable_weeks.fn(["2025-W09", OLD_WEEK, "2025-W11", "2025-W12"])
    assert found == {OLD_WEEK: 3, "2025-W12": 1}


def test_archive_round_trips_and_the_reader_switches_to_the_archive(aws: StackInfo) -> None:
    seed(aws, OLD_WEEK, 30)
    before = sorted(query_week_records(OLD_WEEK), key=lambda r: r["requestId"])
    summaries_before = dynamodb().scan(TableName=aws.settings.summaries_table)["Items"]

    outcome = week_archive.archive_week(OLD_WEEK)

    assert (outcome.found, outcome.archived, outcome.deleted, outcome.action) == (
        30,
        30,
        30,
        "archived",
    )
    assert query_week_records(OLD_WEEK) == []
    assert read_week(OLD_WEEK).source == "archive"
    archived = read_archived_week(OLD_WEEK) or []
    assert sorted(archived, key=lambda r: r["requestId"]) == before
    assert dynamodb().scan(TableName=aws.settings.summaries_table)["Items"] == summaries_before


def test_an_archived_week_regenerates_the_same_report_figures(aws: StackInfo) -> None:
    from tasks.core.aggregate import weekly_figures

    seed(aws, OLD_WEEK, 12)
    seed(aws, "2025-W11", 2, answered=False)
    before = weekly_figures(OLD_WEEK, read_week(OLD_WEEK).table, 7).model_dump()
    week_archive.archive_week(OLD_WEEK)
    week = read_week(OLD_WEEK)
    assert week.source == "archive"
    assert weekly_figures(OLD_WEEK, week.table, 7).model_dump() == before
    assert read_week("2025-W11").source == "dynamodb"  # only the archived week moved


def test_dry_run_archives_and_deletes_nothing(aws: StackInfo) -> None:
    seed(aws, OLD_WEEK, 3)
    outcome = week_archive.archive_week(OLD_WEEK, dry_run=True)
    assert outcome.action == "would archive 3 records" and outcome.deleted == 0
    assert get_bytes(records_key(OLD_WEEK)) is None and get_bytes(manifest_key(OLD_WEEK)) is None
    assert len(query_week_records(OLD_WEEK)) == 3


def test_failed_upload_deletes_nothing(aws: StackInfo) -> None:
    seed(aws, OLD_WEEK, 5)
    denied = client_error("AccessDenied", "PutObject", status=403, message="Access Denied")
    with patch("tasks.s3.week_archive.put_bytes", side_effect=denied), pytest.raises(ClientError):
        week_archive.archive_week(OLD_WEEK)
    assert len(query_week_records(OLD_WEEK)) == 5
    assert get_bytes(manifest_key(OLD_WEEK)) is None
    assert read_week(OLD_WEEK).source == "dynamodb"


def test_corrupt_read_back_deletes_nothing_and_writes_no_manifest(aws: StackInfo) -> None:
    seed(aws, OLD_WEEK, 5)

    def corrupt_records(key: str) -> bytes | None:
        # the week's records object reads back as something else; the manifest as stored
        if key == records_key(OLD_WEEK):
            return gzip.compress(b'{"requestId":"x"}\n')
        return get_bytes(key)

    with (
        patch("tasks.s3.week_archive.get_bytes", side_effect=corrupt_records),
        pytest.raises(ArchiveMismatchError),
    ):
        week_archive.archive_week(OLD_WEEK)
    assert len(query_week_records(OLD_WEEK)) == 5
    assert get_bytes(manifest_key(OLD_WEEK)) is None


def test_interrupted_deletion_resumes_and_late_records_are_kept(aws: StackInfo) -> None:
    seed(aws, OLD_WEEK, 4)
    leftover = sorted(query_week_records(OLD_WEEK), key=lambda r: r["requestId"])[0]
    week_archive.archive_week(OLD_WEEK)
    # Given a deletion that stopped half-way (archived records still in DynamoDB: req-000
    # written back, req-001..003 replayed identically) and one late request (req-004) that
    # the archive does not hold,
    write_items(dynamodb(), [(aws.settings.analytics_table, leftover)])
    late = seed(aws, OLD_WEEK, 5)[-1]
    # when maintenance runs again, it deletes what the archive holds and keeps the rest.
    outcome = week_archive.archive_week(OLD_WEEK)
    assert outcome.action == "resumed deletion"
    assert outcome.kept == 1 and outcome.deleted == 4
    assert [r["requestId"] for r in query_week_records(OLD_WEEK)] == [late]
