"""Themes: the week's display queries grouped into questions (report-insights.md). Pure.

Each display query gets a *question key* (:class:`tasks.core.intents.Questions`: rules,
the learned topic model on the folded question, named technologies), and a theme is the
queries that share a key, so every query is in exactly one theme and a theme has one
intent ("day rate?", "how much do you charge per day" and "what's Sam's hourly rate" are
all ``compensation:pay``; "does he know fortran?" and "does he know react?" differ).

A query no topic knows is never put in a catch-all: it joins another unknown query of
its intent only when the two are paraphrases by a strict measure (the cosine of their
folded embeddings reaches :data:`PARAPHRASE_SIMILARITY`, leader clustering in a fixed
order: distinct sessions descending, then count descending, then text); otherwise it
stands alone.

A theme's label is its first member in that same order, so the question the most
distinct sessions asked; one session repeating a variant cannot take the label (and an
unknown-topic theme's label is its leader, which :func:`recurrence` compares with).

Deterministic: keys depend on the text alone (and the report's candidate and CV names),
and the clustering's order is sorted, never the input's. :func:`recurrence` judges "the
same question" across weeks with the same keys on the stored members.

Why a learned model and strict paraphrases: docs/insights-model.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.core.intents import INTENTS, Questions, default_questions

#: Two unknown-topic questions are one when their folded embeddings are this close.
PARAPHRASE_SIMILARITY = 0.9
# Rows compared per block in the clustering (bounded memory: a block x rows matrix).
_LEADER_BLOCK = 1024


def question_key(query: str, questions: Questions | None = None) -> tuple[str, str | None]:
    """``(intent, topic)`` of a display query; topic ``None``: no topic knows it."""
    return (questions or default_questions()).key(query)


@dataclass(frozen=True)
class Member:
    """A display query of a theme: its requests and the distinct sessions that sent them."""

    query: str
    count: int
    #: Distinct sessions (all anonymous requests together are one); ``count`` when unknown.
    sessions: int = -1

    def __post_init__(self) -> None:
        if self.sessions < 0:
            object.__setattr__(self, "sessions", self.count)


@dataclass(frozen=True)
class Theme:
    """One question: its label (the top member), intent, requests and members."""

    theme: str
    intent: str
    count: int
    members: tuple[Member, ...]
    #: ``intent:topic`` for a known topic (``skills:<technologies>`` for named ones),
    #: ``intent:~label`` for an unknown-topic question and its strict paraphrases.
    key: str

    @property
    def queries(self) -> list[str]:
        return [member.query for member in self.members]

    def to_json(self) -> dict[str, Any]:
        """The stored form: label, intent, key, count, members (what :func:`recurrence`
        and later weeks read)."""
        return {
            "theme": self.theme,
            "intent": self.intent,
            "key": self.key,
            "count": self.count,
            "members": [
                {"query": m.query, "count": m.count, "sessions": m.sessions} for m in self.members
            ],
        }


def _member_order(member: Member) -> tuple[int, int, str]:
    """Most distinct sessions first, then most requests, then the text: one session
    repeating a question cannot make it the label (or a residual cluster's leader)."""
    return -member.sessions, -member.count, member.query


def _theme(intent: str, key: str, members: list[Member]) -> Theme:
    members.sort(key=_member_order)
    return Theme(
        theme=members[0].query,
        intent=intent,
        count=sum(member.count for member in members),
        members=tuple(members),
        key=key,
    )


def _leader_clusters(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """For each row (already in the deterministic order), the index of its leader row.

    A row joins the most similar earlier leader (the first of equals) when the cosine
    reaches ``threshold``, else it leads. Similarities are computed a block of rows at a
    time against the rows before them (a matrix product, so the strict threshold's many
    leaders cost no per-row loop over leaders); a block is ``_LEADER_BLOCK`` rows wide.
    """
    rows = len(vectors)
    assignment = np.arange(rows, dtype=np.int64)
    leader = np.zeros(rows, dtype=bool)
    for start in range(0, rows, _LEADER_BLOCK):
        stop = min(start + _LEADER_BLOCK, rows)
        similarities = vectors[start:stop] @ vectors[:stop].T
        near_rows, near_columns = np.nonzero(similarities >= threshold)
        earlier = near_columns < near_rows + start
        near_rows, near_columns = near_rows[earlier], near_columns[earlier]
        bounds = np.searchsorted(near_rows, np.arange(stop - start + 1))
        for offset in range(stop - start):
            row = start + offset
            columns = near_columns[bounds[offset] : bounds[offset + 1]]
            columns = columns[leader[columns]]
            if len(columns) == 0:
                leader[row] = True
                continue
            values = similarities[offset, columns]
            assignment[row] = int(columns[int(np.argmax(values))])
    return assignment


def _unknown_themes(intent: str, members: list[Member], questions: Questions) -> list[Theme]:
    """Unknown-topic queries of one intent: strict paraphrases together, the rest alone."""
    from tasks.core.embedding import embed

    members.sort(key=_member_order)
    vectors = embed([questions.candidate.fold(member.query) for member in members])
    assignment = _leader_clusters(vectors, PARAPHRASE_SIMILARITY)
    clusters: dict[int, list[Member]] = {}
    for row, leader in enumerate(assignment):
        clusters.setdefault(int(leader), []).append(members[row])
    return [
        _theme(intent, f"{intent}:~{members[leader].query}", group)
        for leader, group in clusters.items()
    ]


def group_themes(
    queries: Sequence[str],
    counts: Sequence[int],
    sessions: Sequence[int] | None = None,
    questions: Questions | None = None,
) -> list[Theme]:
    """The week's themes from its distinct display queries, their request counts and
    (optionally) the distinct sessions that asked each; without ``sessions`` every
    request is taken as its own session. ``questions`` carries the report's candidate
    and CV names (default: none).

    Every query is in exactly one theme (a query given twice has its counts added).
    Themes come ordered by count descending, then label ascending; members by distinct
    sessions descending, then count descending, then query ascending; a label is the
    theme's first member, so the question most visitors asked, not the one most repeated.
    """
    if len(queries) != len(counts) or (sessions is not None and len(sessions) != len(counts)):
        raise ValueError("queries, counts and sessions differ in length")
    questions = questions or default_questions()
    askers = counts if sessions is None else sessions
    totals: dict[str, tuple[int, int]] = {}
    for query, count, asked in zip(queries, counts, askers, strict=True):
        before = totals.get(query, (0, 0))
        totals[query] = (before[0] + int(count), before[1] + int(asked))
    distinct = sorted(totals)
    keyed: dict[tuple[str, str], list[Member]] = {}
    unknown: dict[str, list[Member]] = {}
    for query, (intent, topic) in zip(distinct, questions.keys(distinct), strict=True):
        member = Member(query, *totals[query])
        if topic is None:
            unknown.setdefault(intent, []).append(member)
        else:
            keyed.setdefault((intent, topic), []).append(member)
    themes = [
        _theme(intent, f"{intent}:{topic}", group) for (intent, topic), group in keyed.items()
    ]
    for intent in INTENTS:
        if intent in unknown:
            themes.extend(_unknown_themes(intent, unknown[intent], questions))
    themes.sort(key=lambda theme: (-theme.count, theme.theme))
    return themes


@dataclass(frozen=True)
class Recurrence:
    """A theme's ``new`` and ``weeks_seen`` against the previous weeks' stored themes."""

    new: bool
    weeks_seen: int


def _stored_queries(week: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        str(member["query"])
        for theme in week
        for member in theme.get("members") or ()
        if isinstance(member, Mapping) and member.get("query") is not None
    ]


def recurrence(
    themes: Sequence[Theme],
    previous_weeks: Sequence[Sequence[Mapping[str, Any]] | None],
    questions: Questions | None = None,
) -> list[Recurrence]:
    """For each of this week's themes: was the same question asked in the previous weeks?

    ``previous_weeks`` holds each previous week's stored ``themes`` (the spec's plain JSON:
    dicts with ``members`` of ``{"query", "count"}``), ``None`` for a week without a stored
    summary (skipped). A stored member asks this theme's question when it would join this
    theme under today's grouping: the same ``intent:topic`` key, or, for an unknown-topic
    theme, an unknown-topic query of the same intent that is a strict paraphrase of the
    theme's label (its leader). Labels are never compared as text.
    """
    questions = questions or default_questions()
    seen = [0] * len(themes)
    unknown_themes = [i for i, theme in enumerate(themes) if ":~" in theme.key]
    leader_vectors = _leader_vectors(themes, unknown_themes, questions)
    for week in previous_weeks:
        if week is None:
            continue
        keys, unknown_queries = _stored_keys(week, questions)
        matched = {i for i, theme in enumerate(themes) if theme.key in keys}
        if leader_vectors is not None and unknown_queries:
            matched |= _paraphrase_matches(
                themes, unknown_themes, leader_vectors, unknown_queries, questions
            )
        for i in matched:
            seen[i] += 1
    return [Recurrence(new=count == 0, weeks_seen=count) for count in seen]


def _leader_vectors(
    themes: Sequence[Theme], unknown_themes: list[int], questions: Questions
) -> np.ndarray | None:
    """The folded embeddings of the unknown-topic themes' labels, ``None`` if none."""
    if not unknown_themes:
        return None
    from tasks.core.embedding import embed

    return embed([questions.candidate.fold(themes[i].theme) for i in unknown_themes])


def _stored_keys(
    week: Sequence[Mapping[str, Any]], questions: Questions
) -> tuple[set[str], dict[str, list[str]]]:
    """A stored week's ``intent:topic`` keys, and its unknown-topic queries by intent."""
    keys: set[str] = set()
    unknown_queries: dict[str, list[str]] = {}
    stored = sorted(set(_stored_queries(week)))
    for query, (intent, topic) in zip(stored, questions.keys(stored), strict=True):
        if topic is None:
            unknown_queries.setdefault(intent, []).append(query)
        else:
            keys.add(f"{intent}:{topic}")
    return keys, unknown_queries


def _paraphrase_matches(
    themes: Sequence[Theme],
    unknown_themes: list[int],
    leader_vectors: np.ndarray,
    unknown_queries: dict[str, list[str]],
    questions: Questions,
) -> set[int]:
    """The unknown-topic themes a stored unknown-topic query of the same intent would
    have joined: a strict paraphrase of the theme's leader."""
    from tasks.core.embedding import embed

    matched: set[int] = set()
    for intent, stored in unknown_queries.items():
        rows = [j for j, i in enumerate(unknown_themes) if themes[i].intent == intent]
        if not rows:
            continue
        stored_vectors = embed([questions.candidate.fold(query) for query in stored])
        for start in range(0, len(rows), _LEADER_BLOCK):
            block = rows[start : start + _LEADER_BLOCK]
            best = (leader_vectors[block] @ stored_vectors.T).max(axis=1)
            matched.update(
                unknown_themes[j]
                for j, value in zip(block, best, strict=True)
                if value >= PARAPHRASE_SIMILARITY
            )
    return matched
