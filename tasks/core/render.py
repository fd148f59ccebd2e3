"""The weekly report as an e-mail: HTML, plain text, markdown and the MIME message. Pure.

Everything shown comes from one :class:`~tasks.core.aggregate.WeeklyFigures` (plus the
:class:`~tasks.core.aggregate.PipelineHealth` beside it), so the e-mail, the artifacts and
``report.json`` cannot disagree. Queries in the figures are display queries, already
masked; jinja2's autoescape (on for ``.html`` templates) keeps a ``<script>`` typed by a
visitor as text. The HTML uses inline CSS and table-based bars only: no JavaScript, no
remote images, so it renders the same in webmail and desktop clients.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tasks.core.aggregate import PipelineHealth, WeeklyFigures

TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_PREFIX = "CV Analytics Weekly Report - Week "
EMPTY_WEEK = "No chatbot queries were recorded this week"
NO_PERFORMANCE = "not reported by the Worker"
BAR_WIDTH_TEXT = 30

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def subject(week: str) -> str:
    """``CV Analytics Weekly Report - Week 2025-W45``: the original Reporter's subject."""
    return SUBJECT_PREFIX + week


def number(value: float | int | None, suffix: str = "") -> str:
    """A figure for people: ``n/a`` for null, thousands separators, no float noise."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}{suffix}"
    if isinstance(value, float):
        return f"{value:,}{suffix}"
    return f"{value:,}{suffix}"


def percent(rate: float | None) -> str:
    """A 0..1 rate (4 decimals) as the same number in percent (2 decimals): 0.8397 -> 83.97%."""
    return "n/a" if rate is None else f"{rate * 100:.2f}%"


def change(pct: float | None, previous_total: int | None = 0) -> str:
    """Week-over-week change of total queries, saying why it is missing when it is."""
    if pct is not None:
        return f"{pct:+.1f}%"
    if previous_total is None:
        return "n/a (previous week unknown)"
    return "n/a (no queries the week before)"


def _bars(rows: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Label, value, share of the largest value (0..100) and a text bar, per row."""
    peak = max((value for _, value in rows), default=0)
    return [
        {
            "label": label,
            "value": value,
            "width": round(value * 100 / peak) if peak else 0,
            "text_bar": "#" * (round(value * BAR_WIDTH_TEXT / peak) if peak else 0),
        }
        for label, value in rows
    ]


def report_context(figures: WeeklyFigures, health: PipelineHealth) -> dict[str, Any]:
    """What every template sees: the figures, the health numbers and display helpers."""
    counts = figures.match_counts
    return {
        "f": figures,
        "health": health,
        "subject": subject(figures.week),
        "empty": figures.total_queries == 0,
        "empty_message": EMPTY_WEEK,
        "no_performance": NO_PERFORMANCE,
        "day_bars": _bars([(day.date, day.queries) for day in figures.daily_queries]),
        "match_bars": _bars(
            [("full", counts.full), ("partial", counts.partial), ("none", counts.none)]
        ),
        "number": number,
        "percent": percent,
        "change": change,
        "timings": (
            [
                ("Total time (ms)", figures.performance.total_time_ms),
                ("LLM time (ms)", figures.performance.llm_time_ms),
                ("Retrieval time (ms)", figures.performance.retrieval_time_ms),
            ]
            if figures.performance
            else []
        ),
    }


def render_html(figures: WeeklyFigures, health: PipelineHealth) -> str:
    return _environment.get_template("report.html").render(report_context(figures, health))


def render_text(figures: WeeklyFigures, health: PipelineHealth) -> str:
    return _environment.get_template("report.txt").render(report_context(figures, health))


_MARKDOWN_SPECIAL = str.maketrans(
    {c: f"\\{c}" for c in "\\`*_{}[]()#+-.!|>~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def markdown_escape(text: str) -> str:
    """Text that markdown (and the HTML the Prefect UI renders from it) shows verbatim."""
    return text.translate(_MARKDOWN_SPECIAL)


def render_markdown(figures: WeeklyFigures, health: PipelineHealth) -> str:
    """The key figures for the Prefect markdown artifact."""
    lines = [f"# {markdown_escape(subject(figures.week))}", ""]
    if figures.total_queries == 0:
        lines += [f"**{EMPTY_WEEK}.**", ""]
    previous = figures.previous_week
    lines += [
        "| figure | value |",
        "|---|---|",
        f"| period | {figures.period_start} to {figures.period_end} |",
        f"| total queries | {number(figures.total_queries)} |",
        f"| change vs {previous.week} ({number(previous.total_queries)}) "
        f"| {change(figures.total_queries_change_pct, previous.total_queries)} |",
        f"| answered / unanswered | {figures.answered} / {figures.unanswered} |",
        f"| unique sessions | {figures.unique_sessions} |",
        f"| anonymous queries | {figures.anonymous_queries} |",
        f"| match full / partial / none | {figures.match_counts.full} / "
        f"{figures.match_counts.partial} / {figures.match_counts.none} |",
        f"| match rate | {percent(figures.match_rate)} |",
        f"| average / median match score | {number(figures.avg_match_score)} / "
        f"{number(figures.median_match_score)} |",
    ]
    if figures.performance is None:
        lines.append(f"| performance | {NO_PERFORMANCE} |")
    else:
        perf = figures.performance
        lines += [
            f"| total time p50 / p95 / p99 (ms) | {number(perf.total_time_ms.p50)} / "
            f"{number(perf.total_time_ms.p95)} / {number(perf.total_time_ms.p99)} |",
            f"| cache hit rate | {percent(perf.cache_hit_rate)} |",
        ]
    lines += [
        f"| orphan responses | {health.orphan_responses} |",
        f"| DLQ depth at report time | {number(health.dlq_depth)} |",
        "",
    ]
    if figures.unmatched_queries:
        lines += ["## Questions the CV could not answer", ""]
        lines += [
            f"- {markdown_escape(item.query)} ({item.count})" for item in figures.unmatched_queries
        ]
    return "\n".join(lines) + "\n"


def top_queries_table(figures: WeeklyFigures) -> list[dict[str, Any]]:
    """Rows of the Prefect table artifact of the week's top queries."""
    return [item.model_dump(mode="json") for item in figures.top_queries]


def build_mime(
    figures: WeeklyFigures,
    html: str,
    text: str,
    sender: str,
    recipients: list[str],
) -> EmailMessage:
    """A multipart/alternative message (text first, HTML preferred) ready for send_raw_email."""
    if not recipients:
        raise ValueError("no recipients: expected at least one address in report_recipients")
    message = EmailMessage()
    message["Subject"] = subject(figures.week)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    return message
