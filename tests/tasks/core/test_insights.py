"""The insights of report-insights.md (tasks.core.insights through weekly_figures), golden.

Every expected value below was worked out by hand from the records of the week (one line
per request in ``THIS_WEEK``) and the stored summaries of the weeks before it.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from lambdas.shared.weeks import Week
from tasks.core.aggregate import WeeklyFigures, metric_figures, stored_summary, weekly_figures
from tasks.core.insights import (
    INSIGHT_KEYS,
    StoredSummary,
    TrendPoint,
    anomalies,
    history_weeks,
)
from tasks.core.intents import INTENTS
from tasks.core.masking import EMAIL_PATTERN, PHONE_PATTERN
from tests.conftest import query, records_of, response

WEEK = Week(2025, 45)  # Mon 3 - Sun 9 November 2025


def request(
    rid: str,
    day: int,
    text: str,
    match: str | None,
    score: float = 50,
    sources: list[str] | None = None,
) -> list[dict[str, Any]]:
    at = f"2025-11-{day:02d}T10:{int(rid[1:]) % 60:02d}:00"
    events = [query(rid, at, text, session=f"s{rid}")]
    if match is not None:
        events.append(response(rid, at.replace(":00", ":01", 1), match, score, sources))
    return events


#: rid, day, display-query source text, match type (None: no response), score, sources
THIS_WEEK = [
    ("r1", 3, "Day rate?", "none", 10, None),
    ("r2", 3, "day   rate?", None, 0, None),  # no response
    ("r3", 4, "what's his hourly rate", "partial", 55, None),
    ("r4", 4, "does he know kafka?", "partial", 60, ["Kafka"]),
    ("r5", 5, "does he know kafka?", "partial", 70, None),
    ("r6", 5, "kafka experience?", "full", 90, None),
    ("r7", 5, "does he know fortran?", "none", 5, None),  # 1 request: never a gap
    ("r8", 6, "Email me at Jane.Doe@example.com about a role", None, 0, None),
    ("r9", 6, "how can i contact him?", "full", 80, ["Contact"]),
    ("r10", 7, "does he know python?", "full", 90, ["Python"]),
    ("r11", 7, "does he know python?", "full", 90, ["Python"]),
    ("r12", 8, "is he aws certified", "partial", 50, None),
    ("r13", 9, "is he aws certified", "partial", 40, None),
]


def this_week_records() -> list[dict[str, Any]]:
    events = [e for row in THIS_WEEK for e in request(*row)]
    return records_of(*events)


def w44_figures() -> WeeklyFigures:
    """The week before, computed and summarised by the same code."""
    records = records_of(
        query("p1", "2025-10-28T09:00:00", "how much does he charge per day"),
        response("p1", "2025-10-28T09:00:01", "full", 80, ["Java"]),
        query("p2", "2025-10-29T09:00:00", "k8s?"),
        response("p2", "2025-10-29T09:00:01", "full", 70, ["Kafka", "Python"]),
    )
    return weekly_figures(Week(2025, 44), records, None)


def previous() -> dict[str, StoredSummary]:
    """W44 as stored; W42 a total-only fallback item; W40 an older week; W36 too old."""
    rate_theme = {
        "theme": "what's his rate",
        "intent": "compensation",
        "count": 1,
        "members": [{"query": "what's his rate", "count": 1}],
    }
    kafka_theme = {
        "theme": "does he know kafka?",
        "intent": "skills",
        "count": 4,
        "members": [{"query": "does he know kafka?", "count": 4}],
    }
    return {
        "2025-W36": StoredSummary(
            week="2025-W36", total_queries=4, themes=[kafka_theme], top_sources=["Rust"]
        ),
        "2025-W40": StoredSummary(
            week="2025-W40",
            total_queries=5,
            match_rate=0.8,
            p95_total_time_ms=None,
            intents=dict.fromkeys(INTENTS, 0) | {"compensation": 1},
            themes=[rate_theme],
            top_sources=["Go"],
        ),
        "2025-W42": StoredSummary(week="2025-W42", total_queries=7),
        "2025-W44": stored_summary(w44_figures()),
    }


@pytest.fixture(scope="module")
def figures() -> WeeklyFigures:
    return weekly_figures(WEEK, this_week_records(), 2, previous())


def test_the_new_keys_follow_the_metrics_at_top_level(figures: WeeklyFigures) -> None:
    shown = figures.model_dump(mode="json")
    assert list(shown)[-len(INSIGHT_KEYS) :] == list(INSIGHT_KEYS)
    assert INSIGHT_KEYS.index("gap_followup") == INSIGHT_KEYS.index("cv_gaps") + 1
    assert metric_figures(figures)["total_queries"] == 13


def test_intents_count_answered_well_and_previous_count(figures: WeeklyFigures) -> None:
    data = figures.model_dump(mode="json")["intents"]
    assert list(data) == list(INTENTS)
    assert data == {
        # r8 (unanswered, left details) and r9 (full)
        "contact": {"count": 2, "answered_well": 1, "previous_count": 0},
        # r1 none, r2 unanswered, r3 partial (only in part: not answered well); W44 had
        # one pay question
        "compensation": {"count": 3, "answered_well": 0, "previous_count": 1},
        "availability": {"count": 0, "answered_well": 0, "previous_count": 0},
        # r4 r5 partial, r6 full, r7 none, r10 r11 full; W44 had "k8s?"
        "skills": {"count": 6, "answered_well": 3, "previous_count": 1},
        "experience": {"count": 0, "answered_well": 0, "previous_count": 0},
        # a certification is education: r12 r13 partial
        "education": {"count": 2, "answered_well": 0, "previous_count": 0},
        "other": {"count": 0, "answered_well": 0, "previous_count": 0},
    }


def test_previous_count_is_null_when_the_previous_week_has_no_summary() -> None:
    without_w44 = {k: v for k, v in previous().items() if k != "2025-W44"}
    figures = weekly_figures(WEEK, this_week_records(), 2, without_w44)
    assert {v.previous_count for v in figures.intents.values()} == {None}
    # a total-only fallback item is no summary of intents either
    fallback = {"2025-W44": StoredSummary(week="2025-W44", total_queries=2)}
    figures = weekly_figures(WEEK, this_week_records(), 2, fallback)
    assert {v.previous_count for v in figures.intents.values()} == {None}


def test_themes_members_counts_labels_and_order(figures: WeeklyFigures) -> None:
    themes = figures.model_dump(mode="json")["themes"]
    assert [(t["theme"], t["intent"], t["count"]) for t in themes] == [
        ("day rate?", "compensation", 3),  # count 3 ties: label ascending
        ("does he know kafka?", "skills", 3),
        ("does he know python?", "skills", 2),
        ("is he aws certified", "education", 2),
        ("does he know fortran?", "skills", 1),
        ("email me at [email] about a role", "contact", 1),
        ("how can i contact him?", "contact", 1),
    ]
    pay, kafka = themes[0], themes[1]
    assert pay["members"] == [
        {
            "query": "day rate?",
            "count": 2,
            "sessions": 2,
        },  # "Day rate?" and "day   rate?": one display query
        {"query": "what's his hourly rate", "count": 1, "sessions": 1},
    ]
    assert (pay["answered"], pay["match_counts"]) == (2, {"full": 0, "partial": 1, "none": 1})
    assert pay["avg_match_score"] == 32.5  # (10 + 55) / 2; r2 has no response
    assert kafka["members"] == [
        {"query": "does he know kafka?", "count": 2, "sessions": 2},
        {"query": "kafka experience?", "count": 1, "sessions": 1},
    ]
    assert kafka["match_counts"] == {"full": 1, "partial": 2, "none": 0}
    assert kafka["avg_match_score"] == 73.33  # (60 + 70 + 90) / 3
    unanswered_only = themes[5]
    assert (unanswered_only["answered"], unanswered_only["avg_match_score"]) == (0, None)


def test_new_and_weeks_seen_judge_the_question_not_the_label(figures: WeeklyFigures) -> None:
    seen = {t.theme: (t.new, t.weeks_seen) for t in figures.themes}
    # pay: "what's his rate" in W40 and "how much does he charge per day" in W44
    assert seen["day rate?"] == (False, 2)
    # kafka was asked in W36 only: nine weeks back, outside the 8 weeks
    assert seen["does he know kafka?"] == (True, 0)
    # "k8s?" in W44 is kubernetes, not python; W42 has no themes: skipped
    assert seen["does he know python?"] == (True, 0)
    assert seen["how can i contact him?"] == (True, 0)


def test_gaps_both_kinds_ranking_and_the_two_request_rule(figures: WeeklyFigures) -> None:
    gaps = figures.model_dump(mode="json")["cv_gaps"]
    assert [(g["theme"], g["kind"], g["asked"], g["short"], g["new"]) for g in gaps] == [
        # 1 unanswered + 1 none of 3: at least half -> not_answered; short 1 + 1 + 1 partial
        ("day rate?", "not_answered", 3, 3, False),
        # 2 partial of 3: weak; short 2. Ties on short: theme ascending
        ("does he know kafka?", "weak", 3, 2, True),
        ("is he aws certified", "weak", 2, 2, True),
    ]
    # fortran (1 request, none) and the left-details contact (1, unanswered) are no gaps
    assert gaps[0]["suggestion"].startswith("Add your salary or day-rate expectations")
    assert gaps[1]["suggestion"] == (
        "State your level of experience with Kafka, or that you have none."
    )
    assert "certifications" in gaps[2]["suggestion"]
    # across weeks (section 8): the earlier weeks asked none of them twice, so each is new
    # (the pay question was asked, once, in W44: no evidence), nothing is fixed
    assert [(g["state"], g["since"], g["dismissed"]) for g in gaps] == [
        ("new", "2025-W45", False)
    ] * 3
    assert [(e.key, e.state, e.before) for e in figures.gap_followup] == [
        ("compensation:pay", "new", None),
        ("skills:kafka", "new", None),
        ("education:certifications", "new", None),
    ]


def test_at_most_ten_gaps() -> None:
    technologies = [
        "rust", "scala", "kotlin", "haskell", "perl", "matlab", "elixir", "cobol", "php",
        "ruby", "swift", "flutter",
    ]  # fmt: skip
    events = []
    for n, name in enumerate(technologies):
        for k in range(2 + n % 3):
            rid = f"g{n}x{k}"
            at = f"2025-11-05T{n:02d}:{k:02d}:00"
            events += [query(rid, at, f"does he know {name}?"), response(rid, at, "none", 1)]
    figures = weekly_figures(WEEK, records_of(*events), 0)
    assert len(figures.cv_gaps) == 10
    shorts = [g.short for g in figures.cv_gaps]
    assert shorts == sorted(shorts, reverse=True) and shorts[0] == 4


def test_contact_requests_and_leads(figures: WeeklyFigures) -> None:
    assert figures.contact_requests.model_dump() == {"count": 2, "left_details": 1}


def test_trends_are_null_for_weeks_without_a_summary_not_zero(figures: WeeklyFigures) -> None:
    trends = figures.model_dump(mode="json")["trends"]
    assert [t["week"] for t in trends] == [f"2025-W{n}" for n in range(38, 46)]
    by_week = {t["week"]: t for t in trends}
    missing = {"week": "2025-W39", "total_queries": None, "match_rate": None}
    assert by_week["2025-W39"] == {**missing, "p95_total_time_ms": None}
    assert by_week["2025-W40"] == {
        "week": "2025-W40",
        "total_queries": 5,
        "match_rate": 0.8,
        "p95_total_time_ms": None,
    }
    # a total-only item: the total is known, the rest is not
    assert by_week["2025-W42"]["total_queries"] == 7 and by_week["2025-W42"]["match_rate"] is None
    assert by_week["2025-W44"] == {
        "week": "2025-W44",
        "total_queries": 2,
        "match_rate": 1.0,
        "p95_total_time_ms": None,
    }
    # this week's from its own figures: 4 full + 5 partial of 11 answered
    assert by_week["2025-W45"] == {
        "week": "2025-W45",
        "total_queries": 13,
        "match_rate": 0.8182,
        "p95_total_time_ms": None,
    }
    # W40, W42, W44 have totals (median 5): 13 is no spike (< 20); 2 match rates: not judged
    assert figures.anomalies == []


def test_unused_sources_from_the_previous_weeks_top_sources(figures: WeeklyFigures) -> None:
    # W44 top sources Java, Kafka, Python; W40 Go; W36 (Rust) is outside the 8 weeks.
    # Kafka (r4) and Python (r10, r11) were used by answered requests this week.
    assert figures.unused_sources == ["Go", "Java"]


def trend(*values: tuple[int | None, float | None, float | None]) -> list[TrendPoint]:
    weeks = [*history_weeks(Week(2025, 46))[-(len(values) - 1) :], Week(2025, 46)]
    return [
        TrendPoint(week=w.id, total_queries=t, match_rate=r, p95_total_time_ms=p)
        for w, (t, r, p) in zip(weeks, values, strict=True)
    ]


def kinds(points: list[TrendPoint]) -> list[str]:
    return [a.kind for a in anomalies(points)]


def test_traffic_spike_needs_twice_the_median_and_twenty_queries() -> None:
    assert kinds(trend((10, None, None), (12, None, None), (8, None, None), (20, None, None))) == [
        "traffic_spike"
    ]
    # 19 >= 2 x 9 but fewer than 20
    assert kinds(trend((9, None, None), (9, None, None), (9, None, None), (19, None, None))) == []
    (spike,) = anomalies(
        trend((10, None, None), (12, None, None), (8, None, None), (30, None, None))
    )
    assert spike.message == (
        "Traffic spike: 30 questions this week, 3.0 times the median of 10 over the "
        "3 previous weeks."
    )


def test_traffic_drop_needs_half_the_median_and_a_median_of_twenty() -> None:
    assert kinds(trend((40, None, None), (40, None, None), (44, None, None), (20, None, None))) == [
        "traffic_drop"
    ]
    assert kinds(trend((19, None, None), (19, None, None), (19, None, None), (2, None, None))) == []


def test_match_rate_drop_of_ten_points_on_the_median() -> None:
    base = [(10, 0.9, None), (10, 0.8, None), (10, 0.85, None)]
    assert kinds(trend(*base, (10, 0.75, None))) == ["match_rate_drop"]  # exactly 0.10 below
    assert kinds(trend(*base, (10, 0.76, None))) == []
    assert kinds(trend(*base, (10, None, None))) == []  # no answered request: no rate


def test_latency_regression_at_one_and_a_half_times_the_median_p95() -> None:
    base = [(10, None, 1000.0), (10, None, 1200.0), (10, None, 1100.0)]
    assert kinds(trend(*base, (10, None, 1650.0))) == ["latency_regression"]
    assert kinds(trend(*base, (10, None, 1649.9))) == []


def test_no_anomaly_with_fewer_than_three_previous_weeks_with_values() -> None:
    sparse = trend(
        (None, None, None),
        (100, 0.95, 1000.0),
        (None, None, None),
        (100, 0.95, 1000.0),
        (1000, 0.10, 9000.0),
    )
    assert anomalies(sparse) == []
    # per figure: three totals but two match rates -> traffic judged, match rate not
    mixed = trend((10, None, None), (10, 0.95, None), (10, 0.95, None), (50, 0.1, None))
    assert kinds(mixed) == ["traffic_spike"]


def test_every_anomaly_kind_through_weekly_figures() -> None:
    history = {
        w.id: StoredSummary(
            week=w.id, total_queries=10, match_rate=1.0, p95_total_time_ms=100.0, intents={}
        )
        for w in history_weeks(WEEK)[-3:]
    }
    events = []
    for n in range(25):
        rid = f"a{n:02d}"
        at = f"2025-11-06T10:{n:02d}:00"
        perf = {"totalTime": 400.0}
        events += [query(rid, at, "does he know go?"), response(rid, at, "none", 1, None, perf)]
    figures = weekly_figures(WEEK, records_of(*events), 10, history)
    assert [a.kind for a in figures.anomalies] == [
        "traffic_spike",
        "match_rate_drop",
        "latency_regression",
    ]


def test_empty_week() -> None:
    figures = weekly_figures(WEEK, [], 2, previous())
    assert (figures.themes, figures.cv_gaps) == ([], [])
    assert {v.count for v in figures.intents.values()} == {0}
    assert figures.intents["skills"].previous_count == 1
    assert figures.contact_requests.model_dump() == {"count": 0, "left_details": 0}
    assert len(figures.trends) == 8 and figures.trends[-1].total_queries == 0
    assert figures.trends[-1].match_rate is None
    assert figures.unused_sources == ["Go", "Java", "Kafka", "Python"]
    # and with no history at all
    alone = weekly_figures(WEEK, [], None)
    assert [t.total_queries for t in alone.trends] == [None] * 7 + [0]
    assert alone.unused_sources == [] and alone.anomalies == []


def test_same_themes_on_every_run_whatever_the_record_order() -> None:
    records = this_week_records()
    first = weekly_figures(WEEK, records, 2, previous()).model_dump(mode="json")
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    again = weekly_figures(WEEK, shuffled, 2, previous()).model_dump(mode="json")
    for key in INSIGHT_KEYS:
        assert again[key] == first[key], key


def test_the_stored_summary_keeps_what_later_weeks_read(figures: WeeklyFigures) -> None:
    summary = stored_summary(figures)
    assert summary.week == "2025-W45"
    assert (summary.total_queries, summary.match_rate, summary.p95_total_time_ms) == (
        13,
        0.8182,
        None,
    )
    assert summary.intents == {k: v.count for k, v in figures.intents.items()}
    assert summary.top_sources == ["Python", "Contact", "Kafka"]
    assert summary.themes is not None and summary.themes[0] == {
        "theme": "day rate?",
        "intent": "compensation",
        "key": "compensation:pay",
        "count": 3,
        "answered_well": 0,
        "members": [
            {"query": "day rate?", "count": 2, "sessions": 2},
            {"query": "what's his hourly rate", "count": 1, "sessions": 1},
        ],
    }
    # every gap theme (section 8): most short requests first, then most requests
    assert summary.gaps is not None and [g.model_dump() for g in summary.gaps] == [
        {"key": "compensation:pay", "theme": "day rate?", "asked": 3, "answered_well": 0},
        {"key": "skills:kafka", "theme": "does he know kafka?", "asked": 3, "answered_well": 1},
        {
            "key": "education:certifications",
            "theme": "is he aws certified",
            "asked": 2,
            "answered_well": 0,
        },
    ]
    assert summary.omitted_gaps == 0
    # the next week reads it: its pay question is not new, seen in 1 of its 8 weeks
    events = request("n1", 12, "what does he charge?", "none", 1)  # 12 November: W46
    nxt = weekly_figures(Week(2025, 46), records_of(*events), 13, {"2025-W45": summary})
    assert [(t.theme, t.new, t.weeks_seen) for t in nxt.themes] == [
        ("what does he charge?", False, 1)
    ]
    assert nxt.intents["compensation"].previous_count == 3
    assert nxt.unused_sources == ["Contact", "Kafka", "Python"]


def test_no_raw_email_or_phone_in_the_insights_or_the_summary() -> None:
    events = request("x1", 4, "call +44 20 7946 0958 or mail Jane.Doe@example.com", None)
    events += request("x2", 4, "call +44 20 7946 0958 or mail Jane.Doe@example.com", "none", 3)
    figures = weekly_figures(WEEK, records_of(*events), 0)
    texts = [
        json.dumps({k: figures.model_dump(mode="json")[k] for k in INSIGHT_KEYS}),
        json.dumps(stored_summary(figures).model_dump()),
    ]
    for text in texts:
        assert not EMAIL_PATTERN.search(text) and not PHONE_PATTERN.search(text)
        assert "jane" not in text and "7946" not in text
    assert figures.contact_requests.model_dump() == {"count": 2, "left_details": 2}
    # the visitor who left details is a lead (section 7), not a CV gap
    assert figures.themes[0].theme == "call [phone] or mail [email]"
    assert figures.cv_gaps == []
