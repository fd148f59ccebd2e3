"""Leads across services: recorded from the analytics records, sealed with KMS, e-mailed
once through SES (docs/spec/report-insights.md, section 7).

A workflow over three services, above their modules: the analytics table and the leads
table (:mod:`tasks.dynamodb.leads`), KMS (:mod:`tasks.kms`) and SES
(:func:`tasks.ses.send_raw_email`). Which requests are leads, what a lead holds and its
e-mail are the pure core's (:mod:`tasks.core.leads`). The settings are the flow's, passed
in: this module reads none of its own.

Privacy: a lead's details and questions exist in plain text only inside these tasks'
bodies, between KMS and SES. The tasks return counts and outcomes, never persist a
result, and log counts and request ids only; exceptions carry error codes, never the
message text AWS sent back.

Exactly once (the ledger's protocol, :mod:`tasks.dynamodb.leads`): claim ``pending`` ->
``sending``, send, record ``sent``. SES refusing (an answer: nothing was delivered)
puts the lead back to ``pending`` and fails the lead's task, which Prefect retries when
the refusal was transient; either way a Retry or the next run sends it, and never a
``sent`` lead. A send whose outcome is unknown (a read timeout) leaves ``sending``: the
next run sends it again, marked as possibly sent already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError
from prefect import task

from lambdas.shared.weeks import Week
from tasks import kms, ses
from tasks.aws import SIDE_EFFECT_TASK_OPTIONS, TASK_OPTIONS, run_logger
from tasks.core.leads import (
    LeadMail,
    SealedLeadError,
    Window,
    find_leads,
    lead_message,
    open_asked,
    open_details,
    retention_weeks,
    seal_asked,
    seal_details,
)
from tasks.dynamodb.leads import (
    SENDING,
    StoredLead,
    claim,
    put_lead,
    record_sent,
    recorded_ids,
    release,
    undelivered,
    window_records,
)
from tasks.settings import Settings

Outcome = Literal["delivered", "sent-again", "claimed-elsewhere"]


def encryption_context(request_id: str) -> dict[str, str]:
    """The KMS encryption context of a lead's ciphertext: its own request id."""
    return {"requestId": request_id}


@dataclass(frozen=True)
class Recorded:
    """What recording found: leads in the window, and how many this run recorded."""

    found: int
    recorded: int


@task(name="record-leads", persist_result=False, **TASK_OPTIONS)  # reads visitors' words
def record_leads(settings: Settings, window: Window) -> Recorded:
    """Record every lead of ``window`` not in the leads table yet, its details and
    questions sealed with the leads key; returns counts only.

    Retry-safe: a lead recorded by an earlier try (or run) is skipped before anything is
    encrypted, and the put itself is conditional.
    """
    records = window_records(settings.analytics_table, window.weeks())
    leads = find_leads(records, window, settings.leads_retention_days)
    known = recorded_ids(settings.leads_table, sorted({Week.parse(lead.week) for lead in leads}))
    recorded = 0
    for lead in leads:
        if lead.request_id in known:
            continue
        context = encryption_context(lead.request_id)
        recorded += put_lead(
            settings.leads_table,
            request_id=lead.request_id,
            week=lead.week,
            at_ms=lead.at_ms,
            ttl=lead.ttl,
            details=kms.encrypt(settings.leads_key, seal_details(lead.details), context),
            asked=kms.encrypt(settings.leads_key, seal_asked(lead.asked), context),
        )
    run_logger().info(
        "%d lead(s) in the window, %d recorded now: %s",
        len(leads),
        recorded,
        ", ".join(lead.request_id for lead in leads if lead.request_id not in known) or "none",
    )
    return Recorded(len(leads), recorded)


@task(name="undelivered-leads", persist_result=False, **TASK_OPTIONS)
def undelivered_leads(settings: Settings, now: datetime) -> list[StoredLead]:
    """Every kept lead not yet sent (ciphertext and ledger only), oldest first: those of
    the ISO weeks the retention reaches back to, not past their TTL."""
    weeks = retention_weeks(now, settings.leads_retention_days)
    return undelivered(settings.leads_table, weeks, int(now.timestamp()))


def code_only(exc: ClientError) -> ClientError:
    """The same refusal without the text AWS sent with it (it may quote an address):
    its code and status only, so :func:`tasks.aws.is_transient` still reads it."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    response: Any = {
        "Error": {"Code": str(error.get("Code", "ClientError")), "Message": ""},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, exc.operation_name)


def _opened(lead: StoredLead, settings: Settings) -> LeadMail:
    context = encryption_context(lead.request_id)
    return LeadMail(
        at_ms=lead.at_ms,
        details=open_details(kms.decrypt(settings.leads_key, lead.details, context)),
        asked=open_asked(kms.decrypt(settings.leads_key, lead.asked, context)),
        retention_days=settings.leads_retention_days,
        sent_again=lead.state == SENDING or lead.maybe_sent,
    )


def deliver_lead(lead: StoredLead, settings: Settings, claim_id: str) -> Outcome:
    """E-mail one lead to the report's recipients, once (see the module docstring).

    ``claim_id`` names the flow run and its try. When KMS or SES refused, or SES was never
    reached, the lead is ``pending`` again and the error is raised with its code only
    (:func:`code_only`); any other failure of the send leaves it ``sending`` for the next
    run, which sends it again marked as possibly sent.
    """
    table = settings.leads_table
    if not claim(table, lead, claim_id):
        run_logger().info("Lead %s was claimed by another run meanwhile", lead.request_id)
        return "claimed-elsewhere"
    try:
        mail = _opened(lead, settings)
        raw = lead_message(mail, settings.report_sender, settings.report_recipients).as_bytes()
        message_id = ses.send_raw_email(raw, settings.report_sender, settings.report_recipients)
    except ClientError as exc:  # KMS or SES answered: nothing was sent
        release(table, lead.request_id, claim_id, code_only(exc).response["Error"]["Code"])
        raise code_only(exc) from None
    except (EndpointConnectionError, ConnectTimeoutError) as exc:  # never reached AWS
        release(table, lead.request_id, claim_id, type(exc).__name__)
        raise
    except SealedLeadError:  # what KMS returned is not what was sealed: never sendable
        release(table, lead.request_id, claim_id, "SealedLeadError")
        raise
    record_sent(table, lead.request_id, message_id)
    again = " again (an earlier attempt did not finish)" if mail.sent_again else ""
    run_logger().info(
        "Lead %s delivered%s to %d recipient(s), SES message %s",
        lead.request_id,
        again,
        len(settings.report_recipients),
        message_id,
    )
    return "sent-again" if mail.sent_again else "delivered"


@task(name="deliver-lead", persist_result=False, **SIDE_EFFECT_TASK_OPTIONS)  # plain details
def deliver_lead_task(lead: StoredLead, settings: Settings, claim_id: str) -> Outcome:
    """:func:`deliver_lead`; Prefect retries it only when nothing was delivered (a transient
    refusal, or AWS never reached), and then the lead is ``pending`` again."""
    return deliver_lead(lead, settings, claim_id)
