"""The stored summary fits DynamoDB's item limit whatever visitors type (issue 18, finding 5).

Worst cases: thousands of distinct, incompressible questions of 90 KB to 1 MB in every
kind of theme (keyed and residual, every intent). The summary is saved on in-process
moto, which refuses an item over 400 KB as DynamoDB does.
"""

from __future__ import annotations

import base64
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deployments.local_stack import StackInfo
from lambdas.shared.weeks import Week
from tasks.core.aggregate import (
    STORED_TEXT_LIMIT,
    TopSource,
    WeeklyFigures,
    clip,
    stored_summary,
    weekly_figures,
)
from tasks.core.gap_history import STORED_GAP_LIMIT
from tasks.core.insights import (
    CvGap,
    StoredSummary,
    ThemeFigures,
    ThemeMatchCounts,
    ThemeMember,
    theme_gap_kind,
)
from tasks.core.intents import INTENTS
from tasks.dynamodb import summaries
from tasks.settings import Settings
from tests.conftest import query, records_of, response

WEEK = Week(2025, 45)
DYNAMODB_ITEM_LIMIT = 400 * 1024
#: A question of each kind of theme: keyed ones of every intent, and residual ones.
PREFIXES = [
    ("skills", "does he know kafka? ", "skills:kafka"),
    ("compensation", "what is his day rate? ", "compensation:pay"),
    ("contact", "[email] ", "contact:left-details"),
    ("availability", "is he willing to relocate? ", "availability:relocate"),
    ("education", "any degrees? ", "education:degree"),
    ("experience", "tell me about his career path ", None),
    ("other", "qzxv ", None),
]


def noise(seed: int, size: int) -> str:
    """``size`` characters that zlib cannot shrink much (random base64)."""
    return base64.b64encode(random.Random(seed).randbytes(size * 3 // 4 + 3)).decode()[:size]


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (binary and string as bytes)."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        (kind, data), *_ = value.items()
        total += len(data) if kind == "B" else len(str(data).encode())
    return total


def worst_figures(themes: int, members: int, size: int, big: int = 3) -> WeeklyFigures:
    """A week whose every text is a distinct incompressible question of ``size`` chars;
    ``big`` labels are 1 MB."""
    base = weekly_figures(WEEK, records_of(query("a", "2025-11-05T10:00:00")), 0)
    shown: list[ThemeFigures] = []
    for t in range(themes):
        intent, prefix, key = PREFIXES[t % len(PREFIXES)]
        length = 1_000_000 if t < big else size
        texts = [prefix + noise(t * 1000 + m, length) for m in range(members)]
        shown.append(
            ThemeFigures(
                theme=texts[0],
                intent=intent,
                key=key or f"{intent}:~{texts[0]}",
                count=members * 2,
                sessions=members,
                answered=0,
                match_counts=ThemeMatchCounts(full=0, partial=0, none=0),
                avg_match_score=None,
                members=[ThemeMember(query=q, count=2, sessions=1) for q in texts],
                new=True,
                weeks_seen=0,
                dominated_by_one_session=False,
            )
        )
    total = sum(t.count for t in shown)
    gaps = [
        CvGap(
            theme=t.theme,
            intent=t.intent,
            key=t.key,
            kind="not_answered",
            asked=t.count,
            short=t.count,
            sessions=t.sessions,
            new=True,
            dominated_by_one_session=False,
            suggestion="ours",
        )
        for t in shown[:10]
    ]
    return base.model_copy(
        update={
            "total_queries": total,
            "themes": shown,
            "cv_gaps": gaps,
            "intents": {i: v.model_copy(update={"count": total}) for i, v in base.intents.items()},
            "top_sources": [TopSource(source=noise(-1 - n, 90_000), count=1) for n in range(10)],
        }
    )


def check_stored(figures: WeeklyFigures) -> None:
    """The stored item is within the limit and every count it keeps is right."""
    item = summaries.summary_item(Settings().summaries_table, WEEK)
    assert item is not None and item_size(item) <= DYNAMODB_ITEM_LIMIT
    stored = summaries.summary_of_item(WEEK, item)
    assert stored.total_queries == figures.total_queries
    assert stored.intents == {k: v.count for k, v in figures.intents.items()}
    assert stored.top_sources is not None
    assert all(len(source) <= STORED_TEXT_LIMIT for source in stored.top_sources)
    assert stored.themes is not None
    kept = len(stored.themes)
    assert kept >= 1
    # the themes kept are the first ones, each with its full count
    assert [t["count"] for t in stored.themes] == [t.count for t in figures.themes[:kept]]
    assert [t["intent"] for t in stored.themes] == [t.intent for t in figures.themes[:kept]]
    omitted = figures.themes[kept:]
    assert (stored.omitted_themes, stored.omitted_requests) == (
        len(omitted),
        sum(t.count for t in omitted),
    )
    for theme, original in zip(stored.themes, figures.themes, strict=False):
        assert len(theme["theme"]) <= STORED_TEXT_LIMIT
        assert theme["members"], "a stored theme keeps at least its first member"
        assert all(len(m["query"]) <= STORED_TEXT_LIMIT for m in theme["members"])
        assert len(theme["members"]) + theme.get("omitted_members", 0) == len(original.members)
        assert theme["answered_well"] == original.match_counts.full + original.match_counts.partial
    check_stored_gaps(figures, stored)


def check_stored_gaps(figures: WeeklyFigures, stored: StoredSummary) -> None:
    """Every gap theme is kept, up to 50, never trimmed to fit: keys, labels and counts."""
    gap_themes = [t for t in figures.themes if theme_gap_kind(t) is not None]
    assert stored.gaps is not None
    assert len(stored.gaps) == min(STORED_GAP_LIMIT, len(gap_themes))
    assert stored.omitted_gaps == len(gap_themes) - len(stored.gaps)
    by_key = {clip(t.key, STORED_TEXT_LIMIT): t for t in gap_themes}
    for gap in stored.gaps:
        assert len(gap.key) <= STORED_TEXT_LIMIT and len(gap.theme) <= STORED_TEXT_LIMIT
        original = by_key[gap.key]
        assert (gap.asked, gap.answered_well) == (
            original.count,
            original.match_counts.full + original.match_counts.partial,
        )


def test_thousands_of_long_questions_in_every_kind_of_theme_fit(aws: StackInfo) -> None:
    figures = worst_figures(themes=1_400, members=1, size=90_000)
    summaries.save_summary(aws.settings.summaries_table, figures, "dynamodb")
    check_stored(figures)
    assert "figures" not in (
        summaries.summary_item(aws.settings.summaries_table, WEEK) or {}
    )  # too large to keep


def test_themes_of_many_long_members_fit(aws: StackInfo) -> None:
    figures = worst_figures(themes=60, members=12, size=90_000, big=0)
    summaries.save_summary(aws.settings.summaries_table, figures, "dynamodb")
    check_stored(figures)


def test_six_pasted_questions_from_records_to_the_table(aws: StackInfo) -> None:
    # the case: a few 90 KB questions, each asked twice and never answered,
    # through weekly_figures -> stored summary -> UpdateItem
    events: list[dict[str, Any]] = []
    for n, (_, prefix, _) in enumerate(PREFIXES * 2):
        text = prefix + noise(n, 90_000 if n else 1_000_000)
        for copy in range(2):
            rid = f"r{n:02d}{copy}"
            at = f"2025-11-0{3 + n % 7}T10:{n:02d}:0{copy}"
            events += [query(rid, at, text, session=f"s{n}{copy}")]
    events += [query("ok", "2025-11-05T11:00:00"), response("ok", "2025-11-05T11:00:01")]
    figures = weekly_figures(WEEK, records_of(*events), 0)
    summaries.save_summary(aws.settings.summaries_table, figures, "dynamodb")
    check_stored(figures)
    # the stored members still tell later weeks the same question
    later = weekly_figures(
        Week(2025, 46),
        records_of(query("n", "2025-11-12T10:00:00", "does he know kafka?")),
        figures.total_queries,
        {
            WEEK.id: summaries.summary_of_item(
                WEEK, summaries.summary_item(aws.settings.summaries_table, WEEK) or {}
            )
        },
    )
    assert [(t.theme, t.new) for t in later.themes] == [("does he know kafka?", False)]


@settings(max_examples=15, deadline=None)
@given(
    shape=st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from([10, 400, 5_000, 90_000])),
        min_size=0,
        max_size=40,
    ),
    seed=st.integers(0, 2**16),
)
def test_summary_values_always_fit_and_keep_counts(shape: list[tuple[int, int]], seed: int) -> None:
    base = weekly_figures(WEEK, records_of(query("a", "2025-11-05T10:00:00")), 0)
    themes = []
    for t, (members, size) in enumerate(shape):
        intent, prefix, key = PREFIXES[(seed + t) % len(PREFIXES)]
        texts = [prefix + noise(seed * 7919 + t * 97 + m, size) for m in range(members)]
        themes.append(
            ThemeFigures(
                theme=texts[0],
                intent=intent,
                key=key or f"{intent}:~{texts[0]}",
                count=members + t,
                sessions=members,
                answered=0,
                match_counts=ThemeMatchCounts(full=0, partial=0, none=0),
                avg_match_score=None,
                members=[ThemeMember(query=q, count=1, sessions=1) for q in texts],
                new=False,
                weeks_seen=1,
                dominated_by_one_session=False,
            )
        )
    figures = base.model_copy(update={"themes": themes})
    values = summaries.summary_values(figures)
    assert sum(map(len, values.values())) <= summaries.ITEM_BUDGET
    stored = summaries.unpack(values["summary"])
    kept = stored["themes"]
    assert [t["count"] for t in kept] == [t.count for t in themes[: len(kept)]]
    assert stored["omitted_requests"] == sum(t.count for t in themes[len(kept) :])
    assert stored_summary(figures).total_queries == stored["total_queries"]
    assert set(stored["intents"]) == set(INTENTS)
