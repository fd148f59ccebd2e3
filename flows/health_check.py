"""Daily health check (docs/runbook.md#failed-health-check), as a flow (``health-check``).

Top to bottom, like the runbook: CloudWatch alarms ``cv-analytics-*`` (fails on any in
ALARM); main queue depth and the age of its oldest message from CloudWatch (fails above
``max_queue_age_seconds``; no datapoint passes); DLQ depth (fails above
``dlq_alarm_threshold``); the newest analytics record and requests still awaiting a
response, read with the report's own Query on the ``week-index`` partitions of this and
last ISO week (the index is keyed by request id, not time; never a Scan); processor
invocations and errors of the last 24 h. Findings: artifact ``health-check-try<NN>-1-findings``,
one log line per check, and on failure one alert and the Failed state, each failed check
with its next step (``tasks.conclude``).
Details: docs/flows.md.
"""

from __future__ import annotations

import time

from prefect import flow

from flows.hooks import FLOW_HOOKS, dated_run_name, timeout_seconds
from lambdas.shared.weeks import Week
from tasks.cloudwatch import describe_alarms, metric_statistic
from tasks.conclude import ChecksFailedError, conclude, failed_run
from tasks.core import health
from tasks.core.checks import Check, Findings
from tasks.core.health import ALARM_PREFIX
from tasks.dynamodb.week_index import read_recent_records
from tasks.settings import Settings
from tasks.sqs.queues import queue_counts_task

FLOW_NAME = "health-check"
QUEUE_AGE_WINDOW_SECONDS = 900
DAY_SECONDS = 86_400


def recent_records_checks(settings: Settings, now_ms: int) -> list[Check]:
    current = Week.of_ms(now_ms)
    weeks = [current.previous, current]
    records, orphans = read_recent_records(settings.analytics_table, weeks)
    newest = health.newest_record_ms([*records, *orphans])
    waiting = health.awaiting_response(records, now_ms, settings.awaiting_response_after_seconds)
    return [
        health.newest_record_check(newest, now_ms, weeks),
        health.awaiting_check(waiting, now_ms, settings.awaiting_response_after_seconds),
    ]


@flow(
    name=FLOW_NAME,
    log_prints=True,
    flow_run_name=dated_run_name(FLOW_NAME),
    timeout_seconds=timeout_seconds(FLOW_NAME),
    **FLOW_HOOKS,
)
def health_check() -> Findings:
    """Run the daily checks; fail (and alert) on an alarm, a full DLQ or a stuck queue."""
    settings = Settings()
    now_ms = int(time.time() * 1000)
    checks: list[Check] = [health.alarms_check(describe_alarms(ALARM_PREFIX), ALARM_PREFIX)]

    main = queue_counts_task(settings.queue_name)
    checks.append(health.queue_depth_check(settings.queue_name, main["visible"], main["in flight"]))
    age = metric_statistic(
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        {"QueueName": settings.queue_name},
        window_seconds=QUEUE_AGE_WINDOW_SECONDS,
        statistic="Maximum",
        period_seconds=60,
    )
    checks.append(health.oldest_message_check(age, settings.max_queue_age_seconds))

    dlq = queue_counts_task(settings.dlq_name)
    dlq_total = dlq["visible"] + dlq["in flight"] + dlq["delayed"]
    checks.append(health.dlq_check(settings.dlq_name, dlq_total, settings.dlq_alarm_threshold))

    checks += recent_records_checks(settings, now_ms)

    function = {"FunctionName": settings.processor_function}
    invocations = metric_statistic(
        "AWS/Lambda", "Invocations", function, window_seconds=DAY_SECONDS, statistic="Sum"
    )
    errors = metric_statistic(
        "AWS/Lambda", "Errors", function, window_seconds=DAY_SECONDS, statistic="Sum"
    )
    checks.append(health.processor_metrics_check(settings.processor_function, invocations, errors))
    try:
        return conclude(FLOW_NAME, Findings.of(FLOW_NAME, checks), settings.alarms_topic)
    except ChecksFailedError as failure:
        return failed_run(failure)  # type: ignore[return-value]  # ends the run Failed


if __name__ == "__main__":
    health_check()
