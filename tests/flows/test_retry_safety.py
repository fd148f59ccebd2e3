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
from prefect import Flow, get_client
from prefect.flow_engine import run_flow
from prefect.states import AwaitingRetry, State

from deployments.local_stack import StackInfo
from flows.dlq_triage import dlq_triage
from lambdas.processor.settings import get_settings
from tasks.core.archive import decode_records
from tasks.sqs import dlq_pages
from tasks.sqs.queues import queue_total

GROUP = "analytics"


def retry_from_ui(flow: Flow[..., Any], state: State[Any]) -> State[Any]:
    """What the Prefect UI's Retry does to a failed run: AwaitingRetry, then run it again."""
    run_id = state.state_details.flow_run_id
    assert run_id is not None and state.is_failed()
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, AwaitingRetry(), force=True)
        flow_run = client.read_flow_run(run_id)
    retried = run_flow(flow, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")
    assert isinstance(retried, State)
    assert retried.state_details.flow_run_id == run_id  # the same run, as the UI retries it
    return retried


def put_dead_letter(stack: StackInfo, body: str, dedup: str) -> None:
    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=stack.dlq_url, MessageBody=body, MessageGroupId=GROUP, MessageDeduplicationId=dedup
    )


def archive_history() -> dict[str, list[list[str]]]:
    """Per DLQ archive key, the message ids of every version ever written (oldest first)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = get_settings().archive_bucket
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
    real = dlq_pages.receive_page
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
    assert queue_total(get_settings().dlq_name) == 0


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
    assert summary.archived == 2 and queue_total(get_settings().dlq_name) == 0


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
        client.create_backup(TableName=table, BackupName=f"{table}-monthly-2025{month:02d}01T000000Z")


def backups_stay_creating(parsed: dict[str, Any], **_: Any) -> None:
    """botocore hook: DescribeBackup answers CREATING, as a slow backup would."""
    parsed["BackupDescription"]["BackupDetails"]["BackupStatus"] = "CREATING"


def test_old_backups_are_deleted_only_once_the_new_one_is_available(aws: StackInfo) -> None:
    from datetime import UTC, datetime

    from flows.monthly_maintenance import backup_checks
    from tasks.aws import aws_client
    from tasks.dynamodb import backups

    table = get_settings().analytics_table
    keep = get_settings().backups_to_keep
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
            (check,) = backup_checks(dry_run=False, now=now)
    finally:
        events.unregister("after-call.dynamodb.DescribeBackup", backups_stay_creating)
    # then nothing older is deleted, and the check says why.
    assert not check.ok and "CREATING" in check.detail
    assert set(before) < set(backup_names(table))

    # When it is AVAILABLE (moto's own answer), the rotation keeps the newest ``keep``.
    (check,) = backup_checks(dry_run=False, now=now.replace(month=2))
    after = backup_names(table)
    assert check.ok, check.detail
    assert f"{table}-monthly-20260201T000000Z" in after
    assert len([n for n in after if n.startswith(f"{table}-monthly-")]) == keep
