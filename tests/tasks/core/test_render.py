"""Rendering of the weekly report: escaping, masking, wording, the MIME message.

The owner's voice (subject, order, verdicts, gaps across weeks) is tested in
``test_render_owner.py``; the operator's artifacts in ``test_render_artifacts.py``.
"""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy

import pytest

from lambdas.shared.weeks import Week
from tasks.core.aggregate import WeeklyFigures, pipeline_health, weekly_figures
from tasks.core.masking import EMAIL_PATTERN, PHONE_PATTERN
from tasks.core.render import (
    EMPTY_WEEK,
    LeadsDelivery,
    build_mime,
    markdown_escape,
    render_html,
    render_markdown,
    render_text,
    subject,
    top_queries_table,
)
from tests.conftest import query, records_of, response


@pytest.fixture
def figures() -> WeeklyFigures:
    records = records_of(
        query("a", "2025-11-05T10:00:00", "<script>alert('x')</script> does he know React?"),
        response("a", "2025-11-05T10:00:01", sources=["React"]),
        query("b", "2025-11-05T10:01:00", "Email me at Jane.Doe@example.com about a role"),
        response("b", "2025-11-05T10:01:01", match="none", score=12),
        query("c", "2025-11-06T10:00:00", "call +44 20 7946 0958 if he is free"),
        response(
            "c",
            "2025-11-06T10:00:01",
            match="partial",
            score=61,
            performance={
                "totalTime": 1200.5,
                "llmTime": 1000,
                "retrievalTime": 90,
                "cacheHit": True,
            },
        ),
        query("d", "2025-11-07T10:00:00", "unanswered <b>bold</b> & co"),
    )
    return weekly_figures(Week(2025, 45), records, 3)


LEADS = LeadsDelivery(enabled=True, delivered=1)


def all_outputs(figures: WeeklyFigures) -> dict[str, str]:
    health = pipeline_health(figures, orphan_responses=2, dlq_depth=5)
    return {
        "html": render_html(figures, LEADS),
        "text": render_text(figures, LEADS),
        "json": json.dumps(figures.model_dump(mode="json")),
        "markdown": render_markdown(figures, health, LEADS),
    }


def test_script_in_a_query_is_escaped_in_html(figures: WeeklyFigures) -> None:
    html = all_outputs(figures)["html"]
    assert "<script" not in html.lower()
    # css-inline re-serialises the escaped HTML: < > & stay entities, a quote in text is plain
    assert "&lt;script&gt;alert('x')&lt;/script&gt; does he know react?" in html
    assert "unanswered &lt;b&gt;bold&lt;/b&gt; &amp; co" in html


def test_html_has_no_javascript_and_no_remote_resources(figures: WeeklyFigures) -> None:
    html = all_outputs(figures)["html"].lower()
    assert "<img" not in html and "src=" not in html and "javascript:" not in html
    assert "http://" not in html and "https://" not in html
    assert " onload=" not in html and " onclick=" not in html


def test_no_address_or_phone_number_survives_anywhere(figures: WeeklyFigures) -> None:
    for name, output in all_outputs(figures).items():
        assert not EMAIL_PATTERN.search(output), name
        assert not PHONE_PATTERN.search(output), name
        assert "jane.doe" not in output.lower() and "7946" not in output, name
    assert "email me at [email] about a role" in all_outputs(figures)["text"]
    assert "call [phone] if he is free" in all_outputs(figures)["html"]


def test_the_operators_figures_are_in_the_markdown_artifact_not_in_the_email(
    figures: WeeklyFigures,
) -> None:
    outputs = all_outputs(figures)
    markdown = outputs["markdown"]
    for expected in (
        "| total queries | 4 |",
        "| answered / unanswered | 3 / 1 |",
        "| match rate | 66.67% |",
        "| change vs 2025-W44 (3) | +33.3% |",  # 4 vs 3
        "## Pipeline health",
        "| unanswered requests | 1 |",
        "| orphan responses | 2 |",
        "| DLQ depth at report time | 5 |",
        "## Queries per day",
        "| 2025-11-05 | 2 |",
        "## Top sources",
        "| React | 1 |",
        "leads delivered: 1",
    ):
        assert expected in markdown, expected
    for part in ("html", "text"):
        shown = outputs[part].lower()
        for operator in ("pipeline", "orphan", "dead-letter", "dlq", "top queries", "p50"):
            assert operator not in shown, (part, operator)


def test_empty_week_says_nobody_asked_and_performance_not_reported() -> None:
    empty = weekly_figures(Week(2025, 40), [], 0)
    outputs = all_outputs(empty)
    for name in ("html", "text", "markdown"):
        assert EMPTY_WEEK in outputs[name], name
    assert "| performance | not reported by the Worker |" in outputs["markdown"]
    assert subject(empty) == "Your CV, 29 Sep \u2013 5 Oct: 0 questions"  # zero questions shown


def test_performance_null_wording_on_a_busy_week() -> None:
    records = records_of(query("a", "2025-11-05T10:00:00"), response("a", "2025-11-05T10:00:01"))
    outputs = all_outputs(weekly_figures(Week(2025, 45), records, 0))
    assert "| performance | not reported by the Worker |" in outputs["markdown"]
    assert EMPTY_WEEK not in outputs["html"] and EMPTY_WEEK not in outputs["markdown"]


def test_subject_is_the_weeks_headline(figures: WeeklyFigures) -> None:
    # 4 questions; 1 new gap: the two questions of no topic (the script and the bold one:
    # one answered, one not); the two who left details are 2 leads, never a gap
    assert [(g.key, g.state) for g in figures.gap_followup] == [("other:abuse", "new")]
    assert figures.contact_requests.left_details == 2
    assert subject(figures) == "Your CV, 3\u20139 Nov: 4 questions, 1 new gap, 2 leads"


def test_mime_is_multipart_alternative_with_text_then_html(figures: WeeklyFigures) -> None:
    outputs = all_outputs(figures)
    message = build_mime(
        figures, outputs["html"], outputs["text"], "contact@example.dev", ["a@x.dev", "b@x.dev"]
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Your CV, 3\u20139 Nov: 4 questions, 1 new gap, 2 leads"
    assert parsed["From"] == "contact@example.dev"
    assert parsed["To"] == "a@x.dev, b@x.dev"
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    html_part = parsed.get_body(preferencelist=("html",))
    assert html_part is not None
    assert "&lt;script&gt;" in html_part.get_content()
    with pytest.raises(ValueError, match="recipients"):
        build_mime(figures, "h", "t", "contact@example.dev", [])


def test_top_queries_table_rows_are_the_figures(figures: WeeklyFigures) -> None:
    rows = top_queries_table(figures)
    assert rows == [
        {**t.model_dump(mode="json"), "query": markdown_escape(t.query)}
        for t in figures.top_queries
    ]
    assert re.fullmatch(r"[^@]*", json.dumps(rows))
