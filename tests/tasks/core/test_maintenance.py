"""Monthly maintenance decisions: retention, backup rotation, archivable weeks (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.shared.weeks import Week
from tasks.core.maintenance import (
    BackupInfo,
    archive_cutoff,
    backup_name,
    backup_prefix,
    backups_to_delete,
    first_possible_week,
    needs_retention,
    split_against_archive,
    weeks_ended_before,
)


@pytest.mark.parametrize(
    ("retention", "needed"), [(None, True), (30, True), (14, False), (7, False)]
)
def test_retention_is_set_where_missing_or_longer(retention: int | None, needed: bool) -> None:
    assert needs_retention(retention, 14) is needed


def test_backup_rotation_keeps_the_newest_of_ours_and_never_touches_others() -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    prefix = backup_prefix("tbl")
    ours = [
        BackupInfo(
            backup_name("tbl", base + timedelta(days=30 * i)),
            f"arn{i}",
            base + timedelta(days=30 * i),
        )
        for i in range(6)
    ]
    manual = BackupInfo("tbl-before-migration", "arn-manual", base - timedelta(days=400))
    doomed = backups_to_delete([*ours, manual], prefix, 4)
    assert [b.arn for b in doomed] == ["arn1", "arn0"]
    assert backups_to_delete(ours[:3], prefix, 4) == []
    with pytest.raises(ValueError, match="at least 1"):
        backups_to_delete(ours, prefix, 0)


def test_backup_name_is_prefixed_and_timestamped() -> None:
    name = backup_name("cv-analytics-analytics", datetime(2025, 3, 1, 4, 5, 6, tzinfo=UTC))
    assert name == "cv-analytics-analytics-monthly-20250301T040506Z"


def test_weeks_ended_before_the_cutoff() -> None:
    now = datetime(2025, 4, 2, 12, tzinfo=UTC)  # cutoff 90 days before: 2025-01-02 12:00
    cutoff = archive_cutoff(now, 90)
    assert cutoff == datetime(2025, 1, 2, 12, tzinfo=UTC)
    # 2024-W52 ends Mon 2024-12-30 (archivable); 2025-W01 ends Mon 2025-01-06 (not yet).
    assert weeks_ended_before(Week(2024, 50), cutoff) == [
        Week(2024, 50),
        Week(2024, 51),
        Week(2024, 52),
    ]
    assert first_possible_week(int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)) == Week(
        2020, 1
    )
    with pytest.raises(ValueError, match="at least 1"):
        archive_cutoff(now, 0)


def test_split_against_archive_keeps_late_or_changed_records() -> None:
    archived = [{"requestId": "a", "queryTs": 1}, {"requestId": "b", "queryTs": 2}]
    stored = [
        {"requestId": "a", "queryTs": 1},
        {"requestId": "b", "queryTs": 2, "responseTs": 3},
        {"requestId": "c", "queryTs": 4},
    ]
    held, late = split_against_archive(stored, archived)
    assert [r["requestId"] for r in held] == ["a"]
    assert [r["requestId"] for r in late] == ["b", "c"]
