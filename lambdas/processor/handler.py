"""Processor Lambda: SQS FIFO batch -> validated, correlated records in DynamoDB.

Event source mapping: batch size 10, ``ReportBatchItemFailures``. Per invocation:

1. every body is parsed against the contract (pure, ``contract.parse_event``);
2. valid events are stored with one BatchGetItem + one BatchWriteItem (``storage``);
3. invalid bodies go to the DLQ with a ``reason`` attribute and count as done, so a
   poison message never blocks the FIFO group; one that sits behind a failed message is
   held back instead (it is redelivered anyway), so the DLQ never gets it twice;
4. Powertools' ``SqsFifoPartialProcessor`` turns the outcomes into ``batchItemFailures``
   with FIFO semantics: after the first failed message, every later one is reported
   failed too, so SQS redelivers them in order.

One bad record costs only itself. A transient AWS error (throttling, 5xx, no answer)
fails every valid message of the batch; that is safe because storing is idempotent. Any
other failure to store the batch (DynamoDB refusing it, e.g. a correlated record over the
400 KB item limit, or an exception raised on one event's data) makes the processor store
the events one by one and dead-letter only those that fail for good: ``store_refused``
for a DynamoDB refusal, ``processing_error`` (the exception's type, never its text) for
anything else, as for an exception while parsing. A copy of a stored event with other
content is dead-lettered as ``duplicate_conflict``. Only transient failures are ever
reported; invalid, refused or conflicting input is not.

Dead letters are sent in requests under SQS's payload limit (1 MiB for the bodies and
attributes of one request), and one is logged as sent only once SQS has accepted it; an
entry SQS does not accept is a failure, redelivered like any other.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeGuard

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from lambdas.processor.config import ProcessorConfig
from lambdas.processor.storage import UnprocessedItemsError, store_events
from lambdas.shared.contract import (
    DUPLICATE_CONFLICT,
    PROCESSING_ERROR,
    STORE_REFUSED,
    Invalid,
    parse_event,
)
from lambdas.shared.sqs_limits import PAYLOAD_LIMIT, batches, message_bytes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient

    from lambdas.shared.event_models import Event

logger = Logger(service="cv-analytics-processor")
metrics = Metrics(namespace="CVAnalytics", service="cv-analytics-processor")

#: botocore's standard mode retries throttling and 5xx with backoff before we give up.
_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3)
#: A lone UTF-16 surrogate: SQS accepts no such character in a message body.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@lru_cache(maxsize=1)
def _config() -> ProcessorConfig:
    """What the processor reads from its environment, once per container."""
    return ProcessorConfig.from_environ()


@lru_cache(maxsize=1)
def _clients() -> tuple[DynamoDBClient, SQSClient, str]:
    """Clients and the DLQ URL, made once per container (``reset_clients`` in tests)."""
    settings = _config()
    dynamodb = boto3.client("dynamodb", region_name=settings.region, config=_AWS_CONFIG)
    sqs = boto3.client("sqs", region_name=settings.region, config=_AWS_CONFIG)
    dlq_url = sqs.get_queue_url(QueueName=settings.dlq_name)["QueueUrl"]
    return dynamodb, sqs, dlq_url


def reset_clients() -> None:
    """Forget cached clients and config, e.g. after a test changes the environment."""
    _clients.cache_clear()
    _config.cache_clear()


def dead_letter_entry(record: dict[str, Any], invalid: Invalid, entry_id: str) -> dict[str, Any]:
    """The DLQ message for an invalid record: same body and group, reason in attributes.

    The deduplication id is derived from the source message id, so re-sending after a
    partial failure within SQS's 5-minute window is dropped rather than duplicated. A raw
    lone surrogate (only a hand-made invoke can carry one: SQS refuses them) is written as
    its JSON escape, the one form SQS accepts that parses to the same value. When the body
    is so close to SQS's limit that the attributes would push it over, the ``detail`` gives
    way: the ``reason`` is what triage needs.
    """
    attributes = record.get("attributes", {})
    body = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(record.get("body") or ""))
    entry: dict[str, Any] = {
        "Id": entry_id,
        "MessageBody": body or "(empty body)",
        "MessageGroupId": attributes.get("MessageGroupId") or "analytics",
        "MessageDeduplicationId": f"invalid-{record['messageId']}"[:128],
        "MessageAttributes": {
            "reason": {"DataType": "String", "StringValue": invalid.reason},
            "detail": {"DataType": "String", "StringValue": invalid.detail or invalid.reason},
            "sourceMessageId": {"DataType": "String", "StringValue": record["messageId"]},
        },
    }
    if message_bytes(entry) > PAYLOAD_LIMIT:
        del entry["MessageAttributes"]["detail"]
    return entry


class HeldBack(RuntimeError):
    """Not tried: the message sits behind a failed one, so it is reported failed (FIFO)."""


#: One dead letter on its way: the source record, why, and its SendMessageBatch entry.
_Pending = tuple[dict[str, Any], Invalid, dict[str, Any]]


def _send_invalid(
    sqs: SQSClient, dlq_url: str, invalid: list[tuple[dict[str, Any], Invalid]]
) -> tuple[list[tuple[dict[str, Any], Invalid]], dict[str, Exception]]:
    """Send records to the DLQ in queue order; return those SQS accepted, and the failures.

    Requests stay under SQS's limits (:func:`~lambdas.shared.sqs_limits.batches`). Only an
    entry SQS lists as successful counts as sent; a failed entry is a failure (its message
    is redelivered).
    After a request with a failure nothing more is sent: every later message is reported
    failed anyway (FIFO), and dead-lettering it now would leave two copies on the DLQ.
    """
    pending = [
        (rec, why, dead_letter_entry(rec, why, f"m{i}")) for i, (rec, why) in enumerate(invalid)
    ]
    accepted: list[tuple[dict[str, Any], Invalid]] = []
    failures: dict[str, Exception] = {}
    for batch in batches(pending, lambda p: message_bytes(p[2])):
        if failures:
            held = HeldBack("behind a dead letter SQS did not accept")
            failures.update({record["messageId"]: held for record, _, _ in batch})
            continue
        try:
            response = sqs.send_message_batch(
                QueueUrl=dlq_url,
                Entries=[entry for _, _, entry in batch],  # type: ignore[misc]
            )
        except Exception as exc:  # transient or not, the messages stay on the queue
            failures.update({record["messageId"]: exc for record, _, _ in batch})
            continue
        done = {ok["Id"] for ok in response.get("Successful", [])}
        codes = {failed["Id"]: failed.get("Code") for failed in response.get("Failed", [])}
        for record, why, entry in batch:
            if entry["Id"] in done:
                accepted.append((record, why))
            else:
                failures[record["messageId"]] = RuntimeError(
                    f"DLQ send failed: {codes.get(entry['Id'], 'not confirmed')}"
                )
    return accepted, failures


def process_records(records: list[dict[str, Any]]) -> dict[str, Exception]:
    """Do the batch's I/O up front; return the failure of each message that failed.

    Valid events are stored first; then the invalid (and refused) ones are dead-lettered,
    but only those *before* the first failed message. Powertools reports every message
    after that one failed anyway (FIFO), so SQS redelivers them in order; dead-lettering
    one of them as well would leave two copies on the DLQ once SQS's redrive policy moves
    the original there too. Held back, it is dead-lettered once, on a later delivery.

    One record costs only itself: whatever parsing or storing it raises, short of a
    transient AWS failure, it is dead-lettered with a reason and its neighbours go on.
    """
    dynamodb, sqs, dlq_url = _clients()
    by_id = {record["messageId"]: record for record in records}
    valid, rejects = _parse_records(records)
    failures: dict[str, Exception] = {}
    stored = _store_valid(dynamodb, valid, by_id, rejects, failures)
    now, sent = _dead_letter_before_failure(sqs, dlq_url, records, rejects, failures)
    _record_metrics(stored, rejects, now, sent, failures)
    return failures


_Reject = tuple[dict[str, Any], Invalid]


def _parse_records(
    records: list[dict[str, Any]],
) -> tuple[list[tuple[str, Event]], list[_Reject]]:
    """Each body parsed: the valid events (with their message ids) and the rejects."""
    valid: list[tuple[str, Event]] = []
    rejects: list[_Reject] = []
    for record in records:
        try:
            outcome = parse_event(record["body"])
        except Exception as exc:  # a body no rule foresaw: it alone goes to the DLQ
            outcome = _unexpected(exc, "parsing")
        if isinstance(outcome, Invalid):
            rejects.append((record, outcome))
        else:
            valid.append((record["messageId"], outcome))
    return valid, rejects


def _store_valid(
    dynamodb: DynamoDBClient,
    valid: list[tuple[str, Event]],
    by_id: dict[str, dict[str, Any]],
    rejects: list[_Reject],
    failures: dict[str, Exception],
) -> int:
    """Store the valid events in one go (one by one if that fails for good); add the
    conflicting and refused ones to ``rejects``, the failed ones to ``failures``; return
    how many were stored."""
    try:
        conflicts = _store(dynamodb, [event for _, event in valid])
    except Exception as exc:
        if is_transient(exc):
            logger.exception("storing the batch failed; its valid messages will be retried")
            failures.update({message_id: exc for message_id, _ in valid})
            return 0
        # One record DynamoDB will never take (e.g. over 400 KB), or one that breaks
        # the write path, must not hold its neighbours hostage: store one by one and
        # dead-letter only the records that fail for good.
        logger.warning(
            "storing the batch failed for good; storing its events one by one",
            extra={"error": type(exc).__name__},
        )
        return _store_one_by_one(dynamodb, valid, by_id, rejects, failures)
    for index, fields in conflicts.items():
        rejects.append((by_id[valid[index][0]], _conflict(fields)))
    return len(valid) - len(conflicts)


def _store_one_by_one(
    dynamodb: DynamoDBClient,
    valid: list[tuple[str, Event]],
    by_id: dict[str, dict[str, Any]],
    rejects: list[_Reject],
    failures: dict[str, Exception],
) -> int:
    stored = 0
    for message_id, event in valid:
        if failures:  # behind a transient failure: reported failed anyway (FIFO)
            failures[message_id] = HeldBack("behind a message that failed to store")
            continue
        try:
            conflict = _store(dynamodb, [event])
        except Exception as one:
            if is_transient(one):
                failures[message_id] = one
            elif is_refused(one):
                rejects.append((by_id[message_id], _refusal(one)))
            else:
                rejects.append((by_id[message_id], _unexpected(one, "storing")))
            continue
        if conflict:
            rejects.append((by_id[message_id], _conflict(conflict[0])))
        else:
            stored += 1
    return stored


def _dead_letter_before_failure(
    sqs: SQSClient,
    dlq_url: str,
    records: list[dict[str, Any]],
    rejects: list[_Reject],
    failures: dict[str, Exception],
) -> tuple[list[_Reject], list[_Reject]]:
    """Dead-letter the rejects before the first failed message, in queue order; return
    those tried and those SQS accepted (what it did not is added to ``failures``)."""
    position = {record["messageId"]: i for i, record in enumerate(records)}
    first_failure = min((position[m] for m in failures), default=len(records))
    now = [(r, why) for r, why in rejects if position[r["messageId"]] < first_failure]
    now.sort(key=lambda reject: position[reject[0]["messageId"]])
    sent: list[_Reject] = []
    if now:
        sent, not_sent = _send_invalid(sqs, dlq_url, now)
        failures.update(not_sent)
    for record, why in sent:
        logger.warning(
            "event sent to the DLQ",
            extra={"message_id": record["messageId"], "reason": why.reason, "detail": why.detail},
        )
    for record, why in now:
        if record["messageId"] in failures:
            logger.warning(
                "event not accepted by the DLQ; it will be redelivered",
                extra={"message_id": record["messageId"], "reason": why.reason},
            )
    return now, sent


def _record_metrics(
    stored: int,
    rejects: list[_Reject],
    now: list[_Reject],
    sent: list[_Reject],
    failures: dict[str, Exception],
) -> None:
    reasons = [why.reason for _, why in sent]
    metrics.add_metric("EventsStored", MetricUnit.Count, stored)
    metrics.add_metric("EventsDeadLettered", MetricUnit.Count, len(sent))
    held = len(rejects) - len(now)
    held += sum(isinstance(failures.get(r["messageId"]), HeldBack) for r, _ in now)
    metrics.add_metric("EventsHeldBehindFailure", MetricUnit.Count, held)
    metrics.add_metric("DuplicateConflicts", MetricUnit.Count, reasons.count(DUPLICATE_CONFLICT))
    metrics.add_metric("ProcessingErrors", MetricUnit.Count, reasons.count(PROCESSING_ERROR))
    metrics.add_metric("EventsFailed", MetricUnit.Count, len(failures))


def _store(dynamodb: DynamoDBClient, events: list[Event]) -> dict[int, list[str]]:
    """Store the events; return the conflicting ones (index -> fields that differ)."""
    settings = _config()
    return store_events(
        dynamodb,
        events,
        query_events_table=settings.query_events_table,
        analytics_table=settings.analytics_table,
        ttl_days=settings.query_events_ttl_days,
    )


def is_refused(exc: BaseException) -> TypeGuard[ClientError]:
    """True when DynamoDB refuses the request itself (a 400 ValidationException).

    That is permanent for these items: retrying cannot help, unlike throttling or 5xx.
    """
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == (
        "ValidationException"
    )


def is_transient(exc: BaseException) -> bool:
    """True when another try may succeed: AWS throttling, 5xx and any other error AWS
    answered but a refusal, no answer at all (connection, timeout, credentials), or
    unprocessed items left after our own retries.

    Anything else (a refusal, botocore refusing a parameter, an error raised by our own
    code on this data) would fail again the same way: it is handled record by record.
    """
    if isinstance(exc, ClientError):
        return not is_refused(exc)
    if isinstance(exc, ParamValidationError):
        return False
    return isinstance(exc, BotoCoreError | UnprocessedItemsError)


def _unexpected(exc: Exception, doing: str) -> Invalid:
    """The reason for a record whose handling raised: the exception type and where, never
    its message (an exception's text can quote the body); the frames go to the log."""
    name = type(exc).__name__
    logger.error(
        f"{name} while {doing} one event; it goes to the DLQ",
        extra={"error": name, "frames": "".join(traceback.format_tb(exc.__traceback__)[-4:])},
    )
    return Invalid(PROCESSING_ERROR, f"{name} while {doing} the event")


def _conflict(fields: list[str]) -> Invalid:
    return Invalid(
        DUPLICATE_CONFLICT,
        "requestId and eventType already stored with other content; differs in: "
        + ", ".join(fields),
    )


def _refusal(exc: ClientError) -> Invalid:
    # The message names the rule broken (e.g. item size), never a stored value.
    message = exc.response.get("Error", {}).get("Message", "")
    return Invalid(STORE_REFUSED, f"DynamoDB refused to store the event: {message}"[:900])


def _record_handler(failures: dict[str, Exception]) -> Callable[[SQSRecord], None]:
    def handle(record: SQSRecord) -> None:
        if record.message_id in failures:
            raise failures[record.message_id]

    return handle


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the SQS FIFO event source mapping."""
    records = event.get("Records") or []
    if not records:  # Lambda never sends this, but a manual test invoke might
        return {"batchItemFailures": []}
    failures = process_records(records)
    return process_partial_response(  # type: ignore[return-value]
        event=event,
        record_handler=_record_handler(failures),
        processor=SqsFifoPartialProcessor(),
        context=context,
    )
