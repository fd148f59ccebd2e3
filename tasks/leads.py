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

Repeats (one e-mail per visitor and set of details): recording decrypts the details of
the first leads already recorded for the sessions that have new leads, and the pure core
(:func:`tasks.core.leads.first_leads`) decides which new leads repeat one; a repeat is
recorded without details and never sent. No digest of a detail is stored (a phone
number's is brute-forced in seconds, and a keyed one needs a key of its own): the
comparison reuses the key and the context the leads already have.

Exactly once (the ledger's protocol, :mod:`tasks.dynamodb.leads`): claim ``pending`` ->
``sending``, send, record ``sent``. SES refusing (an answer: nothing was delivered)
puts the lead back to ``pending`` and fails the lead's task, which Prefect retries when
the refusal was transient; either way a Retry or the next run sends it, and never a
``sent`` lead. A send whose outcome is unknown (a read timeout) leaves ``sending``: the
next run sends it again, marked as possibly sent already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError
from prefect import task

from lambdas.shared.weeks import Week
from tasks import kms, ses
from tasks.aws import SIDE_EFFECT_TASK_OPTIONS, TASK_OPTIONS, run_logger
from tasks.core.leads import (
    FirstLead,
    Lead,
    LeadMail,
    Prior,
    SealedLeadError,
    Window,
    details_key,
    find_leads,
    first_leads,
    lead_message,
    listed_ids,
    open_asked,
    open_details,
    retention_weeks,
    seal_asked,
    seal_details,
)
from tasks.dynamodb.leads import (
    SENDING,
    RecordedLead,
    StoredLead,
    claim,
    put_lead,
    put_repeat,
    record_sent,
    recorded,
    release,
    undelivered,
    window_records,
)
from tasks.settings import Settings

Outcome = Literal["delivered", "sent-again", "claimed-elsewhere"]
#: KMS's refusals of an earlier lead's ciphertext that no retry changes: the lead is then
#: left out of the comparison (as one whose plaintext is not what was sealed), and its
#: session's new lead is e-mailed.
UNREADABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


def encryption_context(request_id: str) -> dict[str, str]:
    """The KMS encryption context of a lead's ciphertext: its own request id."""
    return {"requestId": request_id}


@dataclass(frozen=True)
class Recorded:
    """What recording found: leads in the window, how many this run recorded, and how
    many of those were repeats (recorded, never sent)."""

    found: int
    recorded: int
    repeats: int = 0


def priors(
    settings: Settings, known: list[RecordedLead], new: list[Lead], now_s: int
) -> list[Prior]:
    """The first leads recorded for the sessions of ``new`` (not repeats, not past their
    TTL at ``now_s``), their details opened and normalised for comparison. One KMS
    ``Decrypt`` each; a lead whose details do not read back (KMS refuses the ciphertext
    for good, or it is not what was sealed) is left out: a new lead of its session is
    then e-mailed, as before repeats existed."""
    sessions = {lead.session for lead in new if lead.session is not None}
    found = []
    for lead in known:
        if lead.session is None or lead.details is None:
            continue  # anonymous, or a repeat (it holds no details)
        if lead.session not in sessions or lead.repeat_of is not None or lead.ttl <= now_s:
            continue
        details = _prior_details(settings, lead.request_id, lead.details)
        if details is None:
            continue
        found.append(
            Prior(lead.request_id, lead.week, lead.at_ms, lead.session, details_key(details))
        )
    return found


def _prior_details(settings: Settings, request_id: str, sealed: bytes) -> tuple[str, ...] | None:
    """An earlier lead's details, or None when they do not read back for good (logged
    with the error's code only); a refusal that may pass (throttling, access) raises."""
    try:
        return open_details(kms.decrypt(settings.leads_key, sealed, encryption_context(request_id)))
    except SealedLeadError:
        code = "SealedLeadError"
    except ClientError as exc:
        code = error_code_of(exc)
        if code not in UNREADABLE:
            raise code_only(exc) from None
    run_logger().warning("Lead %s: its details do not read back (%s)", request_id, code)
    return None


def record_one(settings: Settings, lead: Lead, first: FirstLead | None) -> bool:
    """Record ``lead``: as a repeat of ``first`` (no details, never sent), or as a lead of
    its own, its details and questions sealed; False when it was recorded already."""
    if first is not None and lead.session is not None:
        return put_repeat(
            settings.leads_table,
            request_id=lead.request_id,
            week=lead.week,
            at_ms=lead.at_ms,
            ttl=lead.ttl,
            session=lead.session,
            first=first.request_id,
            first_week=first.week,
        )
    context = encryption_context(lead.request_id)
    return put_lead(
        settings.leads_table,
        request_id=lead.request_id,
        week=lead.week,
        at_ms=lead.at_ms,
        ttl=lead.ttl,
        details=kms.encrypt(settings.leads_key, seal_details(lead.details), context),
        asked=kms.encrypt(settings.leads_key, seal_asked(lead.asked), context),
        session=lead.session,
    )


@task(name="record-leads", persist_result=False, **TASK_OPTIONS)  # reads visitors' words
def record_leads(settings: Settings, window: Window) -> Recorded:
    """Record every lead of ``window`` not in the leads table yet: a repeat of a lead its
    session recorded with the same details as such, any other with its details and
    questions sealed with the leads key; returns counts only.

    Retry-safe: a lead recorded by an earlier try (or run) is skipped before anything is
    encrypted, which lead repeats which is decided from what is recorded (so a retry
    decides the same), and every put is conditional.
    """
    records = window_records(settings.analytics_table, window.weeks())
    leads = find_leads(records, window, settings.leads_retention_days)
    end = datetime.fromtimestamp(window.end_ms / 1000, tz=UTC)
    weeks = {*retention_weeks(end, settings.leads_retention_days)}
    weeks |= {Week.parse(lead.week) for lead in leads}
    known = recorded(settings.leads_table, sorted(weeks))
    known_ids = {lead.request_id for lead in known}
    new = [lead for lead in leads if lead.request_id not in known_ids]
    firsts = first_leads(new, priors(settings, known, new, window.end_ms // 1000))
    done: list[str] = []
    repeats = 0
    for lead in new:
        first = firsts.get(lead.request_id)
        if record_one(settings, lead, first):
            done.append(lead.request_id)
            repeats += first is not None
    run_logger().info(
        "%d lead(s) in the window, %d recorded now (%d of them repeats): %s",
        len(leads),
        len(done),
        repeats,
        listed_ids(done),
    )
    return Recorded(len(leads), len(done), repeats)


@task(name="undelivered-leads", persist_result=False, **TASK_OPTIONS)
def undelivered_leads(settings: Settings, now: datetime) -> list[StoredLead]:
    """Every kept lead not yet sent (ciphertext and ledger only), oldest first: those of
    the ISO weeks the retention reaches back to, not past their TTL, each with the query
    times of its repeats recorded so far (its e-mail's count). Repeats are never here."""
    weeks = retention_weeks(now, settings.leads_retention_days)
    return undelivered(settings.leads_table, weeks, int(now.timestamp()))


def error_code_of(exc: BaseException) -> str:
    """AWS's error code of a refusal, or the exception's type."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


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
    times = (lead.at_ms, *lead.repeats)
    return LeadMail(
        at_ms=lead.at_ms,
        details=open_details(kms.decrypt(settings.leads_key, lead.details, context)),
        asked=open_asked(kms.decrypt(settings.leads_key, lead.asked, context)),
        retention_days=settings.leads_retention_days,
        sent_again=lead.state == SENDING or lead.maybe_sent,
        times=len(times),
        first_at_ms=min(times),
        last_at_ms=max(times),
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
        "Lead %s delivered%s to %d recipient(s), counting %d time(s) its details were left, "
        "SES message %s",
        lead.request_id,
        again,
        len(settings.report_recipients),
        mail.times,
        message_id,
    )
    return "sent-again" if mail.sent_again else "delivered"


@task(name="deliver-lead", persist_result=False, **SIDE_EFFECT_TASK_OPTIONS)  # plain details
def deliver_lead_task(lead: StoredLead, settings: Settings, claim_id: str) -> Outcome:
    """:func:`deliver_lead`; Prefect retries it only when nothing was delivered (a transient
    refusal, or AWS never reached), and then the lead is ``pending`` again."""
    return deliver_lead(lead, settings, claim_id)
