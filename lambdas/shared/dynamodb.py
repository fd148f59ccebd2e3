"""The DynamoDB item codec and the one batch read, shared by the processor and the flows.

Items travel as DynamoDB attribute values; in code they are plain Python, floats stored
as exact decimals and read back as ``int`` when whole, else ``float``. The batch read is
``BatchGetItem`` with its ``UnprocessedKeys`` asked for again with backoff, the limits
given by the caller. Only boto3's type (de)serialisers are imported here at run time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

#: Keys one ``BatchGetItem`` call may ask for.
BATCH_GET_LIMIT = 100
#: How often unprocessed keys or items are asked for again before giving up.
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


def backoff(attempt: int) -> None:
    """Sleep before asking again for what DynamoDB left unprocessed (50 ms doubling, ≤ 1 s)."""
    time.sleep(min(0.05 * 2**attempt, 1.0))


def batch_get_items(
    client: DynamoDBClient,
    table: str,
    keys: Iterable[str],
    *,
    key: str = "requestId",
    retries: int = UNPROCESSED_RETRIES,
    **options: Any,
) -> list[dict[str, Any]]:
    """Raw items of the given string keys: BatchGetItem, 100 keys a call, unprocessed retried.

    ``key`` names the table's (string) hash key; unprocessed keys are asked for again up
    to ``retries`` times with :func:`backoff`, then :class:`UnprocessedItemsError`.
    ``options`` go into every request (``ConsistentRead``, ``ProjectionExpression`` ...);
    DynamoDB hands them back with any unprocessed keys.
    """
    ids = sorted(set(keys))
    items: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH_GET_LIMIT):
        chunk = [{key: {"S": value}} for value in ids[start : start + BATCH_GET_LIMIT]]
        request: dict[str, Any] = {table: {"Keys": chunk, **options}}
        for attempt in range(retries + 1):
            response = client.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            backoff(attempt)
        else:
            raise UnprocessedItemsError(f"BatchGetItem left keys unprocessed on {table}")
    return items
