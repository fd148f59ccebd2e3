"""Reading a week's analytics records: DynamoDB ``Query`` on the ``week-index`` GSI only.

A week is one GSI partition (``weekKey`` = the ISO week of the query event), so a report
reads exactly its week and nothing else, page by page; never a ``Scan``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from lambdas.processor.correlation import ORPHAN_PREFIX
from lambdas.processor.settings import get_settings
from lambdas.processor.storage import deserialize, deserialize_value
from lambdas.processor.weeks import parse_week
from tasks.aggregate import FIGURE_COLUMNS, columns_frame
from tasks.aws import aws_client

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
