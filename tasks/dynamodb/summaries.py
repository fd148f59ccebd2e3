"""TODO docstring: tasks.dynamodb.summaries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import (
    ClientError,
)
from prefect import task
from prefect.cache_policies import NO_CACHE

from lambdas.processor.settings import get_settings
from lambdas.processor.weeks import parse_week, shift_week
from tasks.aws import AWS_TASK_OPTIONS, _logger, aws_client
from tasks.core.aggregate import WeeklyFigures, population_size
from tasks.s3.week_archive import read_week


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key(week: str) -> dict[str, Any]:
    return {"week": {"S": week}}


def _table() -> str:
    return get_settings().summaries_table


def summary_item(week: str) -> dict[str, Any] | None:
    """The raw summaries-table item of a week (strongly consistent), or None."""
    parse_week(week)
    response = aws_client("dynamodb").get_item(
        TableName=_table(), Key=_key(week), ConsistentRead=True
    )
    item = response.get("Item")
    return dict(item) if item else None


def save_summary(figures: WeeklyFigures, records_source: str) -> None:
    """Persist the week's figures and total (the ledger attributes are left untouched)."""
    aws_client("dynamodb").update_item(
        TableName=_table(),
        Key=_key(figures.week),
        UpdateExpression=(
            "SET total_queries = :total, figures = :figures, "
            "records_source = :source, summary_updated_at = :now"
        ),
        ExpressionAttributeValues={
            ":total": {"N": str(figures.total_queries)},
            ":figures": {"S": json.dumps(figures.model_dump(mode="json"), sort_keys=True)},
            ":source": {"S": records_source},
            ":now": {"S": _now()},
        },
    )


def previous_week_total(week: str) -> int:
    """``total_queries`` of the week before ``week``: from its summary, else computed once.

    The fallback reads the previous week's records (DynamoDB or archive) and stores just
    the total, so the next report finds it without reading records again.
    """
    previous = shift_week(week, -1)
    item = summary_item(previous)
    if item and "total_queries" in item:
        return int(item["total_queries"]["N"])
    records = read_week(previous)
    total = population_size(previous, records.table)
    try:
        aws_client("dynamodb").update_item(
            TableName=_table(),
            Key=_key(previous),
            UpdateExpression="SET total_queries = :total, records_source = :source, "
            "summary_updated_at = :now",
            ConditionExpression="attribute_not_exists(total_queries)",
            ExpressionAttributeValues={
                ":total": {"N": str(total)},
                ":source": {"S": f"fallback-{records.source}"},
                ":now": {"S": _now()},
            },
        )
    except ClientError as exc:  # a report of that week stored its figures meanwhile: keep them
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    _logger().info(
        "No summary for %s: computed its total (%d) from %s and stored it",
        previous,
        total,
        records.source,
    )
    return total


@task(name="save-weekly-summary", cache_policy=NO_CACHE, **AWS_TASK_OPTIONS)
def save_summary_task(figures: WeeklyFigures, records_source: str) -> None:
    save_summary(figures, records_source)


@task(name="previous-week-total", cache_policy=NO_CACHE, **AWS_TASK_OPTIONS)
def previous_week_total_task(week: str) -> int:
    return previous_week_total(week)
