"""DLQ triage: the runbook's DLQ alarm procedure (docs/runbook.md#dlq-alarm) as a flow.

Page by page (10 messages), each message is classified with the processor's own contract
check (:func:`tasks.core.triage.classify_dead_letter`). Poison is archived to S3 (checksum
confirmed) and only then deleted; ``redrivable`` messages are sent back to the main queue
with ``redriveCount`` + 1 and deleted only once the send succeeded, so a crash duplicates,
never loses. A message triage cannot read is archived as poison, so it never blocks the
DLQ's one message group. The run reports counts, masked samples and the weeks whose sent
report is now stale (a dry run: would be); a run stopped by AWS deletes nothing
unconfirmed and says what it left.

``regenerate_reports`` waits for the processor to empty the main queue, logging how much
is left every :data:`DRAIN_REPORT_SECONDS`, then re-sends each stale week's report; a
queue that does not drain in time fails the run, saying what to do. A dry run with it
only lists the weeks a real run would regenerate. A failure alerts once: the run's own
alert carries it, and the failure hook then stays silent.

Why not ``StartMessageMoveTask``: it moves every message back, poison included, with no
redrive count to stop a loop and no archive. Why page by page: SQS returns nothing more of
a FIFO message group while any of its messages is in flight, so a page must be settled
before the next is received (a dry run therefore sees only the first page).
Details: docs/flows.md, "DLQ triage".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from pydantic import StrictBool

from flows.hooks import FLOW_HOOKS, dated_run_name, timeout_seconds
from flows.parameters import MessageBudget
from tasks.conclude import AlertedFailure, failed_run, run_artifact_key
from tasks.core.checks import runbook
from tasks.core.triage import (
    EventWeek,
    TriageSummary,
    affected_weeks,
    alert_needed,
    alert_text,
    counts_table,
    not_drained_message,
    shown,
    stop_message,
    summary_markdown,
    wait_for_drain,
)
from tasks.dlq_pages import RoundResult, merge_round, triage_round
from tasks.dynamodb.send_ledger import sent_report_weeks
from tasks.dynamodb.week_index import stored_query_weeks
from tasks.settings import Settings
from tasks.sns import publish_alert_task
from tasks.sqs.queues import (
    DRAIN_POLL_SECONDS,
    DRAIN_WAIT_SECONDS,
    PAGE_VISIBILITY_SECONDS,
    extend_visibility_task,
    queue_depth_task,
    queue_total,
    queue_total_task,
    release_messages_task,
)

FLOW_NAME = "dlq-triage"
#: Runs over this many messages get a progress artifact.
PROGRESS_FROM_MESSAGES = 200
#: While waiting for the main queue to drain, a progress line this often (seconds).
DRAIN_REPORT_SECONDS = 30
#: The step of each artifact in a try (``<flow>-try<NN>-<step>-<what>``).
PROGRESS_STEP, COUNTS_STEP, SUMMARY_STEP = 1, 2, 3


class TriageFailedError(AlertedFailure):
    """The run stopped early or could not regenerate the stale reports; the message says
    what was done, what is left and what to do."""


def _run_id() -> str:
    from prefect.runtime import flow_run

    run = flow_run.id
    return str(run) if run else datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S%fZ")


@flow(
    name=FLOW_NAME,
    persist_result=False,  # masked samples are still visitors' words: never in result storage
    flow_run_name=dated_run_name(FLOW_NAME),
    timeout_seconds=timeout_seconds(FLOW_NAME),
    **FLOW_HOOKS,
)
def dlq_triage(
    dry_run: StrictBool = False,
    max_messages: MessageBudget = 0,
    regenerate_reports: StrictBool = False,
) -> TriageSummary:
    """Classify every DLQ message; archive poison, redrive the rest; delete only then.

    Args:
        dry_run: Only look: classify, count and show masked samples and the weeks a real
            run would make stale; archive, redrive, delete and re-send nothing. A Quick run
            of the deployment is a dry run; the daily schedule runs for real.
            See docs/runbook.md#dlq-alarm.
        max_messages: Triage at most this many messages, a whole number; 0 (the default)
            triages every message on the DLQ.
        regenerate_reports: After the redrive, wait up to 5 minutes for the processor to
            empty the main queue, then regenerate and re-send the report of each week the
            redriven events change. The run fails, regenerating nothing, if the queue does
            not empty in time. With dry_run it only lists those weeks.
    """
    settings = Settings()
    summary = _count_dlq(settings.dlq_name, _run_id(), dry_run)
    summary.regenerate_reports = regenerate_reports
    paging = _page_through_dlq(settings, summary, max_messages or None)
    summary.stale_weeks = _find_stale_weeks(settings, paging.redriven_events)
    failures = [stop_message(summary)] if paging.error else []
    if regenerate_reports and summary.stale_weeks and not dry_run:
        failures += _regenerate_stale_reports(summary, settings.queue_name)
    _report_and_alert(summary, settings.dlq_alarm_threshold, settings.alarms_topic, failures)
    if failures:  # counts, a masked cause and the next step: a Failed run, no traceback
        failure = TriageFailedError("\n\n".join(failures), alert_published=summary.alerted)
        return failed_run(failure)  # type: ignore[return-value]  # ends the run Failed
    return summary


def _count_dlq(dlq_name: str, run_id: str, dry_run: bool) -> TriageSummary:
    """How many messages are on the DLQ (the alarm's figure), as a new summary."""
    depth = queue_depth_task(dlq_name)
    get_run_logger().info("DLQ holds %d message(s); dry run: %s", depth, dry_run)
    return TriageSummary(run_id=run_id, dry_run=dry_run, dlq_depth_before=depth)


@dataclass
class _Paging:
    """The state of the page loop: where it is, what it holds in flight, what it redrove."""

    summary: TriageSummary
    max_messages: int | None
    #: How many messages the run expects to triage (the progress artifact's 100 %).
    expected: int
    progress: UUID | None
    page: int = 1
    #: Messages a dry run received and keeps in flight until the run ends.
    held: list[dict[str, Any]] = field(default_factory=list)
    redriven_events: list[EventWeek] = field(default_factory=list)
    #: Why AWS stopped the run (masked and cut by ``tasks.core.triage.error_text``).
    error: str | None = None
    #: When ``held`` last had its visibility timeout set.
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, summary: TriageSummary, max_messages: int | None) -> _Paging:
        """The loop's state before the first page, with a progress artifact for long runs."""
        depth = summary.dlq_depth_before
        expected = min(depth, max_messages or depth)
        progress: UUID | None = None
        if expected > PROGRESS_FROM_MESSAGES:
            progress = cast(
                UUID,
                create_progress_artifact(
                    0.0,
                    key=run_artifact_key(FLOW_NAME, PROGRESS_STEP, "progress"),
                    description="DLQ messages triaged",
                ),
            )
        return cls(summary, max_messages, expected, progress)

    def budget(self) -> int | None:
        """How many more messages the next round may triage (``None``: no bound)."""
        return None if self.max_messages is None else self.max_messages - self.summary.seen

    def take(self, result: RoundResult) -> None:
        """Add one round to the summary and the loop's state, and move the progress bar."""
        self.page += result.pages
        merge_round(self.summary, result)
        self.held.extend(result.held)
        self.redriven_events.extend(result.redriven_events)
        if self.progress is not None and self.expected:
            update_progress_artifact(
                self.progress, min(100.0, 100.0 * self.summary.seen / self.expected)
            )
        if result.error:
            self.error = result.error
            get_run_logger().error("triage stopped: %s", self.error)

    def keep_held_invisible(self, dlq_name: str) -> None:
        """Extend the visibility of held messages before half their timeout has passed, so
        the next round cannot receive them again."""
        if self.held and time.monotonic() - self.started > PAGE_VISIBILITY_SECONDS / 2:
            extend_visibility_task(dlq_name, self.held, PAGE_VISIBILITY_SECONDS)
            self.started = time.monotonic()


def _page_through_dlq(
    settings: Settings, summary: TriageSummary, max_messages: int | None
) -> _Paging:
    """Round after round: classify each page, archive its poison and redrive the
    rest, until the DLQ is empty, ``max_messages`` are triaged or AWS stops the run; then
    count what is left on the DLQ."""
    dlq_name = settings.dlq_name
    paging = _Paging.start(summary, max_messages)
    try:
        while True:
            result = triage_round(
                summary.run_id, paging.page, paging.budget(), summary.dry_run, settings
            )
            paging.take(result)
            if result.finished:
                break
            paging.keep_held_invisible(dlq_name)
    finally:
        # A dry run leaves the DLQ as it found it: every message visible again.
        if paging.held:
            release_messages_task(dlq_name, paging.held)
    summary.left = queue_total_task(dlq_name)
    summary.stopped = paging.error
    return paging


def _find_stale_weeks(settings: Settings, redriven_events: list[EventWeek]) -> list[str]:
    """The weeks whose report was already sent and that a redriven event belongs to
    (a response's week is its stored query's)."""
    if not redriven_events:
        return []
    responses = [e.request_id for e in redriven_events if e.event_type == "response"]
    stored = stored_query_weeks(settings.analytics_table, responses) if responses else {}
    stale = sent_report_weeks(settings.summaries_table, affected_weeks(redriven_events, stored))
    return [week.id for week in stale]


def _regenerate_stale_reports(summary: TriageSummary, queue_name: str) -> list[str]:
    """Re-send each stale week's report once the main queue has processed the redriven
    events; if it does not drain in time, regenerate nothing. Returns what failed, each
    with what to do (empty: every stale week was regenerated)."""
    logger = get_run_logger()
    weeks = summary.stale_weeks

    def progress(depth: int, waited: float) -> None:
        logger.info(
            "waiting for the main queue %s to drain before regenerating %s: %d message(s) "
            "left, waited %.0f s of %.0f s",
            queue_name,
            ", ".join(weeks),
            depth,
            waited,
            DRAIN_WAIT_SECONDS,
        )

    waited = wait_for_drain(
        lambda: main_queue_depth(queue_name),
        timeout_seconds=DRAIN_WAIT_SECONDS,
        poll_seconds=DRAIN_POLL_SECONDS,
        report_seconds=DRAIN_REPORT_SECONDS,
        clock=time.monotonic,
        sleep=time.sleep,
        report=progress,
    )
    if not waited.drained:
        why = (
            f"the main queue still held {waited.depth} message(s) after "
            f"{waited.waited_seconds:.0f} s"
        )
        summary.unregenerated = dict.fromkeys(weeks, why)
        message = not_drained_message(queue_name, waited.depth, waited.waited_seconds, weeks)
        logger.error(message)
        return [message]
    return _regenerate_weeks(summary)


def main_queue_depth(queue_name: str) -> int:
    """What is still on the main queue, waiting or in flight (read on every poll)."""
    return queue_total(queue_name)


def _regenerate_weeks(summary: TriageSummary) -> list[str]:
    """Run the weekly report of each stale week with ``resend``; a week whose report run
    fails is named with what to do, and the others still run."""
    from flows.weekly_report import weekly_report

    failures = []
    for week in summary.stale_weeks:
        state = weekly_report(week=week, resend=True, return_state=True)
        if state.is_completed():
            summary.regenerated_weeks.append(week)
            continue
        why = f"its report run ended {state.name}: {state.message or 'no message'}"
        summary.unregenerated[week] = shown(why, 300)
        failures.append(
            f"The report of {week} was NOT regenerated ({summary.unregenerated[week]}): "
            f"run report-regeneration with week={week}, resend=true "
            f"({runbook('report-regeneration')})."
        )
    return failures


def _report_and_alert(
    summary: TriageSummary, alarm_threshold: int, alarms_topic: str, failures: list[str]
) -> None:
    """Counts and masked samples as artifacts; one alert, on the alarm rule (not for a
    dry run) or when the run fails, carrying the failure; the run's figures in the log."""
    create_table_artifact(
        counts_table(summary),
        key=run_artifact_key(FLOW_NAME, COUNTS_STEP, "counts"),
        description=f"DLQ triage {summary.run_id}",
    )
    create_markdown_artifact(
        summary_markdown(summary),
        key=run_artifact_key(FLOW_NAME, SUMMARY_STEP, "summary"),
        description="DLQ triage: samples (masked) and stale reports",
    )
    if failures or (not summary.dry_run and alert_needed(summary, alarm_threshold)):
        subject, message = alert_text(summary, alarm_threshold)
        try:
            publish_alert_task(alarms_topic, subject, message)
            summary.alerted = True
        except Exception as exc:  # the failure hook then tries again, and the run still fails
            get_run_logger().error("could not publish the triage alert: %s", exc)
            if not failures:
                raise
    get_run_logger().info(
        "seen %d, redriven %d, archived %d, left %d, stale weeks %s%s",
        summary.seen,
        summary.redriven,
        summary.archived,
        summary.left,
        summary.stale_weeks,
        " (dry run: nothing changed)" if summary.dry_run else "",
    )
