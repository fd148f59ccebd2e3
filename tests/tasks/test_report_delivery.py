"""The report e-mail sent exactly once, the send ledger as the guard, against in-process
moto (``aws``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from prefect.states import Failed

from deployments.local_stack import StackInfo
from lambdas.shared.weeks import Week
from tasks import report_delivery, ses
from tasks.dynamodb import send_ledger
from tests.conftest import client_error

WEEK = Week(2025, 45)
RAW = b"Subject: CV Analytics Weekly Report - Week 2025-W45\r\n\r\nhello\r\n"


def to(stack: StackInfo) -> tuple[str, str, list[str]]:
    """The ledger table, sender and recipients the flows pass: the stack's settings."""
    settings = stack.settings
    return settings.summaries_table, settings.report_sender, settings.report_recipients


def sent_count() -> int:
    """Messages SES accepted so far (moto counts delivery attempts per recipient)."""
    points = boto3.client("ses", region_name="us-east-1").get_send_statistics()["SendDataPoints"]
    return sum(int(p.get("DeliveryAttempts", 0)) for p in points)


def failing_ses(error: BaseException) -> Any:
    """A real moto-backed SES client whose send_raw_email raises ``error``."""
    client = boto3.client("ses", region_name="us-east-1")
    return patch.object(client, "send_raw_email", side_effect=error), client


def test_second_run_does_not_send_and_resend_does(aws: StackInfo) -> None:
    first = report_delivery.send_report_once(WEEK, RAW, *to(aws))
    assert first.status == "sent" and first.message_id
    assert sent_count() == 1
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK) == (
        "sent",
        first.message_id,
    )

    again = report_delivery.send_report_once(WEEK, RAW, *to(aws))
    assert (again.status, again.message_id) == ("already-sent", first.message_id)
    assert sent_count() == 1

    resent = report_delivery.send_report_once(WEEK, RAW, *to(aws), resend=True)
    assert resent.status == "sent" and resent.message_id != first.message_id
    assert sent_count() == 2
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK) == (
        "sent",
        resent.message_id,
    )


def test_unfinished_send_on_record_warns_and_does_not_send(
    aws: StackInfo, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a claim that was never completed (a crash between sending and recording)
    assert send_ledger.claim_send(aws.settings.summaries_table, WEEK, None)
    # When the report runs again
    with caplog.at_level(logging.WARNING, logger="tasks.report_delivery"):
        outcome = report_delivery.send_report_once(WEEK, RAW, *to(aws))
    # Then it warns and does not send
    assert outcome.status == "unconfirmed"
    assert sent_count() == 0
    assert any(
        r.levelno == logging.WARNING and "2025-W45" in r.getMessage() for r in caplog.records
    )
    # And resend=True is the operator's way through
    assert report_delivery.send_report_once(WEEK, RAW, *to(aws), resend=True).status == "sent"
    assert sent_count() == 1


def test_transient_ses_failure_is_retryable_and_not_marked_sent(aws: StackInfo) -> None:
    patcher, client = failing_ses(client_error("Throttling", "SendRawEmail", status=400))
    with (
        patcher,
        patch.object(ses, "_ses_client", return_value=client),
        pytest.raises(report_delivery.ReportNotSentError) as raised,
    ):
        report_delivery.send_report_once(WEEK, RAW, *to(aws))
    assert raised.value.transient is True
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK)[0] == "failed"
    assert (
        report_delivery.retry_send_when_not_delivered(None, None, Failed(data=raised.value)) is True
    )
    # The retry (same call again) sends, once
    assert report_delivery.send_report_once(WEEK, RAW, *to(aws)).status == "sent"
    assert sent_count() == 1


def test_rejected_message_is_not_retried(aws: StackInfo) -> None:
    # Given a sender SES has not verified (moto rejects it, as SES does)
    unverified = "nobody@unverified.example"
    with pytest.raises(report_delivery.ReportNotSentError) as raised:
        report_delivery.send_report_once(
            WEEK, RAW, aws.settings.summaries_table, unverified, aws.settings.report_recipients
        )
    assert raised.value.transient is False
    assert (
        report_delivery.retry_send_when_not_delivered(None, None, Failed(data=raised.value))
        is False
    )
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK)[0] == "failed"
    assert sent_count() == 0


def test_ambiguous_timeout_keeps_the_claim_and_is_not_retried(aws: StackInfo) -> None:
    timeout = ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")
    patcher, client = failing_ses(timeout)
    with (
        patcher,
        patch.object(ses, "_ses_client", return_value=client),
        pytest.raises(ReadTimeoutError) as raised,
    ):
        report_delivery.send_report_once(WEEK, RAW, *to(aws))
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK)[0] == "sending"
    assert (
        report_delivery.retry_send_when_not_delivered(None, None, Failed(data=raised.value))
        is False
    )
    assert report_delivery.send_report_once(WEEK, RAW, *to(aws)).status == "unconfirmed"


@pytest.mark.parametrize("weeks_ahead", [0, 1, 8])
def test_a_week_that_has_not_ended_is_never_sent_nor_claimed(
    aws: StackInfo, weeks_ahead: int
) -> None:
    # Given the current week (still open) or a future one, reaching the send by any path
    week = Week.of(datetime.now(UTC)).shift(weeks_ahead)
    for resend in (False, True):
        # When its report is sent, Then it is refused before the ledger is even read
        with pytest.raises(send_ledger.UnfinishedWeekError, match=f"{week} has not ended") as no:
            report_delivery.send_report_once(week, RAW, *to(aws), resend=resend)
        # and the send task does not retry it
        assert (
            report_delivery.retry_send_when_not_delivered(None, None, Failed(data=no.value))
            is False
        )
    # and the ledger cannot be claimed for it either
    with pytest.raises(send_ledger.UnfinishedWeekError, match="has not ended"):
        send_ledger.claim_send(aws.settings.summaries_table, week, None)
    assert send_ledger.ledger_state(aws.settings.summaries_table, week) == (None, None)
    assert sent_count() == 0
