"""Daily health rules (pure)."""

from __future__ import annotations

import pytest

from lambdas.shared.weeks import Week
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
    check = newest_record_check(newest, NOW_MS, [Week(2025, 43), Week(2025, 44)])
    assert check.ok and check.figures["newest record age"] == "2h 0m"
    assert newest_record_check(None, NOW_MS, [Week(2025, 44)]).ok


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


def test_each_failing_check_says_what_to_do_next() -> None:
    firing = [
        AlarmState("cv-analytics-queue-age", "ALARM"),
        AlarmState("cv-analytics-processor-errors", "ALARM"),
        AlarmState("cv-analytics-dlq-depth", "OK"),
    ]
    alarms = alarms_check(firing)
    assert "docs/runbook.md#queue-age-alarm" in alarms.next_step
    assert "docs/runbook.md#processor-alarms" in alarms.next_step
    assert "docs/runbook.md#dlq-alarm" not in alarms.next_step
    assert "docs/runbook.md#failed-health-check" in alarms_check([AlarmState("x", "OK")]).next_step
    dlq = dlq_check("dlq", 11, 10)
    assert "run dlq-triage" in dlq.next_step and "docs/runbook.md#dlq-alarm" in dlq.next_step
    assert "docs/runbook.md#queue-age-alarm" in oldest_message_check(901.0, 900).next_step
    # a passing check has nothing to do
    assert dlq_check("dlq", 1, 10).next_step == oldest_message_check(1.0, 900).next_step == ""
