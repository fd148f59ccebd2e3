"""TTL classification of raw scanned items (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.core.ttl import (
    MILLISECONDS_BOUND,
    TtlPolicy,
    TtlSummary,
    classify,
    format_age,
    item_checks,
    merge_all,
    status_check,
)

NOW = 1_762_000_000  # 2025-11-01, epoch seconds
DAY = 86_400
POLICY = TtlPolicy(attribute="ttl", ttl_days=7, grace_hours=48)


def summarise(items: list[dict[str, Any]], now_s: int, policy: TtlPolicy) -> TtlSummary:
    """Every item classified into one summary, as one scan segment does (``TtlSummary.add``)."""
    summary = TtlSummary()
    for raw in items:
        summary.add(raw, now_s, policy)
    return summary


def item(ttl: Any = None, ts_ms: int | None = None, rid: str = "r-1") -> dict[str, Any]:
    raw: dict[str, Any] = {"requestId": {"S": rid}, "eventKey": {"S": "query#0000000000001"}}
    if ttl is not None:
        raw["ttl"] = ttl
    if ts_ms is not None:
        raw["timestamp"] = {"N": str(ts_ms)}
    return raw


def test_given_processor_written_ttl_then_no_anomaly() -> None:
    ts_ms = (NOW - DAY) * 1000
    assert classify(item({"N": str(ts_ms // 1000 + 7 * DAY)}, ts_ms), NOW, POLICY) == (None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "missing"),
        ({"S": "1762000000"}, "not_a_number"),
        ({"N": "not-a-number"}, "not_a_number"),
        ({"N": "Infinity"}, "not_a_number"),
        ({"N": str((NOW + 7 * DAY) * 1000)}, "milliseconds"),
    ],
)
def test_given_broken_ttl_values_then_each_kind_is_named(raw: Any, expected: str) -> None:
    assert classify(item(raw), NOW, POLICY)[0] == expected


def test_milliseconds_bound_separates_seconds_from_milliseconds() -> None:
    # Any epoch-seconds value below the year 5138 and any epoch-ms value after 1973.
    assert classify(item({"N": str(MILLISECONDS_BOUND)}), NOW, POLICY)[0] != "milliseconds"
    assert classify(item({"N": str(MILLISECONDS_BOUND + 1)}), NOW, POLICY)[0] == "milliseconds"


def test_too_far_is_measured_from_the_event_time_plus_policy_plus_slack() -> None:
    ts_ms = (NOW - 3 * DAY) * 1000
    limit = ts_ms // 1000 + 7 * DAY + POLICY.slack_seconds
    assert classify(item({"N": str(limit)}, ts_ms), NOW, POLICY)[0] is None
    assert classify(item({"N": str(limit + 1)}, ts_ms), NOW, POLICY)[0] == "too_far"


def test_too_far_without_event_time_is_measured_from_now() -> None:
    limit = NOW + 7 * DAY + POLICY.slack_seconds
    assert classify(item({"N": str(limit)}), NOW, POLICY)[0] is None
    assert classify(item({"N": str(limit + 1)}), NOW, POLICY)[0] == "too_far"


def test_overdue_only_after_the_grace_period_with_its_age() -> None:
    within = NOW - 48 * 3600
    assert classify(item({"N": str(within)}), NOW, POLICY) == (None, None)
    assert classify(item({"N": str(within - 10)}), NOW, POLICY) == ("overdue", 48 * 3600 + 10)


def test_summary_counts_each_anomaly_and_the_oldest_overdue_age() -> None:
    items = [
        item({"N": str(NOW + DAY)}, rid="healthy"),
        item(None, rid="missing"),
        item({"N": str(NOW * 1000)}, rid="ms"),
        item({"N": str(NOW - 3 * DAY)}, rid="overdue-3d"),
        item({"N": str(NOW - 5 * DAY)}, rid="overdue-5d"),
    ]
    summary = summarise(items, NOW, POLICY)
    assert summary.items_checked == 5
    assert summary.counts == {
        "missing": 1,
        "not_a_number": 0,
        "milliseconds": 1,
        "too_far": 0,
        "overdue": 2,
    }
    assert summary.oldest_overdue_seconds == 5 * DAY
    assert summary.samples["milliseconds"] == ["ms/query@1970-01-01T00:00:00.001Z"]


def test_segment_summaries_merge_to_the_whole() -> None:
    items = [item({"N": str(NOW - d * DAY)}, rid=f"r{d}") for d in range(10)]
    whole = summarise(items, NOW, POLICY)
    parts = merge_all([summarise(items[:4], NOW, POLICY), summarise(items[4:], NOW, POLICY)])
    assert (parts.items_checked, parts.counts, parts.oldest_overdue_seconds) == (
        whole.items_checked,
        whole.counts,
        whole.oldest_overdue_seconds,
    )
    assert merge_all([]).items_checked == 0


def test_item_checks_fail_only_for_the_kinds_present() -> None:
    summary = summarise([item({"N": str(NOW * 1000)})], NOW, POLICY)
    failed = [c.name for c in item_checks("t", summary, POLICY) if not c.ok]
    assert failed == ["t: TTL milliseconds"]
    assert all(c.ok for c in item_checks("t", TtlSummary(), POLICY))


@pytest.mark.parametrize(
    ("status", "attribute", "ok"),
    [
        ("ENABLED", "ttl", True),
        ("ENABLING", "ttl", True),
        ("DISABLED", None, False),
        ("ENABLED", "expiresAt", False),
    ],
)
def test_status_check(status: str, attribute: str | None, ok: bool) -> None:
    assert status_check("t", status, attribute, POLICY).ok is ok


def test_bad_policy_is_refused_with_the_expected_form() -> None:
    with pytest.raises(ValueError, match="ttl_days > 0"):
        TtlPolicy(ttl_days=0)


def test_format_age() -> None:
    assert format_age(None) == "none"
    assert format_age(90) == "1m"
    assert format_age(3 * 3600 + 120) == "3h 2m"
    assert format_age(2 * DAY + 5 * 3600) == "2d 5h"
