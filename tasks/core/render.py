"""The weekly report as an e-mail: HTML, plain text, markdown and the MIME message. Pure.

Everything shown comes from one :class:`~tasks.core.aggregate.WeeklyFigures` (plus the
:class:`~tasks.core.aggregate.PipelineHealth` beside it), so the e-mail, the artifacts and
``report.json`` cannot disagree. Queries in the figures are display queries, already
masked; jinja2's autoescape (on for ``.html`` templates) keeps a ``<script>`` typed by a
visitor as text.

The e-mail leads with advice (report-insights.md section 5): anomalies, the gaps with
their suggestions, contact requests; then intents, themes and the 8-week trend; then the
figures of report-metrics.md. The HTML template is written with a stylesheet, which
``css-inline`` moves onto the elements (mail clients drop ``<style>``), keeping only the
``@media`` rules for narrow screens in a ``<style>``. Bars are tables: no JavaScript, no
SVG, no images, no remote resource, so it renders the same in webmail and desktop clients.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tasks.core.aggregate import PipelineHealth, WeeklyFigures, clip
from tasks.core.insights import ThemeFigures
from tasks.core.intents import INTENTS

TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_PREFIX = "CV Analytics Weekly Report - Week "
EMPTY_WEEK = "No chatbot queries were recorded this week"
NO_PERFORMANCE = "not reported by the Worker"
BAR_WIDTH_TEXT = 30
#: Themes the e-mail lists (all of them are in report.json and the Prefect table).
EMAIL_THEMES = 20
#: Other members shown as a theme's examples.
EXAMPLES = 3
INTENT_LABELS = {
    "contact": "Contact",
    "compensation": "Pay",
    "availability": "Availability",
    "skills": "Skills",
    "experience": "Experience",
    "education": "Education",
    "other": "Other",
}
GAP_KINDS = {"not_answered": "not answered", "weak": "answered weakly"}
#: Characters of a visitor's text that any surface shows (the e-mail, the artifacts), so
#: pasted essays cannot make the e-mail too large to send; report.json keeps the figures.
SHOWN_LIMIT = 300
#: What a theme or gap one session dominates says, beside it.
DOMINATED = "mostly one session"


def shown_text(text: str) -> str:
    """A visitor's text as the e-mail and the artifacts show it: at most :data:`SHOWN_LIMIT`
    characters, a cut text ending in an ellipsis."""
    return clip(text, SHOWN_LIMIT)


#: The stylesheet goes onto the elements; @media rules stay in a <style> for narrow screens.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


_environment.filters["shown"] = shown_text


def subject(week: str) -> str:
    """The e-mail's subject: ``CV Analytics Weekly Report - Week 2025-W45``, the same form
    every week so the owner's mail rules can match it."""
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


def _day(moment: datetime, with_month: bool, with_year: bool) -> str:
    text = f"{moment:%a} {moment.day}"
    if with_month:
        text += f" {moment:%B}"
    if with_year:
        text += f" {moment.year}"
    return text


def human_period(period_start: str) -> str:
    """The week as a person writes it: ``Mon 23 \u2013 Sun 29 November 2026`` (en dash).

    The month (and the year) is written once when both ends share it:
    ``Mon 30 November \u2013 Sun 6 December 2026``, and across a new year
    ``Mon 28 December 2026 \u2013 Sun 3 January 2027``.
    """
    first = datetime.strptime(period_start, "%Y-%m-%dT%H:%M:%SZ")
    last = first + timedelta(days=6)
    same_year = first.year == last.year
    same_month = same_year and first.month == last.month
    return f"{_day(first, not same_month, not same_year)} \u2013 {_day(last, True, True)}"


def signed(value: int | None) -> str:
    """A change in count: ``+3``, ``-2``, ``0``; ``n/a`` when the week before is unknown."""
    if value is None:
        return "n/a"
    return f"{value:+,}" if value else "0"


def share(rate: float | None) -> str:
    """A 0..1 share in whole percent: 0.9412 -> 94%."""
    return "n/a" if rate is None else f"{rate * 100:.0f}%"


def answered_well_share(theme: ThemeFigures) -> float | None:
    """Share of the theme's requests answered ``full`` or ``partial`` (0..1)."""
    well = theme.match_counts.full + theme.match_counts.partial
    return round(well / theme.count, 4) if theme.count else None


def _intent_rows(figures: WeeklyFigures) -> list[dict[str, Any]]:
    rows = []
    for intent in INTENTS:
        value = figures.intents[intent]
        previous = value.previous_count
        rows.append(
            {
                "intent": intent,
                "label": INTENT_LABELS[intent],
                "count": value.count,
                "answered_well": value.answered_well,
                "previous": previous,
                "change": signed(None if previous is None else value.count - previous),
            }
        )
    return rows


def _theme_rows(themes: list[ThemeFigures]) -> list[dict[str, Any]]:
    return [
        {
            "theme": theme,
            "examples": [member.query for member in theme.members[1 : 1 + EXAMPLES]],
            "well": answered_well_share(theme),
        }
        for theme in themes
    ]


def _trend_rows(figures: WeeklyFigures) -> list[dict[str, Any]]:
    peak = max((p.total_queries or 0 for p in figures.trends), default=0)
    rows = []
    for point in figures.trends:
        start = datetime.strptime(point.week + "-1", "%G-W%V-%u")
        queries = point.total_queries
        rate = point.match_rate
        rows.append(
            {
                "week": point.week,
                "starts": f"{start.day} {start:%b}",
                "queries": queries,
                "queries_width": round(queries * 100 / peak) if queries and peak else 0,
                "rate": rate,
                "rate_width": round(rate * 100) if rate else 0,
                "known": queries is not None,
                "current": point.week == figures.week,
                "text_bar": "#" * (round((queries or 0) * BAR_WIDTH_TEXT / peak) if peak else 0),
            }
        )
    return rows


def trend_alt(figures: WeeklyFigures) -> str:
    """The trend's numbers in one line (the chart's text equivalent)."""
    return "; ".join(
        f"{p.week}: {number(p.total_queries)} questions, match rate {percent(p.match_rate)}"
        if p.total_queries is not None
        else f"{p.week}: no summary"
        for p in figures.trends
    )


def report_context(figures: WeeklyFigures, health: PipelineHealth) -> dict[str, Any]:
    """What every template sees: the figures, the health numbers and display helpers."""
    counts = figures.match_counts
    earlier_weeks = sum(p.total_queries is not None for p in figures.trends[:-1])
    return {
        "period": human_period(figures.period_start),
        "intent_rows": _intent_rows(figures),
        "theme_rows": _theme_rows(figures.themes[:EMAIL_THEMES]),
        "more_themes": figures.themes[EMAIL_THEMES:],
        "more_themes_count": sum(t.count for t in figures.themes[EMAIL_THEMES:]),
        "trend_rows": _trend_rows(figures),
        "trend_alt": trend_alt(figures),
        "earlier_weeks": earlier_weeks,
        "gap_kinds": GAP_KINDS,
        "shown": shown_text,
        "dominated": DOMINATED,
        "intent_labels": INTENT_LABELS,
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
        "share": share,
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
    """The e-mail's HTML: the template rendered (escaped), then its stylesheet inlined."""
    html = _environment.get_template("report.html").render(report_context(figures, health))
    return _INLINER.inline(html)


def render_text(figures: WeeklyFigures, health: PipelineHealth) -> str:
    return _environment.get_template("report.txt").render(report_context(figures, health))


_MARKDOWN_SPECIAL = str.maketrans(
    {c: f"\\{c}" for c in "\\`*_{}[]()#+-.!|>~:@="} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def markdown_escape(text: str) -> str:
    """Text that markdown (and the HTML the Prefect UI renders from it) shows verbatim.

    Every markdown punctuation is backslash-escaped and ``<``, ``>``, ``&`` become
    entities, so no link, image, emphasis or tag can come out of a visitor's words; ``:``,
    ``.`` and ``@`` are escaped too, which breaks GFM's bare autolinks (``http://``,
    ``www.``, addresses). This is the one escaping rule of every Prefect artifact: the
    markdown artifact and both table artifacts (the Prefect UI renders each string cell of
    a table as markdown).
    """
    return text.translate(_MARKDOWN_SPECIAL)


def _markdown_advice(figures: WeeklyFigures) -> list[str]:
    """Anomalies, then gaps with why each is one (kind, asked, short), then contacts."""
    lines = ["## Anomalies", ""]
    if figures.anomalies:
        lines += [
            f"- **{markdown_escape(a.kind)}**: {markdown_escape(a.message)}"
            for a in figures.anomalies
        ]
    else:
        earlier = sum(p.total_queries is not None for p in figures.trends[:-1])
        lines.append(
            "None against the previous weeks."
            if earlier >= 3
            else f"Not judged: {earlier} of the previous 7 weeks have a summary (3 needed)."
        )
    lines += ["", "## Where the CV falls short", ""]
    if figures.cv_gaps:
        lines += [
            "| question asked | intent | kind | asked | short | sessions | new | suggestion |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {markdown_escape(shown_text(g.theme))} | {g.intent} | {markdown_escape(g.kind)} "
            f"| {g.asked} | {g.short} "
            f"| {g.sessions}{' (' + DOMINATED + ')' if g.dominated_by_one_session else ''} "
            f"| {'new' if g.new else ''} | {markdown_escape(g.suggestion)} |"
            for g in figures.cv_gaps
        ]
        lines.append("")
        lines.append(
            "A theme with 2 or more requests is `not_answered` when at least half got no "
            "response or `none`, `weak` when at least half got `partial`; `short` counts "
            "those requests (no response, `none`, `partial`), `sessions` the distinct "
            "sessions among them (all anonymous requests count as one), which ranks the gaps. "
            f"*{DOMINATED}*: one session made at least half of the theme's requests."
        )
    else:
        lines.append("No gaps this week.")
    contact = figures.contact_requests
    lines += [
        "",
        f"**Contact requests:** {contact.count} ({contact.left_details} left an e-mail "
        "address or a phone number)",
        "",
    ]
    return lines


def render_markdown(figures: WeeklyFigures, health: PipelineHealth) -> str:
    """The Prefect markdown artifact: the advice first (anomalies, gaps), then key figures."""
    lines = [f"# {markdown_escape(subject(figures.week))}", ""]
    lines += [f"{human_period(figures.period_start)} (UTC)", ""]
    if figures.total_queries == 0:
        lines += [f"**{EMPTY_WEEK}.**", ""]
    lines += _markdown_advice(figures)
    previous = figures.previous_week
    lines += [
        "## Key figures",
        "",
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
    lines += ["## Intents", "", "| intent | count | answered well | previous week |"]
    lines.append("|---|---|---|---|")
    lines += [
        f"| {row['intent']} | {row['count']} | {row['answered_well']} "
        f"| {number(row['previous'])} ({row['change']}) |"
        for row in _intent_rows(figures)
    ]
    lines += ["", "## Trend (8 weeks)", "", "| week | questions | match rate | p95 total (ms) |"]
    lines.append("|---|---|---|---|")
    lines += [
        f"| {p.week} | {number(p.total_queries)} | {percent(p.match_rate)} "
        f"| {number(p.p95_total_time_ms)} |"
        for p in figures.trends
    ]
    lines.append("")
    if figures.unused_sources:
        lines += ["## CV items nobody asked about this week", ""]
        lines += [f"- {markdown_escape(shown_text(source))}" for source in figures.unused_sources]
        lines.append("")
    if figures.unmatched_queries:
        lines += ["## Questions the CV could not answer", ""]
        lines += [
            f"- {markdown_escape(shown_text(item.query))} ({item.count})"
            for item in figures.unmatched_queries
        ]
    return "\n".join(lines) + "\n"


def top_queries_table(figures: WeeklyFigures) -> list[dict[str, Any]]:
    """Rows of the Prefect table artifact of the week's top queries: the figures, with the
    query escaped by :func:`markdown_escape` (the one rule of every artifact)."""
    return [
        {**item.model_dump(mode="json"), "query": markdown_escape(shown_text(item.query))}
        for item in figures.top_queries
    ]


def themes_table(figures: WeeklyFigures) -> list[dict[str, Any]]:
    """Rows of the Prefect table artifact of the week's themes: one per theme, in order.

    ``gap``, ``asked`` and ``short`` say why a theme is a gap (empty when it is not);
    ``sessions`` and ``dominated_by_one_session`` say how many visitors asked it; the
    examples are its other members. Visitor text goes through :func:`markdown_escape`, as
    in the markdown artifact, because the Prefect UI renders every string cell as markdown.
    """
    gaps = {gap.theme: gap for gap in figures.cv_gaps}

    def text(value: str) -> str:
        return markdown_escape(shown_text(value))

    rows = []
    for theme in figures.themes:
        gap = gaps.get(theme.theme)
        share = answered_well_share(theme)
        rows.append(
            {
                "theme": text(theme.theme),
                "intent": theme.intent,
                "count": theme.count,
                "sessions": theme.sessions,
                "dominated_by_one_session": theme.dominated_by_one_session,
                "answered": theme.answered,
                "full": theme.match_counts.full,
                "partial": theme.match_counts.partial,
                "none": theme.match_counts.none,
                "answered_well": percent(share),
                "avg_match_score": theme.avg_match_score,
                "gap": gap.kind if gap else "",
                "asked": gap.asked if gap else "",
                "short": gap.short if gap else "",
                "new": theme.new,
                "weeks_seen": theme.weeks_seen,
                "examples": " | ".join(
                    text(member.query) for member in theme.members[1 : 1 + EXAMPLES]
                ),
                "members": len(theme.members),
            }
        )
    return rows


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
