"""Gaps followed across weeks (report-insights.md section 8), over a hand-made history.

Each week below is a stored summary written by hand: per key, how often it was asked,
how many of those were answered well, and whether it was a gap. The states, weeks and
before/after figures expected were worked out from the spec's table by hand. The last
tests go through ``weekly_figures`` and ``stored_summary``: real records, week after week.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.weeks import Week
from tasks.core.aggregate import stored_summary, weekly_figures
from tasks.core.feedback import Feedback, owner_word
from tasks.core.gap_history import (
    GAP_MIN_REQUESTS,
    GapFollowup,
    GapWeek,
    StoredGap,
    ThemeOutcome,
    follow_gaps,
)
from tasks.core.insights import StoredSummary
from tests.conftest import query, records_of, response

THIS_WEEK = "2025-W47"

#: per week: key -> (asked, answered_well, a gap there)
Week_ = dict[str, tuple[int, int, bool]]


def stored(week: str, keys: Week_, omitted_gaps: int = 0, with_gaps: bool = True) -> StoredSummary:
    """A stored summary holding ``keys`` as themes (and the gap ones as gaps)."""
    themes = [
        {"theme": f"q {key}", "intent": key.split(":")[0], "key": key, "count": asked,
         "answered_well": well, "members": [{"query": f"q {key}", "count": asked}]}
        for key, (asked, well, _) in keys.items()
    ]  # fmt: skip
    gaps = [
        StoredGap(key=key, theme=f"q {key}", asked=asked, answered_well=well)
        for key, (asked, well, gap) in keys.items()
        if gap
    ]
    return StoredSummary(
        week=week,
        total_queries=sum(asked for asked, _, _ in keys.values()),
        themes=themes,
        gaps=gaps if with_gaps else None,
        omitted_gaps=omitted_gaps,
    )


def now(keys: Week_) -> list[ThemeOutcome]:
    return [
        ThemeOutcome(key=key, theme=f"now {key}", asked=asked, answered_well=well, gap=gap)
        for key, (asked, well, gap) in keys.items()
    ]


def ranked(keys: Week_) -> list[str]:
    return [key for key, (_, _, gap) in keys.items() if gap]


def follow(this_week: Week_, *weeks: StoredSummary, **kwargs: Any) -> dict[str, GapFollowup]:
    entries = follow_gaps(THIS_WEEK, now(this_week), ranked(this_week), list(weeks), **kwargs)
    return {entry.key: entry for entry in entries}


#: The hand-made history: 2025-W39 .. 2025-W46 (W41 has no stored summary).
HISTORY = [
    stored("2025-W39", {"skills:rust": (3, 0, True)}),
    stored("2025-W40", {"skills:rust": (2, 2, False), "skills:kafka": (4, 1, True)}),
    # 2025-W41: no stored summary
    stored(
        "2025-W42",
        {
            "skills:kafka": (3, 3, False),
            "compensation:pay": (5, 0, True),
            "skills:go": (1, 0, True),
        },
    ),
    stored("2025-W43", {"compensation:pay": (4, 0, True), "skills:go": (2, 0, True)}),
    stored("2025-W44", {"compensation:pay": (1, 0, False), "skills:rust": (4, 4, False)}),
    stored(
        "2025-W45",
        {
            "compensation:pay": (6, 1, True),
            "skills:kafka": (7, 2, True),
            "skills:go": (3, 3, False),
        },
    ),
    stored("2025-W46", {"skills:kafka": (1, 1, False), "skills:java": (2, 2, False)}),
]
NOW: Week_ = {
    "compensation:pay": (8, 0, True),  # gap W42, W43, (W44 asked once: skipped), W45, now
    "skills:kafka": (6, 6, False),  # gap W45 (W46 asked once: skipped), answered well now
    "skills:rust": (5, 1, True),  # gap W39, fixed W40, fine W44, a gap again now
    "skills:go": (3, 0, True),  # W42 asked once; gap W43; fine W45; a gap again now
    "skills:java": (4, 0, True),  # asked in W46, never a gap before
    "skills:python": (9, 9, False),  # never a gap: no state
}


def test_each_state_with_its_weeks_and_figures() -> None:
    found = follow(NOW, *HISTORY)

    assert set(found) == {
        "compensation:pay",
        "skills:kafka",
        "skills:rust",
        "skills:go",
        "skills:java",
    }
    pay = found["compensation:pay"]
    # open for 3 weeks with evidence before this one: W42, W43 and W45 (W44 is skipped)
    assert (pay.state, pay.since) == ("open", "2025-W42")
    assert pay.before == GapWeek(week="2025-W42", asked=5, answered_well=0)
    assert pay.after == GapWeek(week=THIS_WEEK, asked=8, answered_well=0)

    kafka = found["skills:kafka"]
    # fixed: "2 of 7 answered well in 2025-W45, 6 of 6 in 2025-W47"
    assert (kafka.state, kafka.since) == ("fixed", THIS_WEEK)
    assert kafka.before == GapWeek(week="2025-W45", asked=7, answered_well=2)
    assert kafka.after == GapWeek(week=THIS_WEEK, asked=6, answered_well=6)
    assert kafka.theme == "now skills:kafka"

    rust = found["skills:rust"]
    # back again: fixed in W40 (the first week with evidence after its last gap week)
    assert (rust.state, rust.since) == ("reopened", THIS_WEEK)
    assert rust.before == GapWeek(week="2025-W40", asked=2, answered_well=2)

    go = found["skills:go"]
    assert (go.state, go.before) == ("reopened", GapWeek(week="2025-W45", asked=3, answered_well=3))

    java = found["skills:java"]
    assert (java.state, java.since, java.before) == ("new", THIS_WEEK, None)
    assert not any(entry.dismissed for entry in found.values())


def test_the_order_fixed_then_open_and_reopened_by_their_start_then_new() -> None:
    more = {
        **NOW,
        "skills:scala": (3, 3, False),  # fixed too, asked less than kafka
        "skills:zig": (2, 0, True),  # new, after java in cv_gaps' rank
    }
    w46 = stored("2025-W46", {"skills:scala": (2, 0, True), "skills:java": (2, 2, False)})
    entries = follow_gaps(THIS_WEEK, now(more), ranked(more), [*HISTORY[:-1], w46])
    assert [(e.key, e.state) for e in entries] == [
        ("skills:kafka", "fixed"),
        ("skills:scala", "fixed"),
        ("compensation:pay", "open"),  # since W42
        ("skills:rust", "reopened"),  # since this week; then by cv_gaps' rank
        ("skills:go", "reopened"),
        ("skills:java", "new"),
        ("skills:zig", "new"),
    ]


def test_weeks_without_evidence_neither_break_nor_extend_a_run() -> None:
    # a gap in W44, then W45 without a summary and W46 asked only once: still open
    history = [
        stored("2025-W43", {"skills:kafka": (3, 3, False)}),
        stored("2025-W44", {"skills:kafka": (2, 0, True)}),
        stored("2025-W46", {"skills:kafka": (1, 1, False)}),
    ]
    found = follow({"skills:kafka": (4, 0, True)}, *history)
    assert (found["skills:kafka"].state, found["skills:kafka"].since) == ("open", "2025-W44")
    # ... and fixed against W44 when answered well now
    fixed = follow({"skills:kafka": (4, 4, False)}, *history)["skills:kafka"]
    assert fixed.before == GapWeek(week="2025-W44", asked=2, answered_well=0)


def test_no_state_when_no_row_of_the_table_applies() -> None:
    history = [
        stored("2025-W44", {"skills:a": (3, 0, True), "skills:b": (3, 0, True)}),
        stored("2025-W45", {"skills:a": (3, 3, False), "skills:b": (3, 0, True)}),
        stored("2025-W46", {"skills:c": (3, 0, True), "skills:d": (3, 0, True)}),
    ]
    this_week = {
        "skills:a": (3, 3, False),  # fixed in W45 already: said once, not again
        "skills:c": (1, 1, False),  # asked once now: too little to judge
        # skills:b and skills:d are not asked this week: no evidence now
    }
    assert follow(this_week, *history) == {}


def test_summaries_without_gaps_or_with_capped_gaps_are_no_evidence() -> None:
    # stored before weeks kept their gaps: cannot tell, so the gap is new
    older = stored("2025-W45", {"skills:kafka": (5, 0, True)}, with_gaps=False)
    assert follow({"skills:kafka": (3, 0, True)}, older)["skills:kafka"].state == "new"
    # gaps capped: a theme it does not list as a gap may have been one beyond the cap
    capped = stored("2025-W45", {"skills:kafka": (5, 5, False)}, omitted_gaps=3)
    assert follow({"skills:kafka": (3, 0, True)}, capped)["skills:kafka"].state == "new"
    # while a listed gap is evidence still
    listed = stored("2025-W45", {"skills:kafka": (5, 0, True)}, omitted_gaps=3)
    assert follow({"skills:kafka": (3, 0, True)}, listed)["skills:kafka"].state == "open"


def test_summaries_of_this_week_or_later_are_not_history() -> None:
    later = stored("2025-W48", {"skills:kafka": (5, 0, True)})
    same = stored(THIS_WEEK, {"skills:kafka": (5, 0, True)})
    assert follow({"skills:kafka": (3, 0, True)}, later, same)["skills:kafka"].state == "new"


def test_dismissed_entries_carry_the_owners_note() -> None:
    found = follow(NOW, *HISTORY, dismissals={"compensation:pay": "I will not state a salary"})
    assert found["compensation:pay"].dismissed is True
    assert found["compensation:pay"].note == "I will not state a salary"
    assert (found["skills:java"].dismissed, found["skills:java"].note) == (False, "")


# --- properties ------------------------------------------------------------------------

KEYS = ["skills:a", "skills:b", "skills:c", "compensation:pay"]
week_keys = st.dictionaries(
    st.sampled_from(KEYS),
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.booleans()).map(
        lambda t: (t[0], min(t[0], t[1]), t[2] and t[0] >= GAP_MIN_REQUESTS)
    ),
)


@given(
    history=st.lists(st.one_of(st.none(), week_keys), min_size=8, max_size=8),
    this_week=week_keys,
    seed=st.integers(0, 1000),
)
def test_every_key_gets_at_most_one_state_and_the_same_on_every_run(
    history: list[Week_ | None], this_week: Week_, seed: int
) -> None:
    weeks = [
        stored(Week(2025, 39 + n).id, keys) for n, keys in enumerate(history) if keys is not None
    ]
    first = follow_gaps(THIS_WEEK, now(this_week), ranked(this_week), weeks)
    shuffled = weeks[:]
    random.Random(seed).shuffle(shuffled)
    assert follow_gaps(THIS_WEEK, now(this_week), ranked(this_week), shuffled) == first

    keys = [entry.key for entry in first]
    assert len(keys) == len(set(keys))
    for entry in first:
        asked, _, gap = this_week[entry.key]
        assert asked >= GAP_MIN_REQUESTS and entry.after is not None
        assert (entry.state == "fixed") == (not gap)
        earlier = [
            keys_[entry.key]
            for keys_ in history
            if keys_ is not None and keys_.get(entry.key, (0, 0, False))[0] >= GAP_MIN_REQUESTS
        ]
        if entry.state == "new":
            assert not any(g for _, _, g in earlier)
        if entry.state in ("open", "fixed"):
            assert earlier[-1][2]
        if entry.state == "reopened":
            assert not earlier[-1][2] and any(g for _, _, g in earlier)
    # every gap of this week has a state
    assert {k for k, (_, _, gap) in this_week.items() if gap} <= set(keys)


# --- through weekly_figures: real records, week after week --------------------------------


def kafka_week(week: Week, answered: str | None, asked: int = 3) -> list[dict[str, Any]]:
    """``asked`` Kafka questions in ``week``, answered ``answered`` (None: no response),
    and two Python questions answered in full."""
    day = week.start.date()
    events: list[dict[str, Any]] = []
    for n in range(asked):
        rid = f"{week.id}-k{n}"
        at = f"{day.isoformat()}T10:0{n}:00"
        events.append(query(rid, at, "does he know kafka?", session=f"{rid}-s"))
        if answered is not None:
            events.append(response(rid, at.replace(":00", ":30", 1), answered, 80))
    for n in range(2):
        rid = f"{week.id}-p{n}"
        at = f"{day.isoformat()}T11:0{n}:00"
        events += [query(rid, at, "does he know python?"), response(rid, at, "full", 90)]
    return records_of(*events)


def test_a_gap_opened_then_fixed_through_the_stored_summaries() -> None:
    summaries: dict[str, StoredSummary] = {}
    outcomes = []
    plan = [(Week(2025, 43), "none"), (Week(2025, 44), None), (Week(2025, 45), "full")]
    for week, answered in plan:
        figures = weekly_figures(week, kafka_week(week, answered), None, dict(summaries))
        summaries[week.id] = stored_summary(figures)
        outcomes.append(figures)
    w43, w44, w45 = outcomes

    assert [(g.key, g.state, g.since) for g in w43.cv_gaps] == [("skills:kafka", "new", "2025-W43")]
    assert [(e.key, e.state, e.since) for e in w44.gap_followup] == [
        ("skills:kafka", "open", "2025-W43")
    ]
    assert [(g.key, g.state, g.since) for g in w44.cv_gaps] == [
        ("skills:kafka", "open", "2025-W43")
    ]
    assert w45.cv_gaps == []
    (fixed,) = w45.gap_followup
    assert (fixed.key, fixed.state, fixed.theme) == ("skills:kafka", "fixed", "does he know kafka?")
    assert fixed.before == GapWeek(week="2025-W44", asked=3, answered_well=0)
    assert fixed.after == GapWeek(week="2025-W45", asked=3, answered_well=3)
    # what the stored summaries keep for it
    assert summaries["2025-W44"].gaps == [
        StoredGap(key="skills:kafka", theme="does he know kafka?", asked=3, answered_well=0)
    ]
    assert summaries["2025-W45"].gaps == []
    assert [t["answered_well"] for t in summaries["2025-W45"].themes or []] == [3, 2]


def test_a_dismissed_gap_is_marked_in_its_place() -> None:
    week = Week(2025, 45)
    records = kafka_week(week, "none", asked=4)
    records += records_of(
        query("c1", "2025-11-04T10:00:00", "what is his day rate?", session="x"),
        query("c2", "2025-11-04T10:01:00", "what is his day rate?", session="y"),
    )
    feedback = Feedback.of([owner_word("skills:kafka", "dismiss", note="not my field")])
    figures = weekly_figures(week, records, None, feedback=feedback)
    # section 3's order (kafka: 4 sessions short), the owner's word marked
    assert [(g.key, g.dismissed) for g in figures.cv_gaps] == [
        ("skills:kafka", True),
        ("compensation:pay", False),
    ]
    marked = {e.key: (e.dismissed, e.note) for e in figures.gap_followup}
    assert marked == {"compensation:pay": (False, ""), "skills:kafka": (True, "not my field")}
    # and nothing else differs from the week without the word
    plain = weekly_figures(week, records, None)
    assert not any(g.dismissed for g in plain.cv_gaps)
    unmarked = figures.model_copy(
        update={
            "cv_gaps": [g.model_copy(update={"dismissed": False}) for g in figures.cv_gaps],
            "gap_followup": [
                e.model_copy(update={"dismissed": False, "note": ""}) for e in figures.gap_followup
            ],
        }
    )
    assert unmarked == plain
