"""CloudWatch alarms and metrics, and CloudWatch Logs log groups, as Prefect tasks.

Every task makes its client inside (never passed in) and does not cache: the same read
twice in one run (alarm state before and after the notification test) must hit AWS twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prefect import task

from tasks.aws import TASK_OPTIONS, aws_client
from tasks.core.health import ALARM_PREFIX, AlarmState

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.literals import StateValueType, StatisticType

ALARM_STATES: tuple[StateValueType, ...] = ("OK", "ALARM", "INSUFFICIENT_DATA")


@task(name="describe-alarms", **TASK_OPTIONS)
def describe_alarms(prefix: str = ALARM_PREFIX) -> list[AlarmState]:
    """Metric alarms whose name starts with ``prefix``, with their state and reason."""
    paginator = aws_client("cloudwatch").get_paginator("describe_alarms")
    alarms: list[AlarmState] = []
    for page in paginator.paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]):
        alarms += [
            AlarmState(a["AlarmName"], a["StateValue"], a.get("StateReason", ""))
            for a in page.get("MetricAlarms", [])
        ]
    return alarms


@task(name="alarm-actions", **TASK_OPTIONS)
def alarm_actions(name: str) -> list[str]:
    """The ALARM actions (SNS topic ARNs) of one alarm: what a notification reaches."""
    response = aws_client("cloudwatch").describe_alarms(AlarmNames=[name])
    alarms = response.get("MetricAlarms", [])
    if not alarms:
        raise LookupError(f"alarm {name!r} not found")
    return list(alarms[0].get("AlarmActions", []))


@task(name="set-alarm-state", **TASK_OPTIONS)
def set_alarm_state(name: str, state: str, reason: str) -> None:
    """Force an alarm's state (it re-evaluates at its next period)."""
    if state not in ALARM_STATES:
        raise ValueError(f"alarm state {state!r} is not one of {', '.join(ALARM_STATES)}")
    aws_client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


@task(name="metric-statistic", **TASK_OPTIONS)
def metric_statistic(
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    *,
    window_seconds: int,
    statistic: StatisticType = "Sum",
    period_seconds: int = 3600,
    now: datetime | None = None,
) -> float | None:
    """``Sum`` over the window (or the latest ``Maximum``/``Average``); None when no data.

    None, not 0, when CloudWatch holds no datapoint: "nothing was measured" is not
    "zero was measured", and callers show it as "no data" rather than fail on it.
    """
    end = (now or datetime.now(UTC)).astimezone(UTC)
    response = aws_client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=end - timedelta(seconds=window_seconds),
        EndTime=end,
        Period=period_seconds,
        Statistics=[statistic],
    )
    points = sorted(response.get("Datapoints", []), key=lambda p: p["Timestamp"])
    if not points:
        return None
    if statistic == "Sum":
        return float(sum(p["Sum"] for p in points))
    return float(points[-1][statistic])


@dataclass(frozen=True)
class LogGroup:
    name: str
    stored_bytes: int | None
    retention_days: int | None


@task(name="describe-log-groups", **TASK_OPTIONS)
def describe_log_groups(prefix: str) -> list[LogGroup]:
    """Log groups under ``prefix`` with stored bytes and retention (None: never expire)."""
    paginator = aws_client("logs").get_paginator("describe_log_groups")
    groups: list[LogGroup] = []
    for page in paginator.paginate(logGroupNamePrefix=prefix):
        groups += [
            LogGroup(g["logGroupName"], g.get("storedBytes"), g.get("retentionInDays"))
            for g in page.get("logGroups", [])
        ]
    return groups


@task(name="put-retention-policy", **TASK_OPTIONS)
def put_retention_policy(name: str, days: int) -> None:
    aws_client("logs").put_retention_policy(logGroupName=name, retentionInDays=days)
