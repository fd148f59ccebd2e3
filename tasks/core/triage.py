"""DLQ triage, the pure part: classify a dead letter, and shape what is archived or redriven.

Classification reuses the processor's own contract parser (``parse_event``), so triage
and processor can never disagree about what is valid:

- ``invalid_json`` / ``invalid_event``: the body breaks the contract today (poison);
- ``store_refused``: valid, but DynamoDB refused to store it (the processor's reason, e.g.
  a correlated record over the 400 KB item limit): another try would be refused again
  (poison, archived with the processor's detail);
- ``duplicate_conflict``: valid, but its ``requestId`` and ``eventType`` are already stored
  with other content (the processor's reason): the stored copy stands (poison);
- ``exhausted``: valid, but already redriven ``max_redrives`` times (count carried in the
  ``redriveCount`` message attribute that every redrive adds or increments), so sending it
  back again would loop forever (poison);
- ``unreadable``: classifying it raised (a body nested past the parser's recursion limit,
  a message of an unexpected shape): triage cannot judge it, so it archives it (poison);
- ``unsendable``: valid, but SQS would refuse (or refused) its redriven copy, e.g. over the
  1 MiB message limit once ``redriveCount`` is added (poison);
- ``redrivable``: valid today; it failed for a transient reason (throttling, an outage, a
  since-fixed bug) and goes back to the main queue.

Every dead letter gets a class and every poison record can be archived, whatever the body:
one message triage cannot read must never stop the single-group FIFO DLQ at its head, where
the DLQ's retention would expire everything behind it.

What a person sees of a body (samples, errors) is cut to :data:`SAMPLE_INPUT_LIMIT`
characters *before* it is masked, then made printable on one line: masking a whole 1 MiB
body only to show 160 characters of it is work a hostile visitor could multiply.

After the redrive, the report of each week the redriven events change is stale:
:func:`wait_for_drain` waits (logging its progress) for the processor to take them from
the main queue before those reports are regenerated, and the summary's advice for each
stale week (:func:`stale_week_advice`) says what this run did and what is left to do,
never to repeat what the run just did.

No boto3 and no Prefect here: the flow (``flows/dlq_triage.py``) does the I/O.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lambdas.shared.contract import (
    DUPLICATE_CONFLICT,
    INVALID_EVENT,
    INVALID_JSON,
    STORE_REFUSED,
    Invalid,
    parse_event,
)
from lambdas.shared.sqs_limits import PAYLOAD_LIMIT, message_bytes
from lambdas.shared.weeks import Week, iso_week_of_ms
from tasks.core.checks import runbook
from tasks.core.masking import mask_sample

REDRIVABLE = "redrivable"
EXHAUSTED = "exhausted"
#: Valid, but DynamoDB refused to store it (the processor's ``store_refused``): redriving
#: would only be refused again, so it is archived like poison.
REFUSED = STORE_REFUSED
#: Valid, but another copy with other content is stored (the processor's
#: ``duplicate_conflict``): redriving would conflict again.
CONFLICT = DUPLICATE_CONFLICT
#: Classifying the message raised: triage cannot judge it, so it archives it.
UNREADABLE = "unreadable"
#: Valid, but SQS would refuse (or refused) the redriven copy.
UNSENDABLE = "unsendable"
#: Every class, in the order reports list them.
CLASSES = (
    INVALID_JSON,
    INVALID_EVENT,
    REFUSED,
    CONFLICT,
    EXHAUSTED,
    UNREADABLE,
    UNSENDABLE,
    REDRIVABLE,
)
POISON = frozenset(CLASSES) - {REDRIVABLE}
#: Processor reasons (the ``reason`` attribute) that another try would only repeat.
PERMANENT_REASONS = frozenset({REFUSED, CONFLICT})

REDRIVE_COUNT_ATTRIBUTE = "redriveCount"
#: Attributes the processor sets when it dead-letters an invalid body; they describe that
#: failure, not the message, so a redriven copy must not carry them.
PROCESSOR_ATTRIBUTES = frozenset({"reason", "detail"})
DEFAULT_GROUP_ID = "analytics"
SAMPLES_PER_CLASS = 3
SAMPLE_LENGTH = 160
#: Untrusted text is cut to this many characters before it is masked for display: far
#: more than :data:`SAMPLE_LENGTH` (JSON escapes such as ``\u0040`` shrink when decoded),
#: far less than a 1 MiB body.
SAMPLE_INPUT_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Classification:
    """The class of one dead letter, a short ``reason`` code and a readable ``detail``."""

    cls: str
    reason: str
    detail: str

    @property
    def poison(self) -> bool:
        return self.cls in POISON


def redrive_count(message_attributes: Mapping[str, Any]) -> int | None:
    """How many times triage has redriven this message (0 if never); None if unreadable."""
    raw = message_attributes.get(REDRIVE_COUNT_ATTRIBUTE)
    if raw is None:
        return 0
    try:
        count = int(str(raw.get("StringValue")))
    except (AttributeError, TypeError, ValueError):
        return None
    return count if count >= 0 else None


def _attribute_text(message_attributes: Mapping[str, Any], name: str) -> str | None:
    value = message_attributes.get(name)
    return str(value.get("StringValue")) if isinstance(value, Mapping) else None


def unreadable(exc: BaseException) -> Classification:
    """The class of a message whose classification raised: named by the error type only
    (an exception's text may quote the body)."""
    return Classification(UNREADABLE, UNREADABLE, f"triage cannot read it: {type(exc).__name__}")


def classify_dead_letter(
    body: str,
    message_attributes: Mapping[str, Any],
    *,
    max_redrives: int,
    now_ms: int | None = None,
) -> Classification:
    """Classify one DLQ message by today's contract and its redrive history.

    Total: whatever the body or its attributes hold, the answer is a class, ``unreadable``
    when judging it raised (e.g. a RecursionError on a deeply nested body).
    """
    if max_redrives < 0:
        raise ValueError(f"max_redrives must be a whole number >= 0, got {max_redrives!r}")
    try:
        return _classify(body, message_attributes, max_redrives, now_ms)
    except Exception as exc:  # one unreadable message must not stop triage
        return unreadable(exc)


def _classify(
    body: str, message_attributes: Mapping[str, Any], max_redrives: int, now_ms: int | None
) -> Classification:
    if not isinstance(body, str):
        raise TypeError("the message body is not text")
    outcome = parse_event(body, now_ms)
    if isinstance(outcome, Invalid):
        return Classification(outcome.reason, outcome.reason, outcome.detail)
    earlier = _attribute_text(message_attributes, "reason")
    if earlier in PERMANENT_REASONS:
        default = "DynamoDB refused to store it" if earlier == REFUSED else "stored otherwise"
        why = _attribute_text(message_attributes, "detail") or default
        return Classification(earlier, earlier, f"valid, but {why[:SAMPLE_INPUT_LIMIT]}")
    count = redrive_count(message_attributes)
    if count is None:
        # A count we cannot read cannot bound the loop: archive rather than risk cycling.
        return Classification(EXHAUSTED, EXHAUSTED, f"{REDRIVE_COUNT_ATTRIBUTE} is unreadable")
    if count >= max_redrives:
        return Classification(
            EXHAUSTED, EXHAUSTED, f"valid but already redriven {count} times (limit {max_redrives})"
        )
    detail = f"valid today; redriven {count} of {max_redrives} times"
    if earlier:
        detail += f"; dead-lettered as {earlier} when processed (since fixed)"
    return Classification(REDRIVABLE, REDRIVABLE, detail)


def plain_message_attributes(message_attributes: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Message attributes as SendMessage takes them (DataType + String/BinaryValue only)."""
    plain: dict[str, dict[str, str]] = {}
    for name, value in message_attributes.items():
        entry = {"DataType": str(value["DataType"])}
        if value.get("StringValue") is not None:
            entry["StringValue"] = str(value["StringValue"])
        elif value.get("BinaryValue") is not None:
            entry["BinaryValue"] = value["BinaryValue"]
        else:
            continue  # list values are reserved by SQS and never set by this project
        plain[name] = entry
    return plain


def redrive_dedup_id(message_id: str) -> str:
    """A deduplication id for the redriven copy, derived from the DLQ message id.

    Fresh (the original id was used when the event was first sent, so re-using it inside
    SQS's 5-minute window would be silently dropped) yet stable: if a run crashes after
    the send and before the delete, the next run's re-send of the same DLQ message is
    deduplicated by SQS instead of duplicated (and a duplicate would be harmless anyway).
    """
    return f"redrive-{message_id}"[:128]


def redrive_entry(message: Mapping[str, Any], entry_id: str) -> dict[str, Any]:
    """The SendMessageBatch entry that puts a DLQ message back on the main queue."""
    attributes = message.get("Attributes", {})
    message_attributes = {
        name: value
        for name, value in plain_message_attributes(message.get("MessageAttributes", {})).items()
        if name not in PROCESSOR_ATTRIBUTES
    }
    count = redrive_count(message.get("MessageAttributes", {})) or 0
    message_attributes[REDRIVE_COUNT_ATTRIBUTE] = {
        "DataType": "Number",
        "StringValue": str(count + 1),
    }
    return {
        "Id": entry_id,
        "MessageBody": message["Body"],
        "MessageGroupId": attributes.get("MessageGroupId") or DEFAULT_GROUP_ID,
        "MessageDeduplicationId": redrive_dedup_id(message["MessageId"]),
        "MessageAttributes": message_attributes,
    }


def redrive_or_refusal(
    message: Mapping[str, Any], entry_id: str
) -> dict[str, Any] | Classification:
    """The SendMessageBatch entry for a redrivable message, or why SQS would refuse it.

    The DLQ copy fit SQS's limit, but the redriven copy adds ``redriveCount``: a body at
    the limit cannot go back, and a send SQS refuses would leave it at the DLQ's head.
    """
    try:
        entry = redrive_entry(message, entry_id)
        size = message_bytes(entry)
    except Exception as exc:  # an odd message is archived, not a stopped run
        return Classification(
            UNSENDABLE, UNSENDABLE, f"no redrive can be made of it: {type(exc).__name__}"
        )
    if size > PAYLOAD_LIMIT:
        return Classification(
            UNSENDABLE,
            UNSENDABLE,
            f"valid, but its redriven copy would be {size} bytes; SQS takes at most "
            f"{PAYLOAD_LIMIT}",
        )
    return entry


def refused_by_sqs(code: str) -> Classification:
    """The class of a redrive SQS refused as the sender's fault (it would refuse it again)."""
    return Classification(
        UNSENDABLE, UNSENDABLE, f"valid, but SQS refused its redrive: {code[:100]}"
    )


def _json_safe_attributes(message_attributes: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    safe: dict[str, dict[str, str]] = {}
    for name, value in plain_message_attributes(message_attributes).items():
        binary = value.get("BinaryValue")
        if binary is not None:
            raw = binary if isinstance(binary, bytes) else str(binary).encode()
            value = {
                "DataType": value["DataType"],
                "BinaryValueBase64": base64.b64encode(raw).decode(),
            }
        safe[name] = value
    return safe


def _escaped(value: Any) -> Any:
    """``value`` with every string UTF-8-encodable (a lone surrogate becomes ``\\udXXX``)
    and anything JSON cannot hold as its ``repr``."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {str(_escaped(str(k))): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _escaped(repr(value))


def _encodable(record: Mapping[str, Any]) -> bool:
    try:
        json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return False
    return True


def archive_record(
    message: Mapping[str, Any], classification: Classification, archived_at: datetime
) -> dict[str, Any]:
    """One line of the poison archive: everything needed to inspect or replay the message.

    Always archivable: a record that would not encode as UTF-8 JSON (a lone surrogate, an
    attribute of an unexpected type) is archived with its strings escaped and
    ``"escaped": true``, rather than stopping the page it is on.
    """
    attributes: Any
    try:
        attributes = _json_safe_attributes(message.get("MessageAttributes", {}))
    except Exception:  # keep the raw shape, escaped below
        attributes = {"unparsed": message.get("MessageAttributes")}
    record = {
        "messageId": message["MessageId"],
        "body": message.get("Body"),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": attributes,
        "classification": classification.cls,
        "reason": classification.reason,
        "detail": classification.detail,
        "archivedAt": archived_at.isoformat(),
    }
    if _encodable(record):
        return record
    return {**_escaped(record), "messageId": message["MessageId"], "escaped": True}


def archive_key(run_id: str, page: int, at: datetime, write_id: str) -> str:
    """``dlq/<yyyy>/<mm>/<dd>/<run id>-<page>-<write id>.jsonl.gz``: one object per write.

    ``write_id`` is fresh for every write: a Prefect retry keeps the flow-run id and starts
    again at page 1, so run id and page alone would name an object already written.

    One object per page, not per run, because a FIFO DLQ hides the rest of a message group
    while any of its messages is in flight: a page must be archived and deleted before the
    next page can be received at all.
    """
    for name, value in (("run id", run_id), ("write id", write_id)):
        if not value or "/" in value:
            raise ValueError(f"{name} must be a non-empty name without '/', got {value!r}")
    return f"dlq/{at:%Y/%m/%d}/{run_id}-{page:05d}-{write_id}.jsonl.gz"


@dataclass(frozen=True, slots=True)
class EventWeek:
    """The request a redriven event belongs to, and the week its own timestamp falls in."""

    request_id: str
    event_type: str
    own_week: str


def event_week(body: str) -> EventWeek | None:
    """Which request and week a (valid) redriven body concerns; None for an invalid body."""
    event = parse_event(body)
    if isinstance(event, Invalid):
        return None
    return EventWeek(event.requestId, event.eventType, iso_week_of_ms(int(event.timestamp)))


def affected_weeks(events: Iterable[EventWeek], stored_week: Mapping[str, str]) -> list[Week]:
    """The report weeks whose figures the redriven events can change.

    A record belongs to the ISO week of its *query* (report-metrics.md: the population is
    the week's queries). A query event therefore affects its own week. A response affects
    the week of the query it answers, which is only known once correlated: the flow looks
    up the stored analytics record (``stored_week``: requestId -> ``week``) and, when the
    query has not been stored, the response's own week is the best guess (they are seconds
    apart, so they differ only for a question asked right before Monday 00:00 UTC).
    """
    weeks = set()
    for event in events:
        if event.event_type == "query":
            weeks.add(event.own_week)
        else:
            weeks.add(stored_week.get(event.request_id) or event.own_week)
    return sorted(Week.parse(week) for week in weeks)


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def shown(text: str, limit: int = SAMPLE_LENGTH) -> str:
    """Untrusted text as a person may see it: cut, masked, then one printable line.

    Cut to :data:`SAMPLE_INPUT_LIMIT` before masking (masking is linear in its input);
    control characters become a space and lone surrogates ``\\udXXX``, so an artifact,
    log line or alert never fails to encode or spans lines.
    """
    masked = mask_sample(text[:SAMPLE_INPUT_LIMIT], limit)
    return _UNPRINTABLE.sub(" ", masked).encode("utf-8", "backslashreplace").decode("utf-8")


def sample_line(body: str, classification: Classification) -> str:
    """A masked, truncated sample for artifacts: personal data never leaves the pipeline.

    The body is shown in a code span, so its backticks become ``'`` (one could close the
    span and let the rest render as markdown: a remote image, a link).
    """
    excerpt = shown(body if isinstance(body, str) else "").replace("`", "'")
    return f"`{excerpt}` ({classification.reason}: {shown(classification.detail)})"


def error_text(page: int, exc: BaseException) -> str:
    """Why a page could not be settled, for logs, alerts and the run's failure message."""
    return f"page {page}: {type(exc).__name__}: {shown(str(exc), 300)}"


def action_of(cls: str, dry_run: bool) -> str:
    """What triage does with a class (or would do, in a dry run)."""
    action = "archive to S3, then delete" if cls in POISON else "redrive, then delete"
    return f"none (dry run; would {action})" if dry_run else action


class TriageSummary(BaseModel):
    """What one triage run saw and did: the flow's return value, artifact and alert source."""

    run_id: str
    dry_run: bool
    dlq_depth_before: int
    #: The run was asked to regenerate the stale reports (a dry run only lists them).
    regenerate_reports: bool = False
    seen: int = 0
    counts: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    redriven: int = 0
    archived: int = 0
    left: int = 0
    archive_keys: list[str] = Field(default_factory=list)
    #: Weeks whose sent report the redriven events change (in a dry run: would change).
    stale_weeks: list[str] = Field(default_factory=list)
    regenerated_weeks: list[str] = Field(default_factory=list)
    #: Stale weeks the run was asked to regenerate and did not, with why (masked).
    unregenerated: dict[str, str] = Field(default_factory=dict)
    alerted: bool = False
    samples: dict[str, list[str]] = Field(default_factory=dict)
    #: Why the run stopped before the DLQ was empty (masked, see :func:`error_text`).
    stopped: str | None = None

    def add_sample(self, classification: Classification, body: str) -> None:
        """Keep a masked sample of ``body`` if its class has fewer than its share."""
        if len(self.samples.get(classification.cls, [])) < SAMPLES_PER_CLASS:
            self.keep_sample(classification.cls, sample_line(body, classification))

    def keep_sample(self, cls: str, line: str) -> None:
        """Keep an already masked sample line (:func:`sample_line`) of class ``cls``."""
        kept = self.samples.setdefault(cls, [])
        if len(kept) < SAMPLES_PER_CLASS:
            kept.append(line)


def alert_needed(summary: TriageSummary, threshold: int) -> bool:
    """The runbook's alarm rule (more than ``threshold`` messages) or any poison archived."""
    return summary.dlq_depth_before > threshold or summary.archived > 0


def counts_table(summary: TriageSummary) -> list[dict[str, Any]]:
    """Rows for the table artifact: per class, how many, the action, and how many done."""
    rows: list[dict[str, Any]] = []
    for cls in CLASSES:
        rows.append(
            {
                "class": cls,
                "messages": summary.counts.get(cls, 0),
                "action": action_of(cls, summary.dry_run),
            }
        )
    rows.append({"class": "total seen", "messages": summary.seen, "action": ""})
    rows.append({"class": "redriven", "messages": summary.redriven, "action": "sent back"})
    rows.append({"class": "archived", "messages": summary.archived, "action": "archived + deleted"})
    rows.append({"class": "left on DLQ", "messages": summary.left, "action": ""})
    return rows


def summary_markdown(summary: TriageSummary) -> str:
    """The run's story for a person: counts, samples per class (masked), stale reports."""
    mode = " (dry run: nothing changed)" if summary.dry_run else ""
    lines = [
        f"# DLQ triage {summary.run_id}{mode}",
        "",
        f"DLQ depth before: {summary.dlq_depth_before}; seen {summary.seen}; "
        f"redriven {summary.redriven}; archived {summary.archived}; left {summary.left}.",
        "",
        "| class | messages | action |",
        "|---|---|---|",
    ]
    lines += [
        f"| {cls} | {summary.counts.get(cls, 0)} | {action_of(cls, summary.dry_run)} |"
        for cls in CLASSES
    ]
    if summary.dry_run and summary.seen < summary.dlq_depth_before:
        lines += [
            "",
            f"Only {summary.seen} of {summary.dlq_depth_before} messages could be seen: a FIFO "
            "queue hides the rest of a message group until its head is deleted, which a dry "
            "run never does.",
        ]
    if summary.archive_keys:
        lines += [
            "",
            f"Archive: {len(summary.archive_keys)} object(s), first `{summary.archive_keys[0]}`.",
        ]
    if summary.stopped:
        lines += ["", f"**Stopped early.** {stop_message(summary)}"]
    lines += ["", "## Samples (masked, truncated)"]
    for cls in CLASSES:
        for sample in summary.samples.get(cls, []):
            lines.append(f"- **{cls}**: {sample}")
    if not any(summary.samples.values()):
        lines.append("- none")
    lines += _stale_lines(summary)
    return "\n".join(lines) + "\n"


def _stale_lines(summary: TriageSummary) -> list[str]:
    """The "Stale reports" section: each week and what was done or is left to do."""
    if not summary.stale_weeks:
        return []
    if summary.dry_run:
        lines = ["", "## Stale reports (a real run would make these stale)", ""]
        if summary.seen < summary.dlq_depth_before:
            lines += [
                "Found in the messages this dry run could see; a real run, which sees every "
                "page, may find more.",
                "",
            ]
    else:
        lines = ["", "## Stale reports", ""]
    for week in summary.stale_weeks:
        lines.append(f"- {week}: report already sent; {stale_week_advice(summary, week)}")
    return lines


def stale_week_advice(summary: TriageSummary, week: str) -> str:
    """What happened to a stale week's report in this run and what is left to do.

    Never tells to do what the run just did: a real run without ``regenerate_reports``
    has redriven the events off the DLQ, so running triage again would not find them;
    the report is regenerated with ``report-regeneration`` instead.
    """
    regenerate = f"regenerate it with report-regeneration, week={week}, resend=true"
    if week in summary.regenerated_weeks:
        return "the redriven events change it: regenerated and re-sent"
    if summary.dry_run and summary.regenerate_reports:
        return (
            "a real run (dry_run=false, regenerate_reports=true) would redrive its events, "
            "then regenerate and re-send it"
        )
    if summary.dry_run:
        return (
            "a real run would redrive its events; with regenerate_reports=true it would then "
            "regenerate and re-send it"
        )
    if week in summary.unregenerated:
        return (
            f"NOT regenerated: {summary.unregenerated[week]}. Once the main queue is empty, "
            f"{regenerate} ({runbook('report-regeneration')})"
        )
    return (
        "the redriven events change it; not regenerated (regenerate_reports=false). Once the "
        f"processor has emptied the main queue, {regenerate} ({runbook('report-regeneration')})"
    )


def alert_text(summary: TriageSummary, threshold: int) -> tuple[str, str]:
    """Subject and body of the operators' alert (counts only; no message bodies)."""
    subject = (
        f"DLQ triage: {summary.dlq_depth_before} on DLQ, {summary.archived} archived, "
        f"{summary.redriven} redriven"
    )
    body = [
        f"Run {summary.run_id}: the DLQ held {summary.dlq_depth_before} message(s) "
        f"(alarm threshold: more than {threshold}).",
        *(f"{cls}: {summary.counts.get(cls, 0)}" for cls in CLASSES),
        f"redriven: {summary.redriven}; archived as poison: {summary.archived}; "
        f"left on the DLQ: {summary.left}.",
    ]
    if summary.archive_keys:
        body.append(
            f"Archive objects: {', '.join(summary.archive_keys[:5])}"
            + (" ..." if len(summary.archive_keys) > 5 else "")
        )
    if summary.stale_weeks:
        body.append(f"Reports already sent and now stale: {', '.join(summary.stale_weeks)}.")
    if summary.regenerated_weeks:
        body.append(f"Regenerated and re-sent: {', '.join(summary.regenerated_weeks)}.")
    for week, why in summary.unregenerated.items():
        body.append(f"{week} NOT regenerated: {why}.")
    if summary.stopped:
        body.append(stop_message(summary))
    return subject, "\n".join(body)


def stop_message(summary: TriageSummary) -> str:
    """What a run that stopped early did and left, and why (counts and a masked cause).

    Messages left on the DLQ are not lost yet, but they will be when the DLQ's retention
    period ends: the message says so, rather than that nothing was lost.
    """
    return (
        f"DLQ triage {summary.run_id} stopped early at {summary.stopped}. "
        f"Archived {summary.archived}, redriven {summary.redriven}; "
        f"{summary.left} message(s) left on the DLQ, untouched and visible again for the "
        "next run. They expire when the DLQ's retention period ends: fix the cause and run "
        f"dlq-triage again before then ({runbook('dlq-alarm')})."
    )


def not_drained_message(queue: str, depth: int, waited_seconds: float, weeks: list[str]) -> str:
    """Why the stale reports were not regenerated, and what to do (the run fails with it)."""
    return (
        f"The main queue {queue} still held {depth} message(s) after {waited_seconds:.0f} s, "
        f"so the stale report(s) of {', '.join(weeks)} were NOT regenerated (they would "
        "miss the redriven events). The redriven events are safe on the main queue. Check "
        f"that the processor is taking them ({runbook('queue-age-alarm')}); once the queue is "
        "empty, run report-regeneration for each of those weeks with resend=true "
        f"({runbook('dlq-alarm')})."
    )


@dataclass(frozen=True, slots=True)
class DrainWait:
    """How a wait for the main queue ended: drained or not, what was left, how long."""

    drained: bool
    depth: int
    waited_seconds: float


def wait_for_drain(
    depth: Callable[[], int],
    *,
    timeout_seconds: float,
    poll_seconds: float,
    report_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    report: Callable[[int, float], None],
) -> DrainWait:
    """Poll ``depth()`` until it is 0 or ``timeout_seconds`` have passed on ``clock``.

    ``report(depth, waited)`` is called when the wait starts, then every
    ``report_seconds`` while it lasts, and once at the end, so a person watching the run's
    log sees it is waiting, how much is left and for how long it has waited.
    """
    start = clock()
    next_report = start
    while True:
        left = depth()
        now = clock()
        waited = now - start
        if left == 0 or waited >= timeout_seconds:
            report(left, waited)
            return DrainWait(left == 0, left, waited)
        if now >= next_report:
            report(left, waited)
            next_report = now + report_seconds
        sleep(min(poll_seconds, timeout_seconds - waited))
