"""The weekly report's insights of ``docs/spec/report-insights.md``. Pure.

What turns the figures into advice: intents, themes, ``cv_gaps``, ``gap_followup``
(gaps followed across weeks, :mod:`tasks.core.gap_history`), ``contact_requests``,
``trends``, ``anomalies`` and ``unused_sources``; the owner's word
(:mod:`tasks.core.feedback`) joins themes before gaps are judged and dismisses gaps.
:func:`week_insights` computes them from this week's population (the columns
:func:`tasks.core.aggregate.weekly_figures` already factorised: one display-query code
per request, its match type, score and sources) and the *stored summaries* of the
previous 8 ISO weeks (:class:`StoredSummary`), never from old records. A week's own
:class:`StoredSummary` (made by :func:`tasks.core.aggregate.stored_summary`) keeps
exactly what later weeks read: the trend figures, the intent counts, the themes with
their members, the gap themes and the top sources.

Decisions the spec leaves open, taken here once:

- A summary item that holds only ``total_queries`` (the previous-week fallback of
  :mod:`tasks.dynamodb.summaries`) is a summary with that one value: its trend entry has
  the total and ``null`` match rate and p95; it has no intents and no themes, so it is
  skipped for ``previous_count`` (``null``), ``new``/``weeks_seen`` and sources.
- "Weeks that have values" is judged per figure: traffic anomalies count the previous
  weeks with a ``total_queries``, ``match_rate_drop`` those with a ``match_rate``,
  ``latency_regression`` those with a p95. A week whose own value is ``null`` raises none.
- Thresholds are inclusive as the spec writes them (≥, ≤); differences of rates are
  compared with a 1e-9 tolerance so that 0.70 against a median of 0.80 is a drop.
- A gap's ``short`` counts requests without a response, ``none`` and ``partial`` ones.
- Sessions: every anonymous request (``sessionId`` missing, empty or
  ``"anonymous"``) belongs to one shared session, since a visitor can drop the header at
  will; labels and the gap ranking count distinct sessions, every other figure requests.
  A theme of at least :data:`DOMINATED_MIN_REQUESTS` requests is dominated by one session
  when one session (the anonymous one included) made at least half of them.
- Suggestions are ours: fixed sentences and the names of known technologies, never the
  visitor's words (the gap's ``theme`` is the quote, shown apart).
- A gap the owner dismissed keeps its place in ``cv_gaps`` (section 3's order), marked
  ``dismissed``; ``gap_followup`` lists every gap of the week (no cap of ten) and the gaps
  fixed this week, so the advice never runs short when a top gap is dismissed.
- A week's stored ``gaps`` are its gap themes by most short requests, then most
  requests, then label, at most :data:`STORED_GAP_LIMIT` (``omitted_gaps`` counts the
  rest); they are judged after the owner's joins, and a dismissed gap is still a gap there.
- ``unused_sources`` compares masked source names (as ``top_sources`` stores them) with
  every source any answered request of this week used, not only this week's top ten.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from lambdas.shared.weeks import Week
from tasks.core.candidate import Candidate
from tasks.core.feedback import Feedback, apply_joins, key_of
from tasks.core.gap_history import (
    GAP_MIN_REQUESTS,
    GapFollowup,
    GapState,
    StoredGap,
    ThemeOutcome,
    follow_gaps,
)
from tasks.core.intents import INTENTS, MASKED, Questions
from tasks.core.themes import Theme, group_themes, recurrence
from tasks.core.vocabulary import Vocabulary, vocabulary

#: The new top-level keys of the figures object, in the spec's order.
INSIGHT_KEYS = (
    "intents",
    "themes",
    "cv_gaps",
    "gap_followup",
    "contact_requests",
    "trends",
    "anomalies",
    "unused_sources",
)
#: Weeks of stored summaries the insights read (``new``, ``weeks_seen``, sources).
HISTORY_WEEKS = 8
#: Weeks in ``trends``, ending with the report's week.
TREND_WEEKS = 8
GAP_LIMIT = 10
#: A theme of at least this many requests is dominated by one session when that session
#: made at least this share (numerator, denominator) of them.
DOMINATED_MIN_REQUESTS = 3
DOMINATED_SHARE = (1, 2)
#: Anomalies need at least this many previous weeks with a value.
ANOMALY_MIN_WEEKS = 3
SPIKE_FACTOR, SPIKE_MIN_QUERIES = 2.0, 20
DROP_FACTOR, DROP_MIN_MEDIAN = 0.5, 20
MATCH_RATE_DROP = 0.10
LATENCY_FACTOR = 1.5
_TOLERANCE = 1e-9


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IntentFigures(_Model):
    count: int
    answered_well: int
    previous_count: int | None


class ThemeMatchCounts(_Model):
    full: int
    partial: int
    none: int


class ThemeMember(_Model):
    query: str
    count: int
    #: Distinct sessions that asked it (every anonymous request together is one).
    sessions: int


class ThemeFigures(_Model):
    theme: str
    intent: str
    #: The question's identity across weeks: ``intent:topic``, ``skills:<technologies>``
    #: or, for a question no topic knows, ``intent:~<label>`` (themes.py).
    key: str
    count: int
    #: Distinct sessions that asked the theme: one session counts once, however often.
    sessions: int
    answered: int
    match_counts: ThemeMatchCounts
    avg_match_score: float | None
    members: list[ThemeMember]
    new: bool
    weeks_seen: int
    #: One session made at least half of the theme's requests (and it has at least 3).
    dominated_by_one_session: bool


class CvGap(_Model):
    theme: str
    intent: str
    #: The theme's key (:class:`ThemeFigures`): the gap's identity from week to week.
    key: str
    kind: Literal["not_answered", "weak"]
    asked: int
    short: int
    #: Distinct sessions among the ``short`` requests: what the gaps are ranked by.
    sessions: int
    new: bool
    dominated_by_one_session: bool
    #: Our sentence; the visitors' words are ``theme``, shown apart as a quote.
    suggestion: str
    #: Across weeks (section 8; gap_history.py): ``new``, ``open`` or ``reopened``, and
    #: the week its current run of gap weeks began (``open``) or this week.
    state: GapState = "new"
    since: str | None = None
    #: The owner dismissed it (section 9): listed, but kept out of the advice.
    dismissed: bool = False


class ContactRequests(_Model):
    count: int
    left_details: int


class TrendPoint(_Model):
    week: str
    total_queries: int | None
    match_rate: float | None
    p95_total_time_ms: float | None


class Anomaly(_Model):
    kind: Literal["traffic_spike", "traffic_drop", "match_rate_drop", "latency_regression"]
    message: str


class Insights(_Model):
    """The insight keys, as they are added to the figures object."""

    intents: dict[str, IntentFigures]
    themes: list[ThemeFigures]
    cv_gaps: list[CvGap]
    gap_followup: list[GapFollowup]
    contact_requests: ContactRequests
    trends: list[TrendPoint]
    anomalies: list[Anomaly]
    unused_sources: list[str]


class StoredSummary(_Model):
    """What a later week reads of a week: its stored summary, never its records.

    ``None`` fields were not stored (a total-only fallback item, or an older summary).
    ``themes`` are :meth:`tasks.core.themes.Theme.to_json` dicts (label, intent, key,
    count, members) plus ``answered_well`` (requests answered ``full``),
    the form :func:`tasks.core.themes.recurrence` reads; a theme whose members were
    trimmed to fit says how many in ``omitted_members`` (its ``count`` stays whole).
    ``gaps`` are what :mod:`tasks.core.gap_history` follows across weeks.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    week: str
    total_queries: int | None = None
    match_rate: float | None = None
    p95_total_time_ms: float | None = None
    intents: dict[str, int] | None = None
    themes: list[dict[str, Any]] | None = None
    top_sources: list[str] | None = None
    #: The vocabulary and model that grouped the week (tasks/core/vocabulary.py).
    vocabulary_version: str | None = None
    #: Themes (and their requests) left out to fit DynamoDB's item limit: the last ones
    #: of ``themes``' order, so the kept themes' counts plus these are the week's.
    omitted_themes: int = 0
    omitted_requests: int = 0
    #: Every gap theme of the week, at most :data:`STORED_GAP_LIMIT` (section 8), and how
    #: many more there were; ``None``: stored before weeks kept their gaps.
    gaps: list[StoredGap] | None = None
    omitted_gaps: int = 0


def history_weeks(week: Week) -> list[Week]:
    """The previous :data:`HISTORY_WEEKS` weeks whose summaries the insights read, oldest first."""
    return [week.shift(-offset) for offset in range(HISTORY_WEEKS, 0, -1)]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


# --- intents and themes ---------------------------------------------------------------


def _intents(
    label_intents: list[str],
    counts: np.ndarray,
    well: np.ndarray,
    previous: StoredSummary | None,
) -> dict[str, IntentFigures]:
    totals = dict.fromkeys(INTENTS, 0)
    answered_well = dict.fromkeys(INTENTS, 0)
    for i, intent in enumerate(label_intents):
        totals[intent] += int(counts[i])
        answered_well[intent] += int(well[i])
    before = previous.intents if previous is not None else None
    return {
        intent: IntentFigures(
            count=totals[intent],
            answered_well=answered_well[intent],
            previous_count=None if before is None else int(before.get(intent, 0)),
        )
        for intent in INTENTS
    }


def _theme_figures(
    theme: Theme,
    index: Mapping[str, int],
    per_label: Mapping[str, np.ndarray],
    sessions: ThemeSessions,
    new: bool,
    weeks_seen: int,
) -> ThemeFigures:
    rows = [index[member.query] for member in theme.members]
    answered = int(per_label["answered"][rows].sum())
    score_sum = float(per_label["score_sum"][rows].sum())
    return ThemeFigures(
        theme=theme.theme,
        intent=theme.intent,
        key=theme.key,
        count=theme.count,
        sessions=sessions.sessions,
        answered=answered,
        match_counts=ThemeMatchCounts(
            full=int(per_label["full"][rows].sum()),
            partial=int(per_label["partial"][rows].sum()),
            none=int(per_label["none"][rows].sum()),
        ),
        avg_match_score=_round(score_sum / answered, 2) if answered else None,
        members=[
            ThemeMember(query=m.query, count=m.count, sessions=m.sessions) for m in theme.members
        ],
        new=new,
        weeks_seen=weeks_seen,
        dominated_by_one_session=(
            theme.count >= DOMINATED_MIN_REQUESTS
            and sessions.top_session_requests * DOMINATED_SHARE[1]
            >= theme.count * DOMINATED_SHARE[0]
        ),
    )


@dataclass(frozen=True)
class ThemeSessions:
    """A theme's session figures: distinct sessions, those among its short requests, and
    the requests of its busiest session."""

    sessions: int
    short_sessions: int
    top_session_requests: int


def _distinct_pairs(groups: np.ndarray, sessions: np.ndarray, size: int) -> np.ndarray:
    """Per group (0..size-1), the number of distinct sessions among its requests."""
    if len(groups) == 0:
        return np.zeros(size, dtype=np.int64)
    pairs = np.unique(np.stack([groups, sessions]), axis=1)
    return np.bincount(pairs[0], minlength=size)


def theme_sessions(
    theme_of_request: np.ndarray, sessions: np.ndarray, short: np.ndarray, themes: int
) -> list[ThemeSessions]:
    """Session figures of every theme from per-request theme indices and session codes.

    ``sessions`` holds one code per request (every anonymous request shares one code);
    ``short`` marks the requests without a response or with ``none`` or ``partial``.
    """
    distinct = _distinct_pairs(theme_of_request, sessions, themes)
    short_distinct = _distinct_pairs(theme_of_request[short], sessions[short], themes)
    top = np.zeros(themes, dtype=np.int64)
    if len(theme_of_request):
        pairs, per_pair = np.unique(
            np.stack([theme_of_request, sessions]), axis=1, return_counts=True
        )
        np.maximum.at(top, pairs[0], per_pair)
    return [
        ThemeSessions(int(distinct[i]), int(short_distinct[i]), int(top[i])) for i in range(themes)
    ]


# --- gaps -----------------------------------------------------------------------------


def suggestion(theme: Theme, known: Vocabulary | None = None) -> str:
    """One sentence of ours telling the owner what to add to the CV for this theme.

    It is built from the vocabulary only (a topic's sentence, the names of known
    technologies); a visitor's words are never spliced in: the question is shown apart.
    """
    known = known or vocabulary()
    intent, _, topic = theme.key.partition(":")
    if topic.startswith("~") or not topic:
        return known.unknown_topic_suggestions[intent]
    fixed = known.suggestion(theme.key)
    if fixed is not None:
        return fixed
    if intent != "skills":
        return known.unknown_topic_suggestions[intent]
    names = topic.split("+")
    if not all(known.knows(name) for name in names):
        return known.unknown_topic_suggestions[intent]
    shown = [known.display_name(name) for name in names]
    named = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    if all(name.startswith("language:") for name in names):
        return f"State your level of {named}, or that you do not speak it."
    return f"State your level of experience with {named}, or that you have none."


GapKind = Literal["not_answered", "weak"]


def gap_kind(count: int, answered: int, none: int, partial: int) -> GapKind | None:
    """Section 3's rule: a theme of at least :data:`GAP_MIN_REQUESTS` requests is
    ``not_answered`` when at least half of them have no response or ``none``, else
    ``weak`` when at least half are ``partial``; otherwise it is no gap (None)."""
    if count < GAP_MIN_REQUESTS:
        return None
    if 2 * (count - answered + none) >= count:
        return "not_answered"
    if 2 * partial >= count:
        return "weak"
    return None


#: The theme of visitors who left their details: leads (section 7), never a CV gap.
LEADS_KEY = "contact:left-details"


def theme_gap_kind(theme: ThemeFigures) -> GapKind | None:
    """:func:`gap_kind` of a theme's figures. Visitors who left their details are leads,
    delivered to the owner (section 7), not a question the CV failed to answer: their
    theme is never a gap."""
    if theme.key == LEADS_KEY:
        return None
    counts = theme.match_counts
    return gap_kind(theme.count, theme.answered, counts.none, counts.partial)


@dataclass(frozen=True)
class _Gap:
    """A gap theme of the week, before it is shown: what ``cv_gaps`` ranks and builds."""

    theme: Theme
    figures: ThemeFigures
    kind: GapKind
    short: int
    sessions: int


def _ranked_gaps(
    themes: Sequence[Theme], figures: Sequence[ThemeFigures], sessions: Sequence[ThemeSessions]
) -> list[_Gap]:
    """Every gap theme of the week, ranked as ``cv_gaps`` ranks them: distinct sessions
    among the short requests, then short requests (descending), then the label."""
    gaps: list[_Gap] = []
    for theme, shown, asked_by in zip(themes, figures, sessions, strict=True):
        kind = theme_gap_kind(shown)
        if kind is None:
            continue
        short = shown.count - shown.answered + shown.match_counts.none
        short += shown.match_counts.partial
        gaps.append(_Gap(theme, shown, kind, short, asked_by.short_sessions))
    gaps.sort(key=lambda gap: (-gap.sessions, -gap.short, gap.figures.theme))
    return gaps


def _cv_gaps(
    ranked: Sequence[_Gap],
    followup: Sequence[GapFollowup],
    feedback: Feedback | None,
    known: Vocabulary,
) -> list[CvGap]:
    """The first :data:`GAP_LIMIT` gaps in their rank, each with its state across weeks
    and whether the owner dismissed it (still listed, in its place: the e-mail leaves a
    dismissed gap out of the advice)."""
    states = {key_of(entry.key): entry for entry in followup}
    gaps: list[CvGap] = []
    for gap in ranked[:GAP_LIMIT]:
        shown = gap.figures
        entry = states.get(key_of(shown.key))
        gaps.append(
            CvGap(
                theme=shown.theme,
                intent=shown.intent,
                key=shown.key,
                kind=gap.kind,
                asked=shown.count,
                short=gap.short,
                sessions=gap.sessions,
                new=shown.new,
                dominated_by_one_session=shown.dominated_by_one_session,
                suggestion=suggestion(gap.theme, known),
                state=entry.state if entry is not None and entry.state != "fixed" else "new",
                since=entry.since if entry is not None else None,
                dismissed=feedback is not None and feedback.dismissed(shown.key) is not None,
            )
        )
    return gaps


def _gap_followup(
    week: Week,
    figures: Sequence[ThemeFigures],
    ranked: Sequence[_Gap],
    previous: Sequence[StoredSummary],
    feedback: Feedback | None,
) -> list[GapFollowup]:
    """Section 8's states of every gap key of the week and of the gaps fixed this week."""
    gap_keys = {gap.figures.key for gap in ranked}
    outcomes = [
        ThemeOutcome(
            key=theme.key,
            theme=theme.theme,
            asked=theme.count,
            answered_well=theme.match_counts.full,
            gap=theme.key in gap_keys,
        )
        for theme in figures
    ]
    return follow_gaps(
        week.id,
        outcomes,
        [gap.figures.key for gap in ranked],
        previous,
        feedback.dismissals if feedback is not None else None,
    )


# --- trends and anomalies -------------------------------------------------------------


def _trends(
    week: Week, this_week: TrendPoint, previous: Mapping[str, StoredSummary]
) -> list[TrendPoint]:
    points = []
    for offset in range(TREND_WEEKS - 1, 0, -1):
        earlier = week.shift(-offset)
        stored = previous.get(earlier.id)
        points.append(
            TrendPoint(
                week=earlier.id,
                total_queries=stored.total_queries if stored else None,
                match_rate=stored.match_rate if stored else None,
                p95_total_time_ms=stored.p95_total_time_ms if stored else None,
            )
        )
    return [*points, this_week]


def _median_of(values: list[float | int | None]) -> tuple[float, int] | None:
    present = [float(v) for v in values if v is not None]
    if len(present) < ANOMALY_MIN_WEEKS:
        return None
    return statistics.median(present), len(present)


def _weeks(n: int) -> str:
    return f"{n} previous week" + ("" if n == 1 else "s")


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def anomalies(trends: Sequence[TrendPoint]) -> list[Anomaly]:
    *earlier, now = trends
    found: list[Anomaly] = []
    traffic = _median_of([p.total_queries for p in earlier])
    if traffic is not None and now.total_queries is not None:
        median, weeks = traffic
        total = now.total_queries
        if total >= SPIKE_FACTOR * median and total >= SPIKE_MIN_QUERIES:
            ratio = f"{total / median:.1f} times" if median else "far above"
            found.append(
                Anomaly(
                    kind="traffic_spike",
                    message=(
                        f"Traffic spike: {total:,} questions this week, {ratio} the median of "
                        f"{_number(median)} over the {_weeks(weeks)}."
                    ),
                )
            )
        if total <= DROP_FACTOR * median and median >= DROP_MIN_MEDIAN:
            found.append(
                Anomaly(
                    kind="traffic_drop",
                    message=(
                        f"Traffic drop: {total:,} questions this week against a median of "
                        f"{_number(median)} over the {_weeks(weeks)}."
                    ),
                )
            )
    rates = _median_of([p.match_rate for p in earlier])
    if rates is not None and now.match_rate is not None:
        median, weeks = rates
        if now.match_rate <= median - MATCH_RATE_DROP + _TOLERANCE:
            found.append(
                Anomaly(
                    kind="match_rate_drop",
                    message=(
                        f"Match rate drop: {now.match_rate * 100:.1f}% of answers matched the "
                        f"CV this week against a median of {median * 100:.1f}% over the "
                        f"{_weeks(weeks)}."
                    ),
                )
            )
    latency = _median_of([p.p95_total_time_ms for p in earlier])
    if latency is not None and now.p95_total_time_ms is not None:
        median, weeks = latency
        if now.p95_total_time_ms >= LATENCY_FACTOR * median:
            found.append(
                Anomaly(
                    kind="latency_regression",
                    message=(
                        f"Slower answers: p95 response time {_number(now.p95_total_time_ms)} ms "
                        f"this week against a median of {_number(median)} ms over the "
                        f"{_weeks(weeks)}."
                    ),
                )
            )
    return found


# --- the whole ------------------------------------------------------------------------


def week_insights(
    week: Week,
    labels: Sequence[str],
    codes: np.ndarray,
    answered: np.ndarray,
    match_kinds: Mapping[str, np.ndarray],
    scores: np.ndarray,
    used_sources: set[str],
    this_week: TrendPoint,
    previous: Mapping[str, StoredSummary],
    sessions: np.ndarray | None = None,
    candidate: Candidate | None = None,
    feedback: Feedback | None = None,
) -> Insights:
    """The insights of ``week`` from its population and the previous weeks' summaries.

    Args:
        labels: the week's distinct display queries; ``codes`` gives each request's
            index into them (one entry per request of the population).
        answered: per request, whether it has a response.
        match_kinds: per match type (``full``, ``partial``, ``none``), a per-request mask.
        scores: per request, its ``matchScore`` as float (NaN when absent).
        used_sources: the (masked) source names any answered request of the week used.
        this_week: the week's own trend entry (from its figures).
        previous: the stored summaries by week id; a week missing has no summary.
        sessions: per request, a session code (non-negative; every anonymous request
            shares one code). ``None``: every request is its own session.
        candidate: who the chatbot speaks for (the settings' name and aliases), so that
            "your", "his" and the name are one person; ``None``: no name is known.
        feedback: the owner's words in force (section 9): joins regroup the themes
            before anything is judged on them, dismissals mark gaps; ``None``: none.

    The CV's own source names (``used_sources``) extend the technologies a question can
    name (intents.py).

    The per-request work is a few ``bincount`` calls; everything else runs per distinct
    display query or per theme.
    """
    size = len(labels)
    codes = np.asarray(codes, dtype=np.int64)
    answered = np.asarray(answered, dtype=bool)
    answered_scores = np.where(answered, np.nan_to_num(np.asarray(scores, dtype=float)), 0.0)
    per_label = {
        "count": np.bincount(codes, minlength=size),
        "answered": np.bincount(codes[answered], minlength=size),
        "score_sum": np.bincount(codes, weights=answered_scores, minlength=size),
    }
    for kind in ("full", "partial", "none"):
        per_label[kind] = np.bincount(codes[match_kinds[kind]], minlength=size)
    label_list = [str(label) for label in labels]
    questions = Questions(candidate, sources=sorted(used_sources))
    label_intents = [intent for intent, _ in questions.keys(label_list)]
    intents = _intents(
        label_intents,
        per_label["count"],
        per_label["full"],
        previous.get(week.previous.id),
    )
    session_codes = (
        np.arange(len(codes), dtype=np.int64)
        if sessions is None
        else np.asarray(sessions, dtype=np.int64)
    )
    label_sessions = _distinct_pairs(codes, session_codes, size)
    present = [i for i in range(size) if per_label["count"][i] > 0]
    themes = group_themes(
        [label_list[i] for i in present],
        [int(per_label["count"][i]) for i in present],
        [int(label_sessions[i]) for i in present],
        questions=questions,
    )
    themes = apply_joins(themes, feedback)
    stored_weeks = [previous.get(w.id) for w in history_weeks(week)]
    seen = recurrence(
        themes,
        [s.themes if s is not None and s.themes is not None else None for s in stored_weeks],
        questions,
    )
    index = {label: i for i, label in enumerate(label_list)}
    theme_of_label = np.zeros(size, dtype=np.int64)
    for number, theme in enumerate(themes):
        theme_of_label[[index[member.query] for member in theme.members]] = number
    short = ~answered | match_kinds["none"] | match_kinds["partial"]
    by_theme = theme_sessions(
        theme_of_label[codes], session_codes, np.asarray(short, dtype=bool), len(themes)
    )
    theme_figures = [
        _theme_figures(theme, index, per_label, asked_by, r.new, r.weeks_seen)
        for theme, asked_by, r in zip(themes, by_theme, seen, strict=True)
    ]
    contact = [i for i, intent in enumerate(label_intents) if intent == "contact"]
    contact_requests = ContactRequests(
        count=int(sum(per_label["count"][i] for i in contact)),
        left_details=int(
            sum(per_label["count"][i] for i in contact if MASKED.search(label_list[i]))
        ),
    )
    earlier_sources = {
        name for s in stored_weeks if s is not None and s.top_sources for name in s.top_sources
    }
    trends = _trends(week, this_week, previous)
    ranked = _ranked_gaps(themes, theme_figures, by_theme)
    followup = _gap_followup(
        week, theme_figures, ranked, [s for s in stored_weeks if s is not None], feedback
    )
    return Insights(
        intents=intents,
        themes=theme_figures,
        cv_gaps=_cv_gaps(ranked, followup, feedback, questions.vocabulary),
        gap_followup=followup,
        contact_requests=contact_requests,
        trends=trends,
        anomalies=anomalies(trends),
        unused_sources=sorted(earlier_sources - used_sources),
    )
