"""Golden and hand-checked figures of tasks.aggregate (report-metrics.md, to the letter).

Records are built the way production builds them: Worker event bodies -> ``parse_event``
-> ``fold_events`` -> ``analytics_item``; only the clock of ``parse_event`` is pinned.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from deployments.worker import load_sample
from lambdas.shared.contract import Invalid, parse_event
from lambdas.shared.correlation import analytics_item, fold_events
from lambdas.shared.weeks import InvalidWeekError, Week
from tasks.core.aggregate import (
    METRIC_KEYS,
    WeeklyFigures,
    metric_figures,
    pipeline_health,
    population_size,
    weekly_figures,
)
from tasks.core.insights import INSIGHT_KEYS
from tests.conftest import NOW_MS, SAMPLES, query, records_of, response


@pytest.fixture(scope="module")
def sample_records() -> dict[str, list[dict[str, Any]]]:
    """The sample traffic's records grouped by GSI partition (the week they are read from)."""
    events = [parse_event(send.body, now_ms=NOW_MS) for send in load_sample()]
    valid = [e for e in events if not isinstance(e, Invalid)]
    by_week: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for state in fold_events(valid).values():
        item = analytics_item(state)
        by_week[item["weekKey"]].append(item)
    return by_week


# --- golden: the sample's expected figures ------------------------------------------------


def assert_golden(figures: WeeklyFigures, expected: dict[str, Any]) -> None:
    """report-metrics.md's keys equal the file exactly (same keys, same order); the only
    other keys are report-insights.md's, after them."""
    shown = figures.model_dump(mode="json")
    assert metric_figures(figures) == expected
    assert list(METRIC_KEYS) == list(expected)
    assert list(shown) == [*expected, *INSIGHT_KEYS]


def test_golden_2025_w45_matches_expected_json(
    sample_records: dict[str, list[dict[str, Any]]],
) -> None:
    # Given the sample's W44 total computed from its own records (1, as the file says)
    previous = population_size(Week(2025, 44), sample_records["2025-W44"])
    assert previous == 1
    # When W45 is aggregated from its partition
    figures = weekly_figures(Week(2025, 45), sample_records["2025-W45"], previous)
    # Then every figure equals the expected file exactly
    expected = json.loads((SAMPLES / "expected-2025-W45.json").read_text())
    assert_golden(figures, expected)


def test_a_week_parsed_from_its_canonical_id_counts_the_samples_queries(
    sample_records: dict[str, list[dict[str, Any]]],
) -> None:
    # The string form once let "\uff12\uff10\uff12\uff15-W45" (full-width digits) through to
    # count 0 queries; a week is now parsed, canonical ASCII only, before it is aggregated.
    expected = json.loads((SAMPLES / "expected-2025-W45.json").read_text())
    figures = weekly_figures(Week.parse("2025-W45"), sample_records["2025-W45"], 1)
    assert figures.total_queries == expected["total_queries"] == 91
    assert figures.week == "2025-W45"
    with pytest.raises(InvalidWeekError, match="YYYY-Www"):
        Week.parse("\uff12\uff10\uff12\uff15-W45")


def test_golden_2025_w46_matches_expected_json(
    sample_records: dict[str, list[dict[str, Any]]],
) -> None:
    previous = population_size(Week(2025, 45), sample_records["2025-W45"])
    figures = weekly_figures(Week(2025, 46), sample_records["2025-W46"], previous)
    expected = json.loads((SAMPLES / "expected-2025-W46.json").read_text())
    assert_golden(figures, expected)


def test_golden_figures_ignore_other_weeks_and_orphans_in_the_input(
    sample_records: dict[str, list[dict[str, Any]]],
) -> None:
    everything = [r for records in sample_records.values() for r in records]
    figures = weekly_figures(Week(2025, 46), everything, 91)
    expected = json.loads((SAMPLES / "expected-2025-W46.json").read_text())
    assert_golden(figures, expected)


# --- who counts ------------------------------------------------------------------------------


def test_sunday_last_millisecond_and_monday_midnight_fall_in_different_weeks() -> None:
    records = records_of(
        query("sun", "2025-11-09T23:59:59.999"), query("mon", "2025-11-10T00:00:00.000")
    )
    w45 = weekly_figures(Week(2025, 45), records, 0)
    w46 = weekly_figures(Week(2025, 46), records, 0)
    assert (w45.total_queries, w46.total_queries) == (1, 1)
    assert w45.daily_queries[-1].model_dump() == {"date": "2025-11-09", "queries": 1}
    assert w46.daily_queries[0].model_dump() == {"date": "2025-11-10", "queries": 1}
    assert w46.period_start == "2025-11-10T00:00:00Z"
    assert w45.period_end == "2025-11-10T00:00:00Z"


def test_iso_week_53_spans_the_new_year() -> None:
    records = records_of(
        query("a", "2020-12-28T00:00:00.000"),
        query("b", "2021-01-03T23:59:59.999"),
        query("c", "2021-01-04T00:00:00.000"),  # 2021-W01
    )
    figures = weekly_figures(Week(2020, 53), records, 4)
    assert figures.total_queries == 2
    assert figures.period_start == "2020-12-28T00:00:00Z"
    assert figures.period_end == "2021-01-04T00:00:00Z"
    assert [d.date for d in figures.daily_queries][-1] == "2021-01-03"
    assert [d.queries for d in figures.daily_queries] == [1, 0, 0, 0, 0, 0, 1]
    assert figures.previous_week.week == "2020-W52"
    assert figures.total_queries_change_pct == -50.0
    assert weekly_figures(Week(2021, 1), records, 2).previous_week.week == "2020-W53"


def test_impossible_week_is_refused() -> None:
    with pytest.raises(InvalidWeekError, match="2021-W53"):
        weekly_figures(Week.parse("2021-W53"), [], 0)


def test_redelivered_events_and_repeated_records_count_once() -> None:
    q = query("r1", "2025-11-05T10:00:00", session="s1")
    r = response("r1", "2025-11-05T10:00:02", sources=["Go", "Go", "Python"])
    records = records_of(q, r, q, r, q)
    assert len(records) == 1 and records[0]["sessionId"] == "s1"
    figures = weekly_figures(Week(2025, 45), records + records, 0)  # a record read twice
    assert (figures.total_queries, figures.answered) == (1, 1)
    assert (figures.unique_sessions, figures.anonymous_queries) == (1, 0)
    assert [s.model_dump() for s in figures.top_sources] == [
        {"source": "Go", "count": 1},
        {"source": "Python", "count": 1},
    ]


def test_duplicate_entries_of_sources_used_in_a_stored_record_count_once() -> None:
    [record] = records_of(query("r1", "2025-11-05T10:00:00"), response("r1", "2025-11-05T10:00:02"))
    record["sourcesUsed"] = ["Go", "Go"]
    figures = weekly_figures(Week(2025, 45), [record], 0)
    assert [s.model_dump() for s in figures.top_sources] == [{"source": "Go", "count": 1}]


def test_orphan_responses_are_in_no_population() -> None:
    records = records_of(
        query("q", "2025-11-05T10:00:00"),
        response("orphan", "2025-11-05T11:00:00", match="none", score=10, sources=["Go"]),
    )
    figures = weekly_figures(Week(2025, 45), records, 0)
    assert (figures.total_queries, figures.answered, figures.unanswered) == (1, 0, 1)
    assert figures.top_sources == []
    assert figures.match_counts.model_dump() == {"full": 0, "partial": 0, "none": 0}


def test_unanswered_requests_count_in_total_but_not_in_match_figures() -> None:
    records = records_of(
        query("a", "2025-11-05T10:00:00", "same question"),
        response("a", "2025-11-05T10:00:01", match="partial", score=60),
        query("b", "2025-11-05T10:01:00", "same question"),
        query("c", "2025-11-05T10:02:00", "never answered"),
    )
    figures = weekly_figures(Week(2025, 45), records, 0)
    assert (figures.total_queries, figures.answered, figures.unanswered) == (3, 1, 2)
    assert figures.match_rate == 1.0
    assert figures.avg_match_score == 60.0
    tops = [t.model_dump() for t in figures.top_queries]
    assert tops == [
        {"query": "same question", "count": 2, "avg_match_score": 60.0},
        {"query": "never answered", "count": 1, "avg_match_score": None},
    ]
    assert pipeline_health(figures, 0, 3).model_dump() == {
        "unanswered_requests": 2,
        "orphan_responses": 0,
        "dlq_depth": 3,
    }


def test_sessions_leave_out_missing_empty_and_anonymous() -> None:
    records = records_of(
        query("a", "2025-11-05T10:00:00", session="s1"),
        query("b", "2025-11-05T10:00:01", session="s1"),
        query("c", "2025-11-05T10:00:02", session="s2"),
        query("d", "2025-11-05T10:00:03", session="anonymous"),
        query("e", "2025-11-05T10:00:04", session=""),
        query("f", "2025-11-05T10:00:05"),
    )
    figures = weekly_figures(Week(2025, 45), records, 0)
    assert (figures.unique_sessions, figures.anonymous_queries) == (2, 3)


# --- display queries ------------------------------------------------------------------------


def test_email_addresses_and_phone_numbers_are_masked_before_grouping() -> None:
    records = records_of(
        query("a", "2025-11-05T10:00:00", "Email me at A@B.COM"),
        query("b", "2025-11-05T10:00:01", "email me at c@d.org"),
        query("c", "2025-11-05T10:00:02", "Call +44 20 7946 0958 today"),
        query("d", "2025-11-05T10:00:03", "call 020-7946-0958 today"),
        query("e", "2025-11-05T10:00:04", "order 12345678"),  # 8 digits: not a phone
    )
    figures = weekly_figures(Week(2025, 45), records, 0)
    assert [(t.query, t.count) for t in figures.top_queries] == [
        ("call [phone] today", 2),
        ("email me at [email]", 2),
        ("order 12345678", 1),
    ]


FULLWIDTH_PYTHON = "\uff30\uff39\uff34\uff28\uff2f\uff2e"  # NFKC: "PYTHON"


def test_unicode_is_nfkc_casefolded_stripped_and_whitespace_collapsed() -> None:
    records = records_of(
        query("a", "2025-11-05T10:00:00", f"  Does he know {FULLWIDTH_PYTHON}?\t"),
        query("b", "2025-11-05T10:00:01", "does\u00a0he   know\npython?"),
        query("c", "2025-11-05T10:00:02", "STRASSE"),
        query("d", "2025-11-05T10:00:03", "Straße"),
        query("e", "2025-11-05T10:00:04", "café ☕"),
    )
    figures = weekly_figures(Week(2025, 45), records, 0)
    assert [(t.query, t.count) for t in figures.top_queries] == [
        ("does he know python?", 2),
        ("strasse", 2),
        ("café ☕", 1),
    ]


def test_top_lists_order_by_count_then_text_and_stop_at_ten() -> None:
    events = []
    for i in range(12):
        events.append(query(f"x{i}", "2025-11-05T10:00:00", f"q{i:02d}"))
        events.append(response(f"x{i}", "2025-11-05T10:00:01", match="none", score=5))
    events.append(query("y", "2025-11-05T11:00:00", "q11"))
    figures = weekly_figures(Week(2025, 45), records_of(*events), 0)
    assert [t.query for t in figures.top_queries] == [
        "q11", "q00", "q01", "q02", "q03", "q04", "q05", "q06", "q07", "q08",
    ]  # fmt: skip
    assert figures.top_queries[0].count == 2
    assert len(figures.unmatched_queries) == 10
    assert figures.unmatched_queries[0].model_dump() == {"query": "q00", "count": 1}


# --- rounding, percentiles, empty week ------------------------------------------------------


def test_rounding_is_half_to_even_and_applied_last() -> None:
    events = [query(f"r{i:02d}", "2025-11-05T10:00:00") for i in range(17)]
    events += [response("r00", "2025-11-05T10:00:01", match="partial", score=1)]
    events += [response("r01", "2025-11-05T10:00:01", match="none", score=2.25)]
    events += [
        response(f"r{i:02d}", "2025-11-05T10:00:01", match="none", score=0) for i in range(2, 8)
    ]
    figures = weekly_figures(Week(2025, 45), records_of(*events), 16)
    assert figures.answered == 8
    assert figures.match_rate == 0.125  # 1/8 exactly
    assert figures.avg_match_score == 0.41  # 3.25/8 = 0.40625 -> 0.41
    assert figures.total_queries_change_pct == 6.2  # 6.25 -> 6.2 (to even)
    two = records_of(
        query("a", "2025-11-05T10:00:00"),
        response("a", "2025-11-05T10:00:01", score=1),
        query("b", "2025-11-05T10:00:00"),
        response("b", "2025-11-05T10:00:01", score=2.25),
    )
    figures = weekly_figures(Week(2025, 45), two, 0)
    assert figures.avg_match_score == 1.62  # 1.625 -> 1.62 (to even)
    assert figures.median_match_score == 1.625  # the median is not rounded


def test_match_rate_rounds_half_to_even_at_four_decimals() -> None:
    events = []
    for i in range(32):
        events.append(query(f"r{i:02d}", "2025-11-05T10:00:00"))
        events.append(
            response(f"r{i:02d}", "2025-11-05T10:00:01", match="full" if i == 0 else "none")
        )
    figures = weekly_figures(Week(2025, 45), records_of(*events), 0)
    assert figures.match_rate == 0.0312  # 1/32 = 0.03125 -> 0.0312


def test_performance_percentiles_interpolate_linearly_with_one_decimal() -> None:
    events = []
    timings = [(10.0, 100.0, True), (20.0, 100.5, False), (30.0, 0.0, None), (40, 1, False)]
    for i, (total, llm, hit) in enumerate(timings):
        perf: dict[str, Any] = {"totalTime": total, "llmTime": llm}
        if hit is not None:
            perf["cacheHit"] = hit
        events.append(query(f"r{i}", "2025-11-05T10:00:00"))
        events.append(response(f"r{i}", "2025-11-05T10:00:01", performance=perf))
    events.append(query("untimed", "2025-11-05T10:00:00"))
    events.append(response("untimed", "2025-11-05T10:00:01"))
    performance = weekly_figures(Week(2025, 45), records_of(*events), 0).performance
    assert performance is not None
    assert performance.model_dump() == {
        "requests_with_timing": 4,
        "total_time_ms": {"p50": 25.0, "p95": 38.5, "p99": 39.7},
        "llm_time_ms": {"p50": 50.5, "p95": 100.4, "p99": 100.5},  # 50.5 = (1+100)/2
        "retrieval_time_ms": {"p50": None, "p95": None, "p99": None},
        "cache_hit_rate": 0.3333,
    }


def test_percentile_ties_round_to_even() -> None:
    events = []
    for i, total in enumerate([100.0, 100.5]):
        events.append(query(f"r{i}", "2025-11-05T10:00:00"))
        events.append(response(f"r{i}", "2025-11-05T10:00:01", performance={"totalTime": total}))
    performance = weekly_figures(Week(2025, 45), records_of(*events), 0).performance
    assert performance is not None
    assert performance.total_time_ms.p50 == 100.2  # 100.25 -> 100.2
    assert performance.cache_hit_rate is None


def test_performance_is_null_when_no_answered_request_carries_it() -> None:
    records = records_of(query("a", "2025-11-05T10:00:00"), response("a", "2025-11-05T10:00:01"))
    assert weekly_figures(Week(2025, 45), records, 0).performance is None


def test_empty_week_has_zero_counts_and_null_averages() -> None:
    figures = weekly_figures(Week(2025, 40), [], 5)
    data = metric_figures(figures)  # the insights of an empty week: test_insights.py
    assert data == {
        "week": "2025-W40",
        "period_start": "2025-09-29T00:00:00Z",
        "period_end": "2025-10-06T00:00:00Z",
        "total_queries": 0,
        "answered": 0,
        "unanswered": 0,
        "unique_sessions": 0,
        "anonymous_queries": 0,
        "match_counts": {"full": 0, "partial": 0, "none": 0},
        "match_rate": None,
        "avg_match_score": None,
        "median_match_score": None,
        "daily_queries": [
            {"date": f"2025-{d}", "queries": 0}
            for d in ("09-29", "09-30", "10-01", "10-02", "10-03", "10-04", "10-05")
        ],
        "top_queries": [],
        "unmatched_queries": [],
        "top_sources": [],
        "performance": None,
        "previous_week": {"week": "2025-W39", "total_queries": 5},
        "total_queries_change_pct": -100.0,
    }
    assert weekly_figures(Week(2025, 40), [], 0).total_queries_change_pct is None


def test_unknown_previous_week_gives_null_change() -> None:
    records = records_of(query("a", "2025-11-05T10:00:00"))
    figures = weekly_figures(Week(2025, 45), records, None)
    assert figures.previous_week.total_queries is None
    assert figures.total_queries_change_pct is None
