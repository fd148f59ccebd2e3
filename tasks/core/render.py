"""The weekly report as an e-mail: HTML, plain text, markdown and the MIME message. Pure.

Everything shown comes from one :class:`~tasks.core.aggregate.WeeklyFigures`, so the
e-mail, the artifacts and ``report.json`` cannot disagree. Queries in the figures are
display queries, already masked; jinja2's autoescape (on for ``.html`` templates) keeps a
``<script>`` typed by a visitor as text.

Two audiences, two voices (report-insights.md section 10). The e-mail is the CV's
owner's: a headline subject, then what their changes fixed, the gaps still open, the new
gaps, the week's leads, the unusual weeks, the intents, the themes and the 8-week trend,
and the dismissed gaps in one line at the end. It speaks of visitors, questions and the
CV: pipeline health (:class:`~tasks.core.aggregate.PipelineHealth`), the exact-wording
lists (``top_queries``, ``unmatched_queries``) and the figures of report-metrics.md are the
operator's, in the Prefect artifacts (:func:`render_markdown`, the tables) and
``report.json``. Every theme has one verdict (:func:`verdict`) wherever it is shown.

The HTML template is written with a stylesheet, which ``css-inline`` moves onto the
elements (mail clients drop ``<style>``), keeping only the ``@media`` rules for narrow
screens in a ``<style>``. Bars are tables: no JavaScript, no SVG, no images, no remote
resource, so it renders the same in webmail and desktop clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tasks.core.aggregate import PipelineHealth, WeeklyFigures, clip
from tasks.core.gap_history import GapFollowup, GapWeek
from tasks.core.insights import CvGap, ThemeFigures
from tasks.core.intents import INTENTS

TEMPLATES = Path(__file__).parent / "templates"
#: The operator's title of a week's report (Prefect artifacts); the e-mail's subject is
#: the owner's headline (:func:`subject`).
TITLE_PREFIX = "CV Analytics Weekly Report - Week "
#: Every subject starts so, whatever the week's numbers: the owner's mail rules match it.
SUBJECT_PREFIX = "Your CV, "
EMPTY_WEEK = "Nobody asked the chatbot a question this week"
NO_PERFORMANCE = "not reported by the Worker"
BAR_WIDTH_TEXT = 30
#: Themes the e-mail lists (all of them are in report.json and the Prefect table).
EMAIL_THEMES = 20
#: Gaps each of the e-mail's gap sections lists (fixed, still open, new); it counts the rest.
EMAIL_GAPS = 10
#: The e-mail's gap section of each state of report-insights.md section 8.
SECTION_OF_STATE = {"fixed": "fixed", "open": "open", "reopened": "open", "new": "new"}
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
#: The one verdict a theme gets, wherever it is shown (report-insights.md section 10).
Verdict = Literal["answered well", "answered weakly", "not answered"]
#: Characters of a visitor's text that any surface shows (the e-mail, the artifacts), so
#: pasted essays cannot make the e-mail too large to send; report.json keeps the figures.
SHOWN_LIMIT = 300
#: What a theme or gap one session dominates says, beside it, in the artifacts.
DOMINATED = "mostly one session"
#: The same, in the owner's words (the e-mail speaks of visitors).
DOMINATED_EMAIL = "mostly one visitor"
#: Earlier weeks with figures that the unusual weeks (anomalies) need.
ANOMALY_MIN_WEEKS = 3


@dataclass(frozen=True)
class LeadsDelivery:
    """What the e-mail says of the week's leads beyond their number.

    ``enabled`` is the setting ``leads_enabled``; ``delivered`` the week's leads whose
    e-mail to the owner went out (the leads ledger says ``sent``), or ``None`` when it
    could not be read (or delivery is off).
    """

    enabled: bool
    delivered: int | None = None


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


def report_title(week: str) -> str:
    """The operator's title of the week's report: ``CV Analytics Weekly Report - Week
    2025-W45`` (the Prefect artifacts; the e-mail has the owner's :func:`subject`)."""
    return TITLE_PREFIX + week


def plural(count: int, noun: str) -> str:
    """``1 question``, ``298 questions``, ``1,204 questions``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


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


def headline_period(period_start: str) -> str:
    """The week in the subject, as short as a person writes it: ``23\u201329 Nov``,
    ``28 Nov \u2013 4 Dec`` across months, ``29 Dec 2025 \u2013 4 Jan 2026`` across years.

    The year is written only when the week spans two: the e-mail arrives the Monday after
    the week, so the year of a one-year week goes without saying.
    """
    first = datetime.strptime(period_start, "%Y-%m-%dT%H:%M:%SZ")
    last = first + timedelta(days=6)
    if first.year != last.year:
        return f"{first.day} {first:%b %Y} \u2013 {last.day} {last:%b %Y}"
    if first.month != last.month:
        return f"{first.day} {first:%b} \u2013 {last.day} {last:%b}"
    return f"{first.day}\u2013{last.day} {last:%b}"


def new_gap_count(figures: WeeklyFigures) -> int:
    """Gaps the owner has not seen before: ``gap_followup`` entries ``new`` or
    ``reopened``, not dismissed."""
    return sum(
        entry.state in ("new", "reopened") and not entry.dismissed for entry in figures.gap_followup
    )


def subject(figures: WeeklyFigures) -> str:
    """The e-mail's subject, a headline: ``Your CV, 23\u201329 Nov: 298 questions, 3 new
    gaps, 5 leads`` (report-insights.md section 10).

    The questions are ``total_queries``; the new gaps :func:`new_gap_count`; the leads
    ``contact_requests.left_details``. A part that is zero is left out, except the
    questions. Every subject starts with :data:`SUBJECT_PREFIX`, for the owner's mail rules.
    """
    parts = [plural(figures.total_queries, "question")]
    new_gaps = new_gap_count(figures)
    if new_gaps:
        parts.append(plural(new_gaps, "new gap"))
    leads = figures.contact_requests.left_details
    if leads:
        parts.append(plural(leads, "lead"))
    return f"{SUBJECT_PREFIX}{headline_period(figures.period_start)}: {', '.join(parts)}"


def signed(value: int | None) -> str:
    """A change in count: ``+3``, ``-2``, ``0``; ``n/a`` when the week before is unknown."""
    if value is None:
        return "n/a"
    return f"{value:+,}" if value else "0"


def answered_well_share(theme: ThemeFigures) -> float | None:
    """Share of the theme's requests answered well (a ``full`` match), 0..1."""
    return round(answered_well(theme) / theme.count, 4) if theme.count else None


def answered_well(theme: ThemeFigures) -> int:
    """The theme's requests answered well: a ``full`` match (its ``answered_well``)."""
    return theme.match_counts.full


def verdict(theme: ThemeFigures) -> Verdict:
    """The theme's one verdict (report-insights.md section 10), by the gaps' own rule.

    *not answered* when at least half of its requests got no answer or ``none``;
    *answered weakly* when not that and at least half got ``partial``; *answered well*
    otherwise. For a theme of :data:`~tasks.core.insights.GAP_MIN_REQUESTS` or more
    requests that is exactly whether it is a gap and of which kind; a question asked once
    is too rare to be a gap but gets the verdict its one answer earns.
    """
    answered = theme.match_counts.full + theme.match_counts.partial
    if 2 * (theme.count - answered) >= theme.count:
        return "not answered"
    if 2 * theme.match_counts.partial >= theme.count:
        return "answered weakly"
    return "answered well"


def verdict_text(theme: ThemeFigures) -> str:
    """The verdict with its share, ``answered_well`` (full matches) of ``count``: ``5 of 7
    answered well``, ``not answered: 1 of 7 answered well``, ``answered weakly: 2 of 7
    answered well, 4 only in part``."""
    well, count = answered_well(theme), theme.count
    said = verdict(theme)
    if said == "answered well":
        return f"{well:,} of {count:,} answered well"
    if said == "not answered":
        return f"not answered: {well:,} of {count:,} answered well"
    partial = theme.match_counts.partial
    return f"answered weakly: {well:,} of {count:,} answered well, {partial:,} only in part"


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
            "verdict": verdict(theme),
            "verdict_text": verdict_text(theme),
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
        f"week of {row['starts']}: {number(row['queries'])} questions, "
        f"{percent(row['rate'])} of answers matched the CV"
        if row["known"]
        else f"week of {row['starts']}: not reported"
        for row in _trend_rows(figures)
    )


# --- the owner's advice: gaps followed, leads, unusual weeks ------------------------------


def _gap_facts(theme: ThemeFigures) -> str:
    """How often a gap's question was asked and by how many visitors (sessions; every
    anonymous request together is one visitor), and whether one visitor made most of it."""
    visitors = "1 visitor" if theme.sessions == 1 else f"{theme.sessions:,} visitors"
    facts = (
        f"{INTENT_LABELS[theme.intent]} \u00b7 asked {plural(theme.count, 'time')} by {visitors}"
    )
    return facts + (f" \u00b7 {DOMINATED_EMAIL}" if theme.dominated_by_one_session else "")


def _week_figures(figures: GapWeek) -> str:
    return f"{figures.answered_well:,} of {figures.asked:,}"


def before_after(entry: GapFollowup) -> str:
    """A fixed gap's before and after: ``2 of 7 answered well in 2025-W45, 6 of 6 in
    2025-W47`` (report-insights.md section 8; answered well is a ``full`` match, the
    same figure the verdicts use)."""
    before, after = entry.before, entry.after
    if before is None or after is None:  # never for a fixed gap; said plainly
        return "answered well this week"
    return (
        f"{_week_figures(before)} answered well in {before.week}, "
        f"{_week_figures(after)} in {after.week}"
    )


def state_text(entry: GapFollowup) -> str:
    """How long a gap has been one: ``open since 2025-W41``, ``back again (fixed in
    2025-W44)``; nothing for a new gap (its section says it) or a fixed one."""
    if entry.state == "open":
        return f"open since {entry.since}"
    if entry.state == "reopened" and entry.before is not None:
        return f"back again (fixed in {entry.before.week})"
    if entry.state == "reopened":
        return "back again"
    return ""


def _gap_entry(
    entry: GapFollowup, themes: dict[str, ThemeFigures], gaps: dict[str, CvGap]
) -> dict[str, Any]:
    """One gap as both parts show it: the quote, its key, its state, facts and verdict
    (from the theme, as the themes list shows it), our suggestion, a fix's before/after."""
    theme = None if entry.state == "fixed" else themes.get(entry.key)  # fixed: before/after
    gap = gaps.get(entry.key)
    return {
        "theme": entry.theme,
        "key": entry.key,
        "state_text": state_text(entry),
        "facts": _gap_facts(theme) if theme else "",
        "verdict": verdict(theme) if theme else "",
        "verdict_text": verdict_text(theme) if theme else "",
        "suggestion": gap.suggestion if gap else "",
        "before_after": before_after(entry) if entry.state == "fixed" else "",
        "note": entry.note,
    }


def gap_sections(figures: WeeklyFigures) -> dict[str, list[dict[str, Any]]]:
    """The gaps as the owner reads them (report-insights.md section 10), each in
    ``gap_followup``'s order: ``fixed``; still ``open`` (``open`` and ``reopened``, oldest
    first); ``new``; and ``dismissed`` (kept out of the others, one line at the end)."""
    themes = {theme.key: theme for theme in figures.themes}
    gaps = {gap.key: gap for gap in figures.cv_gaps}
    sections: dict[str, list[dict[str, Any]]] = {
        "fixed": [],
        "open": [],
        "new": [],
        "dismissed": [],
    }
    for entry in figures.gap_followup:
        section = "dismissed" if entry.dismissed else SECTION_OF_STATE[entry.state]
        sections[section].append(_gap_entry(entry, themes, gaps))
    return sections


def _shown_gaps(sections: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """At most :data:`EMAIL_GAPS` of each advice section, and a line for the rest."""
    shown: dict[str, Any] = dict(sections)
    for name, what in (("fixed", "fixed"), ("open", "still open"), ("new", "new")):
        rest = len(sections[name]) - EMAIL_GAPS
        shown[name] = sections[name][:EMAIL_GAPS]
        shown[f"{name}_more"] = f"And {rest:,} more {what}." if rest > 0 else ""
    return shown


def leads_line(left_details: int, leads: LeadsDelivery) -> str:
    """The week's leads in one sentence: how many, and whether they reached the owner."""
    if not left_details:
        return "No visitor left contact details this week."
    if left_details == 1:
        said = "1 lead: a visitor left contact details this week"
    else:
        said = (
            f"{left_details:,} leads: visitors left contact details "
            f"{left_details:,} times this week"
        )
    if not leads.enabled:
        return f"{said}; delivery of leads is off."
    if leads.delivered is None:
        return f"{said}; whether they were e-mailed to you could not be checked."
    if leads.delivered >= left_details:
        every = {1: "it was", 2: "both were"}.get(left_details, f"all {left_details:,} were")
        return f"{said}; {every} e-mailed to you."
    if leads.delivered == 0:
        return f"{said}; none has been e-mailed to you yet."
    return f"{said}; {leads.delivered:,} of them were e-mailed to you so far."


def earlier_weeks(figures: WeeklyFigures) -> int:
    """Earlier weeks of the trend with figures: what the unusual weeks are judged against."""
    return sum(point.total_queries is not None for point in figures.trends[:-1])


def unusual_calm(figures: WeeklyFigures) -> str:
    """What the e-mail says when no week is unusual: nothing, or too young to tell."""
    earlier = earlier_weeks(figures)
    if earlier >= ANOMALY_MIN_WEEKS:
        return "Nothing unusual this week, compared with the weeks before."
    return (
        f"Unusual weeks are spotted once {ANOMALY_MIN_WEEKS} earlier weeks have been "
        f"reported (so far: {earlier})."
    )


#: Under the gaps: what a gap's key is for (report-insights.md section 9).
KEY_HINT = (
    "The key under each question is what the owner-feedback form asks for: copy it to "
    "dismiss a gap or to join two questions into one."
)
NO_GAPS = "No gaps this week: every question asked twice or more was answered well."
NO_OTHER_GAPS = (
    "No other gaps this week: every question asked twice or more was answered well, "
    "apart from those you dismissed (listed at the end)."
)


def dismissed_line(entries: list[dict[str, Any]]) -> str:
    """The dismissed gaps in one line: ``Dismissed: \u201cquestion\u201d (key): note; ...``."""
    said = [
        f"\u201c{shown_text(entry['theme'])}\u201d ({shown_text(entry['key'])})"
        + (f": {shown_text(entry['note'])}" if entry.get("note") else "")
        for entry in entries
    ]
    return "Dismissed: " + "; ".join(said) + "."


def intents_note(figures: WeeklyFigures) -> str:
    """Under the intents: what *answered well* means, and why a change may be unknown."""
    note = "Answered well: the CV answered it fully."
    if figures.intents[INTENTS[0]].previous_count is None:
        note += " The change is n/a: the week before was not reported."
    return note


def more_themes_note(figures: WeeklyFigures) -> str:
    """The themes beyond :data:`EMAIL_THEMES`, counted (each one's count is a theme's)."""
    more = figures.themes[EMAIL_THEMES:]
    asked = sum(theme.count for theme in more)
    return f"And {plural(len(more), 'other question')}, asked {plural(asked, 'time')} in all."


def report_context(figures: WeeklyFigures, leads: LeadsDelivery) -> dict[str, Any]:
    """What both parts of the e-mail see: the figures, the owner's sections, helpers."""
    gaps = _shown_gaps(gap_sections(figures))
    return {
        "key_hint": KEY_HINT,
        "no_gaps": NO_OTHER_GAPS if gaps["dismissed"] else NO_GAPS,
        "dismissed_line": dismissed_line(gaps["dismissed"]) if gaps["dismissed"] else "",
        "intents_note": intents_note(figures),
        "more_themes_note": more_themes_note(figures),
        "subject": subject(figures),
        "period": human_period(figures.period_start),
        "empty": figures.total_queries == 0,
        "empty_message": EMPTY_WEEK,
        "gaps": gaps,
        "any_gap": bool(gaps["fixed"] or gaps["open"] or gaps["new"]),
        "leads_line": leads_line(figures.contact_requests.left_details, leads),
        "unusual_calm": unusual_calm(figures),
        "intent_rows": _intent_rows(figures),
        "theme_rows": _theme_rows(figures.themes[:EMAIL_THEMES]),
        "more_themes": figures.themes[EMAIL_THEMES:],
        "trend_rows": _trend_rows(figures),
        "trend_alt": trend_alt(figures),
        "shown": shown_text,
        "dominated": DOMINATED_EMAIL,
        "f": figures,
        "number": number,
        "percent": percent,
    }


def render_html(figures: WeeklyFigures, leads: LeadsDelivery) -> str:
    """The e-mail's HTML: the template rendered (escaped), then its stylesheet inlined."""
    html = _environment.get_template("report.html").render(report_context(figures, leads))
    return _INLINER.inline(html)


def render_text(figures: WeeklyFigures, leads: LeadsDelivery) -> str:
    """The e-mail's plain-text part: the same content as the HTML, in the same order."""
    return _environment.get_template("report.txt").render(report_context(figures, leads))


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


def _markdown_anomalies(figures: WeeklyFigures) -> list[str]:
    lines = ["## Anomalies", ""]
    if figures.anomalies:
        return lines + [
            f"- **{markdown_escape(a.kind)}**: {markdown_escape(a.message)}"
            for a in figures.anomalies
        ]
    earlier = earlier_weeks(figures)
    if earlier >= ANOMALY_MIN_WEEKS:
        return [*lines, "None against the previous weeks."]
    return [
        *lines,
        f"Not judged: {earlier} of the previous 7 weeks have a summary "
        f"({ANOMALY_MIN_WEEKS} needed).",
    ]


def _markdown_gaps(figures: WeeklyFigures) -> list[str]:
    lines = ["## Where the CV falls short", ""]
    if not figures.cv_gaps:
        return [*lines, "No gaps this week."]
    lines += [
        "| question asked | key | intent | kind | asked | short | sessions | new | suggestion |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {markdown_escape(shown_text(g.theme))} | {markdown_escape(shown_text(g.key))} "
        f"| {g.intent} | {markdown_escape(g.kind)} | {g.asked} | {g.short} "
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
    return lines


def _markdown_leads(figures: WeeklyFigures, leads: LeadsDelivery | None) -> list[str]:
    contact = figures.contact_requests
    line = (
        f"**Contact requests:** {contact.count} ({contact.left_details} left an e-mail "
        "address or a phone number)"
    )
    if leads is not None:
        line += (
            "; leads delivery is off"
            if not leads.enabled
            else f"; leads delivered: {number(leads.delivered)}"
        )
    return [line, ""]


def _markdown_key_figures(figures: WeeklyFigures) -> list[str]:
    previous = figures.previous_week
    lines = [
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
        return [*lines, f"| performance | {NO_PERFORMANCE} |", ""]
    perf = figures.performance
    return [
        *lines,
        f"| total time p50 / p95 / p99 (ms) | {number(perf.total_time_ms.p50)} / "
        f"{number(perf.total_time_ms.p95)} / {number(perf.total_time_ms.p99)} |",
        f"| cache hit rate | {percent(perf.cache_hit_rate)} |",
        "",
    ]


def _markdown_health(health: PipelineHealth) -> list[str]:
    """Pipeline health: the operator's alone (the owner's e-mail never shows it)."""
    return [
        "## Pipeline health",
        "",
        "| figure | value |",
        "|---|---|",
        f"| unanswered requests | {number(health.unanswered_requests)} |",
        f"| orphan responses | {number(health.orphan_responses)} |",
        f"| DLQ depth at report time | {number(health.dlq_depth)} |",
        "",
    ]


def _markdown_lists(figures: WeeklyFigures) -> list[str]:
    """Intents, trend, per-day queries, top sources, unused sources, unmatched queries."""
    lines = ["## Intents", "", "| intent | count | answered well | previous week |"]
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
    lines += ["", "## Queries per day", "", "| day | queries |", "|---|---|"]
    lines += [f"| {day.date} | {day.queries} |" for day in figures.daily_queries]
    lines.append("")
    if figures.top_sources:
        lines += ["## Top sources", "", "| source | answers using it |", "|---|---|"]
        lines += [
            f"| {markdown_escape(shown_text(item.source))} | {item.count} |"
            for item in figures.top_sources
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
    return lines


def render_markdown(
    figures: WeeklyFigures, health: PipelineHealth, leads: LeadsDelivery | None = None
) -> str:
    """The Prefect markdown artifact, the operator's: the advice first (anomalies, gaps,
    contact requests and leads), then the key figures, pipeline health and the lists the
    e-mail leaves out (per day, sources, the questions the CV could not answer)."""
    lines = [f"# {markdown_escape(report_title(figures.week))}", ""]
    lines += [f"{human_period(figures.period_start)} (UTC)", ""]
    lines += [f"E-mail subject: {markdown_escape(subject(figures))}", ""]
    if figures.total_queries == 0:
        lines += [f"**{EMPTY_WEEK}.**", ""]
    lines += _markdown_anomalies(figures)
    lines.append("")
    lines += _markdown_gaps(figures)
    lines.append("")
    lines += _markdown_leads(figures, leads)
    lines += _markdown_key_figures(figures)
    lines += _markdown_health(health)
    lines += _markdown_lists(figures)
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

    ``key`` is what the owner-feedback form takes; ``verdict`` the e-mail's one verdict;
    ``gap``, ``asked`` and ``short`` say why a theme is a gap (empty when it is not),
    ``gap_state`` and ``dismissed`` where it stands across weeks (report-insights.md 8, 9);
    ``sessions`` and ``dominated_by_one_session`` say how many visitors asked it; the
    examples are its other members. Visitor text goes through :func:`markdown_escape`, as
    in the markdown artifact, because the Prefect UI renders every string cell as markdown.
    """
    gaps = {gap.key: gap for gap in figures.cv_gaps}
    followed = {entry.key: entry for entry in figures.gap_followup}

    def text(value: str) -> str:
        return markdown_escape(shown_text(value))

    rows = []
    for theme in figures.themes:
        gap = gaps.get(theme.key)
        entry = followed.get(theme.key)
        share = answered_well_share(theme)
        rows.append(
            {
                "theme": text(theme.theme),
                "key": text(theme.key),
                "intent": theme.intent,
                "verdict": verdict(theme),
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
                "gap_state": entry.state if entry else "",
                "dismissed": entry.dismissed if entry else False,
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
    message["Subject"] = subject(figures)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    return message
