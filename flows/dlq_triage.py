"""DLQ triage: the runbook's "Messages in Dead Letter Queue" procedure as a flow.

The runbook peeked at a few messages, guessed the cause, fixed it and then moved
*everything* back with ``aws sqs start-message-move-task``. This flow does it per message:

1. count the messages on the DLQ (the alarm's figure);
2. page through the DLQ (10 per ReceiveMessage, all attributes) and classify each message
   with the processor's own contract check (``tasks.core.triage.classify_dead_letter``);
3. poison (``invalid_json``, ``invalid_event``, ``store_refused``, ``duplicate_conflict``,
   ``exhausted``, ``unreadable``, ``unsendable``) is written to the S3 archive with its
   reason and a SHA-256 that S3 checks and confirms (``put_bytes``), and only then deleted
   from the DLQ. A message triage cannot read is poison too: one bad message at the head of
   the single-group FIFO DLQ must not stop every run on page 1 while the DLQ's retention
   expires everything behind it;
4. ``redrivable`` messages are sent back to the main queue (same MessageGroupId, a fresh
   deduplication id derived from the DLQ message id, ``redriveCount`` + 1) and deleted
   from the DLQ only once the send succeeded. A crash in between duplicates, never loses;
5. report: counts, masked samples, the weeks whose already-sent report is now stale,
   an alert when the DLQ held more than the alarm threshold or poison was archived. A run
   stopped by AWS (S3 down, a send failing on SQS's side) deletes nothing it did not
   archive or redrive, and fails saying how many messages it left and why.

Why not ``StartMessageMoveTask``: it moves every message back, poison included, so an
invalid body would be received, dead-lettered and moved again forever, and a valid one
that keeps failing would loop with no count to stop it; it cannot add a redrive count
or archive anything. (moto does not implement it either, so it could not be tested.)

Why page by page instead of "read everything, then act": the DLQ is a FIFO queue and every
message of this pipeline is in the one message group ``analytics``. SQS returns nothing
more of a group while any of its messages is in flight, so a page must be settled
(deleted) before the next can be received. The same rule limits a dry run, which deletes
nothing: it can only see the first page of each message group, and says so.
"""

from __future__ import annotations

import time
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
from lambdas.processor.settings import get_settings
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
from tasks.dynamodb.send_ledger import sent_report_weeks
from tasks.dynamodb.week_index import stored_query_weeks
from tasks.sns import publish_alert_task
from tasks.sqs.dlq_pages import merge_round, triage_round
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
    settings = get_settings()
    logger = get_run_logger()
    run_id = _run_id()

    # 1. How many messages are on the DLQ (the runbook's get-queue-attributes).
    depth = queue_depth_task(settings.dlq_name)
    summary = TriageSummary(run_id=run_id, dry_run=dry_run, dlq_depth_before=depth)
    logger.info("DLQ holds %d message(s); dry run: %s", depth, dry_run)
    expected = min(depth, max_messages or depth)
    progress: UUID | None = None
    if expected > PROGRESS_FROM_MESSAGES:
        progress = cast(
            UUID,
            create_progress_artifact(
                0.0, key="dlq-triage-progress", description="DLQ messages triaged"
            ),
        )

    # 2-4. Page through the DLQ: classify, archive poison, redrive the rest.
    held: list[dict[str, Any]] = []
    redriven_events: list[EventWeek] = []
    error: str | None = None
    started, page = time.monotonic(), 1
    try:
        while True:
            budget = None if max_messages is None else max_messages - summary.seen
            result = triage_round(run_id, page, budget, dry_run)
            page += result.pages
            merge_round(summary, result)
            held.extend(result.held)
            redriven_events.extend(result.redriven_events)
            if progress is not None and expected:
                update_progress_artifact(progress, min(100.0, 100.0 * summary.seen / expected))
            if result.error:
                error = result.error  # masked and cut (tasks.core.triage.error_text)
                logger.error("triage stopped: %s", error)
            if result.finished:
                break
            if held and time.monotonic() - started > PAGE_VISIBILITY_SECONDS / 2:
                extend_visibility_task(settings.dlq_name, held, PAGE_VISIBILITY_SECONDS)
                started = time.monotonic()
    finally:
        # A dry run leaves the DLQ as it found it: every message visible again.
        if held:
            release_messages_task(settings.dlq_name, held)
    summary.left = queue_total_task(settings.dlq_name)
    summary.stopped = error

    # 5. Reports already sent for weeks the redriven events belong to are now stale.
    if redriven_events:
        responses = [e.request_id for e in redriven_events if e.event_type == "response"]
        stored = stored_query_weeks(responses) if responses else {}
        stale = sent_report_weeks(affected_weeks(redriven_events, stored))
        summary.stale_weeks = [week.id for week in stale]
    if regenerate_reports and summary.stale_weeks:
        if wait_for_main_queue():
            from flows.weekly_report import weekly_report

            for week in summary.stale_weeks:
                weekly_report(week=week, resend=True)
                summary.regenerated_weeks.append(week)
        else:
            logger.warning("main queue not drained in time: stale reports not regenerated")

    # 6. Observability: counts, masked samples, progress; alert on the alarm rule.
    create_table_artifact(
        counts_table(summary), key="dlq-triage-counts", description=f"DLQ triage {run_id}"
    )
    create_markdown_artifact(
        summary_markdown(summary),
        key="dlq-triage-summary",
        description="DLQ triage: samples (masked) and stale reports",
    )
    if not dry_run and alert_needed(summary, settings.dlq_alarm_threshold):
        subject, message = alert_text(summary, settings.dlq_alarm_threshold)
        publish_alert_task(subject, message)
        summary.alerted = True
    logger.info(
        "seen %d, redriven %d, archived %d, left %d, stale weeks %s",
        summary.seen,
        summary.redriven,
        summary.archived,
        summary.left,
        summary.stale_weeks,
    )
    if error:
        raise RuntimeError(stop_message(summary))  # counts and a masked cause, no samples
    return summary
