"""The weekly summaries table: one item per week, the week's figures kept for later weeks.

A summary holds ``total_queries`` and ``figures`` (the week's figures as JSON), so the
next week's ``previous_week`` never re-reads old records. The same item carries the send
ledger (:mod:`tasks.dynamodb.send_ledger`); both write with ``UpdateItem`` on their own
attributes, so neither clobbers the other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from prefect import task

from lambdas.processor.settings import get_settings
from lambdas.processor.weeks import Week
from tasks.aws import TASK_OPTIONS, aws_client, run_logger
from tasks.core.aggregate import WeeklyFigures, population_size
from tasks.s3.week_archive import read_week


def now_text() -> str:
    """A UTC timestamp as the table stores them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def item_key(week: Week) -> dict[str, Any]:
    return {"week": {"S": week.id}}


def summaries_table() -> str:
    return get_settings().summaries_table


def summary_item(week: Week) -> dict[str, Any] | None:
    """The raw summaries-table item of a week (strongly consistent), or None."""
    response = aws_client("dynamodb").get_item(
        TableName=summaries_table(), Key=item_key(week), ConsistentRead=True
    )
    item = response.get("Item")
    return dict(item) if item else None


def save_summary(figures: WeeklyFigures, records_source: str) -> None:
    """Persist the week's figures and total (the ledger attributes are left untouched)."""
    aws_client("dynamodb").update_item(
        TableName=summaries_table(),
        Key=item_key(Week.parse(figures.week)),
        UpdateExpression=(
            "SET total_queries = :total, figures = :figures, "
            "records_source = :source, summary_updated_at = :now"
        ),
        ExpressionAttributeValues={
            ":total": {"N": str(figures.total_queries)},
            ":figures": {"S": json.dumps(figures.model_dump(mode="json"), sort_keys=True)},
            ":source": {"S": records_source},
            ":now": {"S": now_text()},
        },
    )


def previous_week_total(week: Week) -> int:
    """``total_queries`` of the week before ``week``: from its summary, else computed once.

    The fallback reads the previous week's records (DynamoDB or archive) and stores just
    the total, so the next report finds it without reading records again.
    """
    previous = week.previous
    item = summary_item(previous)
    if item and "total_queries" in item:
        return int(item["total_queries"]["N"])
    records = read_week(previous)
    total = population_size(previous, records.table)
    try:
        aws_client("dynamodb").update_item(
            TableName=summaries_table(),
            Key=item_key(previous),
            UpdateExpression="SET total_queries = :total, records_source = :source, "
            "summary_updated_at = :now",
            ConditionExpression="attribute_not_exists(total_queries)",
            ExpressionAttributeValues={
                ":total": {"N": str(total)},
                ":source": {"S": f"fallback-{records.source}"},
                ":now": {"S": now_text()},
            },
        )
    except ClientError as exc:  # a report of that week stored its figures meanwhile: keep them
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    run_logger().info(
        "No summary for %s: computed its total (%d) from %s and stored it",
        previous,
        total,
        records.source,
    )
    return total


@task(name="save-weekly-summary", **TASK_OPTIONS)
def save_summary_task(figures: WeeklyFigures, records_source: str) -> None:
    save_summary(figures, records_source)


@task(name="previous-week-total", **TASK_OPTIONS)
def previous_week_total_task(week: Week) -> int:
    return previous_week_total(week)
