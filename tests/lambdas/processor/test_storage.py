"""The processor's DynamoDB batch I/O against in-process moto.

Unprocessed items and keys are injected with botocore's own event hooks on a real moto
client (``after-call``), so the retry loops see exactly what DynamoDB would answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import boto3
import pytest

from deployments.local_stack import StackInfo
from lambdas.processor import storage
from lambdas.processor.storage import BATCH_WRITE_LIMIT, batch_write, write_items
from lambdas.shared import dynamodb as codec
from lambdas.shared.dynamodb import (
    BATCH_GET_LIMIT,
    UnprocessedItemsError,
    batch_get_items,
    deserialize,
    serialize,
)


@pytest.fixture
def dynamodb(aws: StackInfo) -> Iterator[Any]:
    """A moto DynamoDB client; backoff sleeps are skipped (the retries themselves are not)."""
    with patch.object(storage, "backoff"), patch.object(codec, "backoff"):
        yield boto3.client("dynamodb", region_name="us-east-1")


def calls_of(client: Any, operation: str) -> list[dict[str, Any]]:
    """Records the RequestItems of every ``operation`` call the client makes."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["RequestItems"])

    client.meta.events.register(f"provide-client-params.dynamodb.{operation}", record)
    return seen


def item(i: int) -> dict[str, Any]:
    return {"requestId": f"r-{i:04d}", "n": i}


def test_serialize_round_trips_floats_as_exact_decimals_bools_and_nesting() -> None:
    original = {
        "requestId": "r-1",
        "score": 61.5,
        "tenth": 0.1,
        "whole": 3,
        "big": 10**20,
        "hit": True,
        "miss": False,
        "none": None,
        "text": "café",
        "nested": {"times": [1234.5, 0.1, 2], "flags": [True, False], "deep": {"x": 1.25}},
    }
    wire = serialize(original)
    assert wire["score"] == {"N": "61.5"} and wire["tenth"] == {
        "N": "0.1"
    }  # not 0.1000000000000000055
    assert wire["hit"] == {"BOOL": True} and wire["miss"] == {"BOOL": False}
    assert wire["none"] == {"NULL": True}
    assert wire["nested"]["M"]["times"]["L"][1] == {"N": "0.1"}
    back = deserialize(wire)
    assert back == original
    assert isinstance(back["whole"], int) and isinstance(back["score"], float)
    assert back["hit"] is True and back["nested"]["flags"] == [True, False]
    assert deserialize({"d": {"N": str(Decimal("2.50"))}}) == {"d": 2.5}


def test_what_is_written_reads_back_the_same_through_dynamodb(
    dynamodb: Any, aws: StackInfo
) -> None:
    table = aws.settings.analytics_table
    record = {"requestId": "r-1", "score": 0.1, "hit": True, "meta": {"t": [1.5, 2]}}
    write_items(dynamodb, [(table, record)])
    [raw] = batch_get_items(dynamodb, table, ["r-1"], ConsistentRead=True)
    assert deserialize(raw) == record


def test_batch_write_sends_25_items_a_call(dynamodb: Any, aws: StackInfo) -> None:
    table = aws.settings.analytics_table
    calls = calls_of(dynamodb, "BatchWriteItem")
    made = write_items(dynamodb, [(table, item(i)) for i in range(2 * BATCH_WRITE_LIMIT + 1)])
    assert made == 3
    assert [len(c[table]) for c in calls] == [25, 25, 1]
    stored = batch_get_items(dynamodb, table, [item(i)["requestId"] for i in range(51)])
    assert len(stored) == 51


def test_unprocessed_items_are_retried_until_written(dynamodb: Any, aws: StackInfo) -> None:
    table = aws.settings.analytics_table
    calls = calls_of(dynamodb, "BatchWriteItem")
    answers = iter([2, 1])  # the first answer leaves 2 items unprocessed, the next 1

    def unprocessed(http_response: Any, parsed: dict[str, Any], **kwargs: Any) -> None:
        left = next(answers, 0)
        if left:
            sent = calls[-1][table]
            parsed["UnprocessedItems"] = {table: sent[-left:]}

    dynamodb.meta.events.register("after-call.dynamodb.BatchWriteItem", unprocessed)
    made = write_items(dynamodb, [(table, item(i)) for i in range(5)])
    assert made == 3
    assert [len(c[table]) for c in calls] == [5, 2, 1]
    assert calls[1][table] == calls[0][table][-2:]  # the unprocessed ones, not the batch
    assert len(batch_get_items(dynamodb, table, [item(i)["requestId"] for i in range(5)])) == 5


def test_items_left_unprocessed_on_every_retry_raise(dynamodb: Any, aws: StackInfo) -> None:
    table = aws.settings.analytics_table
    calls = calls_of(dynamodb, "BatchWriteItem")

    def never(parsed: dict[str, Any], **_: Any) -> None:
        parsed["UnprocessedItems"] = {table: calls[-1][table]}

    dynamodb.meta.events.register("after-call.dynamodb.BatchWriteItem", never)
    with pytest.raises(UnprocessedItemsError):
        batch_write(dynamodb, [(table, {"PutRequest": {"Item": serialize(item(1))}})])
    assert len(calls) == storage.UNPROCESSED_RETRIES + 1


def test_batch_get_asks_for_100_keys_a_call_and_retries_unprocessed_keys(
    dynamodb: Any, aws: StackInfo
) -> None:
    table = aws.settings.analytics_table
    ids = [item(i)["requestId"] for i in range(2 * BATCH_GET_LIMIT + 1)]
    write_items(dynamodb, [(table, item(i)) for i in range(len(ids))])
    calls = calls_of(dynamodb, "BatchGetItem")
    first = [True]

    def unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        if first.pop() if first else False:
            # DynamoDB answered 99 of the first 100 keys and hands one key back
            kept = parsed["Responses"][table]
            parsed["Responses"][table] = kept[:-1]
            missing = {"requestId": kept[-1]["requestId"]}
            parsed["UnprocessedKeys"] = {table: {**calls[-1][table], "Keys": [missing]}}

    dynamodb.meta.events.register("after-call.dynamodb.BatchGetItem", unprocessed)
    found = batch_get_items(dynamodb, table, [*ids, ids[0]], ConsistentRead=True)
    assert sorted(raw["requestId"]["S"] for raw in found) == ids  # each once
    assert [len(c[table]["Keys"]) for c in calls] == [100, 1, 100, 1]
    assert all(c[table]["ConsistentRead"] is True for c in calls)
