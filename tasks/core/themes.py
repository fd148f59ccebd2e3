"""Themes: the week's display queries grouped into questions (report-insights.md). Pure.

Each display query gets a *question key* in three steps, and a theme is the queries that
share a key (so every query is in exactly one theme and a theme has one intent):

1. its intent (:func:`tasks.core.intents.classify_intent`);
2. a topic of that intent, lexically: for ``skills`` the canonical technologies it names
   ("k8s" and "kubernetes" are both ``kubernetes``, so "does he know fortran?" and "does
   he know react?" differ); for the other intents the topic whose cue words score highest
   in :data:`TOPICS` ("day rate?", "how much does he charge per day" and "what's his
   hourly rate" are all ``compensation:pay``; "notice period?" and "when can he start?"
   are ``availability:start``); an ``other`` query with no topic is ``other:off-topic``;
3. a query with an intent but no topic (a question the tables do not know) is clustered
   with the others of its intent by meaning: the static embedding of
   :mod:`tasks.core.embedding`, leader clustering in a fixed order (distinct sessions
   descending, then count descending, then text), joining the most similar leader when
   the cosine is at least :data:`RESIDUAL_SIMILARITY`.

A theme's label is its first member in that same order, so the question the most
distinct sessions asked; one session repeating a variant cannot take the label (and a
residual theme's label is its leader, which :func:`recurrence` compares with).

Deterministic: keys depend on the text alone, and the residual clustering's order is
sorted, never the input's. :func:`recurrence` judges "the same question" across weeks with
the same keys (and, for residual themes, the same similarity rule) on the stored members.

Why lexical topics first and the embedding only for the rest: docs/insights-model.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from tasks.core.intents import CUES, INTENTS, MASKED, classify_intent, technologies

#: Cosine similarity for a residual query to join a residual cluster's leader.
RESIDUAL_SIMILARITY = 0.6
#: Leaders compared with per step of the residual clustering (bounds memory).
_LEADER_BLOCK = 4096

#: Topics per intent: name -> cue fragments (regex, whole words). Order breaks ties.
TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "contact": {
        "left-details": (r"\[email\]", r"\[phone\]"),
        "meeting": (
            r"interview\w*",
            r"meet\w*",
            r"schedule\w*",
            r"book\w*",
            r"arrange\w*",
            r"zoom",
            r"video call",
            r"teams call",
            r"a call",
            r"chat",
            r"coffee",
            r"talk to him",
            r"speak (?:to|with) him",
        ),
        "reach": (
            r"e-?mail\w*",
            r"phone",
            r"phone number",
            r"number",
            r"contact\w*",
            r"reach\w*",
            r"linkedin",
            r"in touch",
            r"get hold",
            r"message",
            r"ring",
            r"call",
            r"text",
            r"recruit\w*",
        ),
    },
    "compensation": {
        "pay": CUES["compensation"],
    },
    "availability": {
        "visa": (
            r"visa",
            r"right to work",
            r"work permit",
            r"sponsor\w*",
            r"citizen\w*",
            r"passport",
        ),
        "relocate": (r"relocat\w*", r"move", r"moving", r"abroad"),
        "remote": (
            r"remote\w*",
            r"from home",
            r"wfh",
            r"hybrid",
            r"on-?site",
            r"office",
            r"commute",
            r"in person",
        ),
        "employment-type": (
            r"contracts?",
            r"contractor",
            r"contracting",
            r"permanent",
            r"perm",
            r"freelanc\w*",
            r"full[- ]time",
            r"part[- ]time",
            r"employment type",
        ),
        "location": (
            r"based",
            r"located",
            r"location",
            r"live\w*",
            r"city",
            r"country",
            r"where is he",
            r"europe",
            r"uk",
            r"us",
            r"usa",
            r"london",
            r"berlin",
            r"time ?zone",
        ),
        "start": (
            r"available",
            r"availability",
            r"start\w*",
            r"notice",
            r"open to",
            r"opportunit\w*",
            r"looking",
            r"job hunting",
            r"job-hunting",
            r"job search\w*",
            r"seeking",
            r"join\w*",
            r"free",
            r"immediately",
            r"asap",
            r"open to work",
        ),
    },
    "experience": {
        "weakness": (
            r"weakness\w*",
            r"weak",
            r"bad at",
            r"not good at",
            r"improve\w*",
            r"worst",
        ),
        "strengths": (
            r"strength\w*",
            r"strong points?",
            r"good at",
            r"best at",
            r"hire",
            r"good hire",
            r"fit",
            r"stand out",
            r"qualities",
            r"unique",
            r"special",
        ),
        "achievements": (r"achiev\w*", r"accomplish\w*", r"proud\w*", r"awards?", r"impact"),
        "projects": (
            r"projects?",
            r"built",
            r"build",
            r"open source",
            r"portfolio",
            r"github",
            r"side projects?",
        ),
        "seniority": (
            r"senior\w*",
            r"junior",
            r"years",
            r"how long",
            r"experienced",
            r"level",
            r"coding",
        ),
        "industries": (
            r"industr\w*",
            r"sectors?",
            r"domains?",
            r"fintech",
            r"finance",
            r"banking",
            r"healthcare",
            r"e-?commerce",
            r"retail",
            r"startups?",
            r"government",
            r"gaming",
            r"insurance",
        ),
        "leadership": (
            r"lead\w*",
            r"led",
            r"manag\w*",
            r"mentor\w*",
            r"people",
            r"team",
            r"reports",
        ),
        "last-role": (r"last", r"previous\w*", r"before", r"prior"),
        "current-role": (
            r"current\w*",
            r"now",
            r"at the moment",
            r"present\w*",
            r"job title",
        ),
        "employers": (
            r"employer\w*",
            r"compan\w*",
            r"worked (?:for|at)",
            r"where has he worked",
            r"who has he worked",
            r"organi[sz]ations?",
        ),
    },
    "education": {
        "certifications": (
            r"certif\w*",
            r"certs?",
            r"cka",
            r"ckad",
            r"pmp",
            r"cissp",
            r"prince2",
            r"itil",
            r"csm",
            r"psm",
            r"accredit\w*",
        ),
        "courses": (r"courses?", r"bootcamp", r"training", r"online", r"self-taught", r"learn\w*"),
        "degree": (
            r"degrees?",
            r"universit\w*",
            r"uni",
            r"college",
            r"school",
            r"stud\w*",
            r"graduat\w*",
            r"masters?",
            r"msc",
            r"bsc",
            r"phd",
            r"doctorate",
            r"bachelor\w*",
            r"education\w*",
            r"qualifi\w*",
            r"diploma",
            r"academic",
        ),
    },
    "other": {
        "abuse": (
            r"<",
            r"script",
            r"onerror",
            r"drop table",
            r"select",
            r";",
            r"ignore",
            r"instructions",
            r"prompt",
            r"test",
            r"asdf\w*",
            r"qwer\w*",
        ),
        "chatbot": (
            r"you",
            r"bot",
            r"chat\s*bot",
            r"llm",
            r"gpt\S*",
            r"chatgpt",
            r"model",
            r"ai",
            r"this",
            r"human",
        ),
        "personal": (
            r"married",
            r"wife",
            r"husband",
            r"girlfriend",
            r"boyfriend",
            r"single",
            r"kids",
            r"children",
            r"family",
            r"age",
            r"old",
            r"hobb\w*",
            r"pets?",
            r"dog",
            r"cat",
            r"cook\w*",
            r"food",
            r"favou?rite",
            r"football",
            r"sports?",
            r"play",
            r"religio\w*",
            r"politic\w*",
            r"free time",
            r"weekend",
        ),
    },
}
OFF_TOPIC = "off-topic"


def _pattern(fragments: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(fragments, key=len, reverse=True)
    return re.compile(rf"(?<![\w-])(?:{'|'.join(ordered)})(?![\w-])")


_TOPIC_PATTERNS = {
    intent: [(topic, _pattern(cues)) for topic, cues in topics.items()]
    for intent, topics in TOPICS.items()
}
# "[email]" starts and ends with a non-word character: it needs no word boundary.
_TOPIC_PATTERNS["contact"][0] = ("left-details", MASKED)


@lru_cache(maxsize=131_072)
def question_key(query: str) -> tuple[str, str | None]:
    """``(intent, topic)`` of a display query; topic ``None``: the tables do not know it."""
    intent = classify_intent(query)
    if intent == "contact" and MASKED.search(query):
        return intent, "left-details"
    if intent == "skills":
        named = technologies(query)
        return intent, "+".join(named) if named else None
    best, best_score = None, 0
    for topic, pattern in _TOPIC_PATTERNS[intent]:
        score = len(pattern.findall(query))
        if score > best_score:
            best, best_score = topic, score
    if best is None and intent == "other":
        best = OFF_TOPIC
    return intent, best


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
    #: ``intent:topic`` for a topic of the tables, ``intent:~label`` for a residual cluster.
    key: str

    @property
    def queries(self) -> list[str]:
        return [member.query for member in self.members]

    def to_json(self) -> dict[str, Any]:
        """The stored form: label, intent, count, members (what :func:`recurrence` reads)."""
        return {
            "theme": self.theme,
            "intent": self.intent,
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
    reaches ``threshold``, else it leads. Leaders are compared in blocks, so no
    rows x rows matrix is ever built.
    """
    rows = len(vectors)
    assignment = np.empty(rows, dtype=np.int64)
    if rows == 0:
        return assignment
    leader_matrix = np.empty_like(vectors)
    leader_rows = np.empty(rows, dtype=np.int64)
    leaders = 0
    for row in range(rows):
        best, best_similarity = -1, threshold
        for start in range(0, leaders, _LEADER_BLOCK):
            stop = min(start + _LEADER_BLOCK, leaders)
            similarities = leader_matrix[start:stop] @ vectors[row]
            position = int(np.argmax(similarities))
            similarity = float(similarities[position])
            if similarity >= best_similarity and (best < 0 or similarity > best_similarity):
                best, best_similarity = int(leader_rows[start + position]), similarity
        if best < 0:
            leader_matrix[leaders] = vectors[row]
            leader_rows[leaders] = row
            leaders += 1
            best = row
        assignment[row] = best
    return assignment


def _residual_themes(intent: str, members: list[Member]) -> list[Theme]:
    from tasks.core.embedding import embed

    members.sort(key=_member_order)
    vectors = embed([member.query for member in members])
    assignment = _leader_clusters(vectors, RESIDUAL_SIMILARITY)
    clusters: dict[int, list[Member]] = {}
    for row, leader in enumerate(assignment):
        clusters.setdefault(int(leader), []).append(members[row])
    return [
        _theme(intent, f"{intent}:~{members[leader].query}", group)
        for leader, group in clusters.items()
    ]


def group_themes(
    queries: Sequence[str], counts: Sequence[int], sessions: Sequence[int] | None = None
) -> list[Theme]:
    """The week's themes from its distinct display queries, their request counts and
    (optionally) the distinct sessions that asked each; without ``sessions`` every
    request is taken as its own session.

    Every query is in exactly one theme (a query given twice has its counts added).
    Themes come ordered by count descending, then label ascending; members by distinct
    sessions descending, then count descending, then query ascending; a label is the
    theme's first member, so the question most visitors asked, not the one most repeated.
    """
    if len(queries) != len(counts) or (sessions is not None and len(sessions) != len(counts)):
        raise ValueError("queries, counts and sessions differ in length")
    askers = counts if sessions is None else sessions
    totals: dict[str, tuple[int, int]] = {}
    for query, count, asked in zip(queries, counts, askers, strict=True):
        before = totals.get(query, (0, 0))
        totals[query] = (before[0] + int(count), before[1] + int(asked))
    keyed: dict[tuple[str, str], list[Member]] = {}
    residual: dict[str, list[Member]] = {}
    for query, (count, asked) in totals.items():
        intent, topic = question_key(query)
        member = Member(query, count, asked)
        if topic is None:
            residual.setdefault(intent, []).append(member)
        else:
            keyed.setdefault((intent, topic), []).append(member)
    themes = [
        _theme(intent, f"{intent}:{topic}", group) for (intent, topic), group in keyed.items()
    ]
    for intent in INTENTS:
        if intent in residual:
            themes.extend(_residual_themes(intent, residual[intent]))
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
    themes: Sequence[Theme], previous_weeks: Sequence[Sequence[Mapping[str, Any]] | None]
) -> list[Recurrence]:
    """For each of this week's themes: was the same question asked in the previous weeks?

    ``previous_weeks`` holds each previous week's stored ``themes`` (the spec's plain JSON:
    dicts with ``members`` of ``{"query", "count"}``), ``None`` for a week without a stored
    summary (skipped). A stored member asks this theme's question when it would join this
    theme under the same grouping: the same ``intent:topic`` key, or, for a residual theme,
    a residual query of the same intent whose cosine with the theme's label (its leader)
    reaches :data:`RESIDUAL_SIMILARITY`. Labels are never compared as text.
    """
    seen = [0] * len(themes)
    residual_themes = [i for i, theme in enumerate(themes) if ":~" in theme.key]
    leader_vectors = _leader_vectors(themes, residual_themes)
    for week in previous_weeks:
        if week is None:
            continue
        keys, residual_queries = _stored_keys(week)
        matched = {i for i, theme in enumerate(themes) if theme.key in keys}
        if leader_vectors is not None and residual_queries:
            matched |= _residual_matches(themes, residual_themes, leader_vectors, residual_queries)
        for i in matched:
            seen[i] += 1
    return [Recurrence(new=count == 0, weeks_seen=count) for count in seen]


def _leader_vectors(themes: Sequence[Theme], residual_themes: list[int]) -> np.ndarray | None:
    """The embeddings of the residual themes' labels (their leaders), ``None`` if none."""
    if not residual_themes:
        return None
    from tasks.core.embedding import embed

    return embed([themes[i].theme for i in residual_themes])


def _stored_keys(week: Sequence[Mapping[str, Any]]) -> tuple[set[str], dict[str, list[str]]]:
    """A stored week's ``intent:topic`` keys, and its residual queries by intent."""
    keys: set[str] = set()
    residual_queries: dict[str, list[str]] = {}
    for query in _stored_queries(week):
        intent, topic = question_key(query)
        if topic is None:
            residual_queries.setdefault(intent, []).append(query)
        else:
            keys.add(f"{intent}:{topic}")
    return keys, residual_queries


def _residual_matches(
    themes: Sequence[Theme],
    residual_themes: list[int],
    leader_vectors: np.ndarray,
    residual_queries: dict[str, list[str]],
) -> set[int]:
    """The residual themes a stored residual query of the same intent would have joined:
    its cosine with the theme's leader reaches :data:`RESIDUAL_SIMILARITY`."""
    from tasks.core.embedding import embed

    matched: set[int] = set()
    for intent, stored in residual_queries.items():
        rows = [j for j, i in enumerate(residual_themes) if themes[i].intent == intent]
        if not rows:
            continue
        stored_vectors = embed(sorted(set(stored)))
        for j in rows:
            if float(np.max(stored_vectors @ leader_vectors[j])) >= RESIDUAL_SIMILARITY:
                matched.add(residual_themes[j])
    return matched
