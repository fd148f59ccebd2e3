"""Triage of the DLQ page by page: classify, archive poison, redrive the rest, then delete.

The DLQ is a FIFO queue and every message of this pipeline is in the one message group
``analytics``: SQS returns nothing more of a group while any of its messages is in
flight, so a page must be settled (deleted) before the next can be received. A dry run,
which deletes nothing, can only see the first page of each group.

Poison is written to S3 (checksum-confirmed) before it is deleted; a redrivable message
is deleted only once its send to the main queue succeeded. A crash in between
duplicates, never loses.

A page always moves on unless AWS itself fails: a message triage cannot read is
``unreadable`` poison, one whose redrive SQS refuses is ``unsendable`` poison, both
archived and deleted like the rest. A transient failure (S3 or SQS down, a send failing on
SQS's side, a delete not done) stops the run with nothing deleted that was not archived or
redriven, the page visible again for the next run, and says why.

The queues, the archive bucket and the redrive limit are the flow's settings, passed in
(``settings``): this module reads none of its own.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import task

from tasks.aws import CACHE_RULE
from tasks.core.triage import (
    CLASSES,
    REDRIVABLE,
    SAMPLES_PER_CLASS,
    UNSENDABLE,
    Classification,
    EventWeek,
    TriageSummary,
    archive_key,
    archive_record,
    classify_dead_letter,
    error_text,
    event_week,
    redrive_or_refusal,
    refused_by_sqs,
    sample_line,
)
from tasks.s3.poison_archive import archive_poison
from tasks.settings import Settings
from tasks.sqs.queues import (
    BATCH_LIMIT,
    PAGE_VISIBILITY_SECONDS,
    RedriveOutcome,
    change_visibility,
    delete_batch,
    queue_url,
    receive_page,
    redrive,
)

#: Pages per ``triage-round`` task: the progress artifact moves every 500 messages.
PAGES_PER_ROUND = 50


@dataclass
class RoundResult:
    """What one ``triage-round`` saw and did (merged into the run's summary by the flow)."""

    pages: int = 0
    seen: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    redriven: int = 0
    archived: int = 0
    archive_keys: list[str] = field(default_factory=list)
    #: Up to ``SAMPLES_PER_CLASS`` per class: the class and a masked sample line.
    samples: list[tuple[str, str]] = field(default_factory=list)
    #: The events redriven (in a dry run: that a real run would redrive), for stale weeks.
    redriven_events: list[EventWeek] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    #: Message ids deleted from the DLQ (archived or redriven first).
    deleted: list[str] = field(default_factory=list)
    finished: bool = False
    error: str | None = None

    def count(self, classification: Classification, body: Any) -> None:
        self.counts[classification.cls] = self.counts.get(classification.cls, 0) + 1
        if sum(cls == classification.cls for cls, _ in self.samples) < SAMPLES_PER_CLASS:
            self.samples.append((classification.cls, sample_line(body, classification)))


class PageNotSettledError(RuntimeError):
    """Part of a page could not be settled for a reason worth another try (SQS's side)."""


def _archive(
    bucket: str,
    run_id: str,
    page: int,
    poison: list[tuple[dict[str, Any], Classification]],
    result: RoundResult,
) -> None:
    """One checksum-confirmed archive object for ``poison``, or raise having deleted nothing."""
    now = datetime.now(UTC)
    key = archive_key(run_id, page, now, uuid.uuid4().hex[:12])
    archive_poison(bucket, key, [archive_record(m, c, now) for m, c in poison])
    result.archive_keys.append(key)
    result.archived += len(poison)


def settle_page(
    messages: list[dict[str, Any]],
    *,
    run_id: str,
    page: int,
    dry_run: bool,
    dlq_url: str,
    main_url: str,
    max_redrives: int,
    bucket: str,
    result: RoundResult,
) -> None:
    """Classify one page, archive its poison (verified), redrive the rest, then delete.

    Raises (having deleted only what was archived or redriven) when AWS fails, or when SQS
    failed a send or a delete on its side; ``result`` then holds what was done.
    """
    plan = _classify_page(messages, max_redrives, result)
    result.seen += len(messages)
    if dry_run:  # keep them in flight until the run ends; note what a real run would redrive
        result.held.extend(messages)
        result.redriven_events.extend(
            week for m in plan.redrivable if (week := event_week(m["Body"])) is not None
        )
        return
    if plan.poison:
        _archive(bucket, run_id, page, plan.poison, result)
    outcome = redrive(
        dlq_url, main_url, plan.redrivable, plan.entries, also_delete=[m for m, _ in plan.poison]
    )
    _record_redrive(plan, outcome, result)
    if outcome.refused:
        _settle_refused(bucket, run_id, page, dlq_url, outcome, result)
    _check_settled(plan, outcome, result)


@dataclass
class _PagePlan:
    """One page classified: each message with its class, and the redrive of the redrivable."""

    classified: list[tuple[dict[str, Any], Classification]] = field(default_factory=list)
    redrivable: list[dict[str, Any]] = field(default_factory=list)
    #: The SendMessageBatch entries of ``redrivable``, in the same order.
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def poison(self) -> list[tuple[dict[str, Any], Classification]]:
        return [(m, c) for m, c in self.classified if c.poison]


def _classify_page(
    messages: list[dict[str, Any]], max_redrives: int, result: RoundResult
) -> _PagePlan:
    """Classify and count each message; a redrivable one SQS would refuse is poison already.

    ``max_redrives``: redrives after which a valid message counts as exhausted.
    """
    plan = _PagePlan()
    for i, message in enumerate(messages):
        classification = classify_dead_letter(
            message.get("Body"),  # type: ignore[arg-type]  # checked: not text is unreadable
            message.get("MessageAttributes") or {},
            max_redrives=max_redrives,
        )
        if classification.cls == REDRIVABLE:
            planned = redrive_or_refusal(message, f"r{i}")
            if isinstance(planned, Classification):
                classification = planned
            else:
                plan.redrivable.append(message)
                plan.entries.append(planned)
        plan.classified.append((message, classification))
        result.count(classification, message.get("Body"))
    return plan


def _record_redrive(plan: _PagePlan, outcome: RedriveOutcome, result: RoundResult) -> None:
    """Count what was sent and deleted, and the weeks of the events sent back."""
    result.deleted.extend(outcome.deleted)
    result.redriven += len(outcome.sent)
    sent = set(outcome.sent)
    for message in plan.redrivable:
        if message["MessageId"] in sent and (week := event_week(message["Body"])) is not None:
            result.redriven_events.append(week)


def _settle_refused(
    bucket: str,
    run_id: str,
    page: int,
    dlq_url: str,
    outcome: RedriveOutcome,
    result: RoundResult,
) -> None:
    """Archive and delete the sends SQS refused as the sender's fault: they would be refused
    again, so they are ``unsendable`` poison rather than redrivable."""
    refused = [(dict(m), refused_by_sqs(code)) for m, code in outcome.refused]
    result.counts[REDRIVABLE] -= len(refused)
    result.counts[UNSENDABLE] += len(refused)
    _archive(bucket, run_id, page, refused, result)
    result.deleted.extend(delete_batch(dlq_url, [m for m, _ in refused]))


def _check_settled(plan: _PagePlan, outcome: RedriveOutcome, result: RoundResult) -> None:
    """Raise :class:`PageNotSettledError` if a send failed on SQS's side or a message that
    was archived or redriven is still on the DLQ."""
    settled = {m["MessageId"] for m, _ in plan.poison} | set(outcome.sent)
    settled |= {m["MessageId"] for m, _ in outcome.refused}
    missing = settled - set(result.deleted)
    if outcome.failed:
        codes = sorted({code for _, code in outcome.failed})
        raise PageNotSettledError(
            f"{len(outcome.failed)} redrive(s) failed on SQS's side ({', '.join(codes)}); "
            "they stay on the DLQ"
        )
    if missing:
        raise PageNotSettledError(
            f"{len(missing)} archived or redriven message(s) could not be deleted from the DLQ"
        )


@task(name="triage-round", persist_result=False, **CACHE_RULE)
def triage_round(
    run_id: str,
    first_page: int,
    budget: int | None,
    dry_run: bool,
    settings: Settings,
    max_pages: int = PAGES_PER_ROUND,
    visibility_timeout: int = PAGE_VISIBILITY_SECONDS,
) -> RoundResult:
    """Receive and settle up to ``max_pages`` pages of the DLQ (``settings``: the flow's,
    naming the DLQ, the main queue, the archive bucket and the redrive limit).

    No Prefect retries on purpose: each page is committed as it goes (archived, sent,
    deleted), so re-running a round would only re-count. Transient errors of a single
    request are retried by botocore (adaptive mode); a page that still fails stops the
    run with ``error`` set, its messages made visible again for the next run.
    """
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
                max_redrives=settings.max_redrives,
                bucket=settings.archive_bucket,
                result=result,
            )
        except Exception as exc:  # stop safely; report what was done
            result.error = error_text(page, exc)
            result.finished = True
            deleted = set(result.deleted)
            _release_after_failure(dlq_url, [m for m in messages if m["MessageId"] not in deleted])
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
    for cls, line in result.samples:
        summary.keep_sample(cls, line)
