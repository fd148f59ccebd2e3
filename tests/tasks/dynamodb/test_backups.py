"""Table facts, point-in-time recovery and the monthly backups' rotation (in-process moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from deployments.local_stack import StackInfo
from lambdas.shared.weeks import Week
from tasks.core.maintenance import BackupInfo, backup_name, backup_prefix, backups_to_delete
from tasks.dynamodb import backups
from tests.conftest import seed_week

OLD_WEEK = Week(2025, 10)


def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def test_table_facts_and_pitr_repair(aws: StackInfo) -> None:
    seed_week(aws, OLD_WEEK, 3)
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
