"""DLQ triage: the runbook's "Messages in Dead Letter Queue" procedure as a flow.

The runbook peeked at a few messages, guessed the cause, fixed it and then moved
*everything* back with ``aws sqs start-message-move-task``. This flow does it per message:

1. count the messages on the DLQ (the alarm's figure);
2. page through the DLQ (10 per ReceiveMessage, all attributes) and classify each message
   with the processor's own contract check (``tasks.triage.classify_dead_letter``);
3. poison (``invalid_json``, ``invalid_event``, ``exhausted``, ``store_refused``) is
   written to the S3 archive with a SHA-256 that S3 checks and confirms (``put_bytes``),
   and only then deleted from the DLQ;
4. ``redrivable`` messages are sent back to the main queue (same MessageGroupId, a fresh
   deduplication id derived from the DLQ message id, ``redriveCount`` + 1) and deleted
   from the DLQ only once the send succeeded. A crash in between duplicates, never loses;
5. report: counts, masked samples, the weeks whose already-sent report is now stale,
   an alert when the DLQ held more than the alarm threshold or poison was archived.

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

import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from flows.hooks import FLOW_HOOKS, dated_run_name, timeout_seconds
from lambdas.processor.settings import get_settings
from lambdas.processor.storage import batch_get_items
from tasks import s3
from tasks.aws import AWS_TASK_OPTIONS, aws_client
from tasks.ses import ledger_state
from tasks.sns import publish_alert_task
from tasks.sqs import (
    BATCH_LIMIT,
    PAGE_VISIBILITY_SECONDS,
    change_visibility,
    extend_visibility_task,
    queue_depth_task,
    queue_total,
    queue_total_task,
    queue_url,
    receive_page,
    redrive,
    release_messages_task,
)
from tasks.triage import (
    CLASSES,
    REDRIVABLE,
    Classification,
    EventWeek,
    TriageSummary,
    affected_weeks,
    alert_needed,
    alert_text,
    archive_key,
    archive_record,
    classify_dead_letter,
    counts_table,
    decode_archive,
    encode_archive,
    event_week,
    redrive_entry,
    summary_markdown,
)

#: Pages per ``triage-round`` task: the progress artifact moves every 500 messages.
PAGES_PER_ROUND = 50
#: Runs over this many messages get a progress artifact.
PROGRESS_FROM_MESSAGES = 200
#: How long to wait for the processor to consume redriven events before regenerating.
DRAIN_WAIT_SECONDS = 300
DRAIN_POLL_SECONDS = 5


class ArchiveVerificationError(RuntimeError):
    """The archive blob does not decode to the records it was made from."""


def archive_poison(key: str, records: list[dict[str, Any]]) -> None:
    """Write poison records to the archive bucket, checksum-confirmed: or raise.

    The blob is decoded before it is sent (our encoder is checked, in memory), and S3
    confirms the SHA-256 of what it stored (``s3.put_bytes``): together they say the
    object holds these records, so no GET is spent reading it back.
    """
    blob = encode_archive(records)
    found = [r.get("messageId") for r in decode_archive(blob)]
    if found != [r["messageId"] for r in records]:
        raise ArchiveVerificationError(
            f"archive {key} would hold {len(found)} record(s), expected {len(records)}: "
            "nothing written or deleted"
        )
    s3.put_bytes(key, blob, content_type="application/gzip")


@dataclass
class RoundResult:
    """What one ``triage-round`` saw and did (merged into the run's summary by the flow)."""

    pages: int = 0
    seen: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    redriven: int = 0
    archived: int = 0
    archive_keys: list[str] = field(default_factory=list)
    samples: list[tuple[Classification, str]] = field(default_factory=list)
    redriven_events: list[EventWeek] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    error: str | None = None


def settle_page(
    messages: list[dict[str, Any]],
    *,
    run_id: str,
    page: int,
    dry_run: bool,
    dlq_url: str,
    main_url: str,
    result: RoundResult,
) -> None:
    """Classify one page, archive its poison (verified), redrive the rest, then delete."""
    settings = get_settings()
    classified = [
        (
            m,
            classify_dead_letter(
                m["Body"], m.get("MessageAttributes", {}), max_redrives=settings.max_redrives
            ),
        )
        for m in messages
    ]
    for message, classification in classified:
        result.counts[classification.cls] += 1
        result.samples.append((classification, message["Body"]))
    result.seen += len(messages)
    if dry_run:
        result.held.extend(messages)
        return

    now = datetime.now(UTC)
    poison = [(m, c) for m, c in classified if c.poison]
    archived = [m for m, _ in poison]
    if poison:
        key = archive_key(run_id, page, now)
        archive_poison(key, [archive_record(m, c, now) for m, c in poison])
        result.archive_keys.append(key)
        result.archived += len(poison)
    redrivable = [m for m, c in classified if c.cls == REDRIVABLE]
    entries = [redrive_entry(m, f"r{i}") for i, m in enumerate(redrivable)]
    outcome = redrive(dlq_url, main_url, redrivable, entries, also_delete=archived)
    sent = set(outcome.sent)
    result.redriven += len(sent)
    for message in redrivable:
        if message["MessageId"] in sent and (week := event_week(message["Body"])) is not None:
            result.redriven_events.append(week)


@task(name="triage-round", cache_policy=NO_CACHE)
def triage_round(
    run_id: str,
    first_page: int,
    budget: int | None,
    dry_run: bool,
    max_pages: int = PAGES_PER_ROUND,
    visibility_timeout: int = PAGE_VISIBILITY_SECONDS,
) -> RoundResult:
    """Receive and settle up to ``max_pages`` pages of the DLQ.

    No Prefect retries on purpose: each page is committed as it goes (archived, sent,
    deleted), so re-running a round would only re-count. Transient errors of a single
    request are retried by botocore (adaptive mode); a page that still fails stops the
    run with ``error`` set, its messages made visible again for the next run.
    """
    settings = get_settings()
    dlq_url, main_url = queue_url(settings.dlq_name), queue_url(settings.queue_name)
    result = RoundResult()
    for page in range(first_page, first_page + max_pages):
        want = BATCH_LIMIT if budget is None else min(BATCH_LIMIT, budget - result.seen)
        if want <= 0:
            result.finished = True
            break
        messages = receive_page(dlq_url, max_messages=want, visibility_timeout=visibility_timeout)
        if not messages:
            result.finished = True
            break
        result.pages += 1
        try:
            settle_page(
                messages,
                run_id=run_id,
                page=page,
                dry_run=dry_run,
                dlq_url=dlq_url,
                main_url=main_url,
                result=result,
            )
        except Exception as exc:  # stop safely; report what was done
            result.error = f"page {page}: {type(exc).__name__}: {exc}"
            result.finished = True
            _release_after_failure(dlq_url, messages)
            break
    return result


def _release_after_failure(dlq_url: str, messages: list[dict[str, Any]]) -> None:
    """Best effort: make a failed page visible again (else it waits out its timeout)."""
    # Already failing: if this fails too, the visibility timeout releases them anyway.
    with contextlib.suppress(Exception):
        change_visibility(dlq_url, messages, 0)


def merge_round(summary: TriageSummary, result: RoundResult) -> None:
    summary.seen += result.seen
    for cls, count in result.counts.items():
        summary.counts[cls] = summary.counts.get(cls, 0) + count
    summary.redriven += result.redriven
    summary.archived += result.archived
    summary.archive_keys.extend(result.archive_keys)
    for classification, body in result.samples:
        summary.add_sample(classification, body)


@task(name="stored-query-weeks", **AWS_TASK_OPTIONS)
def stored_query_weeks(request_ids: list[str]) -> dict[str, str]:
    """requestId -> ``week`` of the stored analytics record, for requests whose query is stored."""
    items = batch_get_items(
        aws_client("dynamodb"),
        get_settings().analytics_table,
        request_ids,
        ProjectionExpression="requestId, #week",
        ExpressionAttributeNames={"#week": "week"},
    )
    return {item["requestId"]["S"]: item["week"]["S"] for item in items if "week" in item}


@task(name="sent-report-weeks", **AWS_TASK_OPTIONS)
def sent_report_weeks(weeks: list[str]) -> list[str]:
    """The weeks whose report the summaries ledger records as sent."""
    return [week for week in weeks if ledger_state(week)[0] == "sent"]


def wait_for_main_queue(timeout_seconds: float = DRAIN_WAIT_SECONDS) -> bool:
    """Wait until the processor has consumed the main queue (so a regenerated report counts
    the redriven events); False if it still holds messages after ``timeout_seconds``."""
    name = get_settings().queue_name
    deadline = time.monotonic() + timeout_seconds
    while True:
        if queue_total(name) == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(DRAIN_POLL_SECONDS)


def _run_id() -> str:
    from prefect.runtime import flow_run

    run = flow_run.id
    return str(run) if run else datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S%fZ")


@flow(
    name="dlq-triage",
    flow_run_name=dated_run_name("dlq-triage"),
    timeout_seconds=timeout_seconds("dlq-triage"),
    **FLOW_HOOKS,
)
def dlq_triage(
    dry_run: bool = False,
    max_messages: int | None = None,
    regenerate_reports: bool = False,
) -> TriageSummary:
    """Classify every DLQ message; archive poison, redrive the rest; nothing is lost."""
    if max_messages is not None and (isinstance(max_messages, bool) or max_messages < 1):
        raise ValueError(f"max_messages must be a whole number >= 1 or None, got {max_messages!r}")
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
                error = result.error
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

    # 5. Reports already sent for weeks the redriven events belong to are now stale.
    if redriven_events:
        responses = [e.request_id for e in redriven_events if e.event_type == "response"]
        stored = stored_query_weeks(responses) if responses else {}
        summary.stale_weeks = sent_report_weeks(affected_weeks(redriven_events, stored))
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
        if error:
            message += f"\nThe run stopped early: {error}"
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
        raise RuntimeError(f"DLQ triage stopped early ({error}); nothing was lost: {summary}")
    return summary
