"""DynamoDB table facts, point-in-time recovery and on-demand backups (monthly maintenance).

Which backups to rotate out is decided by :mod:`tasks.core.maintenance`; these tasks only
read and change AWS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import task

from tasks.aws import TASK_OPTIONS, aws_client
from tasks.core.maintenance import BackupInfo


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


#: How long monthly maintenance waits for its new backup to become AVAILABLE (on-demand
#: backups of a table this size take seconds to minutes), and how often it looks.
BACKUP_WAIT_SECONDS = 600.0
BACKUP_POLL_SECONDS = 5.0


@task(name="wait-for-backup", **TASK_OPTIONS)
def wait_for_backup(arn: str) -> str:
    """The backup's status once it is no longer CREATING, or CREATING after the timeout.

    Read fresh on every poll (``DescribeBackup``): older backups are deleted only once the
    new one is AVAILABLE, so a stuck or failed backup never costs the ones before it.
    """
    client = aws_client("dynamodb")
    deadline = time.monotonic() + BACKUP_WAIT_SECONDS
    while True:
        details = client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
        status = str(details["BackupStatus"])
        if status != "CREATING" or time.monotonic() >= deadline:
            return status
        time.sleep(BACKUP_POLL_SECONDS)


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
