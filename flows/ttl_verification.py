"""TTL verification (docs/runbook.md#ttl-findings), as a flow (``ttl-verification``).

For each table with a TTL policy in the settings (the raw events table: attribute ``ttl``,
``query_events_ttl_days`` days; the leads table while leads are on: ``ttl``,
``leads_retention_days`` days):

1. TTL status is ENABLED on the policy's attribute; with ``fix=True`` a disabled TTL is
   enabled (AWS allows one TTL change per table per hour, so a wrong attribute is only
   reported: fixing it needs a disable and an enable an hour apart).
2. A projected parallel Scan (``segments``: a whole number, 1 to 64) of keys, TTL and
   event time classifies every item (``tasks.core.ttl``): missing, not a number,
   milliseconds, expiring later than the policy allows, expired longer than the grace
   period yet still present. Any of these fails.

Findings: markdown artifact ``ttl-verification-try<NN>-1-findings``, one log line per check,
and on failure one alert to the alarms topic and the Failed state (``tasks.conclude``).
"""

from __future__ import annotations

import time

from prefect import flow
from pydantic import StrictBool

from flows.hooks import FLOW_HOOKS, dated_run_name, timeout_seconds
from flows.parameters import SegmentCount
from tasks.conclude import ChecksFailedError, conclude, failed_run
from tasks.core.checks import Check, Findings
from tasks.core.ttl import TtlPolicy, item_checks, merge_all, status_check
from tasks.dynamodb.ttl import enable_ttl, scan_ttl_segment, ttl_status
from tasks.settings import Settings

FLOW_NAME = "ttl-verification"


def ttl_policies(settings: Settings) -> dict[str, TtlPolicy]:
    """Tables with a TTL policy, from the settings: the raw events table, and the leads
    table while leads are on (its TTL is what deletes contact details after the owner's
    retention, report-insights.md section 7)."""
    policies = {
        settings.query_events_table: TtlPolicy(
            attribute=settings.ttl_attribute,
            ttl_days=settings.query_events_ttl_days,
            grace_hours=settings.ttl_grace_hours,
        )
    }
    if settings.leads_enabled:
        policies[settings.leads_table] = TtlPolicy(
            attribute="ttl",
            ttl_days=settings.leads_retention_days,
            grace_hours=settings.ttl_grace_hours,
        )
    return policies


def verify_table(table: str, policy: TtlPolicy, fix: bool, segments: int) -> list[Check]:
    status, attribute = ttl_status(table)
    action = ""
    if fix and status in ("DISABLED", "DISABLING") and attribute in (None, policy.attribute):
        if status == "DISABLED":
            enable_ttl(table, policy.attribute)
            status, attribute = ttl_status(table)
            action = f"fixed: TTL enabled on {policy.attribute!r}"
        else:
            action = "not fixed: TTL is being disabled; enable it once that completes"
    checks = [status_check(table, status, attribute, policy, action)]

    now_s = int(time.time())
    futures = [scan_ttl_segment.submit(table, policy, s, segments, now_s) for s in range(segments)]
    summary = merge_all(future.result() for future in futures)
    return checks + item_checks(table, summary, policy)


@flow(
    name=FLOW_NAME,
    log_prints=True,
    flow_run_name=dated_run_name(FLOW_NAME),
    timeout_seconds=timeout_seconds(FLOW_NAME),
    **FLOW_HOOKS,
)
def ttl_verification(fix: StrictBool = False, segments: SegmentCount = 4) -> Findings:
    """Verify TTL on every table with a TTL policy; ``fix`` enables a disabled TTL.

    Args:
        fix: Enable the TTL where it is disabled (AWS allows one TTL change per table per
            hour; a TTL on the wrong attribute is only reported). See
            docs/runbook.md#ttl-findings.
        segments: Parallel scan segments, a whole number from 1 to 64 (default 4).
    """
    settings = Settings()
    checks: list[Check] = []
    for table, policy in ttl_policies(settings).items():
        checks += verify_table(table, policy, fix, segments)
    try:
        return conclude(FLOW_NAME, Findings.of(FLOW_NAME, checks), settings.alarms_topic)
    except ChecksFailedError as failure:
        return failed_run(failure)  # type: ignore[return-value]  # ends the run Failed


if __name__ == "__main__":
    ttl_verification()
