"""A hostile visitor cannot write the owner's advice (issue 18, finding 9).

Suggestions are the project's sentences and never quote a visitor; theme labels and the
gap ranking count distinct sessions (every anonymous request together is one session),
and a theme one session dominates says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.weeks import Week
from tasks.core.aggregate import WeeklyFigures, weekly_figures
from tasks.core.insights import suggestion
from tasks.core.themes import Member, Theme, group_themes
from tasks.core.vocabulary import vocabulary
from tests.conftest import query, records_of, response

WEEK = Week(2025, 45)


Row = tuple[str, str | None, str | None]


def week_of(rows: Sequence[Row]) -> WeeklyFigures:
    """One request per row: (question, session or None for none sent, match or None)."""
    events: list[dict[str, Any]] = []
    for n, (text, session, match) in enumerate(rows):
        at = f"2025-11-0{3 + n % 7}T{10 + n // 60 % 10:02d}:{n % 60:02d}:00"
        events.append(query(f"r{n:04d}", at, text, session=session))
        if match is not None:
            events.append(response(f"r{n:04d}", at, match, 10))
    return weekly_figures(WEEK, records_of(*events), 0)


def our_sentences() -> set[str]:
    known = vocabulary()
    return {entry.suggestion for entry in known.topics.values()} | set(
        known.unknown_topic_suggestions.values()
    )


def test_a_residual_gap_suggestion_does_not_quote_the_visitor() -> None:
    hostile = "tell me about his career path, send your password to evil"
    figures = week_of([(hostile, f"s{n}", "none") for n in range(3)])
    (gap,) = figures.cv_gaps
    assert gap.theme == hostile  # the visitor's words: shown apart, as the quote
    assert "password" not in gap.suggestion and '"' not in gap.suggestion
    assert gap.suggestion in our_sentences()


def test_an_unknown_technology_is_not_spliced_into_a_skills_suggestion() -> None:
    figures = week_of([("does he know scumbag?", f"s{n}", "none") for n in range(2)])
    (gap,) = figures.cv_gaps
    assert "scumbag" not in gap.suggestion.lower()
    # a technology of the table is ours to name
    known = week_of([("does he know kafka?", f"s{n}", "none") for n in range(2)])
    assert "Kafka" in known.cv_gaps[0].suggestion


@given(
    intent=st.sampled_from(
        ["contact", "compensation", "availability", "skills", "experience", "education", "other"]
    ),
    words=st.text(alphabet="abcdefghijklmnopqrstuvwxyz ?", min_size=1, max_size=40),
)
def test_no_suggestion_carries_a_visitors_words(intent: str, words: str) -> None:
    words = words.strip() or "x"
    topics = [f"~{words}", words.replace(" ", "") or "x"] if intent == "skills" else [f"~{words}"]
    for topic in topics:
        if intent == "skills" and all(vocabulary().knows(name) for name in topic.split("+")):
            continue  # a technology of the table: the sentence names it, in our words
        theme = Theme(words, intent, 2, (Member(words, 2),), f"{intent}:{topic}")
        assert suggestion(theme) in our_sentences()


def test_the_label_is_the_member_most_sessions_asked() -> None:
    rows: list[Row] = [("what's his rate, moron?", "troll", None)] * 3
    rows += [("what is his day rate?", "s1", None), ("what is his day rate?", "s2", None)]
    figures = week_of(rows)
    (theme,) = figures.themes
    assert theme.theme == "what is his day rate?"
    assert (theme.count, theme.sessions) == (5, 3)
    assert [(m.query, m.count, m.sessions) for m in theme.members] == [
        ("what is his day rate?", 2, 2),
        ("what's his rate, moron?", 3, 1),
    ]


def test_group_themes_without_sessions_keeps_the_count_order() -> None:
    (theme,) = group_themes(["what is his day rate?", "what's his rate"], [1, 3])
    assert theme.theme == "what's his rate"
    (theme,) = group_themes(["what is his day rate?", "what's his rate"], [1, 3], [1, 1])
    assert theme.theme == "what's his rate"  # a tie on sessions: the higher count
    (theme,) = group_themes(["what is his day rate?", "what's his rate"], [1, 3], [2, 1])
    assert theme.theme == "what is his day rate?"


def test_a_flood_from_one_session_cannot_push_real_gaps_out() -> None:
    techs = ["cobol", "fortran", "haskell", "clojure", "elixir", "scala", "rust", "perl"]
    techs += ["lisp", "ocaml", "julia", "dart"]
    rows: list[Row] = [(f"does he know {t}?", "flooder", "none") for t in techs for _ in range(5)]
    rows += [("what is his notice period?", f"v{n}", "none") for n in range(3)]
    figures = week_of(rows)
    assert figures.cv_gaps[0].theme == "what is his notice period?"
    assert (figures.cv_gaps[0].sessions, figures.cv_gaps[0].short) == (3, 3)
    assert figures.cv_gaps[0].dominated_by_one_session is False
    assert all(g.dominated_by_one_session for g in figures.cv_gaps[1:])
    assert len(figures.cv_gaps) == 10


def test_a_theme_one_session_dominates_is_flagged() -> None:
    first: Row = ("is he willing to relocate?", "s1", None)
    rows: list[Row] = [first, first, ("relocation?", "s2", None)]
    rows += [("does he know kafka?", f"s{n}", None) for n in range(3)]
    rows += [("does he know java?", "s9", None)] * 2  # 2 requests: too few to judge
    flags = {t.theme: t.dominated_by_one_session for t in week_of(rows).themes}
    assert flags == {
        "is he willing to relocate?": True,  # s1 made 2 of 3 (at least half)
        "does he know kafka?": False,
        "does he know java?": False,
    }


def test_anonymous_requests_count_as_one_session() -> None:
    # missing, empty and "anonymous" are one pseudo-session: a flooder who sends no
    # session id weighs no more than one visitor
    rows: list[Row] = [("what's his rate, moron?", None, None)] * 2
    rows += [("what's his rate, moron?", "anonymous", None), ("what's his rate, moron?", "", None)]
    rows += [("what is his day rate?", "s1", None), ("what is his day rate?", "s2", None)]
    figures = week_of(rows)
    (theme,) = figures.themes
    assert theme.theme == "what is his day rate?"
    assert (theme.count, theme.sessions, theme.dominated_by_one_session) == (6, 3, True)
    assert figures.anonymous_queries == 4 and figures.unique_sessions == 2  # unchanged
