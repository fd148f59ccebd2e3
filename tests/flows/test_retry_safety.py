"""Every flow is safe to retry: a crash after an externally visible step, then the UI's
Retry of the same flow run (same flow-run id) and a fresh run, loses and duplicates
nothing that matters.

The Retry button sets the failed run to ``AwaitingRetry`` and a worker runs it again
under its own id; here :func:`retry_from_ui` does the same through the API and Prefect's
own engine (``run_flow`` with that flow run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from unittest.mock import patch
from uuid import UUID

import boto3

from deployments.local_stack import StackInfo
from flows.dlq_triage import dlq_triage
from tasks import dlq_pages
from tasks.core.archive import decode_records
from tasks.settings import Settings
from tasks.sqs import queues
from tasks.sqs.queues import queue_total
from tests.flows.surfaces import retry_from_ui

GROUP = "analytics"


def put_dead_letter(stack: StackInfo, body: str, dedup: str) -> None:
    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=stack.dlq_url, MessageBody=body, MessageGroupId=GROUP, MessageDeduplicationId=dedup
    )


def archive_history() -> dict[str, list[list[str]]]:
    """Per DLQ archive key, the message ids of every version ever written (oldest first)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = Settings().archive_bucket
    history: dict[str, list[list[str]]] = {}
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="dlq/")
    versions = [v for page in pages for v in page.get("Versions", [])]
    for version in sorted(versions, key=lambda v: v["LastModified"]):
        body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        ids = [r["messageId"] for r in decode_records(body["Body"].read())]
        history.setdefault(version["Key"], []).append(ids)
    return history


def crash_on_page(number: int) -> Callable[..., list[dict[str, Any]]]:
    """``receive_page`` that fails on its ``number``-th call: the run stops after the pages
    before it were archived, redriven and deleted."""
    real = queues.receive_page
    calls = {"n": 0}

    def receive(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        calls["n"] += 1
        if calls["n"] == number:
            raise ConnectionError("injected crash after the previous page was settled")
        return real(*args, **kwargs)

    return receive


def test_a_retried_triage_never_overwrites_the_poison_it_archived(aws: StackInfo) -> None:
    poison_a = [f'{{"not json a{i}' for i in range(10)]  # one full page
    for i, body in enumerate(poison_a):
        put_dead_letter(aws, body, f"a{i}")
    put_dead_letter(aws, '{"not json a-last', "a-last")  # page 2: the crash comes first

    # Given a run that archived and deleted page 1, then crashed,
    with patch.object(dlq_pages, "receive_page", crash_on_page(2)):
        first = dlq_triage(return_state=True)
    assert first.is_failed()
    # when new poison arrives and the operator presses Retry on that run,
    put_dead_letter(aws, '{"not json b', "b")
    retried = retry_from_ui(dlq_triage, first)
    assert retried.is_completed()

    # then every archive object still holds what it held when written (one version each),
    history = archive_history()
    assert history and all(len(versions) == 1 for versions in history.values()), history
    # every poison message is archived exactly once, and the DLQ is empty.
    archived = sorted(mid for versions in history.values() for mid in versions[0])
    assert len(archived) == len(set(archived)) == 12
    assert queue_total(Settings().dlq_name) == 0


def test_a_fresh_run_after_a_crash_archives_the_rest_once(aws: StackInfo) -> None:
    for i in range(12):
        put_dead_letter(aws, f'{{"not json {i}', f"p{i}")
    with patch.object(dlq_pages, "receive_page", crash_on_page(2)):
        assert dlq_triage(return_state=True).is_failed()
    summary = dlq_triage()
    history = archive_history()
    archived = [mid for versions in history.values() for mid in versions[0]]
    assert len(archived) == len(set(archived)) == 12
    assert all(len(versions) == 1 for versions in history.values())
    assert summary.archived == 2 and queue_total(Settings().dlq_name) == 0


def test_retry_keeps_the_flow_run_id(aws: StackInfo) -> None:
    # the premise of the tests above: Prefect's retry reuses the run id the keys once used
    with patch.object(dlq_pages, "receive_page", crash_on_page(1)):
        first = dlq_triage(return_state=True)
    retried = retry_from_ui(dlq_triage, first)
    assert isinstance(retried.state_details.flow_run_id, UUID)
    assert json.dumps(str(retried.state_details.flow_run_id)) == json.dumps(
        str(first.state_details.flow_run_id)
    )


# --- monthly maintenance: write, confirm, then delete ------------------------------------


def backup_names(table: str) -> list[str]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    summaries = client.list_backups(TableName=table, BackupType="USER")["BackupSummaries"]
    return sorted(s["BackupName"] for s in summaries)


def seed_monthly_backups(table: str, count: int) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    for month in range(1, count + 1):
        client.create_backup(
            TableName=table, BackupName=f"{table}-monthly-2025{month:02d}01T000000Z"
        )


def backups_stay_creating(parsed: dict[str, Any], **_: Any) -> None:
    """botocore hook: DescribeBackup answers CREATING, as a slow backup would."""
    parsed["BackupDescription"]["BackupDetails"]["BackupStatus"] = "CREATING"


def test_old_backups_are_deleted_only_once_the_new_one_is_available(aws: StackInfo) -> None:
    from datetime import UTC, datetime

    from flows.monthly_maintenance import backup_checks
    from tasks.aws import aws_client
    from tasks.dynamodb import backups

    table = Settings().analytics_table
    keep = Settings().backups_to_keep
    seed_monthly_backups(table, keep)
    before = backup_names(table)
    now = datetime(2026, 1, 1, tzinfo=UTC)

    # Given a new backup that stays CREATING past the bounded wait,
    events = aws_client("dynamodb").meta.events
    events.register("after-call.dynamodb.DescribeBackup", backups_stay_creating)
    try:
        with (
            patch.object(backups, "BACKUP_WAIT_SECONDS", 0.3),
            patch.object(backups, "BACKUP_POLL_SECONDS", 0.05),
        ):
            (check,) = backup_checks(Settings(), dry_run=False, now=now)
    finally:
        events.unregister("after-call.dynamodb.DescribeBackup", backups_stay_creating)
    # then nothing older is deleted, and the check says why.
    assert not check.ok and "CREATING" in check.detail
    assert set(before) < set(backup_names(table))

    # When it is AVAILABLE (moto's own answer), the rotation keeps the newest ``keep``.
    (check,) = backup_checks(Settings(), dry_run=False, now=now.replace(month=2))
    after = backup_names(table)
    assert check.ok, check.detail
    assert f"{table}-monthly-20260201T000000Z" in after
    assert len([n for n in after if n.startswith(f"{table}-monthly-")]) == keep


# --- weekly report: the e-mail goes out once, every archived generation stays whole -----


def emails_sent() -> int:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def report_generations(week: str) -> dict[str, list[str]]:
    """Generation -> its file names, from the archive bucket (every version of every key)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=Settings().archive_bucket, Prefix=f"reports/{week}/"
    )
    generations: dict[str, list[str]] = {}
    for page in pages:
        for version in page.get("Versions", []):
            generation, name = version["Key"].split("/")[2:4]
            generations.setdefault(generation, []).append(name)
    return generations


def test_a_report_retried_after_a_crash_past_its_archive_sends_once(aws: StackInfo) -> None:
    from flows import weekly_report as report_flow
    from tests.conftest import store_sample

    store_sample(aws)
    before = emails_sent()
    # Given a run that archived the report and crashed before the e-mail,
    with patch.object(report_flow, "build_mime", side_effect=ConnectionError("crash")):
        first = report_flow.weekly_report("2025-W45", return_state=True)
    assert first.is_failed() and emails_sent() == before
    # when the operator retries that run, and later someone re-runs the week,
    assert retry_from_ui(report_flow.weekly_report, first).is_completed()
    assert report_flow.weekly_report("2025-W45", return_state=True).is_completed()
    # then the e-mail went out once, and each run left its own whole generation.
    assert emails_sent() == before + 1
    generations = report_generations("2025-W45")
    assert len(generations) == 3
    assert all(
        sorted(names) == ["report.html", "report.json", "report.txt"]
        for names in generations.values()
    )


def test_a_crash_after_ses_accepted_the_mail_never_sends_it_twice(aws: StackInfo) -> None:
    from flows import weekly_report as report_flow
    from lambdas.shared.weeks import Week
    from tasks import report_delivery
    from tasks.dynamodb.send_ledger import ledger_state
    from tests.conftest import store_sample

    store_sample(aws)
    before = emails_sent()
    # Given SES accepted the e-mail and the run died before recording it,
    with patch.object(
        report_delivery, "record_sent", side_effect=ConnectionError("crash after send")
    ):
        first = report_flow.weekly_report("2025-W45", return_state=True)
    assert first.is_failed() and emails_sent() == before + 1
    assert ledger_state(aws.settings.summaries_table, Week(2025, 45))[0] == "sending"
    # a retry and a fresh run both refuse to send again (the ledger's "unconfirmed"),
    assert retry_from_ui(report_flow.weekly_report, first).is_completed()
    assert report_flow.weekly_report("2025-W45", return_state=True).is_completed()
    assert emails_sent() == before + 1
    # and only an explicit resend sends it again.
    report_flow.weekly_report("2025-W45", resend=True)
    assert emails_sent() == before + 2


# --- DLQ triage: a redriven message lands on the main queue once ------------------------


def test_a_crash_between_redrive_and_delete_duplicates_nothing_on_the_main_queue(
    aws: StackInfo,
) -> None:
    from tasks.sqs import queues

    body = json.dumps(
        {"eventType": "query", "requestId": "r-1", "timestamp": 1762819200000, "query": "hi"}
    )
    put_dead_letter(aws, body, "r1")
    # Given the redrive send succeeded and the delete from the DLQ crashed,
    with patch.object(queues, "delete_batch", side_effect=ConnectionError("crash")):
        first = dlq_triage(return_state=True)
    assert first.is_failed()
    assert queue_total(Settings().queue_name) == 1
    # when the run is retried, the message is sent again under the same deduplication id
    assert retry_from_ui(dlq_triage, first).is_completed()
    # so the main queue holds it once, and the DLQ is empty.
    assert queue_total(Settings().queue_name) == 1
    assert queue_total(Settings().dlq_name) == 0
