"""The Prefect artifacts show visitors' words as text, by one rule, and say when one
session dominates a theme (issue 18, findings 9 and 10).

The Prefect UI renders every string cell of a table artifact as markdown (its
``ArtifactDataTable`` hands a string cell to ``p-markdown-renderer``), so both tables
escape visitor text exactly as the markdown artifact does; the check below renders each
cell with a GFM markdown renderer (autolinks on) and reads back the text it shows.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from lambdas.shared.weeks import Week
from tasks.core.aggregate import WeeklyFigures, pipeline_health, weekly_figures
from tasks.core.render import (
    LeadsDelivery,
    build_mime,
    markdown_escape,
    render_html,
    render_markdown,
    render_text,
    themes_table,
    top_queries_table,
)
from tests.conftest import query, records_of, response
from tests.figures_texts import theme_texts

WEEK = Week(2025, 45)
LEADS = LeadsDelivery(enabled=False)
HOSTILE = [
    "[click me](http://evil.example) does he know kafka?",
    "![x](http://tracker.example/p.png) day rate?",
    "<img src=x onerror=alert(1)> what is his notice period?",
    "**bold** _it_ `code` ~~gone~~ does he know rust?",
    "visit http://evil.example/login or www.evil.example now, any degrees?",
    "a | b &amp; c &lt;b&gt; \\ does he know java?",
]
GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])
#: GFM's autolink literals, found in the markdown source (linkify is not installed here).
AUTOLINK = re.compile(r"(?:https?|ftp)://|www\.|[\w.+-]+@[\w-]+\.", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def shown(cell: str) -> str:
    """What the Prefect UI shows for a cell: markdown rendered, tags dropped, unescaped."""
    assert not AUTOLINK.search(cell), cell
    rendered = GFM.renderInline(cell)
    assert not re.search(r"<(a|img|strong|em|code|s|del|script)\b", rendered), rendered
    return html.unescape(_TAG.sub("", rendered))


@pytest.fixture(scope="module")
def figures() -> WeeklyFigures:
    events: list[dict[str, Any]] = []
    for n, text in enumerate(HOSTILE * 2):
        at = f"2025-11-04T10:{n:02d}:00"
        events += [query(f"h{n:02d}", at, text, session=f"v{n}"), response(f"h{n:02d}", at, "none")]
    for n in range(4):  # one session asks the same thing four times: it dominates
        at = f"2025-11-05T10:{n:02d}:00"
        events += [query(f"f{n}", at, "is he willing to relocate?", session="flooder")]
    return weekly_figures(WEEK, records_of(*events), 0)


def test_both_tables_show_visitor_text_verbatim_and_inert(figures: WeeklyFigures) -> None:
    top = top_queries_table(figures)
    assert {shown(row["query"]) for row in top} == {q.query for q in figures.top_queries}
    themes = themes_table(figures)
    assert [shown(row["theme"]) for row in themes] == [t.theme for t in figures.themes]
    for row in themes:
        shown(row["examples"])


def test_both_tables_use_the_markdown_artifacts_escaping(figures: WeeklyFigures) -> None:
    top = top_queries_table(figures)
    assert [row["query"] for row in top] == [markdown_escape(q.query) for q in figures.top_queries]
    assert [row["count"] for row in top] == [q.count for q in figures.top_queries]
    rows = themes_table(figures)
    assert [row["theme"] for row in rows] == [markdown_escape(t.theme) for t in figures.themes]


@given(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=60))
def test_markdown_escape_shows_any_text_verbatim(text: str) -> None:
    text = " ".join(text.split())  # a display query: whitespace collapsed (no control
    # character survives a markdown renderer: those are out of scope)
    assert shown(markdown_escape(text)).strip() == text.strip()


def test_a_dominated_theme_is_flagged_in_the_artifacts(figures: WeeklyFigures) -> None:
    rows = {shown(row["theme"]): row for row in themes_table(figures)}
    assert rows["is he willing to relocate?"]["dominated_by_one_session"] is True
    assert rows["is he willing to relocate?"]["sessions"] == 1
    assert {r["dominated_by_one_session"] for k, r in rows.items() if "relocate" not in k} == {
        False
    }
    health = pipeline_health(figures, 0, 0)
    markdown = render_markdown(figures, health)
    gap_line = next(line for line in markdown.splitlines() if "relocate" in line)
    assert "one session" in gap_line
    text = render_text(figures, LEADS)  # the owner's words: a session is a visitor
    assert "mostly one visitor" in text.split("NEW GAPS")[1].split("LEADS")[0]


def test_a_gap_suggestion_is_apart_from_the_quoted_question(figures: WeeklyFigures) -> None:
    text = render_text(figures, LEADS)
    for gap in figures.cv_gaps:
        assert f'"{gap.theme}"' in text  # the visitor's words, quoted
        assert gap.theme not in gap.suggestion


def test_pasted_essays_cannot_make_the_email_too_large_to_send() -> None:
    # ten distinct 1 MB questions, each asked twice and never answered: top queries,
    # unmatched queries, themes, gaps and examples all quote them
    essays = [f"does he know {t}? " + "x" * 1_000_000 for t in ("kafka", "java", "go", "rust")]
    essays += [f"tell me about his career path {n} " + "y" * 1_000_000 for n in range(6)]
    events: list[dict[str, Any]] = []
    for n, text in enumerate(essays * 2):
        events.append(query(f"e{n:02d}", f"2025-11-04T10:{n:02d}:00", text, session=f"v{n}"))
    figures = weekly_figures(WEEK, records_of(*events), 0)

    def long(text: str) -> str:  # whatever display_query keeps, the e-mail bounds its own
        return text + "z" * 1_000_000

    figures = figures.model_copy(
        update={
            "top_queries": [
                q.model_copy(update={"query": long(q.query)}) for q in figures.top_queries
            ],
            "unmatched_queries": [
                q.model_copy(update={"query": long(q.query)}) for q in figures.unmatched_queries
            ],
            **theme_texts(figures, long),
        }
    )
    health = pipeline_health(figures, 0, 0)
    message = build_mime(
        figures, render_html(figures, LEADS), render_text(figures, LEADS), "a@b.dev", ["c@d"]
    )
    assert len(message.as_bytes()) < 1_000_000  # SES takes 10 MB; this stays far below
    assert len(render_markdown(figures, health)) < 200_000
    assert len(repr(themes_table(figures)) + repr(top_queries_table(figures))) < 200_000
