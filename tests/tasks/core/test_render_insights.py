"""The e-mail leads with advice (report-insights.md section 5): order, wording, escaping."""

from __future__ import annotations

import re

import pytest

from lambdas.shared.weeks import Week
from tasks.core.aggregate import WeeklyFigures, pipeline_health, weekly_figures
from tasks.core.insights import StoredSummary, history_weeks
from tasks.core.masking import EMAIL_PATTERN, PHONE_PATTERN
from tasks.core.render import (
    human_period,
    markdown_escape,
    render_html,
    render_markdown,
    render_text,
    themes_table,
)
from tests.conftest import query, records_of, response

WEEK = Week(2025, 45)


@pytest.fixture(scope="module")
def figures() -> WeeklyFigures:
    events = []
    texts = [
        ("does he know fortran?", "none"),
        ("does he know fortran?", "none"),
        ("fortran experience?", None),
        ("is fortran 77 something he used?", "none"),
        ("has he worked with fortran?", "none"),
        ("<script>alert('x')</script> what is his day rate?", "none"),
        ("<script>alert('x')</script> what is his day rate?", "none"),
        ("Email me at Jane.Doe@example.com about a role", None),
        ("call +44 20 7946 0958 if he is free", "none"),
        ("does he know python?", "full"),
    ]
    for n, (text, match) in enumerate(texts * 3):
        rid = f"q{n:02d}"
        at = f"2025-11-0{3 + n % 7}T10:{n:02d}:00"
        events.append(query(rid, at, text, session=f"v{n}"))
        if match is not None:
            perf = {"totalTime": 5000.0}
            events.append(response(rid, at, match, 20, ["Python"], perf))
    history = {
        w.id: StoredSummary(
            week=w.id,
            total_queries=10,
            match_rate=0.9,
            p95_total_time_ms=1000.0,
            intents={"skills": 10},
            themes=[
                {
                    "theme": "does he know python?",
                    "intent": "skills",
                    "count": 10,
                    "members": [{"query": "does he know python?", "count": 10}],
                }
            ],
            top_sources=["Python", "Kafka"],
        )
        for w in history_weeks(WEEK)[-4:]
    }
    del history["2025-W43"]  # a week without a summary: n/a in the chart, never 0
    return weekly_figures(WEEK, records_of(*events), 10, history)


def outputs(figures: WeeklyFigures) -> dict[str, str]:
    health = pipeline_health(figures, 0, 0)
    return {
        "html": render_html(figures, health),
        "text": render_text(figures, health),
        "markdown": render_markdown(figures, health),
        "table": repr(themes_table(figures)),
    }


def test_period_reads_as_a_person_writes_it() -> None:
    assert human_period("2026-11-23T00:00:00Z") == "Mon 23 \u2013 Sun 29 November 2026"
    assert human_period("2026-11-30T00:00:00Z") == "Mon 30 November \u2013 Sun 6 December 2026"
    assert human_period("2020-12-28T00:00:00Z") == "Mon 28 December 2020 \u2013 Sun 3 January 2021"


def test_the_fixture_has_every_kind_of_advice(figures: WeeklyFigures) -> None:
    assert [a.kind for a in figures.anomalies] == [
        "traffic_spike",
        "match_rate_drop",
        "latency_regression",
    ]
    assert [g.theme for g in figures.cv_gaps][:2] == [
        "does he know fortran?",
        "<script>alert('x')</script> what is his day rate?",
    ]
    assert figures.contact_requests.left_details == 6


@pytest.mark.parametrize("part", ["html", "text"])
def test_the_email_leads_with_advice_then_intents_themes_trend_then_figures(
    figures: WeeklyFigures, part: str
) -> None:
    shown = outputs(figures)[part]
    if part == "text":
        marks = [
            "Mon 3 \u2013 Sun 9 November 2025",
            "Traffic spike: 30 questions",
            "Match rate drop",
            "Slower answers",
            "WHERE THE CV FALLS SHORT",
            '"does he know fortran?" [NEW]',
            "State your level of experience with Fortran, or that you have none.",
            "Contact requests: 6; 6 left",
            "WHAT VISITORS WANTED",
            "THE QUESTIONS, GROUPED",
            "LAST 8 WEEKS",
            "SUMMARY",
            "QUERIES PER DAY",
            "PIPELINE HEALTH",
        ]
    else:
        marks = [
            "Mon 3 \u2013 Sun 9 November 2025",
            "Traffic spike: 30 questions",
            "Match rate drop",
            "Slower answers",
            "Where the CV falls short",
            "does he know fortran?&rdquo; <span",
            "State your level of experience with Fortran, or that you have none.",
            "Contact requests: 6</strong>; 6 left",
            "What visitors wanted",
            "The questions, grouped",
            "Last 8 weeks",
            ">Summary<",
            "Queries per day",
            "Pipeline health",
        ]
        shown = shown.replace("\u201c", "&ldquo;").replace("\u201d", "&rdquo;")
    positions = [shown.find(mark) for mark in marks]
    assert -1 not in positions, [m for m, p in zip(marks, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert "2025-11-03T00:00:00Z" not in shown[:2000]  # no ISO period on top


def test_new_gaps_and_themes_are_marked_and_examples_are_up_to_three_others(
    figures: WeeklyFigures,
) -> None:
    text = outputs(figures)["text"]
    fortran = next(t for t in figures.themes if t.theme == "does he know fortran?")
    assert len(fortran.members) == 4 and fortran.new
    others = [m.query for m in fortran.members[1:]]
    assert "      also: " + ", ".join(f'"{q}"' for q in others) in text
    python = next(t for t in figures.themes if t.theme == "does he know python?")
    assert not python.new and python.weeks_seen == 3
    assert "does he know python?  (answered well 100%)" in text  # no [NEW]


def test_intents_show_their_change_on_the_previous_week(figures: WeeklyFigures) -> None:
    text = outputs(figures)["text"]
    # skills: 18 this week (fortran 15 + python 3) against 10 in W44; 3 answered well
    assert re.search(r"Skills\s+18\s+\+8\s+3\n", text)
    assert re.search(r"Contact\s+6\s+\+6\s+0\n", text)


def test_the_trend_chart_is_table_bars_with_the_numbers_and_no_image(
    figures: WeeklyFigures,
) -> None:
    html = outputs(figures)["html"]
    lower = html.lower()
    for forbidden in ("<img", "<svg", "<script", "src=", "http://", "https://", "javascript:"):
        assert forbidden not in lower, forbidden
    chart = html.split("Last 8 weeks")[1].split("Summary")[0]
    assert chart.count("no summary stored") == 4  # W38-W40 and W43; W41, W42, W44 known
    assert "10<br>" in chart and "90.00%" in chart and "30<br>" in chart
    assert "2025-W43: no summary" in html  # the chart's text equivalent (table summary)
    text = outputs(figures)["text"]
    assert "2025-W43     n/a      n/a  (no summary stored)" in text
    assert re.search(r"2025-W45 +30 +12\.50% +#+  <- this week", text)


def test_the_stylesheet_is_inlined_and_only_media_rules_stay(figures: WeeklyFigures) -> None:
    html = outputs(figures)["html"]
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    assert len(styles) == 1 and styles[0].strip().startswith("@media")
    assert 'class="gap-theme" style="' in html
    assert "max-width: 480px" in styles[0] and "!important" in styles[0]


def test_markup_is_text_and_no_address_or_number_appears_anywhere(figures: WeeklyFigures) -> None:
    shown = outputs(figures)
    assert "<script" not in shown["html"].lower()
    assert "&lt;script&gt;alert('x')&lt;/script&gt; what is his day rate?" in shown["html"]
    assert "<script" not in shown["markdown"] and "<script" not in shown["table"]
    for name, output in shown.items():
        assert not EMAIL_PATTERN.search(output), name
        assert not PHONE_PATTERN.search(output), name
        assert "jane.doe" not in output.lower() and "7946" not in output, name


def test_markdown_artifact_leads_with_anomalies_and_gaps(figures: WeeklyFigures) -> None:
    markdown = outputs(figures)["markdown"]
    order = [
        markdown.find(s)
        for s in ("## Anomalies", "## Where the CV falls short", "**Contact requests:**", "## Key")
    ]
    assert -1 not in order and order == sorted(order)
    assert "| does he know fortran? | skills | not\\_answered | 15 | 15 | 15 | new |" in markdown


def test_themes_table_says_why_a_theme_is_a_gap(figures: WeeklyFigures) -> None:
    rows = themes_table(figures)
    assert [row["theme"] for row in rows] == [markdown_escape(t.theme) for t in figures.themes]
    fortran = rows[0]
    assert {k: fortran[k] for k in ("theme", "gap", "asked", "short", "new", "weeks_seen")} == {
        "theme": "does he know fortran?",
        "gap": "not_answered",
        "asked": 15,
        "short": 15,
        "new": True,
        "weeks_seen": 0,
    }
    python = next(row for row in rows if row["theme"] == "does he know python?")
    assert (python["gap"], python["answered_well"]) == ("", "100.00%")
