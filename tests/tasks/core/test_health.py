"""Daily health rules and monthly maintenance decisions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.core.health import (
    AlarmState,
    alarms_check,
    awaiting_check,
    awaiting_response,
    dlq_check,
    newest_record_check,
    newest_record_ms,
    oldest_message_check,
    processor_metrics_check,
    queue_depth_check,
)
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

NOW_MS = 1_762_000_000_000
HOUR_MS = 3_600_000


# --- failing rules -----------------------------------------------------------------------


def test_alarms_fail_when_any_is_in_alarm_and_name_it() -> None:
    healthy = [AlarmState("cv-analytics-dlq-depth", "OK"), AlarmState("cv-analytics-x", "OK")]
    assert alarms_check(healthy).ok
    firing = [*healthy, AlarmState("cv-analytics-queue-age", "ALARM")]
    check = alarms_check(firing)
    assert not check.ok and "cv-analytics-queue-age" in check.detail


def test_alarms_ignore_other_prefixes_but_fail_when_none_of_ours_exist() -> None:
    assert alarms_check([AlarmState("cv-analytics-a", "OK"), AlarmState("other", "ALARM")]).ok
    assert not alarms_check([AlarmState("other", "OK")]).ok


@pytest.mark.parametrize(("depth", "ok"), [(0, True), (10, True), (11, False)])
def test_dlq_fails_above_the_threshold(depth: int, ok: bool) -> None:
    assert dlq_check("dlq", depth, 10).ok is ok


@pytest.mark.parametrize(("age", "ok"), [(None, True), (0.0, True), (900.0, True), (901.0, False)])
def test_oldest_message_fails_above_the_threshold_and_passes_without_data(
    age: float | None, ok: bool
) -> None:
    check = oldest_message_check(age, 900)
    assert check.ok is ok
    if age is None:
        assert "no data" in check.detail


# --- shown, never failing --------------------------------------------------------------


def test_newest_record_is_the_latest_query_or_response() -> None:
    records = [
        {"requestId": "a", "queryTs": NOW_MS - 5 * HOUR_MS, "responseTs": NOW_MS - 2 * HOUR_MS},
        {"requestId": "b", "queryTs": NOW_MS - 3 * HOUR_MS},
        {"requestId": "c", "responseTs": NOW_MS - 4 * HOUR_MS},
    ]
    newest = newest_record_ms(records)
    assert newest == NOW_MS - 2 * HOUR_MS
    check = newest_record_check(newest, NOW_MS, ["2025-W43", "2025-W44"])
    assert check.ok and check.figures["newest record age"] == "2h 0m"
    assert newest_record_check(None, NOW_MS, ["2025-W44"]).ok


def test_awaiting_response_only_counts_unanswered_queries_older_than_the_limit() -> None:
    records = [
        {"requestId": "answered", "queryTs": NOW_MS - 5 * HOUR_MS, "responseTs": NOW_MS},
        {"requestId": "old", "queryTs": NOW_MS - 3 * HOUR_MS},
        {"requestId": "older", "queryTs": NOW_MS - 4 * HOUR_MS},
        {"requestId": "recent", "queryTs": NOW_MS - HOUR_MS // 2},
        {"requestId": "orphan", "responseTs": NOW_MS - 5 * HOUR_MS},
    ]
    waiting = awaiting_response(records, NOW_MS, 3600)
    assert [r["requestId"] for r in waiting] == ["older", "old"]
    check = awaiting_check(waiting, NOW_MS, 3600)
    assert check.ok and check.figures["count"] == 2 and check.figures["oldest waiting"] == "4h 0m"


def test_informational_checks_pass_and_say_no_data() -> None:
    assert queue_depth_check("q", 500, 3).ok
    no_data = processor_metrics_check("fn", None, None)
    assert no_data.ok and "no CloudWatch data" in no_data.detail
    assert "12 invocations, 1 errors" in processor_metrics_check("fn", 12.0, 1.0).detail


# --- maintenance decisions -----------------------------------------------------------


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
    assert weeks_ended_before("2024-W50", cutoff) == ["2024-W50", "2024-W51", "2024-W52"]
    assert (
        first_possible_week(int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)) == "2020-W01"
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
