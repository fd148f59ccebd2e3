"""Report delivery: the weekly report e-mailed exactly once per week.

A workflow over two services: the send ledger on the summaries table
(:mod:`tasks.dynamodb.send_ledger`) guards the plain SES send (:func:`tasks.ses.send_raw_email`).
It lives outside both service packages so that neither imports the other. Sender and
recipients are the caller's (the flow's settings): this module reads no settings.

Exactly once, and what happens after a crash (the choice made here):

0. A week that has not ended is refused (``UnfinishedWeekError``): nothing is read,
   claimed or sent, so the week's one e-mail is kept for its final report.
1. Read the ledger. ``sent`` -> skip (unless ``resend``). ``sending`` -> a previous
   attempt claimed the week and never recorded the outcome: it may have crashed after SES
   accepted the mail. We log a WARNING and do **not** send (unless ``resend``): a
   possibly missing e-mail, flagged loudly, is preferred to a silent double send; the
   operator checks the inbox and re-runs with ``resend=True`` if it never arrived.
2. Claim: set ``sending`` on the condition that the state is still what we read (two
   concurrent runs cannot both claim).
3. ``send_raw_email`` with botocore retries off, so no hidden resend happens below us.
4. Record ``sent`` and the SES message id.

When SES answers with an error, the mail was definitely not accepted: the claim is set
to ``failed`` and :class:`ReportNotSentError` is raised; the task retries it only when
the error is transient (throttling, 5xx) or the connection never opened. A read timeout
or a dropped connection leaves the outcome unknown: the claim stays ``sending``, the task
fails without retrying, and the next run warns as in step 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)
from prefect import task

from lambdas.shared.weeks import Week
from tasks import ses
from tasks.aws import CACHE_RULE, failure_of, is_transient, run_logger
from tasks.dynamodb.send_ledger import (
    SENDING,
    SENT,
    claim_send,
    ledger_state,
    record_sent,
    release_claim,
    require_ended,
)

SendStatus = Literal["sent", "already-sent", "unconfirmed", "claimed-elsewhere"]


class ReportNotSentError(RuntimeError):
    """SES refused or failed the send; nothing was delivered. ``transient``: worth a retry."""

    def __init__(self, week: Week, error: BaseException, transient: bool) -> None:
        super().__init__(f"weekly report {week.id} was not sent: {error}")
        self.week = week.id
        self.transient = transient


@dataclass(frozen=True)
class SendOutcome:
    week: str
    status: SendStatus
    message_id: str | None = None


def send_report_once(
    week: Week,
    raw_message: bytes,
    ledger_table: str,
    sender: str,
    recipients: Sequence[str],
    *,
    resend: bool = False,
) -> SendOutcome:
    """Send the week's report from ``sender`` to ``recipients`` unless the ledger says it
    was (or may have been) sent; ``ledger_table``: the summaries table holding the ledger.

    A week that has not ended is refused first, even with ``resend``
    (:class:`~tasks.dynamodb.send_ledger.UnfinishedWeekError`): the flow refuses it at its
    edge already; this is the last line.
    """
    require_ended(week)
    log = run_logger()
    state, message_id = ledger_state(ledger_table, week)
    if state == SENT and not resend:
        log.info("Report %s was already sent (SES message %s): not sending again", week, message_id)
        return SendOutcome(week.id, "already-sent", message_id)
    if state == SENDING and not resend:
        log.warning(
            "Report %s has an unfinished send on record (state 'sending'): a previous attempt "
            "may have crashed after SES accepted it. Not sending again; check the inbox and "
            "re-run with resend=True if it never arrived.",
            week,
        )
        return SendOutcome(week.id, "unconfirmed", None)
    if not claim_send(ledger_table, week, state):
        log.warning("Report %s was claimed by another run meanwhile: not sending", week)
        return SendOutcome(week.id, "claimed-elsewhere", None)

    try:
        sent_id = ses.send_raw_email(raw_message, sender, recipients)
    except ClientError as exc:  # SES answered: the mail was not accepted
        release_claim(ledger_table, week, f"{exc.response['Error'].get('Code')}: {exc}")
        raise ReportNotSentError(week, exc, transient=is_transient(exc)) from exc
    except (EndpointConnectionError, ConnectTimeoutError) as exc:  # never reached SES
        release_claim(ledger_table, week, type(exc).__name__)
        raise ReportNotSentError(week, exc, transient=True) from exc
    # Any other failure (read timeout, dropped connection) leaves the claim 'sending'.

    record_sent(ledger_table, week, sent_id)
    log.info(
        "Report %s sent to %d recipient(s), SES message %s",
        week,
        len(recipients),
        sent_id,
    )
    return SendOutcome(week.id, "sent", sent_id)


def retry_send_when_not_delivered(task: Any, task_run: Any, state: Any) -> bool:
    """Retry the send task only for a transient failure SES confirms delivered nothing."""
    exc = failure_of(state)
    return isinstance(exc, ReportNotSentError) and exc.transient


@task(
    name="send-weekly-report",
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_send_when_not_delivered,
    **CACHE_RULE,
)
def send_report_task(
    week: Week,
    raw_message: bytes,
    ledger_table: str,
    sender: str,
    recipients: Sequence[str],
    resend: bool = False,
) -> SendOutcome:
    return send_report_once(week, raw_message, ledger_table, sender, recipients, resend=resend)
