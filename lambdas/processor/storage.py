"""DynamoDB batch I/O of the processor: one BatchGetItem and one BatchWriteItem per batch.

Why a read-merge-write per batch is race-free: every event travels in the FIFO message
group ``analytics``, and Lambda keeps at most one batch of a message group in flight, so
no other invocation can touch the same requests between our read and our write. Were
the Worker ever to use several groups, the two events of a request share nothing that
puts them in one group, and this would need conditional writes instead.

Why failing the whole batch on a transient error is safe: processing is idempotent
(see ``correlation``), so the redelivered messages merge into the same records.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from lambdas.processor.correlation import (
    RequestState,
    analytics_item,
    fold_events,
    raw_event_item,
    split_conflicts,
    state_from_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from lambdas.processor.contract import Event

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
UNPROCESSED_RETRIES = 5

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class UnprocessedItemsError(RuntimeError):
    """DynamoDB kept returning unprocessed items: treated as transient (the batch retries)."""


def _to_decimal(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_decimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_decimal(v) for v in value]
    return value


def _from_decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_decimal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_decimal(v) for v in value]
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python -> DynamoDB attribute values (floats as exact decimals)."""
    return {k: _serializer.serialize(_to_decimal(v)) for k, v in item.items()}


def deserialize_value(value: Any) -> Any:
    """One DynamoDB attribute value -> plain Python (whole numbers as int, others as float)."""
    return _from_decimal(_deserializer.deserialize(value))


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values -> plain Python (whole numbers as int, others as float)."""
    return {k: deserialize_value(v) for k, v in item.items()}


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 1.0))


def batch_get_items(
    client: DynamoDBClient, table: str, request_ids: Iterable[str], **options: Any
) -> list[dict[str, Any]]:
    """Raw items of the given requests: BatchGetItem, 100 keys a call, unprocessed retried.

    ``options`` go into every request (``ConsistentRead``, ``ProjectionExpression`` ...);
    DynamoDB hands them back with any unprocessed keys.
    """
    ids = sorted(set(request_ids))
    items: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH_GET_LIMIT):
        keys = [{"requestId": {"S": rid}} for rid in ids[start : start + BATCH_GET_LIMIT]]
        request: dict[str, Any] = {table: {"Keys": keys, **options}}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            response = client.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            _backoff(attempt)
        else:
            raise UnprocessedItemsError(f"BatchGetItem left keys unprocessed on {table}")
    return items


def get_states(
    client: DynamoDBClient, table: str, request_ids: Iterable[str]
) -> dict[str, RequestState]:
    """Read the stored state of the given requests (strongly consistent)."""
    raw_items = batch_get_items(client, table, request_ids, ConsistentRead=True)
    states = (state_from_item(deserialize(raw)) for raw in raw_items)
    return {state.request_id: state for state in states}


def batch_write(client: DynamoDBClient, requests: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """BatchWriteItem the (table, ``PutRequest``/``DeleteRequest``) pairs, 25 a call,
    retrying unprocessed items with backoff; returns the requests made."""
    made = 0
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, list[Any]] = {}
        for table, request in requests[start : start + BATCH_WRITE_LIMIT]:
            pending.setdefault(table, []).append(request)
        for attempt in range(UNPROCESSED_RETRIES + 1):
            response = client.batch_write_item(RequestItems=pending)
            made += 1
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
            _backoff(attempt)
        else:
            raise UnprocessedItemsError("BatchWriteItem left items unprocessed")
    return made


def write_items(client: DynamoDBClient, puts: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """BatchWriteItem the (table, item) puts; returns the requests made."""
    return batch_write(
        client, [(table, {"PutRequest": {"Item": serialize(item)}}) for table, item in puts]
    )


def store_events(
    client: DynamoDBClient,
    events: Sequence[Event],
    *,
    query_events_table: str,
    analytics_table: str,
    ttl_days: int,
) -> dict[int, list[str]]:
    """Store raw events and merge them into their requests' correlated records.

    Returns the events not stored because they conflict with the copy of their request and
    event type that stands (``correlation.split_conflicts``), as index in ``events`` ->
    the fields that differ. Detecting them costs no request: the one BatchGetItem reads
    the stored copies anyway.
    """
    if not events:
        return {}
    known = get_states(client, analytics_table, (e.requestId for e in events))
    accepted, conflicts = split_conflicts(events, known)
    merged = fold_events(accepted, known)
    raw: dict[tuple[str, str], dict[str, Any]] = {}
    for event in accepted:
        item = raw_event_item(event, ttl_days)
        raw[(item["requestId"], item["eventKey"])] = item  # one put per key per request
    puts = [(query_events_table, item) for item in raw.values()]
    puts += [
        (analytics_table, analytics_item(state))
        for rid, state in merged.items()
        if known.get(rid) != state  # a pure replay rewrites nothing
    ]
    write_items(client, puts)
    return conflicts
