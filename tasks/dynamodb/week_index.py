"""The analytics table by week: DynamoDB ``Query`` on the ``week-index`` GSI, never a Scan.

A week is one GSI partition (``weekKey`` = the ISO week of the query event) and its
orphan responses another (``orphan#<week>``), so a report, the health check and the
archival read exactly the weeks they name, page by page. The table is named by the
caller (the flow's settings, ``analytics_table``): this module reads no settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from botocore.exceptions import ClientError
from prefect import task

from lambdas.shared.dynamodb import (
    batch_get_items,
    deserialize,
    deserialize_value,
)
from lambdas.shared.weeks import Week
from tasks.aws import TASK_OPTIONS, aws_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import QueryOutputTypeDef
from tasks.core.aggregate import FIGURE_COLUMNS, columns_frame

WEEK_INDEX = "week-index"


def week_key_pages(table: str, week_key: str, **extra: Any) -> Iterator[QueryOutputTypeDef]:
    """Every page of a ``Query`` on one GSI partition of ``table`` (``extra``: e.g.
    ``Select="COUNT"``)."""
    return query_pages(
        {
            "TableName": table,
            "IndexName": WEEK_INDEX,
            "KeyConditionExpression": "weekKey = :week",
            "ExpressionAttributeValues": {":week": {"S": week_key}},
            **extra,
        }
    )


def query_pages(request: dict[str, Any]) -> Iterator[QueryOutputTypeDef]:
    """Every page of one DynamoDB ``Query`` (``request``: its parameters), following
    ``LastEvaluatedKey`` until the last page."""
    client = aws_client("dynamodb")
    kwargs = dict(request)
    while True:
        page = client.query(**kwargs)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _partition(table: str, week_key: str) -> list[dict[str, Any]]:
    pages = week_key_pages(table, week_key)
    return [deserialize(raw) for page in pages for raw in page.get("Items", [])]


def query_week_records(table: str, week: Week) -> list[dict[str, Any]]:
    """Every correlated record whose query falls in ``week`` (the week's population)."""
    return _partition(table, week.index_key)


def query_week_table(table: str, week: Week) -> pd.DataFrame:
    """The week's population as the figures' table, built straight from the Query pages.

    Only the attributes the figures read are projected and decoded, into one list per
    attribute: no dict per record, and the event payloads never leave DynamoDB.
    """
    names = {f"#a{i}": key for i, key in enumerate(FIGURE_COLUMNS)}
    columns: dict[str, list[Any]] = {key: [] for key in FIGURE_COLUMNS}
    pages = week_key_pages(
        table, week.index_key, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
    )
    for page in pages:
        items = page.get("Items", [])
        for key, column in columns.items():
            column.extend(
                None if (value := item.get(key)) is None else deserialize_value(value)
                for item in items
            )
    return columns_frame(columns)


def query_week_orphans(table: str, week: Week) -> list[dict[str, Any]]:
    """Responses received in ``week`` whose query never arrived."""
    return _partition(table, week.orphan_key)


def count_week(table: str, week: Week) -> int:
    """How many analytics records the week's partition holds (Query, ``Select=COUNT``)."""
    pages = week_key_pages(table, week.index_key, Select="COUNT")
    return sum(int(page.get("Count", 0)) for page in pages)


def delete_unchanged(table: str, records: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """Delete each analytics record only if it is unchanged since it was read.

    One conditional ``DeleteItem`` per record (BatchWriteItem takes no conditions): the
    record's state is its two event attributes, so the condition is that both still hold
    what was read (or are still absent). A record the processor changed in between stays,
    and the next archival merges it. Returns (deleted, kept).
    """
    client = aws_client("dynamodb")
    deleted = kept = 0
    for record in records:
        conditions, values = [], {}
        for name, placeholder in (("queryEvent", ":q"), ("responseEvent", ":r")):
            if record.get(name) is None:
                conditions.append(f"attribute_not_exists({name})")
            else:
                conditions.append(f"{name} = {placeholder}")
                values[placeholder] = {"S": str(record[name])}
        optional: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
        try:
            client.delete_item(
                TableName=table,
                Key={"requestId": {"S": record["requestId"]}},
                ConditionExpression=" AND ".join(conditions),
                **optional,
            )
            deleted += 1
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            kept += 1
    return deleted, kept


@task(name="read-recent-records", persist_result=False, **TASK_OPTIONS)
def read_recent_records(
    table: str,
    weeks: Sequence[Week],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records and orphan responses of a few weeks, by the report's own GSI Query.

    Not persisted: the records hold query text.
    """
    records = [r for week in weeks for r in query_week_records(table, week)]
    orphans = [r for week in weeks for r in query_week_orphans(table, week)]
    return records, orphans


@task(name="stored-query-weeks", **TASK_OPTIONS)
def stored_query_weeks(table: str, request_ids: list[str]) -> dict[str, str]:
    """requestId -> ``week`` of the stored analytics record, for requests whose query is stored."""
    items = batch_get_items(
        aws_client("dynamodb"),
        table,
        request_ids,
        ProjectionExpression="requestId, #week",
        ExpressionAttributeNames={"#week": "week"},
    )
    return {item["requestId"]["S"]: item["week"]["S"] for item in items if "week" in item}
