"""The owner's word (report-insights.md section 9): checked, kept in force, applied.

Validation refuses a bad word with a message naming the field and what is expected;
``join`` regroups the week's themes before gaps are judged (counts added, members merged in
the spec's order, the label re-chosen); ``dismiss`` marks gaps; ``undo`` takes either back.
"""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.shared.weeks import Week
from tasks.core.aggregate import weekly_figures
from tasks.core.feedback import (
    KEY_LIMIT,
    Feedback,
    FeedbackError,
    OwnerWord,
    apply_joins,
    key_of,
    owner_word,
)
from tasks.core.themes import Member, Theme
from tests.conftest import query, records_of, response

WEEK = Week(2025, 45)


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("theme", "action", "into", "note", "message"),
    [
        ("", "dismiss", "", "", "theme: a theme key is required, e.g. compensation:pay"),
        ("pay", "dismiss", "", "", "theme: a theme key is intent:topic"),
        ("salary:pay", "dismiss", "", "", "theme: a theme key starts with one of contact, "),
        ("skills:", "dismiss", "", "", "theme: a theme key is intent:topic"),
        ("skills:   ", "dismiss", "", "", "has no ':' followed by a topic"),
        ("skills:" + "k" * KEY_LIMIT, "dismiss", "", "", "at most 300 characters, got 307"),
        ("skills:ka\nfka", "dismiss", "", "", "one line of text"),
        ("skills:kafka", "remove", "", "", "action: one of dismiss, join, undo, got 'remove'"),
        ("skills:kafka", "join", "", "", "into: a theme key is required"),
        ("skills:kafka", "join", "kafka", "", "into: a theme key is intent:topic"),
        ("skills:kafka", "join", " skills:kafka ", "", "cannot be joined into itself"),
        ("skills:kafka", "dismiss", "skills:java", "", "into: only a join takes a key"),
        ("skills:kafka", "undo", "skills:java", "", "into: only a join takes a key"),
        ("skills:kafka", "dismiss", "", "x" * 301, "note: at most 300 characters, got 301"),
        ("skills:kafka", "dismiss", "", "a\x00b", "note: one line of text"),
    ],
)
def test_a_bad_word_is_refused_with_what_is_expected(
    theme: str, action: str, into: str, note: str, message: str
) -> None:
    with pytest.raises(FeedbackError, match=message.replace("(", r"\(").replace("?", r"\?")):
        owner_word(theme, action, into, note)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(FeedbackError) as refused:
        owner_word("pay", "join", "", "x" * 400)
    problems = str(refused.value).split("; ")
    assert [problem.split(":")[0] for problem in problems] == ["theme", "into", "note"]


def test_a_good_word_is_taken_as_written_give_or_take_blanks() -> None:
    word = owner_word("  compensation:pay ", "dismiss", "", "  I will not\n state a  salary ")
    assert word == OwnerWord(
        theme="compensation:pay", action="dismiss", note="I will not state a salary"
    )
    assert owner_word("skills:helm", "join", "skills:kubernetes").into == "skills:kubernetes"
    # a key of an unknown question and one of named technologies are keys too
    assert owner_word("other:~can he fly a plane?", "dismiss").theme == "other:~can he fly a plane?"
    assert owner_word("skills:language:german", "undo").theme == "skills:language:german"
    # a note of exactly 300 characters, whitespace aside
    assert len(owner_word("skills:kafka", "dismiss", "", " " + "n" * 300 + " ").note) == 300


def test_a_long_key_is_the_cut_key_every_surface_shows() -> None:
    long_key = "other:~" + "why " * 100
    shown = key_of(long_key)
    assert len(shown) == KEY_LIMIT and shown.endswith("\u2026")
    word = owner_word(shown, "dismiss")
    assert Feedback.of([word]).dismissed(long_key) == word


# --- in force -----------------------------------------------------------------------------


def test_the_latest_word_on_a_key_is_in_force_and_undo_takes_it_back() -> None:
    dismiss = owner_word("compensation:pay", "dismiss", note="no salary")
    join = owner_word("compensation:pay", "join", "availability:employment-type")
    undo = owner_word("compensation:pay", "undo")
    assert Feedback.of([dismiss]).dismissals == {"compensation:pay": "no salary"}
    assert Feedback.of([dismiss, join]).dismissals == {}
    assert Feedback.of([dismiss, join]).join_targets() == {
        "compensation:pay": "availability:employment-type"
    }
    assert Feedback.of([dismiss, undo]).words == {}
    assert Feedback.of([dismiss]).after(undo) == Feedback()


def test_refused_against_what_is_in_force() -> None:
    nothing = Feedback()
    undo = owner_word("skills:kafka", "undo")
    assert "nothing to undo" in (nothing.refusal(undo) or "")
    assert Feedback.of([owner_word("skills:kafka", "dismiss")]).refusal(undo) is None
    # a join that would make a loop, directly or through a chain
    chain = Feedback.of(
        [owner_word("skills:a", "join", "skills:b"), owner_word("skills:b", "join", "skills:c")]
    )
    assert "loop" in (chain.refusal(owner_word("skills:c", "join", "skills:a")) or "")
    assert chain.refusal(owner_word("skills:c", "join", "skills:d")) is None
    assert chain.join_targets() == {"skills:a": "skills:c", "skills:b": "skills:c"}


def test_a_loop_in_stored_words_leaves_its_keys_unjoined() -> None:
    # two runs at once could store one; the report must still be made
    loop = Feedback.of(
        [
            owner_word("skills:a", "join", "skills:b"),
            owner_word("skills:b", "join", "skills:a"),
            owner_word("skills:c", "join", "skills:a"),
        ]
    )
    assert loop.join_targets() == {}


# --- joins applied to themes ----------------------------------------------------------------


def theme(key: str, *members: tuple[str, int, int]) -> Theme:
    shown = tuple(Member(q, count, sessions) for q, count, sessions in members)
    return Theme(
        theme=shown[0].query,
        intent=key.split(":")[0],
        count=sum(m.count for m in shown),
        members=shown,
        key=key,
    )


def test_a_join_adds_counts_merges_members_in_the_spec_order_and_rechooses_the_label() -> None:
    helm = theme("skills:helm", ("does he know helm?", 5, 3), ("helm?", 1, 1))
    k8s = theme("skills:kubernetes", ("k8s?", 4, 2), ("kubernetes experience?", 2, 2))
    kafka = theme("skills:kafka", ("does he know kafka?", 7, 7))
    feedback = Feedback.of([owner_word("skills:helm", "join", "skills:kubernetes")])

    joined = apply_joins([kafka, helm, k8s], feedback)

    assert [(t.key, t.count) for t in joined] == [("skills:kubernetes", 12), ("skills:kafka", 7)]
    merged = joined[0]
    # sessions descending, then count descending, then text: helm's 3 sessions lead
    assert [(m.query, m.count, m.sessions) for m in merged.members] == [
        ("does he know helm?", 5, 3),
        ("k8s?", 4, 2),
        ("kubernetes experience?", 2, 2),
        ("helm?", 1, 1),
    ]
    assert (merged.theme, merged.intent) == ("does he know helm?", "skills")
    # no join in force: the themes as they were
    assert apply_joins([kafka, helm, k8s], Feedback()) == [kafka, helm, k8s]
    assert apply_joins([kafka, helm, k8s], None) == [kafka, helm, k8s]


def test_a_join_into_a_key_not_asked_this_week_takes_that_key_and_its_intent() -> None:
    rate = theme("availability:~what is your rate", ("what is your rate", 2, 2))
    feedback = Feedback.of([owner_word(rate.key, "join", "compensation:pay")])
    (joined,) = apply_joins([rate], feedback)
    assert (joined.key, joined.intent, joined.count) == ("compensation:pay", "compensation", 2)


def request(rid: str, text: str, match: str | None) -> list[dict[str, Any]]:
    at = f"2025-11-05T10:{int(rid[1:]):02d}:00"
    events = [query(rid, at, text, session=f"s-{rid}")]
    if match is not None:
        events.append(response(rid, at.replace(":00", ":30", 1), match, 20))
    return events


def week_records() -> list[dict[str, Any]]:
    events = request("r1", "does he know helm?", "none")
    events += request("r2", "does he know k8s?", None)
    events += request("r3", "does he know kafka?", "full")
    events += request("r4", "does he know kafka?", "full")
    return records_of(*events)


def test_through_the_figures_a_join_comes_before_the_gaps() -> None:
    # asked once each, neither is a gap; joined, the one question asked twice is
    plain = weekly_figures(WEEK, week_records(), None)
    assert {t.key for t in plain.themes} == {"skills:helm", "skills:kubernetes", "skills:kafka"}
    assert plain.cv_gaps == [] and plain.gap_followup == []

    feedback = Feedback.of([owner_word("skills:helm", "join", "skills:kubernetes")])
    joined = weekly_figures(WEEK, week_records(), None, feedback=feedback)

    by_key = {t.key: t for t in joined.themes}
    assert set(by_key) == {"skills:kubernetes", "skills:kafka"}
    k8s = by_key["skills:kubernetes"]
    assert (k8s.count, k8s.sessions, k8s.answered) == (2, 2, 1)
    assert [m.query for m in k8s.members] == ["does he know helm?", "does he know k8s?"]
    assert k8s.theme == "does he know helm?"
    assert [(g.key, g.kind, g.asked, g.state) for g in joined.cv_gaps] == [
        ("skills:kubernetes", "not_answered", 2, "new")
    ]
    # the figures of report-metrics.md and the intents are not the owner's to change
    for key in ("total_queries", "top_queries", "intents", "contact_requests"):
        assert getattr(joined, key) == getattr(plain, key), key


def test_dismiss_and_undo_through_the_figures() -> None:
    records = records_of(*request("r1", "does he know helm?", None), *request("r2", "helm?", None))
    dismissed = Feedback.of([owner_word("skills:helm", "dismiss", note="not for me")])
    figures = weekly_figures(WEEK, records, None, feedback=dismissed)
    assert [(g.key, g.dismissed) for g in figures.cv_gaps] == [("skills:helm", True)]
    assert [(e.key, e.dismissed, e.note) for e in figures.gap_followup] == [
        ("skills:helm", True, "not for me")
    ]
    undone = dismissed.after(owner_word("skills:helm", "undo"))
    again = weekly_figures(WEEK, records, None, feedback=undone)
    assert again == weekly_figures(WEEK, records, None)
    assert [(g.key, g.dismissed) for g in again.cv_gaps] == [("skills:helm", False)]
