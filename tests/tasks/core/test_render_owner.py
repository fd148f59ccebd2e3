"""The owner's e-mail speaks one voice (report-insights.md section 10).

One hand-made week, 2025-W47, after three stored weeks, has every kind of gap the
owner follows: Kafka fixed (a gap in W45 and W46, answered well now), Python fixed (a gap
answered weakly in W46), Fortran still open
since W45, remote work back again (a gap in W44, answered well in W45), COBOL and the
visitors who left details new, and the day rate new but dismissed by the owner ("I will
not state a salary"). The browser test of the e-mail's widths renders the same week
(``tests/browser/test_email_widths.py``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from lambdas.shared.weeks import Week
from tasks.core.aggregate import WeeklyFigures, pipeline_health, weekly_figures
from tasks.core.feedback import Feedback, owner_word
from tasks.core.gap_history import GapFollowup, StoredGap
from tasks.core.insights import LEADS_KEY, ContactRequests, StoredSummary, theme_gap_kind
from tasks.core.render import (
    EMAIL_GAPS,
    LeadsDelivery,
    headline_period,
    leads_line,
    markdown_escape,
    render_html,
    render_markdown,
    render_text,
    subject,
    themes_table,
    verdict,
)
from tests.conftest import query, records_of, response

WEEK = Week(2025, 47)
LEADS = LeadsDelivery(enabled=True, delivered=2)
#: This week's questions: text, how the CV answered (None: no answer), how many times.
ASKED = [
    ("does he know kafka?", "full", 4),
    ("has he used kafka?", "full", 2),
    ("does he know cobol?", None, 5),
    ("does he know fortran?", "none", 4),
    ("what is his day rate?", "none", 4),
    ("does he know python?", "full", 3),
    ("is he open to remote work?", "none", 3),
    ("email me at jane.doe@example.com about a role", None, 2),
    ("does he know react?", "partial", 1),
]
KAFKA = ("skills:kafka", "does he know kafka?", "skills")
FORTRAN = ("skills:fortran", "does he know fortran?", "skills")
REMOTE = ("availability:remote", "is he open to remote work?", "availability")
PYTHON = ("skills:python", "does he know python?", "skills")
#: Words of the operator that the owner's e-mail never says (pipeline health, storage,
#: the exact-wording lists, the tools), matched as whole words, case-insensitively.
OPERATOR_WORDS = (
    "summary",
    "summaries",
    "stored",
    "queue",
    "queues",
    "dead-letter",
    "dead letter",
    "DLQ",
    "orphan",
    "orphans",
    "pipeline",
    "unanswered",
    "counter",
    "counters",
    "report.json",
    "Prefect",
    "artifact",
    "artifacts",
    "session",
    "sessions",
    "requests",
    "query",
    "queries",
    "top queries",
    "match score",
    "matchType",
    "p50",
    "p99",
    "cache",
    "Worker",
    "Lambda",
    "DynamoDB",
    "SQS",
    "SES",
    "S3",
    "ISO",
)
OPERATOR = re.compile(r"\b(" + "|".join(map(re.escape, OPERATOR_WORDS)) + r")\b", re.IGNORECASE)


def our_words(shown: str, figures: WeeklyFigures) -> str:
    """What the e-mail says in its own words: its text without the visitors' words (the
    questions, their keys, the CV's source names) and without our suggestions, which name
    the technologies visitors asked about (a visitor may well ask about DynamoDB)."""
    shown = re.sub(r"<[^>]+>", " ", shown)
    visitors = {source for source in figures.unused_sources}
    for theme in figures.themes:
        visitors |= {theme.theme, theme.key, *(member.query for member in theme.members)}
    visitors |= {gap.suggestion for gap in figures.cv_gaps}
    for text in sorted(visitors, key=len, reverse=True):
        shown = shown.replace(text, " ")
    return shown


def assert_owners_voice(figures: WeeklyFigures, *parts: str) -> None:
    """No operator word (pipeline health, storage, tools) in the e-mail's own words."""
    for part in parts:
        said = our_words(part, figures)
        assert not OPERATOR.search(said), OPERATOR.findall(said)


def _theme(key: str, label: str, intent: str, count: int, well: int) -> dict[str, Any]:
    return {
        "theme": label,
        "intent": intent,
        "key": key,
        "count": count,
        "answered_well": well,
        "members": [{"query": label, "count": count, "sessions": count}],
    }


def _summary(week: str, themes: list[dict[str, Any]], weak: tuple[str, ...] = ()) -> StoredSummary:
    """A stored week; its gaps are the themes mostly not answered well (not_answered)
    and the ``weak`` keys (mostly answered only in part: not answered well either)."""
    total = sum(theme["count"] for theme in themes)
    gaps = [
        StoredGap(
            key=t["key"], theme=t["theme"], asked=t["count"], answered_well=t["answered_well"]
        )
        for t in themes
        if 2 * t["answered_well"] <= t["count"] or t["key"] in weak
    ]
    return StoredSummary(
        week=week,
        total_queries=total,
        match_rate=0.8,
        p95_total_time_ms=1000.0,
        intents={"skills": total},
        themes=themes,
        top_sources=["Python"],
        gaps=gaps,
    )


HISTORY = {
    "2025-W44": _summary("2025-W44", [_theme(*REMOTE, 3, 0)]),
    "2025-W45": _summary(
        "2025-W45", [_theme(*KAFKA, 7, 2), _theme(*FORTRAN, 4, 0), _theme(*REMOTE, 3, 3)]
    ),
    "2025-W46": _summary(
        "2025-W46",
        [_theme(*KAFKA, 7, 2), _theme(*FORTRAN, 4, 0), _theme(*PYTHON, 4, 1)],
        weak=(PYTHON[0],),
    ),
}
DISMISSED = Feedback.of(
    [owner_word("compensation:pay", "dismiss", note="I will not state a salary")]
)


def owner_week(history: dict[str, StoredSummary] | None = None) -> WeeklyFigures:
    """2025-W47 with a fixed, an open, a reopened, new and a dismissed gap, and 2 leads."""
    events = []
    n = 0
    for text, match, times in ASKED:
        for _ in range(times):
            rid, at = f"r{n:03d}", f"2025-11-{17 + n % 7:02d}T10:{n % 60:02d}:00"
            events.append(query(rid, at, text, session=f"s{n}"))
            if match is not None:
                events.append(response(rid, at, match, 50, ["Python"]))
            n += 1
    previous = HISTORY if history is None else history
    return weekly_figures(WEEK, records_of(*events), 20, previous, feedback=DISMISSED)


@pytest.fixture(scope="module")
def figures() -> WeeklyFigures:
    return owner_week()


@pytest.fixture(scope="module")
def parts(figures: WeeklyFigures) -> dict[str, str]:
    return {"html": render_html(figures, LEADS), "text": render_text(figures, LEADS)}


def test_the_hand_made_week_has_every_state_and_a_dismissal(figures: WeeklyFigures) -> None:
    assert [(e.key, e.state, e.since, e.dismissed) for e in figures.gap_followup] == [
        ("skills:kafka", "fixed", "2025-W47", False),
        ("skills:python", "fixed", "2025-W47", False),
        ("skills:fortran", "open", "2025-W45", False),
        ("availability:remote", "reopened", "2025-W47", False),
        ("skills:cobol", "new", "2025-W47", False),
        ("compensation:pay", "new", "2025-W47", True),
    ]
    # the visitors who left details are leads, never a gap
    assert not any(gap.key == "contact:left-details" for gap in figures.cv_gaps)
    kafka = next(t for t in figures.themes if t.key == "skills:kafka")
    assert (kafka.count, len(kafka.members)) == (6, 2)


# --- the subject --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monday", "written"),
    [
        ("2026-11-23T00:00:00Z", "23\u201329 Nov"),
        ("2026-06-01T00:00:00Z", "1\u20137 Jun"),
        ("2022-11-28T00:00:00Z", "28 Nov \u2013 4 Dec"),
        ("2026-08-31T00:00:00Z", "31 Aug \u2013 6 Sep"),
        ("2025-12-29T00:00:00Z", "29 Dec 2025 \u2013 4 Jan 2026"),
        ("2020-12-28T00:00:00Z", "28 Dec 2020 \u2013 3 Jan 2021"),
    ],
)
def test_the_subject_writes_the_week_as_a_person_does(monday: str, written: str) -> None:
    assert headline_period(monday) == written


def test_the_subject_is_the_spec_headline() -> None:
    figures = owner_week().model_copy(
        update={
            "period_start": "2026-11-23T00:00:00Z",
            "total_queries": 298,
            "contact_requests": ContactRequests(count=9, left_details=5),
        }
    )
    # cobol new, remote back again: 2; the dismissed day rate is not, nor the left details
    # (leads, never a gap)
    assert subject(figures) == "Your CV, 23\u201329 Nov: 298 questions, 2 new gaps, 5 leads"


def test_a_part_that_is_zero_is_left_out_except_the_questions(figures: WeeklyFigures) -> None:
    assert subject(figures) == "Your CV, 17\u201323 Nov: 28 questions, 2 new gaps, 2 leads"
    quiet = figures.model_copy(
        update={
            "total_queries": 0,
            "gap_followup": [e for e in figures.gap_followup if e.state in ("fixed", "open")],
            "contact_requests": ContactRequests(count=0, left_details=0),
        }
    )
    assert subject(quiet) == "Your CV, 17\u201323 Nov: 0 questions"
    one = figures.model_copy(
        update={
            "total_queries": 1,
            "gap_followup": [e for e in figures.gap_followup if e.key == "skills:cobol"],
            "contact_requests": ContactRequests(count=1, left_details=1),
        }
    )
    assert subject(one) == "Your CV, 17\u201323 Nov: 1 question, 1 new gap, 1 lead"
    # every subject starts the same, for the owner's mail rules; the text part says it first
    assert render_text(figures, LEADS).startswith(subject(figures) + "\n")


# --- the order ------------------------------------------------------------------------------


@pytest.mark.parametrize("part", ["text", "html"])
def test_the_email_follows_the_owners_order(parts: dict[str, str], part: str) -> None:
    shown = parts[part].replace("&ldquo;", "\u201c").replace("&rdquo;", "\u201d")
    headings = {
        "text": [
            "WHAT YOUR CHANGES FIXED",
            "STILL OPEN",
            "NEW GAPS",
            "LEADS",
            "UNUSUAL THIS WEEK",
            "WHAT VISITORS WANTED",
            "THE QUESTIONS, GROUPED",
            "LAST 8 WEEKS",
            "Dismissed: ",
        ],
        "html": [
            ">What your changes fixed<",
            ">Still open<",
            ">New gaps<",
            ">Leads<",
            ">Unusual this week<",
            ">What visitors wanted<",
            ">The questions, grouped<",
            ">Last 8 weeks<",
            "Dismissed: ",
        ],
    }[part]
    positions = [shown.find(heading) for heading in headings]
    assert -1 not in positions, [h for h, p in zip(headings, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    # still open: the oldest first (open since W45 before back again this week)
    still_open = shown[positions[1] : positions[2]]
    assert still_open.index("does he know fortran?") < still_open.index("open to remote work?")
    new = shown[positions[2] : positions[3]]
    assert "does he know cobol?" in new and "email me at [email] about a role" not in new
    # the dismissed gaps are the very end: one line, nothing after it but the page's end
    tail = shown[positions[-1] :]
    assert "day rate" in tail and tail.count("Dismissed") == 1
    if part == "text":
        assert tail.strip().count("\n") == 0


def test_a_dismissed_gap_is_out_of_the_advice_and_in_one_line_with_its_note(
    parts: dict[str, str],
) -> None:
    for part, shown in parts.items():
        shown = shown.replace("&ldquo;", "\u201c").replace("&rdquo;", "\u201d")
        advice = shown.split("LEADS" if part == "text" else ">Leads<")[0]
        assert "day rate" not in advice and "compensation:pay" not in advice, part
        assert (
            "Dismissed: \u201cwhat is his day rate?\u201d (compensation:pay): "
            "I will not state a salary." in shown
        ), part


def test_a_fixed_gap_shows_its_before_and_after(parts: dict[str, str]) -> None:
    for part, shown in parts.items():
        fixed = shown.split("STILL OPEN" if part == "text" else ">Still open<")[0]
        assert "does he know kafka?" in fixed and "skills:kafka" in fixed, part
        assert "2 of 7 answered well in 2025-W46, 6 of 6 in 2025-W47" in fixed, part
        # a gap answered weakly before: its before counts full answers only, as everywhere
        assert "1 of 4 answered well in 2025-W46, 3 of 3 in 2025-W47" in fixed, part
        assert "Suggestion" not in fixed and "State your level" not in fixed, part
    text = parts["text"]
    assert "  open since 2025-W45\n" in text
    assert "  back again (fixed in 2025-W45)\n" in text


def test_every_gap_shows_its_key_small_and_copyable(
    figures: WeeklyFigures, parts: dict[str, str]
) -> None:
    for entry in figures.gap_followup:
        assert f"  key: {entry.key}\n" in parts["text"] or entry.dismissed, entry.key
        assert entry.key in parts["text"]
        if not entry.dismissed:
            assert re.search(
                r'<span class="key" style="[^"]*user-select: all[^"]*">'
                + re.escape(entry.key)
                + "</span>",
                parts["html"],
            ), entry.key
    assert "owner-feedback form" in parts["text"] and "owner-feedback form" in parts["html"]


# --- one verdict per theme, one count per question -----------------------------------------


VERDICT_LINE = re.compile(
    r"^\s+((?:not answered: [\d,]+ of [\d,]+ answered well)"
    r"|(?:answered weakly: [\d,]+ of [\d,]+ answered well, [\d,]+ only in part)"
    r"|(?:[\d,]+ of [\d,]+ answered well))$"
)


def _text_verdicts(text: str) -> dict[str, list[str]]:
    """Per quoted or listed question of the text part, the verdict lines under it."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        gap = re.match(r'^- "(.*)"$', line)
        theme = re.match(r"^ +[\d,]+  (.*?)( \[NEW\])?$", line)
        if gap or theme:
            current = (gap or theme).group(1)  # type: ignore[union-attr]
        elif VERDICT_LINE.match(line):
            found.setdefault(current, []).append(line.strip())
    return found


def test_one_verdict_per_theme_everywhere(figures: WeeklyFigures, parts: dict[str, str]) -> None:
    verdicts = _text_verdicts(parts["text"])
    for theme in figures.themes:
        said = verdicts[theme.theme]
        # the themes list says it once, a gap entry once more: the same words each time
        assert len(set(said)) == 1, (theme.theme, said)
        assert said[0].startswith(("not answered", "answered weakly")) == (
            verdict(theme) != "answered well"
        )
        kind = theme_gap_kind(theme)
        if theme.count >= 2 and theme.key != LEADS_KEY:  # the verdict is the gap's rule
            expected = {None: "answered well", "weak": "answered weakly"}.get(kind, "not answered")
            assert verdict(theme) == expected, theme.theme
        assert f"{theme.match_counts.full} of {theme.count}" in said[0]
    gaps = [e for e in figures.gap_followup if not e.dismissed and e.state != "fixed"]
    assert sum(len(v) for v in verdicts.values()) == len(figures.themes) + len(gaps)
    # a theme asked once is too rare to be a gap, but its verdict is its answer's
    assert verdicts["does he know react?"] == [
        "answered weakly: 0 of 1 answered well, 1 only in part"
    ]
    # the HTML says the same: one verdict span per theme row and per open or new gap
    spans = re.findall(r'class="verdict verdict-(well|weak|none)"[^>]*>([^<]*)<', parts["html"])
    assert len(spans) == len(figures.themes) + len(gaps)
    shown = {text for _, text in spans}
    assert shown == {v[0] for v in verdicts.values()}


def test_every_count_is_a_themes_count(figures: WeeklyFigures, parts: dict[str, str]) -> None:
    text = parts["text"]
    listed = re.findall(r"^ +([\d,]+)  (.*?)(?: \[NEW\])?$", text, flags=re.M)
    themes = {theme.theme: theme.count for theme in figures.themes}
    assert {label: int(count) for count, label in listed} == themes
    # "has he used kafka?" (2) is one wording of Kafka's 6: it is an example, not a count
    assert 'also: "has he used kafka?"' in text
    assert not re.search(r"\b2\b[^\n]*has he used kafka", text)
    for part in parts.values():
        assert "top queries" not in part.lower() and "could not answer" not in part.lower()


# --- the owner's words -------------------------------------------------------------------


def _young_week() -> WeeklyFigures:
    return owner_week({"2025-W46": HISTORY["2025-W46"]})


@pytest.mark.parametrize(
    "week",
    [owner_week, _young_week, lambda: weekly_figures(WEEK, [], 0)],
    ids=["every-state", "young", "empty"],
)
def test_the_email_has_no_operator_vocabulary(week: Any) -> None:
    figures = week()
    for leads in (LEADS, LeadsDelivery(enabled=False), LeadsDelivery(enabled=True)):
        assert_owners_voice(figures, render_text(figures, leads), render_html(figures, leads))
        # nothing of the visitors' was needed to pass: this week's questions name no tool
        shown = re.sub(r"<[^>]+>", " ", render_text(figures, leads) + render_html(figures, leads))
        assert not OPERATOR.search(shown), OPERATOR.findall(shown)


def test_young_history_is_said_in_the_owners_words() -> None:
    text = render_text(_young_week(), LEADS)
    assert "Unusual weeks are spotted once 3 earlier weeks have been reported (so far: 1)." in text


@pytest.mark.parametrize(
    ("left", "leads", "said"),
    [
        (0, LeadsDelivery(True, 0), "No visitor left contact details this week."),
        (
            2,
            LeadsDelivery(True, 2),
            "2 leads: visitors left contact details 2 times this week; both were e-mailed to you.",
        ),
        (
            3,
            LeadsDelivery(True, 0),
            "3 leads: visitors left contact details 3 times this week; none has been "
            "e-mailed to you yet.",
        ),
        (
            5,
            LeadsDelivery(True, 5),
            "5 leads: visitors left contact details 5 times this week; all 5 were e-mailed to you.",
        ),
        (
            1,
            LeadsDelivery(True, 1),
            "1 lead: a visitor left contact details this week; it was e-mailed to you.",
        ),
        (
            5,
            LeadsDelivery(True, 3),
            "5 leads: visitors left contact details 5 times this "
            "week; 3 of them were e-mailed to you so far.",
        ),
        (
            5,
            LeadsDelivery(False),
            "5 leads: visitors left contact details 5 times this week; delivery of leads is off.",
        ),
        (
            5,
            LeadsDelivery(True, None),
            "5 leads: visitors left contact details 5 times this "
            "week; whether they were e-mailed to you could not be checked.",
        ),
    ],
)
def test_the_leads_line(left: int, leads: LeadsDelivery, said: str) -> None:
    assert leads_line(left, leads) == said


def test_a_long_list_of_gaps_is_cut_and_counted(figures: WeeklyFigures) -> None:
    cobol = next(e for e in figures.gap_followup if e.key == "skills:cobol")
    many = [
        GapFollowup(**(cobol.model_dump() | {"key": f"skills:lang{n}", "theme": f"lang {n}?"}))
        for n in range(EMAIL_GAPS + 3)
    ]
    text = render_text(figures.model_copy(update={"gap_followup": many}), LEADS)
    assert "And 3 more new." in text
    assert text.count("  key: skills:lang") == EMAIL_GAPS
    assert "Your CV, 17\u201323 Nov: 28 questions, 13 new gaps, 2 leads" in text


def test_the_operators_artifacts_name_keys_verdicts_states_and_health(
    figures: WeeklyFigures,
) -> None:
    rows = {row["key"]: row for row in themes_table(figures)}
    assert {k: (r["verdict"], r["gap_state"], r["dismissed"]) for k, r in rows.items()} == {
        markdown_escape(theme.key): (
            verdict(theme),
            next((e.state for e in figures.gap_followup if e.key == theme.key), ""),
            theme.key == "compensation:pay",
        )
        for theme in figures.themes
    }
    assert rows[markdown_escape("skills:kafka")]["gap_state"] == "fixed"
    markdown = render_markdown(figures, pipeline_health(figures, 3, 7), LEADS)
    assert f"E-mail subject: {markdown_escape(subject(figures))}" in markdown
    assert "| DLQ depth at report time | 7 |" in markdown and "leads delivered: 2" in markdown
