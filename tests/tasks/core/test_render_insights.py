"""The e-mail leads with advice (report-insights.md sections 5 and 10): order, wording,
escaping; the operator's markdown artifact leads with anomalies and gaps."""

from __future__ import annotations

import re

import pytest

from lambdas.shared.weeks import Week
from tasks.core.aggregate import WeeklyFigures, pipeline_health, weekly_figures
from tasks.core.insights import StoredSummary, history_weeks
from tasks.core.masking import EMAIL_PATTERN, PHONE_PATTERN
from tasks.core.render import (
    LeadsDelivery,
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
    leads = LeadsDelivery(enabled=True, delivered=6)
    return {
        "html": render_html(figures, leads),
        "text": render_text(figures, leads),
        "markdown": render_markdown(figures, health, leads),
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
def test_the_email_leads_with_gaps_then_leads_unusual_weeks_intents_themes_trend(
    figures: WeeklyFigures, part: str
) -> None:
    shown = outputs(figures)[part]
    if part == "text":
        marks = [
            "Your CV, 3\u20139 Nov: 30 questions, 2 new gaps, 6 leads",
            "Mon 3 \u2013 Sun 9 November 2025",
            "NEW GAPS",
            '- "does he know fortran?"\n  key: skills:fortran',
            "State your level of experience with Fortran, or that you have none.",
            "LEADS",
            "6 leads: visitors left contact details 6 times this week; all 6 were e-mailed",
            "UNUSUAL THIS WEEK",
            "Traffic spike: 30 questions",
            "Match rate drop",
            "Slower answers",
            "WHAT VISITORS WANTED",
            "THE QUESTIONS, GROUPED",
            "LAST 8 WEEKS",
        ]
    else:
        marks = [
            "Your CV, 3\u20139 Nov: 30 questions, 2 new gaps, 6 leads",
            "Mon 3 \u2013 Sun 9 November 2025",
            ">New gaps<",
            "does he know fortran?&rdquo;</div>",
            "skills:fortran</span>",
            "State your level of experience with Fortran, or that you have none.",
            ">Leads<",
            "6 leads: visitors left contact details 6 times this week; all 6 were e-mailed",
            "Unusual this week",
            "Traffic spike: 30 questions",
            "Match rate drop",
            "Slower answers",
            "What visitors wanted",
            "The questions, grouped",
            "Last 8 weeks",
        ]
        shown = shown.replace("\u201c", "&ldquo;").replace("\u201d", "&rdquo;")
    positions = [shown.find(mark) for mark in marks]
    assert -1 not in positions, [m for m, p in zip(marks, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert "2025-11-03T00:00:00Z" not in shown  # no ISO period anywhere
    # the figures of report-metrics.md are the operator's now (the markdown artifact)
    for gone in ("SUMMARY", "QUERIES PER DAY", "MATCH QUALITY", "TOP SOURCES", "PERFORMANCE"):
        assert gone not in shown.upper().split("LAST 8 WEEKS")[0], gone


def test_new_themes_are_marked_and_examples_are_up_to_three_others(
    figures: WeeklyFigures,
) -> None:
    text = outputs(figures)["text"]
    fortran = next(t for t in figures.themes if t.theme == "does he know fortran?")
    assert len(fortran.members) == 4 and fortran.new
    others = [m.query for m in fortran.members[1:]]
    assert "      also: " + ", ".join(f'"{q}"' for q in others) in text
    assert "  15  does he know fortran? [NEW]\n      not answered: 0 of 15 answered well\n" in text
    python = next(t for t in figures.themes if t.theme == "does he know python?")
    assert not python.new and python.weeks_seen == 3
    assert "   3  does he know python?\n      3 of 3 answered well\n" in text  # no [NEW]


def test_intents_show_their_change_on_the_previous_week(figures: WeeklyFigures) -> None:
    text = outputs(figures)["text"]
    # skills: 18 this week (fortran 15 + python 3) against 10 in W44; 3 answered well
    assert re.search(r"Skills\s+18\s+\+8\s+3\n", text)
    assert re.search(r"Contact\s+6\s+\+6\s+0\n", text)
    assert "vs last week" in text


def test_the_trend_chart_is_table_bars_with_the_numbers_and_no_image(
    figures: WeeklyFigures,
) -> None:
    html = outputs(figures)["html"]
    lower = html.lower()
    for forbidden in ("<img", "<svg", "<script", "src=", "http://", "https://", "javascript:"):
        assert forbidden not in lower, forbidden
    chart = html.split("Last 8 weeks")[1]
    # the chart's cells (its summary attribute says it too): W38-W40, W43; W41, W42, W44 known
    assert chart.count(">not reported<") == 4
    assert "10<br>" in chart and "90.00%" in chart and "30<br>" in chart
    assert "week of 20 Oct: not reported" in html  # the chart's text equivalent (W43)
    text = outputs(figures)["text"]
    assert "20 Oct      n/a      n/a  (not reported)" in text
    assert re.search(r"3 Nov +30 +12\.50% +#+  <- this week", text)


def test_the_stylesheet_is_inlined_and_only_media_rules_stay(figures: WeeklyFigures) -> None:
    html = outputs(figures)["html"]
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    assert len(styles) == 1 and styles[0].strip().startswith("@media")
    assert 'class="gap-theme" style="' in html and 'class="key" style="' in html
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
    assert (
        "| does he know fortran? | skills\\:fortran | skills | not\\_answered | 15 | 15 | 15 "
        "| new |" in markdown
    )


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
