"""DLQ triage: the runbook's "Messages in Dead Letter Queue" procedure as a flow.

Page by page (10 messages), each message is classified with the processor's own contract
check (:func:`tasks.core.triage.classify_dead_letter`). Poison is archived to S3 (checksum
confirmed) and only then deleted; ``redrivable`` messages are sent back to the main queue
with ``redriveCount`` + 1 and deleted only once the send succeeded, so a crash duplicates,
never loses. A message triage cannot read is archived as poison, so it never blocks the
DLQ's one message group. The run reports counts, masked samples and the weeks whose sent
report is now stale; a run stopped by AWS deletes nothing unconfirmed and says what it left.

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

from flows.hooks import FLOW_HOOKS, dated_run_name, timeout_seconds
from flows.parameters import PositiveCount
from tasks.core.triage import (
    EventWeek,
    TriageSummary,
    affected_weeks,
    alert_needed,
    alert_text,
    counts_table,
    stop_message,
    summary_markdown,
)
from tasks.dlq_pages import RoundResult, merge_round, triage_round
from tasks.dynamodb.send_ledger import sent_report_weeks
from tasks.dynamodb.week_index import stored_query_weeks
from tasks.settings import Settings
from tasks.sns import publish_alert_task
from tasks.sqs.queues import (
    PAGE_VISIBILITY_SECONDS,
    extend_visibility_task,
    queue_depth_task,
    queue_total_task,
    release_messages_task,
    wait_for_main_queue,
)

#: Runs over this many messages get a progress artifact.
PROGRESS_FROM_MESSAGES = 200


def _run_id() -> str:
    from prefect.runtime import flow_run

    run = flow_run.id
    return str(run) if run else datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S%fZ")


@flow(
    name="dlq-triage",
    persist_result=False,  # masked samples are still visitors' words: never in result storage
    flow_run_name=dated_run_name("dlq-triage"),
    timeout_seconds=timeout_seconds("dlq-triage"),
    **FLOW_HOOKS,
)
def dlq_triage(
    dry_run: bool = False,
    max_messages: PositiveCount | None = None,
    regenerate_reports: bool = False,
) -> TriageSummary:
    """Classify every DLQ message; archive poison, redrive the rest; delete only then.

    ``max_messages`` (a whole number >= 1, strictly: ``True`` or ``"3"`` is refused by
    Prefect's parameter validation before the run starts) bounds how many are triaged.
    """
    if dry_run and regenerate_reports:
        raise ValueError("regenerate_reports re-sends reports: it needs dry_run=False")
    settings = Settings()
    summary = _count_dlq(settings.dlq_name, _run_id(), dry_run)
    paging = _page_through_dlq(settings, summary, max_messages)
    summary.stale_weeks = _find_stale_weeks(settings, paging.redriven_events)
    if regenerate_reports and summary.stale_weeks:
        _regenerate_stale_reports(summary, settings.queue_name)
    _report_and_alert(summary, settings.dlq_alarm_threshold, settings.alarms_topic)
    if paging.error:
        raise RuntimeError(stop_message(summary))  # counts and a masked cause, no samples
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
                    0.0, key="dlq-triage-progress", description="DLQ messages triaged"
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


def _regenerate_stale_reports(summary: TriageSummary, queue_name: str) -> None:
    """Re-send each stale week's report once the main queue has processed the redriven
    events; if it does not drain in time, say so and regenerate nothing."""
    if not wait_for_main_queue(queue_name):
        get_run_logger().warning("main queue not drained in time: stale reports not regenerated")
        return
    from flows.weekly_report import weekly_report

    for week in summary.stale_weeks:
        weekly_report(week=week, resend=True)
        summary.regenerated_weeks.append(week)


def _report_and_alert(summary: TriageSummary, alarm_threshold: int, alarms_topic: str) -> None:
    """Counts and masked samples as artifacts; an alert on the alarm rule (not for a
    dry run); the run's figures in the log."""
    create_table_artifact(
        counts_table(summary), key="dlq-triage-counts", description=f"DLQ triage {summary.run_id}"
    )
    create_markdown_artifact(
        summary_markdown(summary),
        key="dlq-triage-summary",
        description="DLQ triage: samples (masked) and stale reports",
    )
    if not summary.dry_run and alert_needed(summary, alarm_threshold):
        subject, message = alert_text(summary, alarm_threshold)
        publish_alert_task(alarms_topic, subject, message)
        summary.alerted = True
    get_run_logger().info(
        "seen %d, redriven %d, archived %d, left %d, stale weeks %s",
        summary.seen,
        summary.redriven,
        summary.archived,
        summary.left,
        summary.stale_weeks,
    )
