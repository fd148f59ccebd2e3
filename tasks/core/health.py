"""The daily health check's rules, as checks over figures already read from AWS. Pure.

The runbook's "Daily Health Checks" become checks here. Only three of them can fail the
flow (the runbook's alarm conditions, thresholds from settings): a ``cv-analytics-*``
alarm in ALARM, a dead-letter queue holding more than ``dlq_alarm_threshold`` messages,
and a main queue whose oldest message is older than ``max_queue_age_seconds``. The rest
(queue depth, newest record, requests awaiting a response, processor invocations and
errors) are shown so a person can judge them: a quiet CV site legitimately has days with
no traffic, so "no recent data" is not a fault.

Each check that can fail says what to do next: the section of ``docs/runbook.md`` for the
alarm or queue in question (:func:`alarm_next_step`), so the failure message, the alert and
the artifact name the next step, not only what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambdas.shared.weeks import Week
from tasks.core.checks import Check, runbook
from tasks.core.ttl import format_age

SAMPLE_LIMIT = 5
#: Every CloudWatch alarm of the project starts with this (``deployments/template.yaml``).
ALARM_PREFIX = "cv-analytics-"
#: The runbook section of each alarm of the template, by the name after the prefix.
ALARM_RUNBOOK = {
    "dlq-depth": "dlq-alarm",
    "processor-errors": "processor-alarms",
    "processor-throttles": "processor-alarms",
    "queue-age": "queue-age-alarm",
}


def alarm_next_step(names: Sequence[str], prefix: str = ALARM_PREFIX) -> str:
    """What to do about alarms in ALARM: the runbook section of each (an alarm this project
    does not know: the failed health check section)."""
    anchors = sorted(
        {ALARM_RUNBOOK.get(name.removeprefix(prefix), "failed-health-check") for name in names}
    )
    sections = ", ".join(runbook(anchor) for anchor in anchors)
    return f"follow the alarm's section of the runbook: {sections}"


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str
    reason: str = ""


def alarms_check(alarms: Sequence[AlarmState], prefix: str = ALARM_PREFIX) -> Check:
    """Fails when any alarm of the pipeline is in ALARM; an empty list is itself suspicious."""
    ours = [a for a in alarms if a.name.startswith(prefix)]
    firing = [a.name for a in ours if a.state == "ALARM"]
    figures: dict[str, Any] = {a.name: a.state for a in ours}
    if not ours:
        return Check(
            "alarms",
            False,
            f"no alarms named {prefix}* found: monitoring is missing",
            next_step=(
                "deploy the stack's template again (docs/deploy.md), which creates the "
                f"alarms; see {runbook('failed-health-check')}"
            ),
        )
    if firing:
        return Check(
            "alarms",
            False,
            f"{len(firing)} in ALARM: {', '.join(firing)}",
            figures,
            next_step=alarm_next_step(firing, prefix),
        )
    return Check("alarms", True, f"all {len(ours)} alarms out of ALARM", figures)


def queue_depth_check(name: str, visible: int, in_flight: int) -> Check:
    """Shown, not failing: a backlog shows up as the age of the oldest message instead."""
    return Check(
        "queue depth",
        True,
        f"{name}: {visible} waiting, {in_flight} in flight",
        {"visible": visible, "in flight": in_flight},
    )


def oldest_message_check(age_seconds: float | None, max_age_seconds: int) -> Check:
    """Fails when the oldest message waits longer than the threshold; no data passes."""
    figures = {"oldest message age (s)": age_seconds, "threshold (s)": max_age_seconds}
    if age_seconds is None:
        return Check(
            "oldest message age",
            True,
            "no data: CloudWatch has no ApproximateAgeOfOldestMessage datapoint in the window "
            "(an idle queue, or an emulator that does not publish SQS metrics)",
            figures,
        )
    ok = age_seconds <= max_age_seconds
    verdict = "within" if ok else "older than"
    return Check(
        "oldest message age",
        ok,
        f"oldest message {format_age(int(age_seconds))} old, {verdict} the "
        f"{format_age(max_age_seconds)} threshold",
        figures,
        next_step="" if ok else f"the processor is behind or stopped: {runbook('queue-age-alarm')}",
    )


def dlq_check(name: str, depth: int, threshold: int) -> Check:
    """Fails when the dead-letter queue holds more than the alarm threshold."""
    ok = depth <= threshold
    relation = "at most" if ok else "more than"
    return Check(
        "dead-letter queue",
        ok,
        f"{name} holds {depth} messages ({relation} {threshold})",
        {"depth": depth, "threshold": threshold},
        next_step=""
        if ok
        else f"run dlq-triage, a dry run first (a Quick run is one): {runbook('dlq-alarm')}",
    )


def newest_record_ms(records: Iterable[Mapping[str, Any]]) -> int | None:
    """The latest query or response time among analytics records (epoch ms)."""
    times = [
        int(record[key])
        for record in records
        for key in ("queryTs", "responseTs")
        if isinstance(record.get(key), int | float)
    ]
    return max(times) if times else None


def newest_record_check(newest_ms: int | None, now_ms: int, weeks: Sequence[Week]) -> Check:
    """Shown, not failing: how long ago the pipeline last stored something."""
    span = " and ".join(week.id for week in weeks)
    if newest_ms is None:
        return Check(
            "newest analytics record",
            True,
            f"no records in {span} (no traffic, or nothing processed)",
            {"newest record age": None},
        )
    age_s = max(0, (now_ms - newest_ms) // 1000)
    return Check(
        "newest analytics record",
        True,
        f"newest record stored for an event {format_age(age_s)} ago",
        {"newest record age": format_age(age_s), "newest event ms": newest_ms},
    )


def awaiting_response(
    records: Iterable[Mapping[str, Any]], now_ms: int, after_seconds: int
) -> list[Mapping[str, Any]]:
    """Records with a query but no response whose query is older than ``after_seconds``."""
    cutoff = now_ms - after_seconds * 1000
    return sorted(
        (
            record
            for record in records
            if isinstance(record.get("queryTs"), int | float)
            and record.get("responseTs") is None
            and record["queryTs"] < cutoff
        ),
        key=lambda record: record["queryTs"],
    )


def awaiting_check(waiting: Sequence[Mapping[str, Any]], now_ms: int, after_seconds: int) -> Check:
    """Shown, not failing: the Worker may legitimately fail to answer (timeouts, closed tab)."""
    figures: dict[str, Any] = {"count": len(waiting)}
    if waiting:
        figures["oldest waiting"] = format_age((now_ms - int(waiting[0]["queryTs"])) // 1000)
        figures["examples"] = [str(r["requestId"]) for r in waiting[:SAMPLE_LIMIT]]
    return Check(
        "awaiting response",
        True,
        f"{len(waiting)} requests without a response after {format_age(after_seconds)}",
        figures,
    )


def processor_metrics_check(
    function: str, invocations: float | None, errors: float | None
) -> Check:
    """Shown, not failing: errors alarm on their own (cv-analytics-processor-errors)."""
    figures = {"invocations (24 h)": invocations, "errors (24 h)": errors}
    if invocations is None and errors is None:
        detail = f"{function}: no CloudWatch data for the last 24 h"
    else:
        detail = (
            f"{function}: {int(invocations or 0)} invocations, {int(errors or 0)} errors "
            "in the last 24 h"
        )
    return Check("processor activity", True, detail, figures)
