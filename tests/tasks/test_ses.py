"""The report e-mail sent exactly once (the ledger as the guard) and the summary e-mail,
against in-process moto (``aws``)."""

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
from tasks import ses
from tasks.dynamodb import send_ledger
from tests.conftest import client_error

WEEK = Week(2025, 45)
RAW = b"Subject: CV Analytics Weekly Report - Week 2025-W45\r\n\r\nhello\r\n"


def sent_count() -> int:
    """Messages SES accepted so far (moto counts delivery attempts per recipient)."""
    points = boto3.client("ses", region_name="us-east-1").get_send_statistics()["SendDataPoints"]
    return sum(int(p.get("DeliveryAttempts", 0)) for p in points)


def failing_ses(error: BaseException) -> Any:
    """A real moto-backed SES client whose send_raw_email raises ``error``."""
    client = boto3.client("ses", region_name="us-east-1")
    return patch.object(client, "send_raw_email", side_effect=error), client


def test_second_run_does_not_send_and_resend_does(aws: StackInfo) -> None:
    first = ses.send_report_once(WEEK, RAW)
    assert first.status == "sent" and first.message_id
    assert sent_count() == 1
    assert send_ledger.ledger_state(WEEK) == ("sent", first.message_id)

    again = ses.send_report_once(WEEK, RAW)
    assert (again.status, again.message_id) == ("already-sent", first.message_id)
    assert sent_count() == 1

    resent = ses.send_report_once(WEEK, RAW, resend=True)
    assert resent.status == "sent" and resent.message_id != first.message_id
    assert sent_count() == 2
    assert send_ledger.ledger_state(WEEK) == ("sent", resent.message_id)


def test_unfinished_send_on_record_warns_and_does_not_send(
    aws: StackInfo, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a claim that was never completed (a crash between sending and recording)
    assert send_ledger.claim_send(WEEK, None)
    # When the report runs again
    with caplog.at_level(logging.WARNING, logger="tasks.ses"):
        outcome = ses.send_report_once(WEEK, RAW)
    # Then it warns and does not send
    assert outcome.status == "unconfirmed"
    assert sent_count() == 0
    assert any(
        r.levelno == logging.WARNING and "2025-W45" in r.getMessage() for r in caplog.records
    )
    # And resend=True is the operator's way through
    assert ses.send_report_once(WEEK, RAW, resend=True).status == "sent"
    assert sent_count() == 1


def test_transient_ses_failure_is_retryable_and_not_marked_sent(aws: StackInfo) -> None:
    patcher, client = failing_ses(client_error("Throttling", "SendRawEmail", status=400))
    with (
        patcher,
        patch.object(ses, "_ses_client", return_value=client),
        pytest.raises(ses.ReportNotSentError) as raised,
    ):
        ses.send_report_once(WEEK, RAW)
    assert raised.value.transient is True
    assert send_ledger.ledger_state(WEEK)[0] == "failed"
    assert ses.retry_send_when_not_delivered(None, None, Failed(data=raised.value)) is True
    # The retry (same call again) sends, once
    assert ses.send_report_once(WEEK, RAW).status == "sent"
    assert sent_count() == 1


def test_rejected_message_is_not_retried(aws: StackInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a sender SES has not verified (moto rejects it, as SES does)
    monkeypatch.setenv("CV_ANALYTICS_REPORT_SENDER", "nobody@unverified.example")
    with pytest.raises(ses.ReportNotSentError) as raised:
        ses.send_report_once(WEEK, RAW)
    assert raised.value.transient is False
    assert ses.retry_send_when_not_delivered(None, None, Failed(data=raised.value)) is False
    assert send_ledger.ledger_state(WEEK)[0] == "failed"
    assert sent_count() == 0


def test_ambiguous_timeout_keeps_the_claim_and_is_not_retried(aws: StackInfo) -> None:
    timeout = ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")
    patcher, client = failing_ses(timeout)
    with (
        patcher,
        patch.object(ses, "_ses_client", return_value=client),
        pytest.raises(ReadTimeoutError) as raised,
    ):
        ses.send_report_once(WEEK, RAW)
    assert send_ledger.ledger_state(WEEK)[0] == "sending"
    assert ses.retry_send_when_not_delivered(None, None, Failed(data=raised.value)) is False
    assert ses.send_report_once(WEEK, RAW).status == "unconfirmed"


def test_summary_email_goes_to_the_recipients_masked(aws: StackInfo) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    leak = "visitor wrote jane@example.org"
    ses.send_summary_email.fn("subject", leak, f"<p>{leak}</p>")  # moto keeps the HTML
    (message,) = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert message.destinations["ToAddresses"] == aws.settings.report_recipients
    assert "jane@example.org" not in message.body and "[email]" in message.body


@pytest.mark.parametrize("weeks_ahead", [0, 1, 8])
def test_a_week_that_has_not_ended_is_never_sent_nor_claimed(
    aws: StackInfo, weeks_ahead: int
) -> None:
    # Given the current week (still open) or a future one, reaching the send by any path
    week = Week.of(datetime.now(UTC)).shift(weeks_ahead)
    for resend in (False, True):
        # When its report is sent, Then it is refused before the ledger is even read
        with pytest.raises(send_ledger.UnfinishedWeekError, match=f"{week} has not ended") as no:
            ses.send_report_once(week, RAW, resend=resend)
        # and the send task does not retry it
        assert ses.retry_send_when_not_delivered(None, None, Failed(data=no.value)) is False
    # and the ledger cannot be claimed for it either
    with pytest.raises(send_ledger.UnfinishedWeekError, match="has not ended"):
        send_ledger.claim_send(week, None)
    assert send_ledger.ledger_state(week) == (None, None)
    assert sent_count() == 0
