"""The send ledger in the summaries table: one conditional claim per observed state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deployments.local_stack import StackInfo
from lambdas.shared.weeks import Week
from tasks.dynamodb import send_ledger

WEEK = Week(2025, 45)


def test_a_week_without_an_entry_has_no_state(aws: StackInfo) -> None:
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK) == (None, None)


def test_a_second_claim_of_the_same_state_loses(aws: StackInfo) -> None:
    assert send_ledger.claim_send(aws.settings.summaries_table, WEEK, None) is True
    assert (
        send_ledger.claim_send(aws.settings.summaries_table, WEEK, None) is False
    )  # a concurrent run read "no state" too


def test_sent_is_recorded_with_the_message_id_and_listed_among_sent_weeks(aws: StackInfo) -> None:
    assert send_ledger.claim_send(aws.settings.summaries_table, WEEK, None)
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK)[0] == "sending"
    send_ledger.record_sent(aws.settings.summaries_table, WEEK, "msg-1")
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK) == ("sent", "msg-1")
    other = Week(2025, 46)
    assert send_ledger.sent_report_weeks.fn(aws.settings.summaries_table, [WEEK, other]) == [WEEK]
    # a claim from the state observed now wins; one from a stale observation loses
    assert send_ledger.claim_send(aws.settings.summaries_table, WEEK, None) is False
    assert send_ledger.claim_send(aws.settings.summaries_table, WEEK, "sent") is True


def test_a_released_claim_is_failed_and_can_be_claimed_again(aws: StackInfo) -> None:
    assert send_ledger.claim_send(aws.settings.summaries_table, WEEK, None)
    send_ledger.release_claim(aws.settings.summaries_table, WEEK, "Throttling")
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK)[0] == "failed"
    assert send_ledger.claim_send(aws.settings.summaries_table, WEEK, "failed") is True


def test_the_ledger_of_a_week_is_claimed_only_once_the_week_has_ended(aws: StackInfo) -> None:
    week = Week(2025, 46)
    sunday_night = datetime(2025, 11, 16, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(send_ledger.UnfinishedWeekError, match="2025-11-17 00:00 UTC"):
        send_ledger.claim_send(aws.settings.summaries_table, week, None, now=sunday_night)
    assert send_ledger.ledger_state(aws.settings.summaries_table, week) == (None, None)
    assert (
        send_ledger.claim_send(
            aws.settings.summaries_table, week, None, now=datetime(2025, 11, 17, tzinfo=UTC)
        )
        is True
    )
