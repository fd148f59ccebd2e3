"""The weekly figures of ``shared/spec/report-metrics.md``, computed with pandas. Pure.

One function, :func:`weekly_figures`, turns a week's analytics records (plain dicts as
``tasks.records.read_week`` returns them) into :class:`WeeklyFigures`, whose JSON form
has exactly the spec's keys. The e-mail, the Prefect artifacts, the archived
``report.json`` and the flow's return value all come from that one object.

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

Performance (a million records in a couple of seconds): one list comprehension per
needed field (column lists, never a DataFrame of dicts), pandas ``factorize`` to turn
texts into integer codes, display queries computed once per distinct raw text, counts
and means with ``numpy.bincount``, source lists grouped per distinct list, and pandas
``quantile``/``median`` for the statistics. Distinctness of request ids is checked by
one ordered pass (a Query page and an archive are sorted by id) before any hashing.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from lambdas.processor.weeks import parse_week, shift_week, week_bounds_ms, week_start
from tasks.masking import display_query, mask_personal_data

TOP_LIMIT = 10
ANONYMOUS_SESSIONS = frozenset({"", "anonymous"})
PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
TIMING_FIELDS = (
    ("total_time_ms", "totalTime"),
    ("llm_time_ms", "llmTime"),
    ("retrieval_time_ms", "retrievalTime"),
)
MS_PER_DAY = 86_400_000


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


class PipelineHealth(_Figures):
    """Operational numbers shown beside the figures, deliberately not among them."""

    unanswered_requests: int
    orphan_responses: int
    dlq_depth: int | None


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


def _factorize(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """pandas codes (-1 for None) and distinct values, in order of first appearance."""
    codes, uniques = pd.factorize(_objects(values))
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def _is_strictly_increasing(values: list[str]) -> bool:
    return all(map(operator.lt, values, itertools.islice(values, 1, None)))


def _column(rows: Sequence[dict[str, Any]], key: str) -> list[Any]:
    """``[row.get(key) for row in rows]`` without the interpreter loop (C-level map)."""
    return list(map(dict.get, rows, itertools.repeat(key)))


def population(week: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The week's population: one record per distinct request whose query is in ``week``.

    Records of other weeks and orphans (no ``week``) are dropped; a request id seen twice
    keeps its first record. A GSI partition or an archived week comes sorted by request
    id with no repeats, which is checked in one cheap pass before paying for hashing.
    """
    weeks = _column(records, "week")
    if weeks.count(week) == len(weeks):
        kept = list(records)
    else:
        kept = [record for record, of in zip(records, weeks, strict=True) if of == week]
    ids = _column(kept, "requestId")
    if _is_strictly_increasing(ids):
        return kept
    first = ~pd.Series(ids, dtype=object).duplicated(keep="first").to_numpy()
    return list(itertools.compress(kept, first.tolist()))


def population_size(week: str, records: Sequence[dict[str, Any]]) -> int:
    """``total_queries`` of a week without the rest of the figures (previous-week fallback)."""
    parse_week(week)
    return len({record["requestId"] for record in records if record.get("week") == week})


def _ranked(labels: np.ndarray, counts: np.ndarray) -> list[int]:
    """Indices of at most ten labels with a count: count descending, then label ascending."""
    present = [i for i in range(len(labels)) if counts[i] > 0]
    present.sort(key=lambda i: (-int(counts[i]), labels[i]))
    return present[:TOP_LIMIT]


def _display_codes(queries: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the code of its display query; display_query runs once per distinct text."""
    raw_codes, raw_uniques = _factorize(queries)
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


def _top_sources(sources: Iterable[Any]) -> list[TopSource]:
    """Each request counts once per distinct (masked) source name it used.

    Requests are first grouped by their exact source list (a few hundred distinct lists
    a week), so deduplication and masking run per distinct list, not per request.
    """
    combos = Counter(map(tuple, filter(None, sources)))
    counter: Counter[str] = Counter()
    for combo, requests in combos.items():
        for name in {mask_personal_data(str(entry)) for entry in combo}:
            counter[name] += requests
    names = np.array(list(counter), dtype=object)
    counts = np.array(list(counter.values()), dtype=np.int64)
    return [TopSource(source=names[i], count=int(counts[i])) for i in _ranked(names, counts)]


def _percentiles(values: np.ndarray) -> Percentiles:
    present = pd.Series(values).dropna()
    if present.empty:
        return Percentiles(p50=None, p95=None, p99=None)
    quantiles = present.quantile([q for _, q in PERCENTILES])  # linear interpolation
    return Percentiles(**{name: _round(quantiles.loc[q], 1) for name, q in PERCENTILES})


def _performance(records: list[dict[str, Any]]) -> PerformanceFigures | None:
    """Timing figures over answered requests whose response carried a performance object."""
    flags = np.equal(_objects(_column(records, "hasPerformance")), True).astype(bool)
    answered = pd.notna(_objects(_column(records, "matchType")))
    chosen = flags & np.asarray(answered, dtype=bool)
    if not chosen.any():
        return None
    timed = list(itertools.compress(records, chosen.tolist()))
    columns = ("totalTime", "llmTime", "retrievalTime", "cacheHit")
    # None -> NaN, bool -> 0/1
    table = np.array([_column(timed, key) for key in columns], dtype=np.float64).T
    hits = table[:, 3][~np.isnan(table[:, 3])]
    return PerformanceFigures(
        requests_with_timing=len(timed),
        cache_hit_rate=_round(hits.mean(), 4) if len(hits) else None,
        **{name: _percentiles(table[:, i]) for i, (name, _) in enumerate(TIMING_FIELDS)},
    )


def _daily_queries(week: str, query_ts: np.ndarray) -> list[DailyQueries]:
    start_ms, _ = week_bounds_ms(week)
    per_day = np.bincount((query_ts - start_ms) // MS_PER_DAY, minlength=7)
    first = week_start(week).date()
    return [
        DailyQueries(date=(first + timedelta(days=day)).isoformat(), queries=int(per_day[day]))
        for day in range(7)
    ]


def weekly_figures(
    week: str,
    records: Sequence[dict[str, Any]],
    previous_week_total: int | None,
) -> WeeklyFigures:
    """Every figure of report-metrics.md for ``week`` from its analytics records."""
    parse_week(week)
    rows = population(week, records)
    total = len(rows)
    start = week_start(week)

    query_ts = np.array(_column(rows, "queryTs"), dtype=np.int64)
    sessions = _column(rows, "sessionId")
    anonymous_count = sum(map(sessions.count, (None, *ANONYMOUS_SESSIONS)))
    unique_sessions = len(set(sessions) - {None, *ANONYMOUS_SESSIONS})
    types = _column(rows, "matchType")
    counts = MatchCounts(**{kind: types.count(kind) for kind in MatchCounts.model_fields})
    type_array = _objects(types)
    answered = np.asarray(pd.notna(type_array), dtype=bool)
    unmatched = np.equal(type_array, "none")
    n_answered = int(answered.sum())
    scores = np.array(_column(rows, "matchScore"), dtype=np.float64)
    answered_scores = pd.Series(scores[answered])

    display_codes, display_labels = _display_codes(_column(rows, "query"))
    sources = _column(rows, "sourcesUsed")
    if n_answered < total:
        sources = list(itertools.compress(sources, answered.tolist()))

    previous = shift_week(week, -1)
    if not previous_week_total:
        change = None
    else:
        change = _round((total - previous_week_total) / previous_week_total * 100, 1)

    return WeeklyFigures(
        week=week,
        period_start=_iso_z(start),
        period_end=_iso_z(start + timedelta(days=7)),
        total_queries=total,
        answered=n_answered,
        unanswered=total - n_answered,
        unique_sessions=unique_sessions,
        anonymous_queries=anonymous_count,
        match_counts=counts,
        match_rate=_round((counts.full + counts.partial) / n_answered, 4) if n_answered else None,
        avg_match_score=_round(answered_scores.mean(), 2) if n_answered else None,
        median_match_score=float(answered_scores.median()) if n_answered else None,
        daily_queries=_daily_queries(week, query_ts),
        top_queries=_top_queries(display_codes, display_labels, answered, scores),
        unmatched_queries=_unmatched_queries(display_codes, display_labels, unmatched),
        top_sources=_top_sources(sources),
        performance=_performance(rows),
        previous_week=PreviousWeek(week=previous, total_queries=previous_week_total),
        total_queries_change_pct=change,
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
