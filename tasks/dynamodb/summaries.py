"""The weekly summaries table: one item per week, the week's figures kept for later weeks.

A summary holds ``total_queries``, ``figures`` (the week's whole figures object as
zlib-compressed JSON) and ``summary`` (the :class:`~tasks.core.insights.StoredSummary`
later weeks read: trend figures, intent counts, themes with every member, top sources;
zlib-compressed JSON too), so the next weeks' ``previous_week``, ``trends``, intents'
``previous_count``, themes' ``new``/``weeks_seen`` and ``unused_sources`` never re-read
old records. Both are compressed because a theme's members are every distinct display
query of the week: a busy week's JSON would otherwise pass DynamoDB's 400 KB item limit.
If the item still would, ``figures`` is left out (nothing reads it back but people) and
then keyed themes keep their first members only, which loses nothing later weeks judge:
every member of a keyed theme has the same question key.

The same item carries the send ledger (:mod:`tasks.dynamodb.send_ledger`); both write
with ``UpdateItem`` on their own attributes, so neither clobbers the other.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from prefect import task

from lambdas.processor.settings import get_settings
from lambdas.processor.weeks import Week
from tasks.aws import TASK_OPTIONS, aws_client, run_logger
from tasks.core.aggregate import WeeklyFigures, population_size, stored_summary
from tasks.core.insights import StoredSummary, history_weeks
from tasks.core.themes import question_key
from tasks.s3.week_archive import read_week

#: Room left under DynamoDB's 400 KB item limit for keys, the ledger and the other values.
ITEM_BUDGET = 350_000
#: Members a keyed theme keeps when the summary must shrink (see the module doc).
TRIMMED_MEMBERS = 5
UNPROCESSED_RETRIES = 8


class UnprocessedSummariesError(RuntimeError):
    """BatchGetItem kept leaving summary keys unprocessed."""


def pack(value: Any) -> bytes:
    """JSON (sorted keys, so equal values give equal bytes), zlib-compressed."""
    return zlib.compress(json.dumps(value, sort_keys=True, ensure_ascii=False).encode(), 9)


def unpack(data: bytes) -> Any:
    return json.loads(zlib.decompress(data).decode())


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


def _keyed(theme: Mapping[str, Any]) -> bool:
    """A theme of the topic tables (not a residual cluster): its members share one key."""
    members = theme.get("members") or []
    return bool(members) and question_key(str(members[0]["query"]))[1] is not None


def _trimmed(summary: StoredSummary) -> StoredSummary:
    themes = [
        {**theme, "members": theme["members"][:TRIMMED_MEMBERS]} if _keyed(theme) else theme
        for theme in summary.themes or []
    ]
    return summary.model_copy(update={"themes": themes})


def summary_values(figures: WeeklyFigures) -> dict[str, bytes]:
    """The packed ``figures`` and ``summary`` attributes, within :data:`ITEM_BUDGET`."""
    summary = stored_summary(figures)
    packed = {
        "figures": pack(figures.model_dump(mode="json")),
        "summary": pack(summary.model_dump()),
    }
    if sum(map(len, packed.values())) <= ITEM_BUDGET:
        return packed
    run_logger().warning("Summary of %s is large: stored without its full figures", figures.week)
    packed = {"summary": packed["summary"]}
    if len(packed["summary"]) > ITEM_BUDGET:
        packed["summary"] = pack(_trimmed(summary).model_dump())
    return packed


def save_summary(figures: WeeklyFigures, records_source: str) -> None:
    """Persist the week's figures, summary and total (the ledger attributes are untouched)."""
    values = summary_values(figures)
    assignments = [
        "total_queries = :total",
        "records_source = :source",
        "summary_updated_at = :now",
    ]
    names = {"#summary": "summary"}
    attributes: dict[str, Any] = {
        ":total": {"N": str(figures.total_queries)},
        ":source": {"S": records_source},
        ":now": {"S": now_text()},
        ":summary": {"B": values["summary"]},
    }
    assignments.append("#summary = :summary")
    if "figures" in values:
        assignments.append("figures = :figures")
        attributes[":figures"] = {"B": values["figures"]}
    update = "SET " + ", ".join(assignments)
    if "figures" not in values:
        update += " REMOVE figures"
    aws_client("dynamodb").update_item(
        TableName=summaries_table(),
        Key=item_key(Week.parse(figures.week)),
        UpdateExpression=update,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=attributes,
    )


def stored_figures(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The figures JSON a summary item holds, or None."""
    value = item.get("figures")
    return unpack(value["B"]) if value and "B" in value else None


def summary_of_item(week: Week, item: Mapping[str, Any]) -> StoredSummary:
    """A summaries-table item as what later weeks read: the summary, else its total alone."""
    value = item.get("summary")
    if value and "B" in value:
        return StoredSummary.model_validate({**unpack(value["B"]), "week": week.id})
    total = item.get("total_queries")
    return StoredSummary(week=week.id, total_queries=int(total["N"]) if total else None)


def previous_summaries(week: Week) -> dict[str, StoredSummary]:
    """The stored summaries of the 8 weeks before ``week``, by week id: one BatchGetItem.

    Strongly consistent, so a summary saved a moment ago (this run's fallback total, an
    earlier week's regeneration) is seen. A week without an item is missing from the
    result: it has no summary. Unprocessed keys are asked for again with backoff.
    """
    weeks = {w.id: w for w in history_weeks(week)}
    table = summaries_table()
    request: dict[str, Any] = {
        table: {
            "Keys": [item_key(w) for w in weeks.values()],
            "ConsistentRead": True,
            "ProjectionExpression": "week, total_queries, #summary",
            "ExpressionAttributeNames": {"#summary": "summary"},
        }
    }
    found: dict[str, StoredSummary] = {}
    client = aws_client("dynamodb")
    for attempt in range(UNPROCESSED_RETRIES + 1):
        response = client.batch_get_item(RequestItems=request)
        for item in response.get("Responses", {}).get(table, []):
            earlier = weeks[item["week"]["S"]]
            found[earlier.id] = summary_of_item(earlier, item)
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return dict(sorted(found.items()))
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise UnprocessedSummariesError(f"BatchGetItem left summaries of {week}'s history unread")


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


@task(name="previous-summaries", **TASK_OPTIONS)
def previous_summaries_task(week: Week) -> dict[str, StoredSummary]:
    """The previous 8 weeks' stored summaries, read fresh on every attempt (no cache)."""
    summaries = previous_summaries(week)
    run_logger().info(
        "Stored summaries of %d of the 8 weeks before %s: %s",
        len(summaries),
        week,
        ", ".join(summaries) or "none",
    )
    return summaries


@task(name="previous-week-total", **TASK_OPTIONS)
def previous_week_total_task(week: Week) -> int:
    return previous_week_total(week)
