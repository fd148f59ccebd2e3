"""Reading a week's analytics records: DynamoDB ``Query`` on the ``week-index`` GSI only.

A week is one GSI partition (``weekKey`` = the ISO week of the query event), so a report
reads exactly its week and nothing else, page by page; never a ``Scan``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from prefect import task

from lambdas.processor.correlation import ORPHAN_PREFIX
from lambdas.processor.settings import get_settings
from lambdas.processor.storage import (
    BATCH_WRITE_LIMIT,
    UNPROCESSED_RETRIES,
    batch_get_items,
    deserialize,
    deserialize_value,
)
from lambdas.processor.weeks import parse_week
from tasks.aws import AWS_TASK_OPTIONS, TASK_OPTIONS, aws_client
from tasks.core.aggregate import FIGURE_COLUMNS, columns_frame

WEEK_INDEX = "week-index"


def week_key_pages(week_key: str, **extra: Any) -> Iterator[dict[str, Any]]:
    """Every page of a ``Query`` on one GSI partition (``extra``: e.g. ``Select="COUNT"``)."""
    client = aws_client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": get_settings().analytics_table,
        "IndexName": WEEK_INDEX,
        "KeyConditionExpression": "weekKey = :week",
        "ExpressionAttributeValues": {":week": {"S": week_key}},
        **extra,
    }
    while True:
        page: dict[str, Any] = client.query(**kwargs)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def query_week_key(week_key: str) -> tuple[list[dict[str, Any]], float]:
    """All items of one GSI partition, and the read capacity units the pages consumed."""
    items: list[dict[str, Any]] = []
    consumed = 0.0
    for page in week_key_pages(week_key, ReturnConsumedCapacity="TOTAL"):
        items.extend(deserialize(raw) for raw in page.get("Items", []))
        consumed += float(page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))
    return items, consumed


def query_week_records(week: str) -> list[dict[str, Any]]:
    """Every correlated record whose query falls in ``week`` (the week's population)."""
    parse_week(week)
    return query_week_key(week)[0]


def query_week_table(week: str) -> pd.DataFrame:
    """The week's population as the figures' table, built straight from the Query pages.

    Only the attributes the figures read are projected and decoded, into one list per
    attribute: no dict per record, and the event payloads never leave DynamoDB.
    """
    parse_week(week)
    names = {f"#a{i}": key for i, key in enumerate(FIGURE_COLUMNS)}
    columns: dict[str, list[Any]] = {key: [] for key in FIGURE_COLUMNS}
    pages = week_key_pages(
        week, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
    )
    for page in pages:
        items = page.get("Items", [])
        for key, column in columns.items():
            column.extend(
                None if (value := item.get(key)) is None else deserialize_value(value)
                for item in items
            )
    return columns_frame(columns)


def query_week_orphans(week: str) -> list[dict[str, Any]]:
    """Responses received in ``week`` whose query never arrived."""
    parse_week(week)
    return query_week_key(ORPHAN_PREFIX + week)[0]


def count_week(week_key: str) -> int:
    """How many analytics records a GSI partition holds (Query, ``Select=COUNT``)."""
    return sum(int(page.get("Count", 0)) for page in week_key_pages(week_key, Select="COUNT"))


def delete_records(request_ids: Sequence[str]) -> int:
    """BatchWriteItem DeleteRequests on the analytics table, 25 a call; returns how many."""
    client = aws_client("dynamodb")
    table = get_settings().analytics_table
    ids = list(dict.fromkeys(request_ids))
    for start in range(0, len(ids), BATCH_WRITE_LIMIT):
        pending: dict[str, list[Any]] = {
            table: [
                {"DeleteRequest": {"Key": {"requestId": {"S": rid}}}}
                for rid in ids[start : start + BATCH_WRITE_LIMIT]
            ]
        }
        for attempt in range(UNPROCESSED_RETRIES + 1):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise RuntimeError(f"BatchWriteItem left deletions unprocessed on {table}")
    return len(ids)


@task(name="read-recent-records", **TASK_OPTIONS)
def read_recent_records(weeks: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records and orphan responses of a few weeks, by the report's own GSI Query."""
    records = [r for week in weeks for r in query_week_records(week)]
    orphans = [r for week in weeks for r in query_week_orphans(week)]
    return records, orphans


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
