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

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lambdas.shared.correlation import (
    RequestState,
    analytics_item,
    fold_events,
    raw_event_item,
    split_conflicts,
    state_from_item,
)
from lambdas.shared.dynamodb import (
    UNPROCESSED_RETRIES,
    UnprocessedItemsError,
    backoff,
    batch_get_items,
    deserialize,
    serialize,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from lambdas.shared.event_models import Event

__all__ = [
    "BATCH_WRITE_LIMIT",
    "UNPROCESSED_RETRIES",
    "UnprocessedItemsError",
    "batch_write",
    "get_states",
    "store_events",
    "write_items",
]

BATCH_WRITE_LIMIT = 25


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
            backoff(attempt)
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
