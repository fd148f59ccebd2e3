"""The owner's word through the ``owner-feedback`` flow, honoured by the weekly report and
by a regeneration (report-insights.md section 9).

The sample's 2025-W46 has ``compensation:pay`` as a gap (8 asked, none answered well), and
``skills:cobol`` and ``skills:fortran`` as two gaps the owner may call one question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect.exceptions import ParameterTypeError

from deployments.local_stack import StackInfo
from flows.owner_feedback import OwnerWordRefusedError, in_force_markdown, owner_feedback
from flows.report_regeneration import report_regeneration
from flows.weekly_report import weekly_report
from lambdas.shared.weeks import Week
from tasks.aws import aws_client
from tasks.core.aggregate import WeeklyFigures
from tasks.core.feedback import Feedback, owner_word
from tasks.dynamodb.feedback import current_feedback, word_history
from tests.conftest import alerts_received, store_sample, subscribe_alarm_inbox
from tests.flows.test_weekly_report import artifact_data

W46 = Week(2025, 46)
PAY = "compensation:pay"


@pytest.fixture(autouse=True)
def report_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


def items(table: str) -> list[dict[str, Any]]:
    return list(aws_client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"])


def gap_marks(figures: WeeklyFigures) -> dict[str, tuple[bool, str]]:
    return {e.key: (e.dismissed, e.state) for e in figures.gap_followup}


def test_dismiss_undo_and_join_through_the_flow_honoured_by_reports_and_regeneration(
    aws: StackInfo,
) -> None:
    store_sample(aws)
    table = aws.settings.feedback_table

    # dismiss: stored, shown in force, and the weekly report marks the gap dismissed
    result = owner_feedback(theme=PAY, action="dismiss", note="I will *not* state a salary")
    assert result.stored and result.in_force.dismissals == {PAY: "I will *not* state a salary"}
    figures = weekly_report(W46.id)
    assert gap_marks(figures)[PAY][0] is True
    assert [g.key for g in figures.cv_gaps if g.dismissed] == [PAY]

    # undo: the regeneration of the same week shows the gap as a gap again
    assert owner_feedback(theme=PAY, action="undo").in_force == Feedback()
    regenerated = report_regeneration(W46.id)
    assert gap_marks(regenerated)[PAY][0] is False
    assert [g.dismissed for g in regenerated.cv_gaps if g.key == PAY] == [False]

    # join: cobol is fortran's question; every later report groups them
    before = {t.key: t.count for t in regenerated.themes}
    owner_feedback(theme="skills:cobol", action="join", into="skills:fortran", note="legacy")
    joined = report_regeneration(W46.id)
    counts = {t.key: t.count for t in joined.themes}
    assert "skills:cobol" not in counts
    assert counts["skills:fortran"] == before["skills:fortran"] + before["skills:cobol"]
    fortran = next(t for t in joined.themes if t.key == "skills:fortran")
    assert {m.query for m in fortran.members} >= {"has he worked with cobol?"}
    assert [g.asked for g in joined.cv_gaps if g.key == "skills:fortran"] == [
        counts["skills:fortran"]
    ]

    # the table keeps one item per key, the earlier words in it
    assert sorted(i["theme"]["S"] for i in items(table)) == [PAY, "skills:cobol"]
    assert [w.action for w in word_history(table, PAY)] == ["undo", "dismiss"]
    assert current_feedback(table).join_targets() == {"skills:cobol": "skills:fortran"}


def test_the_artifact_says_what_is_in_force_in_the_owners_words_escaped(aws: StackInfo) -> None:
    owner_feedback(theme=PAY, action="dismiss", note="see [my site](http://x.example) <b>no</b>")
    shown = artifact_data("owner-feedback-try01-1-in-force")
    assert "compensation\\:pay" in shown
    assert "[my site](" not in shown and "<b>" not in shown and "&lt;b&gt;" in shown
    # a plain function renders it: the same text for the same words
    word = owner_word(PAY, "dismiss", note="see [my site](http://x.example) <b>no</b>")
    expected = in_force_markdown(word, True, Feedback.of([word]))
    assert shown.split("|")[0] == expected.split("|")[0]


@pytest.mark.parametrize(
    ("parameters", "why"),
    [
        ({"theme": "pay", "action": "dismiss"}, "theme: a theme key is intent:topic"),
        ({"theme": "salary:pay", "action": "dismiss"}, "a theme key starts with one of"),
        ({"theme": PAY, "action": "remove"}, "action"),
    ],
)
def test_a_bad_key_is_refused_by_the_parameters_before_any_write(
    aws: StackInfo, parameters: dict[str, Any], why: str
) -> None:
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    with pytest.raises(ParameterTypeError, match=why):
        owner_feedback(**parameters)
    assert items(aws.settings.feedback_table) == []
    assert alerts_received(inbox) == []


@pytest.mark.parametrize(
    ("parameters", "why"),
    [
        ({"theme": PAY, "action": "join"}, "into: a theme key is required"),
        ({"theme": PAY, "action": "join", "into": PAY}, "cannot be joined into itself"),
        ({"theme": PAY, "action": "dismiss", "into": "skills:java"}, "only a join takes"),
        ({"theme": PAY, "action": "dismiss", "note": "n" * 301}, "note: at most 300"),
        ({"theme": PAY, "action": "undo"}, "nothing to undo"),
    ],
)
def test_a_bad_word_ends_the_run_failed_with_the_reason_nothing_stored_nobody_paged(
    aws: StackInfo, parameters: dict[str, Any], why: str
) -> None:
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    state = owner_feedback(**parameters, return_state=True)
    assert state.is_failed() and why in (state.message or "")
    assert "Refused, nothing stored" in (state.message or "")
    with pytest.raises(OwnerWordRefusedError, match=why):
        state.result()
    assert items(aws.settings.feedback_table) == []
    assert alerts_received(inbox) == []


def test_a_join_back_into_a_joined_key_is_refused_as_a_loop(aws: StackInfo) -> None:
    owner_feedback(theme="skills:cobol", action="join", into="skills:fortran")
    state = owner_feedback(
        theme="skills:fortran", action="join", into="skills:cobol", return_state=True
    )
    assert state.is_failed() and "loop" in (state.message or "")
    assert [i["theme"]["S"] for i in items(aws.settings.feedback_table)] == ["skills:cobol"]
