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

A transient DynamoDB error fails every valid message of the batch; that is safe because
storing is idempotent. If DynamoDB instead refuses the batch (a ``ValidationException``,
e.g. a correlated record over the 400 KB item limit), the events are stored one by one
and only the refused ones go to the DLQ, with reason ``store_refused``, so one oversized
record never holds the rest of its FIFO group back. Only transient failures are ever
reported; invalid or refused input is not.
"""

from __future__ import annotations

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
from botocore.exceptions import ClientError

from lambdas.processor.contract import STORE_REFUSED, Invalid, parse_event
from lambdas.processor.settings import get_settings
from lambdas.processor.storage import store_events

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient

    from lambdas.processor.contract import Event

logger = Logger(service="cv-analytics-processor")
metrics = Metrics(namespace="CVAnalytics", service="cv-analytics-processor")

#: botocore's standard mode retries throttling and 5xx with backoff before we give up.
_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3)


@lru_cache(maxsize=1)
def _clients() -> tuple[DynamoDBClient, SQSClient, str]:
    """Clients and the DLQ URL, made once per container (``reset_clients`` in tests)."""
    settings = get_settings()
    dynamodb = boto3.client("dynamodb", region_name=settings.region, config=_AWS_CONFIG)
    sqs = boto3.client("sqs", region_name=settings.region, config=_AWS_CONFIG)
    dlq_url = sqs.get_queue_url(QueueName=settings.dlq_name)["QueueUrl"]
    return dynamodb, sqs, dlq_url


def reset_clients() -> None:
    """Forget cached clients, e.g. after a test points the environment at a new emulator."""
    _clients.cache_clear()


def dead_letter_entry(record: dict[str, Any], invalid: Invalid, entry_id: str) -> dict[str, Any]:
    """The DLQ message for an invalid record: same body and group, reason in attributes.

    The deduplication id is derived from the source message id, so re-sending after a
    partial failure within SQS's 5-minute window is dropped rather than duplicated.
    """
    attributes = record.get("attributes", {})
    return {
        "Id": entry_id,
        "MessageBody": record["body"] or "(empty body)",
        "MessageGroupId": attributes.get("MessageGroupId") or "analytics",
        "MessageDeduplicationId": f"invalid-{record['messageId']}"[:128],
        "MessageAttributes": {
            "reason": {"DataType": "String", "StringValue": invalid.reason},
            "detail": {"DataType": "String", "StringValue": invalid.detail or invalid.reason},
            "sourceMessageId": {"DataType": "String", "StringValue": record["messageId"]},
        },
    }


def _send_invalid(
    sqs: SQSClient, dlq_url: str, invalid: list[tuple[dict[str, Any], Invalid]]
) -> dict[str, Exception]:
    """Send invalid records to the DLQ in batches of 10; return per-message failures."""
    failures: dict[str, Exception] = {}
    for start in range(0, len(invalid), 10):
        chunk = invalid[start : start + 10]
        entries = [dead_letter_entry(rec, why, f"m{i}") for i, (rec, why) in enumerate(chunk)]
        by_entry = {f"m{i}": rec["messageId"] for i, (rec, _) in enumerate(chunk)}
        try:
            response = sqs.send_message_batch(QueueUrl=dlq_url, Entries=entries)  # type: ignore[arg-type]
        except Exception as exc:  # transient or not, the messages stay on the queue
            failures.update({record["messageId"]: exc for record, _ in chunk})
            continue
        for failed in response.get("Failed", []):
            failures[by_entry[failed["Id"]]] = RuntimeError(
                f"DLQ send failed: {failed.get('Code')}"
            )
    return failures


def process_records(records: list[dict[str, Any]]) -> dict[str, Exception]:
    """Do the batch's I/O up front; return the failure of each message that failed.

    Valid events are stored first; then the invalid (and refused) ones are dead-lettered,
    but only those *before* the first failed message. Powertools reports every message
    after that one failed anyway (FIFO), so SQS redelivers them in order; dead-lettering
    one of them as well would leave two copies on the DLQ once SQS's redrive policy moves
    the original there too. Held back, it is dead-lettered once, on a later delivery.
    """
    dynamodb, sqs, dlq_url = _clients()
    valid: list[tuple[str, Event]] = []
    rejects: list[tuple[dict[str, Any], Invalid]] = []
    for record in records:
        outcome = parse_event(record["body"])
        if isinstance(outcome, Invalid):
            rejects.append((record, outcome))
        else:
            valid.append((record["messageId"], outcome))

    failures: dict[str, Exception] = {}
    stored = 0
    try:
        _store(dynamodb, [event for _, event in valid])
        stored = len(valid)
    except Exception as exc:
        if not is_refused(exc):
            logger.exception("storing the batch failed; its valid messages will be retried")
            failures.update({message_id: exc for message_id, _ in valid})
        else:
            # One record DynamoDB will never take (e.g. over 400 KB) must not hold its
            # neighbours hostage: store one by one, dead-letter only what is refused.
            logger.warning("DynamoDB refused the batch; storing its events one by one")
            by_id = {record["messageId"]: record for record in records}
            for message_id, event in valid:
                try:
                    _store(dynamodb, [event])
                    stored += 1
                except Exception as one:
                    if is_refused(one):
                        rejects.append((by_id[message_id], _refusal(one)))
                    else:
                        failures[message_id] = one

    position = {record["messageId"]: i for i, record in enumerate(records)}
    first_failure = min((position[m] for m in failures), default=len(records))
    now = [(r, why) for r, why in rejects if position[r["messageId"]] < first_failure]
    now.sort(key=lambda reject: position[reject[0]["messageId"]])
    for record, why in now:
        logger.warning(
            "event sent to the DLQ",
            extra={"message_id": record["messageId"], "reason": why.reason, "detail": why.detail},
        )
    if now:
        failures.update(_send_invalid(sqs, dlq_url, now))

    metrics.add_metric("EventsStored", MetricUnit.Count, stored)
    metrics.add_metric("EventsDeadLettered", MetricUnit.Count, len(now))
    metrics.add_metric("EventsHeldBehindFailure", MetricUnit.Count, len(rejects) - len(now))
    metrics.add_metric("EventsFailed", MetricUnit.Count, len(failures))
    return failures


def _store(dynamodb: DynamoDBClient, events: list[Event]) -> None:
    settings = get_settings()
    store_events(
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
