"""SES: the weekly report sent exactly once per week, and the maintenance summary.

The report send rests on the send ledger (:mod:`tasks.dynamodb.send_ledger`).

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

The monthly maintenance summary goes out here too (:func:`send_summary_email`), masked,
without a ledger: it is a notice, and a rare duplicate of it harms nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)
from prefect import task

from lambdas.shared.weeks import Week
from tasks.aws import (
    CACHE_RULE,
    ONE_ATTEMPT,
    SIDE_EFFECT_TASK_OPTIONS,
    aws_client,
    failure_of,
    is_transient,
    run_logger,
)
from tasks.core.masking import mask
from tasks.dynamodb.send_ledger import (
    SENDING,
    SENT,
    claim_send,
    ledger_state,
    record_sent,
    release_claim,
    require_ended,
)
from tasks.settings import Settings

#: No botocore retries for the send itself: a retry after a read timeout could deliver twice.
SEND_CONFIG = ONE_ATTEMPT


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


def _ses_client() -> Any:
    """An SES client with botocore retries off (see the module docstring)."""
    return aws_client("ses", SEND_CONFIG)


def send_report_once(week: Week, raw_message: bytes, *, resend: bool = False) -> SendOutcome:
    """Send the week's report unless the ledger says it was (or may have been) sent.

    A week that has not ended is refused first, even with ``resend``
    (:class:`~tasks.dynamodb.send_ledger.UnfinishedWeekError`): the flow refuses it at its
    edge already; this is the last line.
    """
    require_ended(week)
    log = run_logger()
    state, message_id = ledger_state(week)
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
    if not claim_send(week, state):
        log.warning("Report %s was claimed by another run meanwhile: not sending", week)
        return SendOutcome(week.id, "claimed-elsewhere", None)

    settings = Settings()
    try:
        response = _ses_client().send_raw_email(
            Source=settings.report_sender,
            Destinations=list(settings.report_recipients),
            RawMessage={"Data": raw_message},
        )
    except ClientError as exc:  # SES answered: the mail was not accepted
        release_claim(week, f"{exc.response['Error'].get('Code')}: {exc}")
        raise ReportNotSentError(week, exc, transient=is_transient(exc)) from exc
    except (EndpointConnectionError, ConnectTimeoutError) as exc:  # never reached SES
        release_claim(week, type(exc).__name__)
        raise ReportNotSentError(week, exc, transient=True) from exc
    # Any other failure (read timeout, dropped connection) leaves the claim 'sending'.

    sent_id = str(response["MessageId"])
    record_sent(week, sent_id)
    log.info(
        "Report %s sent to %d recipient(s), SES message %s",
        week,
        len(settings.report_recipients),
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
def send_report_task(week: Week, raw_message: bytes, resend: bool = False) -> SendOutcome:
    return send_report_once(week, raw_message, resend=resend)


@task(name="send-summary-email", **SIDE_EFFECT_TASK_OPTIONS)
def send_summary_email(subject: str, text: str, html: str) -> str:
    """Send the maintenance summary to the report recipients (masked); returns the id."""
    settings = Settings()
    if not settings.report_recipients:
        raise ValueError("no report recipients configured (CV_ANALYTICS_REPORT_RECIPIENTS)")
    response = aws_client("ses", ONE_ATTEMPT).send_email(
        Source=settings.report_sender,
        Destination={"ToAddresses": list(settings.report_recipients)},
        Message={
            "Subject": {"Data": mask(subject)[:200], "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": mask(text), "Charset": "UTF-8"},
                "Html": {"Data": mask(html), "Charset": "UTF-8"},
            },
        },
    )
    return str(response["MessageId"])
