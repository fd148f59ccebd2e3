"""Leads: visitors who left an e-mail address or a phone number, e-mailed to the owner once.

docs/spec/report-insights.md, section 7. Hourly (minute 5): read the analytics records of
the ISO weeks the last ``lookback_hours`` touch, record each new lead in the leads table
(its details and questions sealed with the leads KMS key, deleted by TTL after
``CV_ANALYTICS_LEADS_RETENTION_DAYS``), then e-mail every recorded lead not yet delivered
to the report's recipients, through the ledger that sends each once.
One e-mail per visitor and set of details: a lead whose named session already has a lead
with the same details is recorded as a repeat of it, never sent, and counted in that
lead's e-mail ("They left these same details 12 times").

The details are shown on no other surface: the run's artifact and log lines carry counts
and request ids only, no task persists a result, and a failure names error codes. A lead
SES refused stays pending: the run ends Failed (and alerts) once every other lead was
tried, and a Retry or the next hourly run delivers it; after a send whose outcome is
unknown the others wait for that next run. ``CV_ANALYTICS_LEADS_ENABLED=false`` turns it
all off: the run records and sends nothing and says so. Details: docs/flows.md, "Leads";
who may read what: docs/security.md, "Leads".
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated
from uuid import uuid4

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError
from prefect import State, flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run as runtime_flow_run
from pydantic import Field, StrictInt

from flows.hooks import FLOW_HOOKS, timeout_seconds
from tasks.aws import failure_of
from tasks.conclude import AlertedFailure, failed_run, run_artifact_key, run_attempt
from tasks.core.checks import runbook
from tasks.core.leads import (
    DEFAULT_LOOKBACK_HOURS,
    MAX_LOOKBACK_HOURS,
    MIN_LOOKBACK_HOURS,
    LeadCounts,
    SealedLeadError,
    Window,
    check_lookback,
)
from tasks.dynamodb.leads import StoredLead
from tasks.leads import deliver_lead_task, record_leads, undelivered_leads
from tasks.settings import Settings

FLOW_NAME = "leads"
#: A whole number of hours from 1 to 336 (two weeks), strictly an integer: ``True`` and
#: ``"48"`` are refused before a run starts.
LookbackHours = Annotated[StrictInt, Field(ge=MIN_LOOKBACK_HOURS, le=MAX_LOOKBACK_HOURS)]


class LeadsNotDeliveredError(AlertedFailure):
    """Some leads were not delivered (SES refused, or the outcome is unknown); the message
    has the counts, the error codes and what happens next, never a detail."""


def leads_run_name() -> str:
    """``leads-<UTC date>-<hour><minute>`` of the scheduled start: one run an hour."""
    start = runtime_flow_run.scheduled_start_time
    moment = start.astimezone(UTC) if start is not None else datetime.now(UTC)
    return f"{FLOW_NAME}-{moment:%Y-%m-%d-%H%M}"


def claim_id() -> str:
    """The ledger's name for this run's try: ``<flow run id>#try<NN>``."""
    run = runtime_flow_run.id or f"no-run-{uuid4()}"
    return f"{run}#try{run_attempt():02d}"


def publish(counts: LeadCounts) -> None:
    """The run's one artifact: counts only."""
    create_markdown_artifact(
        key=run_artifact_key(FLOW_NAME, 1, "counts"),
        markdown=counts.markdown(),
        description=counts.headline(),
    )
    get_run_logger().info(counts.headline())


def error_code(error: BaseException | None) -> str:
    """What a failed lead's task says of its error: AWS's code, or the exception's type."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__ if error is not None else "unknown"


def nothing_sent(error: BaseException | None) -> bool:
    """True when a lead's failed task certainly sent nothing: AWS answered (KMS or SES
    refused), was never reached, or the sealed parts did not read back."""
    known = (ClientError, EndpointConnectionError, ConnectTimeoutError, SealedLeadError)
    return isinstance(error, known)


def deliver(settings: Settings, leads: list[StoredLead], counts: LeadCounts) -> list[str]:
    """E-mail each lead (its own task, retried when nothing was sent and the cause is
    transient); returns the error codes of those left undelivered.

    After a send whose outcome is unknown (a read timeout) the rest wait for the next
    run, untried: that lead is sent again marked, and no other one risks a duplicate.
    """
    claim = claim_id()
    failures: list[str] = []
    for index, lead in enumerate(leads):
        state = deliver_lead_task(lead, settings, claim, return_state=True)
        if not state.is_completed():
            error = failure_of(state)
            failures.append(error_code(error))
            if not nothing_sent(error):
                failures += ["untried after an unknown outcome"] * (len(leads) - index - 1)
                break
            continue
        outcome = state.result()
        counts.delivered += outcome in ("delivered", "sent-again")
        counts.sent_again += outcome == "sent-again"
    counts.pending = len(failures)
    return failures


def not_delivered(failures: list[str], counts: LeadCounts) -> LeadsNotDeliveredError:
    codes = ", ".join(sorted(set(failures)))
    return LeadsNotDeliveredError(
        f"{len(failures)} lead(s) not delivered ({codes}); {counts.delivered} delivered. "
        "A lead SES refused is pending again, one whose send did not finish is sent again "
        "marked as possibly sent: a Retry of this run or the next hourly run delivers "
        f"them. See {runbook('failed-flow-run')}.",
        alert_published=False,
    )


@flow(
    name=FLOW_NAME,
    flow_run_name=leads_run_name,
    persist_result=False,  # nothing of a lead may reach result storage
    timeout_seconds=timeout_seconds(FLOW_NAME),
    **FLOW_HOOKS,
)
def leads(lookback_hours: LookbackHours = DEFAULT_LOOKBACK_HOURS) -> LeadCounts:
    """Record the leads of the last hours and e-mail each to the report's recipients, once.

    Args:
        lookback_hours: How far back to look for visitors who left contact details, in
            whole hours from 1 to 336 (two weeks); the hourly schedule uses 48. A lead
            not delivered yet is sent whatever its age. See docs/runbook.md#failed-flow-run.
    """
    check_lookback(lookback_hours)  # Prefect refused it already; this covers leads.fn
    settings = Settings()
    counts = LeadCounts(enabled=settings.leads_enabled, lookback_hours=lookback_hours)
    if not settings.leads_enabled:
        publish(counts)
        return counts
    if not settings.report_recipients:
        failure = AlertedFailure(
            "CV_ANALYTICS_REPORT_RECIPIENTS is empty: nobody to deliver leads to. Set it, or "
            f"turn leads off with CV_ANALYTICS_LEADS_ENABLED=false ({runbook('failed-flow-run')})",
            alert_published=False,
        )
        return failed_run(failure)  # type: ignore[return-value]  # ends the run Failed
    now = datetime.now(UTC)
    recorded = record_leads(settings, Window.last(lookback_hours, now))
    counts.found, counts.recorded = recorded.found, recorded.recorded
    counts.repeats = recorded.repeats
    failures = deliver(settings, undelivered_leads(settings, now), counts)
    publish(counts)
    if failures:
        result: State[LeadCounts] = failed_run(not_delivered(failures, counts))
        return result  # type: ignore[return-value]  # ends the run Failed
    return counts


if __name__ == "__main__":  # python -m flows.leads [lookback_hours]
    hours = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_LOOKBACK_HOURS
    print(leads(lookback_hours=hours).headline())
