"""AWS tasks of the operational flows: TTL, table facts, PITR, backups, archival.

Archival order is the point of this module (``archive_week``): read the week with the
report's own Query, upload the gzip JSON lines, read the object back and check count and
checksum against the manifest, write the manifest, read the week back through the one
reader (``tasks.records``), and only then delete the records from DynamoDB. Any failure
before the last step leaves DynamoDB untouched; a failure during deletion is resumed next
month (records identical to the archived ones are deleted, any other is kept and
reported). Weekly summaries and orphan responses stay in DynamoDB: the report of an
archived week is rebuilt from the archive plus the orphans it still counts there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from lambdas.processor.settings import get_settings
from lambdas.processor.storage import BATCH_WRITE_LIMIT, UNPROCESSED_RETRIES
from lambdas.processor.weeks import parse_week
from tasks.archive_format import ArchiveMismatchError, decode_week, encode_week, manifest_key
from tasks.aws import AWS_TASK_OPTIONS, aws_client
from tasks.dynamodb import query_week_orphans, query_week_records, week_key_pages
from tasks.maintenance_rules import BackupInfo, split_against_archive
from tasks.records import read_archived_week
from tasks.s3 import get_bytes, put_bytes
from tasks.ttl import TtlPolicy, TtlSummary

TASK_OPTIONS: dict[str, Any] = {**AWS_TASK_OPTIONS, "cache_policy": NO_CACHE}


# --- TTL -------------------------------------------------------------------------------


@task(name="ttl-status", **TASK_OPTIONS)
def ttl_status(table: str) -> tuple[str, str | None]:
    """(TimeToLiveStatus, AttributeName) of a table; ``DISABLED``/None when off."""
    description = aws_client("dynamodb").describe_time_to_live(TableName=table)
    ttl = description.get("TimeToLiveDescription", {})
    return str(ttl.get("TimeToLiveStatus", "DISABLED")), ttl.get("AttributeName")


@task(name="enable-ttl", **TASK_OPTIONS)
def enable_ttl(table: str, attribute: str) -> None:
    """Turn TTL on (AWS accepts one TTL change per table per hour)."""
    aws_client("dynamodb").update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
    )


@task(name="scan-ttl-segment", **TASK_OPTIONS)
def scan_ttl_segment(
    table: str, policy: TtlPolicy, segment: int, total_segments: int, now_s: int
) -> TtlSummary:
    """One segment of a parallel Scan projecting only keys, TTL and event time, classified.

    Items are classified page by page and only the summary is returned, so memory stays
    flat however large the table is.
    """
    if not 0 <= segment < total_segments:
        raise ValueError(f"segment must be in [0, {total_segments}), got {segment}")
    client = aws_client("dynamodb")
    summary = TtlSummary()
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Segment": segment,
        "TotalSegments": total_segments,
        "ProjectionExpression": "requestId, eventKey, #ttl, #ts",
        "ExpressionAttributeNames": {"#ttl": policy.attribute, "#ts": "timestamp"},
    }
    while True:
        page = client.scan(**kwargs)
        for item in page.get("Items", []):
            summary.add(item, now_s, policy)
        if "LastEvaluatedKey" not in page:
            return summary
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- tables, PITR, backups ------------------------------------------------------------


@dataclass(frozen=True)
class TableFacts:
    name: str
    size_bytes: int
    item_count: int
    billing_mode: str


@task(name="describe-table", **TASK_OPTIONS)
def describe_table(table: str) -> TableFacts:
    """Size and item count (AWS refreshes both about every six hours) and billing mode."""
    description = aws_client("dynamodb").describe_table(TableName=table)["Table"]
    billing = description.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    return TableFacts(
        table,
        int(description.get("TableSizeBytes", 0)),
        int(description.get("ItemCount", 0)),
        str(billing),
    )


@task(name="pitr-status", **TASK_OPTIONS)
def pitr_status(table: str) -> str:
    """``ENABLED`` or ``DISABLED``: point-in-time recovery of a table."""
    description = aws_client("dynamodb").describe_continuous_backups(TableName=table)
    pitr = description["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    return str(pitr.get("PointInTimeRecoveryStatus", "DISABLED"))


@task(name="enable-pitr", **TASK_OPTIONS)
def enable_pitr(table: str) -> None:
    aws_client("dynamodb").update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


@task(name="create-backup", **TASK_OPTIONS)
def create_backup(table: str, name: str) -> str:
    """Start an on-demand backup; returns its ARN (status CREATING, then AVAILABLE)."""
    response = aws_client("dynamodb").create_backup(TableName=table, BackupName=name)
    return str(response["BackupDetails"]["BackupArn"])


@task(name="list-backups", **TASK_OPTIONS)
def list_backups(table: str) -> list[BackupInfo]:
    """Every user (on-demand) backup of a table, all pages."""
    client = aws_client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": table, "BackupType": "USER"}
    backups: list[BackupInfo] = []
    while True:
        page = client.list_backups(**kwargs)
        for summary in page.get("BackupSummaries", []):
            created = summary["BackupCreationDateTime"]
            if isinstance(created, int | float):
                created = datetime.fromtimestamp(created, UTC)
            backups.append(
                BackupInfo(
                    summary["BackupName"],
                    summary["BackupArn"],
                    created.astimezone(UTC),
                    summary.get("BackupStatus", "AVAILABLE"),
                )
            )
        if not page.get("LastEvaluatedBackupArn"):
            return backups
        kwargs["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]


@task(name="delete-backup", **TASK_OPTIONS)
def delete_backup(arn: str) -> None:
    aws_client("dynamodb").delete_backup(BackupArn=arn)


# --- archival ---------------------------------------------------------------------------


def count_week(week_key: str) -> int:
    """How many analytics records a GSI partition holds (Query, ``Select=COUNT``)."""
    return sum(int(page.get("Count", 0)) for page in week_key_pages(week_key, Select="COUNT"))


@task(name="find-archivable-weeks", **TASK_OPTIONS)
def find_archivable_weeks(weeks: Sequence[str]) -> dict[str, int]:
    """Of the candidate weeks, those still holding records in DynamoDB, with their counts.

    One count Query per week rather than a Scan: the candidates run from the earliest week
    the contract accepts to the cutoff (a few hundred partitions, each a fraction of a
    read unit when empty), which is complete and costs nothing like reading the table.
    """
    counts = {week: count_week(week) for week in weeks}
    return {week: count for week, count in counts.items() if count}


def delete_records(request_ids: Sequence[str]) -> int:
    """BatchWriteItem DeleteRequests on the analytics table, 25 a call; returns how many."""
    client = aws_client("dynamodb")
    table = get_settings().analytics_table
    ids = list(dict.fromkeys(request_ids))
    for start in range(0, len(ids), BATCH_WRITE_LIMIT):
        pending: dict[str, list[Any]] = {
            table: [
                {"DeleteRequest": {"Key": {"requestId": {"S": rid}}}}
                for rid in ids[start : start + BATCH_WRITE_LIMIT]
            ]
        }
        for attempt in range(UNPROCESSED_RETRIES + 1):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise RuntimeError(f"BatchWriteItem left deletions unprocessed on {table}")
    return len(ids)


@dataclass(frozen=True)
class ArchiveOutcome:
    """What happened to one week: ``action`` is a short verb phrase for the findings."""

    week: str
    found: int
    archived: int
    deleted: int
    kept: int
    action: str


def archive_week(week: str, dry_run: bool = False) -> ArchiveOutcome:
    """Archive one week to S3, verify it, then delete its records from DynamoDB.

    Raises (deleting nothing) when the upload, the read-back or the verification fails.
    """
    parse_week(week)
    stored = query_week_records(week)
    if not stored:
        return ArchiveOutcome(week, 0, 0, 0, 0, "nothing to archive")
    existing = read_archived_week(week)
    if existing is not None:
        held, late = split_against_archive(stored, existing)
        if dry_run:
            action = f"would delete {len(held)} already archived records"
            return ArchiveOutcome(week, len(stored), len(existing), 0, len(late), action)
        deleted = delete_records([r["requestId"] for r in held])
        return ArchiveOutcome(
            week, len(stored), len(existing), deleted, len(late), "resumed deletion"
        )
    blob, manifest = encode_week(week, stored)
    if dry_run:
        return ArchiveOutcome(week, len(stored), 0, 0, 0, f"would archive {len(stored)} records")
    put_bytes(manifest.key, blob, "application/gzip")
    readback = get_bytes(manifest.key)
    if readback is None:
        raise ArchiveMismatchError(f"{manifest.key} is missing right after it was written")
    decoded = decode_week(readback, manifest)
    if sorted(r["requestId"] for r in decoded) != sorted(r["requestId"] for r in stored):
        raise ArchiveMismatchError(f"{manifest.key} does not hold the records that were read")
    put_bytes(manifest_key(week), manifest.to_json(), "application/json")
    confirmed = read_archived_week(week)  # the reader every report uses now sees the archive
    if confirmed is None or len(confirmed) != len(stored):
        raise ArchiveMismatchError(f"the archive of {week} does not read back through its manifest")
    deleted = delete_records([r["requestId"] for r in stored])
    return ArchiveOutcome(week, len(stored), len(confirmed), deleted, 0, "archived")


@task(name="archive-week", **TASK_OPTIONS)
def archive_week_task(week: str, dry_run: bool = False) -> ArchiveOutcome:
    return archive_week(week, dry_run)


@task(name="read-recent-records", **TASK_OPTIONS)
def read_recent_records(weeks: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records and orphan responses of a few weeks, by the report's own GSI Query."""
    records = [r for week in weeks for r in query_week_records(week)]
    orphans = [r for week in weeks for r in query_week_orphans(week)]
    return records, orphans
