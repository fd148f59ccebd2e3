"""The feedback table on moto: one item per theme key, its earlier words kept in the item,
conditional writes, a retried write stored once."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from deployments.local_stack import StackInfo
from tasks.aws import aws_client
from tasks.core.feedback import Feedback, owner_word
from tasks.dynamodb import feedback as table_module
from tasks.dynamodb.feedback import (
    HISTORY_LIMIT,
    FeedbackConflictError,
    current_feedback,
    feedback_item,
    record_word,
    word_history,
)
from tests.conftest import client_error


def test_the_table_is_provisioned_from_the_template(aws: StackInfo) -> None:
    described = aws_client("dynamodb").describe_table(TableName=aws.settings.feedback_table)
    assert described["Table"]["KeySchema"] == [{"AttributeName": "theme", "KeyType": "HASH"}]
    assert aws.settings.feedback_table == "cv-analytics-feedback"


def test_words_in_force_and_the_history_kept_in_the_item(aws: StackInfo) -> None:
    table = aws.settings.feedback_table
    assert current_feedback(table) == Feedback()

    dismiss = owner_word("compensation:pay", "dismiss", note="I will not state a salary")
    join = owner_word("skills:helm", "join", "skills:kubernetes")
    assert record_word(table, dismiss, "run-1").stored
    assert record_word(table, join, "run-2").stored
    assert current_feedback(table).dismissals == {"compensation:pay": "I will not state a salary"}
    assert current_feedback(table).join_targets() == {"skills:helm": "skills:kubernetes"}

    undo = owner_word("compensation:pay", "undo")
    recorded = record_word(table, undo, "run-3")
    assert (recorded.stored, recorded.version) == (True, 2)
    assert set(current_feedback(table).words) == {"skills:helm"}
    # the item keeps what it replaced: newest first, each with the time it was given
    history = word_history(table, "compensation:pay")
    assert [(w.action, w.note) for w in history] == [
        ("undo", ""),
        ("dismiss", "I will not state a salary"),
    ]
    assert all(w.at for w in history)


def test_a_retried_write_is_stored_once(aws: StackInfo) -> None:
    table = aws.settings.feedback_table
    word = owner_word("skills:kafka", "dismiss")
    assert record_word(table, word, "run-1").stored
    again = record_word(table, word, "run-1")  # the same run's retry
    assert (again.stored, again.version) == (False, 1)
    assert len(word_history(table, "skills:kafka")) == 1


def test_the_history_is_bounded(aws: StackInfo) -> None:
    table = aws.settings.feedback_table
    for n in range(HISTORY_LIMIT + 5):
        action = "dismiss" if n % 2 == 0 else "undo"
        record_word(table, owner_word("skills:kafka", action, note=f"word {n}"), f"run-{n}")
    history = word_history(table, "skills:kafka")
    assert len(history) == 1 + HISTORY_LIMIT
    assert history[0].note == f"word {HISTORY_LIMIT + 4}"
    item = feedback_item(table, "skills:kafka") or {}
    assert item["version"] == {"N": str(HISTORY_LIMIT + 5)}


def test_a_word_written_in_between_is_kept_and_this_one_goes_on_top(
    aws: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = aws.settings.feedback_table
    record_word(table, owner_word("skills:kafka", "dismiss", note="first"), "run-1")
    real_write = table_module._write
    calls: list[int] = []

    def another_run_writes_first(*args: Any) -> int:
        if not calls:  # between this run's read and its write, another word goes in
            calls.append(1)
            real_write(table, owner_word("skills:kafka", "dismiss", note="other"), "run-2", args[3])
        return real_write(*args)

    monkeypatch.setattr(table_module, "_write", another_run_writes_first)
    record_word(table, owner_word("skills:kafka", "undo"), "run-3")
    assert [w.note or w.action for w in word_history(table, "skills:kafka")] == [
        "undo",
        "other",
        "first",
    ]


def test_a_key_that_keeps_changing_ends_in_a_clear_error(
    aws: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_beaten(*_: Any) -> int:
        raise client_error("ConditionalCheckFailedException", "UpdateItem")

    monkeypatch.setattr(table_module, "_write", always_beaten)
    with pytest.raises(FeedbackConflictError, match="run the owner-feedback flow again"):
        record_word(aws.settings.feedback_table, owner_word("skills:kafka", "dismiss"), "run-1")


def test_other_errors_are_not_taken_for_a_conflict(
    aws: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: Any) -> int:
        raise client_error("ValidationException", "UpdateItem")

    monkeypatch.setattr(table_module, "_write", refused)
    with pytest.raises(ClientError):
        record_word(aws.settings.feedback_table, owner_word("skills:kafka", "dismiss"), "run-1")
