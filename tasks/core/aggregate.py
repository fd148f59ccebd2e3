"""The weekly figures of ``docs/spec/report-metrics.md``, computed with pandas. Pure.

One function, :func:`weekly_figures`, turns a week's analytics records into
:class:`WeeklyFigures`, whose JSON form has exactly the spec's keys. The records come as
a pandas table with one column per attribute the figures read (:data:`FIGURE_COLUMNS`;
the week's reader builds it straight from DynamoDB pages) or as plain dicts
(:func:`records_frame` turns those into the table). The e-mail, the Prefect artifacts,
the archived ``report.json`` and the flow's return value all come from that one object.

Decisions the spec leaves open, taken here once:

- ``sessionId`` comes from the query event (the analytics record's ``sessionId``); a
  response's copy is not consulted. The sample's expected figures agree.
- ``median_match_score`` is not rounded (the spec gives it no decimals); match scores
  are whole numbers on the wire, so a median is a whole or half number.
- Percentiles of a timing field are over the timed requests that carry that field;
  ``cache_hit_rate`` is over the timed requests that carry ``cacheHit``. Either is
  ``null`` when no request carries the field.
- Source names are passed through the personal-data mask too (a no-op for technology
  names), so nothing user-shaped can leave the pipeline through ``top_sources``.
- ``previous_week_total=None`` means "unknown": ``previous_week.total_queries`` and the
  change are then ``null``. The flow always supplies the number.

Performance (a million records in about a second): columns, never rows; pandas
``factorize`` turns texts into integer codes, display queries are computed once per
distinct raw text, counts and means come from ``numpy.bincount``, source lists are
grouped per distinct list, and pandas ``quantile``/``median`` give the statistics.
Distinctness of request ids is checked by one vectorised ordered comparison (a Query
page and an archive are sorted by id) before any hashing. Building the table from a
million dicts alone takes longer than all of that, which is why the reader does not
build dicts for the report.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from lambdas.shared.weeks import Week
from tasks.core.candidate import Candidate
from tasks.core.feedback import Feedback
from tasks.core.gap_history import STORED_GAP_LIMIT, GapFollowup, StoredGap
from tasks.core.insights import (
    INSIGHT_KEYS,
    Anomaly,
    ContactRequests,
    CvGap,
    IntentFigures,
    StoredSummary,
    ThemeFigures,
    TrendPoint,
    theme_gap_kind,
    week_insights,
)
from tasks.core.masking import display_query, mask
from tasks.core.vocabulary import vocabulary

TOP_LIMIT = 10
#: Characters of any text the stored summary keeps (labels, members, sources): a week of
#: pasted essays still fits DynamoDB's item limit (tasks.dynamodb.summaries bounds the rest).
STORED_TEXT_LIMIT = 300
ANONYMOUS_SESSIONS = frozenset({"", "anonymous"})
PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
TIMING_FIELDS = (
    ("total_time_ms", "totalTime"),
    ("llm_time_ms", "llmTime"),
    ("retrieval_time_ms", "retrievalTime"),
)
MS_PER_DAY = 86_400_000
#: The analytics-record attributes the figures read: the columns of a week's table.
FIGURE_COLUMNS = (
    "requestId",
    "week",
    "queryTs",
    "query",
    "sessionId",
    "matchType",
    "matchScore",
    "sourcesUsed",
    "hasPerformance",
    "totalTime",
    "llmTime",
    "retrievalTime",
    "cacheHit",
)


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MatchCounts(_Figures):
    full: int
    partial: int
    none: int


class DailyQueries(_Figures):
    date: str
    queries: int


class TopQuery(_Figures):
    query: str
    count: int
    avg_match_score: float | None


class UnmatchedQuery(_Figures):
    query: str
    count: int


class TopSource(_Figures):
    source: str
    count: int


class Percentiles(_Figures):
    p50: float | None
    p95: float | None
    p99: float | None


class PerformanceFigures(_Figures):
    requests_with_timing: int
    total_time_ms: Percentiles
    llm_time_ms: Percentiles
    retrieval_time_ms: Percentiles
    cache_hit_rate: float | None


class PreviousWeek(_Figures):
    week: str
    total_queries: int | None


class WeeklyFigures(_Figures):
    """The spec's figures, key for key; ``model_dump(mode="json")`` is the report JSON."""

    week: str
    period_start: str
    period_end: str
    total_queries: int
    answered: int
    unanswered: int
    unique_sessions: int
    anonymous_queries: int
    match_counts: MatchCounts
    match_rate: float | None
    avg_match_score: float | None
    median_match_score: float | None
    daily_queries: list[DailyQueries]
    top_queries: list[TopQuery]
    unmatched_queries: list[UnmatchedQuery]
    top_sources: list[TopSource]
    performance: PerformanceFigures | None
    previous_week: PreviousWeek
    total_queries_change_pct: float | None
    # report-insights.md: added at top level, after the figures of report-metrics.md
    intents: dict[str, IntentFigures]
    themes: list[ThemeFigures]
    cv_gaps: list[CvGap]
    gap_followup: list[GapFollowup] = []
    contact_requests: ContactRequests
    trends: list[TrendPoint]
    anomalies: list[Anomaly]
    unused_sources: list[str]


#: The keys of report-metrics.md, in order (the golden files hold exactly these).
METRIC_KEYS = tuple(key for key in WeeklyFigures.model_fields if key not in INSIGHT_KEYS)


def metric_figures(figures: WeeklyFigures) -> dict[str, Any]:
    """The report-metrics.md part of the figures' JSON (what samples/expected-*.json hold)."""
    shown = figures.model_dump(mode="json")
    return {key: shown[key] for key in METRIC_KEYS}


class PipelineHealth(_Figures):
    """Operational numbers shown beside the figures, deliberately not among them."""

    unanswered_requests: int
    orphan_responses: int
    dlq_depth: int | None


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters; a cut text ends in an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _round(value: Any, digits: int) -> float | None:
    """Python's round (half to even) of a finite number, else None."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, digits)


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-d object array (``np.array`` would build 2-d arrays out of equal-length lists)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _factorize_array(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pandas codes (-1 for None) and distinct values, in order of first appearance."""
    codes, uniques = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def _factorize(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    return _factorize_array(_objects(values))


def _column(rows: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """``[row.get(key) for row in rows]`` without the interpreter loop (C-level map)."""
    return list(map(dict.get, rows, itertools.repeat(key)))  # type: ignore[arg-type]


def columns_frame(columns: Mapping[str, list[Any]]) -> pd.DataFrame:
    """The figures' table from one value list per attribute of :data:`FIGURE_COLUMNS`.

    Columns stay Python objects as they are (no str inference, None kept as None); the
    figures convert what they compute on.
    """
    return pd.DataFrame({key: _objects(columns[key]) for key in FIGURE_COLUMNS}, dtype=object)


def records_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Dict records -> the figures' table: one column per attribute, None if absent."""
    rows = records if isinstance(records, Sequence) else list(records)
    return columns_frame({key: _column(rows, key) for key in FIGURE_COLUMNS})


def _as_table(records: pd.DataFrame | Sequence[dict[str, Any]]) -> pd.DataFrame:
    return records if isinstance(records, pd.DataFrame) else records_frame(records)


def _values(table: pd.DataFrame, key: str) -> np.ndarray:
    return table[key].to_numpy(dtype=object)


def _floats(table: pd.DataFrame, key: str) -> np.ndarray:
    """A numeric column as float64: None -> NaN, booleans -> 0/1."""
    return np.asarray(_values(table, key), dtype=np.float64)


def population(week: Week, records: pd.DataFrame) -> pd.DataFrame:
    """The week's population: one row per distinct request whose query is in ``week``.

    Rows of other weeks and orphans (no ``week``) are dropped; a request id seen twice
    keeps its first row. A GSI partition or an archived week comes sorted by request id
    with no repeats, which is checked in one vectorised pass before paying for hashing.
    """
    in_week = np.equal(_values(records, "week"), week.id).astype(bool)
    kept = records if in_week.all() else records[in_week]
    ids = _values(kept, "requestId")
    if len(ids) < 2 or bool(np.greater(ids[1:], ids[:-1]).all()):
        return kept
    return kept[~pd.Series(ids, dtype=object).duplicated(keep="first").to_numpy()]


def population_size(week: Week, records: Sequence[dict[str, Any]] | pd.DataFrame) -> int:
    """``total_queries`` of a week without the rest of the figures (previous-week fallback)."""
    return len(population(week, _as_table(records)))


def _ranked(labels: np.ndarray, counts: np.ndarray) -> list[int]:
    """Indices of at most ten labels with a count: count descending, then label ascending."""
    present = [i for i in range(len(labels)) if counts[i] > 0]
    present.sort(key=lambda i: (-int(counts[i]), labels[i]))
    return present[:TOP_LIMIT]


def _display_codes(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the code of its display query; display_query runs once per distinct text."""
    raw_codes, raw_uniques = _factorize_array(queries)
    shown = [display_query(str(text)) for text in raw_uniques]
    display_codes, display_uniques = _factorize(shown)
    return display_codes[raw_codes], display_uniques


def _top_queries(
    codes: np.ndarray, labels: np.ndarray, answered: np.ndarray, scores: np.ndarray
) -> list[TopQuery]:
    size = len(labels)
    counts = np.bincount(codes, minlength=size)
    answered_counts = np.bincount(codes[answered], minlength=size)
    score_sums = np.bincount(codes[answered], weights=scores[answered], minlength=size)
    result = []
    for i in _ranked(labels, counts):
        mean = score_sums[i] / answered_counts[i] if answered_counts[i] else None
        result.append(
            TopQuery(query=labels[i], count=int(counts[i]), avg_match_score=_round(mean, 2))
        )
    return result


def _unmatched_queries(
    codes: np.ndarray, labels: np.ndarray, unmatched: np.ndarray
) -> list[UnmatchedQuery]:
    counts = np.bincount(codes[unmatched], minlength=len(labels))
    return [UnmatchedQuery(query=labels[i], count=int(counts[i])) for i in _ranked(labels, counts)]


def _source_counts(sources: Iterable[Any]) -> Counter[str]:
    """Requests per distinct (masked) source name; each request counts a name once.

    Requests are first grouped by their exact source list (a few hundred distinct lists
    a week), so deduplication and masking run per distinct list, not per request.
    """
    combos = Counter(map(tuple, filter(None, sources)))
    counter: Counter[str] = Counter()
    for combo, requests in combos.items():
        for name in {mask(str(entry)) for entry in combo}:
            counter[name] += requests
    return counter


def _top_sources_of(counter: Counter[str]) -> list[TopSource]:
    names = np.array(list(counter), dtype=object)
    counts = np.array(list(counter.values()), dtype=np.int64)
    return [TopSource(source=names[i], count=int(counts[i])) for i in _ranked(names, counts)]


def _percentiles(values: np.ndarray) -> Percentiles:
    present = pd.Series(values).dropna()
    if present.empty:
        return Percentiles(p50=None, p95=None, p99=None)
    quantiles = present.quantile([q for _, q in PERCENTILES])  # linear interpolation
    return Percentiles(**{name: _round(quantiles.loc[q], 1) for name, q in PERCENTILES})


def _performance(rows: pd.DataFrame, answered: np.ndarray) -> PerformanceFigures | None:
    """Timing figures over answered requests whose response carried a performance object."""
    chosen = np.equal(_values(rows, "hasPerformance"), True).astype(bool) & answered
    if not chosen.any():
        return None
    timed = rows[chosen]
    hits = _floats(timed, "cacheHit")
    hits = hits[~np.isnan(hits)]
    return PerformanceFigures(
        requests_with_timing=len(timed),
        cache_hit_rate=_round(hits.mean(), 4) if len(hits) else None,
        **{name: _percentiles(_floats(timed, key)) for name, key in TIMING_FIELDS},
    )


def _daily_queries(week: Week, query_ts: np.ndarray) -> list[DailyQueries]:
    per_day = np.bincount((query_ts - week.start_ms) // MS_PER_DAY, minlength=7)
    first = week.start.date()
    return [
        DailyQueries(date=(first + timedelta(days=day)).isoformat(), queries=int(per_day[day]))
        for day in range(7)
    ]


def session_codes(values: np.ndarray) -> np.ndarray:
    """Per request, a session code for the insights: equal ids share a code, and every
    anonymous request (``sessionId`` missing, empty or ``"anonymous"``) shares code 0.

    Anonymous requests are one pseudo-session, not one each: a visitor can leave the
    session header out at will, so counting each anonymous request as its own session
    would hand a flood the weight of many visitors (report-insights.md section 2).
    """
    codes, uniques = _factorize_array(values)
    anonymous = np.array([unique in ANONYMOUS_SESSIONS for unique in uniques], dtype=bool)
    named = np.cumsum(~anonymous)  # 1.. for named ids; anonymous ones get 0 below
    lookup = np.where(anonymous, 0, named).astype(np.int64)
    return np.where(codes < 0, 0, lookup[np.maximum(codes, 0)] if len(lookup) else 0)


def _sessions(values: np.ndarray) -> tuple[int, int]:
    """(distinct named sessions, anonymous queries): None, "" and "anonymous" are anonymous."""
    codes, uniques = _factorize_array(values)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    anonymous = int((codes < 0).sum())
    named = 0
    for unique, count in zip(uniques, counts, strict=True):
        if unique in ANONYMOUS_SESSIONS:
            anonymous += int(count)
        else:
            named += 1
    return named, anonymous


def weekly_figures(
    week: Week,
    records: pd.DataFrame | Sequence[dict[str, Any]],
    previous_week_total: int | None,
    previous_summaries: Mapping[str, StoredSummary] | None = None,
    candidate: Candidate | None = None,
    feedback: Feedback | None = None,
) -> WeeklyFigures:
    """Every figure of report-metrics.md for ``week`` from its analytics records, and the
    insights of report-insights.md from them and the previous weeks' stored summaries.

    ``previous_summaries``: the stored summaries of (up to) the 8 weeks before ``week``, by
    week id; a week missing has no summary (its trend values are ``null``). ``None``: no
    week has one. The flow always reads and supplies them. ``candidate``: the settings'
    name and aliases of the person the chatbot speaks for (insights.py). ``feedback``: the
    owner's words in force (report-insights.md section 9; ``None``: none), applied to the
    themes before gaps are judged; the flow reads them once per run.
    """
    rows = population(week, _as_table(records))
    total = len(rows)
    start = week.start

    session_values = _values(rows, "sessionId")
    unique_sessions, anonymous_count = _sessions(session_values)
    type_codes, type_labels = _factorize_array(_values(rows, "matchType"))
    per_type = dict(zip(type_labels, np.bincount(type_codes[type_codes >= 0]), strict=False))
    counts = MatchCounts(**{kind: int(per_type.get(kind, 0)) for kind in MatchCounts.model_fields})
    answered = type_codes >= 0
    unmatched = np.isin(type_codes, [i for i, label in enumerate(type_labels) if label == "none"])
    n_answered = int(answered.sum())
    scores = _floats(rows, "matchScore")
    answered_scores = pd.Series(scores[answered])
    display_codes, display_labels = _display_codes(_values(rows, "query"))

    match_rate = _round((counts.full + counts.partial) / n_answered, 4) if n_answered else None
    performance = _performance(rows, answered)
    source_counts = _source_counts(_values(rows, "sourcesUsed")[answered])
    insights = week_insights(
        week,
        list(display_labels),
        display_codes,
        answered,
        {
            kind: np.isin(type_codes, [i for i, label in enumerate(type_labels) if label == kind])
            for kind in MatchCounts.model_fields
        },
        scores,
        set(source_counts),
        TrendPoint(
            week=week.id,
            total_queries=total,
            match_rate=match_rate,
            p95_total_time_ms=performance.total_time_ms.p95 if performance else None,
        ),
        previous_summaries or {},
        sessions=session_codes(session_values),
        candidate=candidate,
        feedback=feedback,
    )

    if not previous_week_total:
        change = None
    else:
        change = _round((total - previous_week_total) / previous_week_total * 100, 1)

    return WeeklyFigures(
        week=week.id,
        period_start=_iso_z(start),
        period_end=_iso_z(start + timedelta(days=7)),
        total_queries=total,
        answered=n_answered,
        unanswered=total - n_answered,
        unique_sessions=unique_sessions,
        anonymous_queries=anonymous_count,
        match_counts=counts,
        match_rate=match_rate,
        avg_match_score=_round(answered_scores.mean(), 2) if n_answered else None,
        median_match_score=float(answered_scores.median()) if n_answered else None,
        daily_queries=_daily_queries(week, np.asarray(_values(rows, "queryTs"), dtype=np.int64)),
        top_queries=_top_queries(display_codes, display_labels, answered, scores),
        unmatched_queries=_unmatched_queries(display_codes, display_labels, unmatched),
        top_sources=_top_sources_of(source_counts),
        performance=performance,
        previous_week=PreviousWeek(week=week.previous.id, total_queries=previous_week_total),
        total_queries_change_pct=change,
        **dict(insights),
    )


def _stored_gaps(figures: WeeklyFigures) -> tuple[list[StoredGap], int]:
    """Every gap theme of the week (section 8), most short requests first, then most
    requests, then label: at most :data:`STORED_GAP_LIMIT`, and how many more there were.
    Texts are cut to :data:`STORED_TEXT_LIMIT` characters."""
    gaps = []
    for theme in figures.themes:
        if theme_gap_kind(theme) is None:
            continue
        well = theme.match_counts.full
        gaps.append((theme.count - theme.match_counts.full, theme, well))
    gaps.sort(key=lambda gap: (-gap[0], -gap[1].count, gap[1].theme))
    kept = [
        StoredGap(
            key=clip(theme.key, STORED_TEXT_LIMIT),
            theme=clip(theme.theme, STORED_TEXT_LIMIT),
            asked=theme.count,
            answered_well=well,
        )
        for _, theme, well in gaps[:STORED_GAP_LIMIT]
    ]
    return kept, len(gaps) - len(kept)


def stored_summary(figures: WeeklyFigures) -> StoredSummary:
    """What later weeks read of this week (report-insights.md sections 4 and 8): the trend
    figures, the intent counts, the themes with every member and their ``answered_well``,
    the week's gaps, the top sources.

    Every text is cut to :data:`STORED_TEXT_LIMIT` characters; counts are never touched.
    A member longer than that is judged by later weeks on its first characters.
    """
    p95 = figures.performance.total_time_ms.p95 if figures.performance else None

    def text(value: str) -> str:
        return clip(value, STORED_TEXT_LIMIT)

    gaps, omitted_gaps = _stored_gaps(figures)

    return StoredSummary(
        week=figures.week,
        total_queries=figures.total_queries,
        match_rate=figures.match_rate,
        p95_total_time_ms=p95,
        intents={intent: value.count for intent, value in figures.intents.items()},
        themes=[
            {
                "theme": text(theme.theme),
                "intent": theme.intent,
                "key": text(theme.key),
                "count": theme.count,
                "answered_well": theme.match_counts.full,
                "members": [
                    {"query": text(m.query), "count": m.count, "sessions": m.sessions}
                    for m in theme.members
                ],
            }
            for theme in figures.themes
        ],
        top_sources=[text(source.source) for source in figures.top_sources],
        vocabulary_version=vocabulary().version,
        gaps=gaps,
        omitted_gaps=omitted_gaps,
    )


def pipeline_health(
    figures: WeeklyFigures, orphan_responses: int, dlq_depth: int | None
) -> PipelineHealth:
    """The pipeline-health section: unanswered requests, orphans, DLQ depth at report time."""
    return PipelineHealth(
        unanswered_requests=figures.unanswered,
        orphan_responses=orphan_responses,
        dlq_depth=dlq_depth,
    )
