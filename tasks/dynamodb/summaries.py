"""The weekly summaries table: one item per week, the week's figures kept for later weeks.

A summary holds ``total_queries``, ``figures`` (the week's whole figures object as
zlib-compressed JSON) and ``summary`` (the :class:`~tasks.core.insights.StoredSummary`
later weeks read: trend figures, intent counts, themes with every member and their
``answered_well``, the week's gap themes, top sources; zlib-compressed JSON too), so the
next weeks' ``previous_week``, ``trends``, intents' ``previous_count``, themes'
``new``/``weeks_seen``, ``gap_followup`` and ``unused_sources`` never re-read old
records. Both are compressed because a theme's members are every distinct display query
of the week: a busy week's JSON would otherwise pass DynamoDB's 400 KB item limit.

The item always fits, whatever visitors typed (a few pasted 90 KB questions must not
stop the report). Every stored text is already cut to
:data:`~tasks.core.aggregate.STORED_TEXT_LIMIT` characters; then, while the packed values
pass :data:`ITEM_BUDGET`, one deterministic step after another is taken:

1. ``figures`` is left out (nothing reads it back but people);
2. keyed themes keep their first :data:`TRIMMED_MEMBERS` members (every member of a
   keyed theme has the same question key, so later weeks lose nothing) and residual
   themes their first :data:`RESIDUAL_MEMBERS`; ``omitted_members`` says how many went;
3. only the longest prefix of the themes (in their order: most requests first) that fits
   is kept; ``omitted_themes``/``omitted_requests`` say what went.

No count changes: ``total_queries``, the intents and each kept theme's ``count`` are the
week's. The ``gaps`` list is never trimmed: it is bounded where it is made (at most
:data:`~tasks.core.gap_history.STORED_GAP_LIMIT` entries of two texts of at most
:data:`~tasks.core.aggregate.STORED_TEXT_LIMIT` characters, some 30 KB at worst, so a
summary without any theme still fits), and later weeks read a gap's state from it.
Compression is streamed and stops as soon as the output passes the budget, so an
incompressible week costs no more than the budget's worth of zlib.

The same item carries the send ledger (:mod:`tasks.dynamodb.send_ledger`); both write
with ``UpdateItem`` on their own attributes, so neither clobbers the other. The table is
named by the caller (the flow's settings, ``summaries_table``): this module reads no settings.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from prefect import task

from lambdas.shared.dynamodb import UnprocessedItemsError, batch_get_items
from lambdas.shared.weeks import Week
from tasks.aws import TASK_OPTIONS, aws_client, run_logger
from tasks.core.aggregate import WeeklyFigures, stored_summary
from tasks.core.insights import StoredSummary, history_weeks

#: Room left under DynamoDB's 400 KB item limit for keys, the ledger and the other values.
ITEM_BUDGET = 350_000
#: Members a keyed theme keeps when the summary must shrink (see the module doc).
TRIMMED_MEMBERS = 5
#: Members a residual theme keeps when the summary must shrink: recurrence compares
#: each stored member with a later week's leaders, so a few more are worth keeping.
RESIDUAL_MEMBERS = 20
_CHUNK = 65_536
#: How often the summaries' read asks again for keys left unprocessed (the processor's: 5).
UNPROCESSED_RETRIES = 8


class UnprocessedSummariesError(RuntimeError):
    """BatchGetItem kept leaving summary keys unprocessed."""


def pack(value: Any) -> bytes:
    """JSON (sorted keys, so equal values give equal bytes), zlib-compressed."""
    return zlib.compress(json.dumps(value, sort_keys=True, ensure_ascii=False).encode(), 9)


def pack_within(value: Any, budget: int) -> bytes | None:
    """:func:`pack` of ``value`` if it is at most ``budget`` bytes, else None; the JSON is
    encoded and compressed piece by piece and abandoned once the output passes the budget."""
    encoder = json.JSONEncoder(sort_keys=True, ensure_ascii=False)
    compressor = zlib.compressobj(9)
    output: list[bytes] = []
    size = 0
    pending: list[str] = []
    pending_size = 0
    for piece in encoder.iterencode(value):
        pending.append(piece)
        pending_size += len(piece)
        if pending_size < _CHUNK:
            continue
        chunk = compressor.compress("".join(pending).encode())
        pending, pending_size = [], 0
        output.append(chunk)
        size += len(chunk)
        if size > budget:
            return None
    output.append(compressor.compress("".join(pending).encode()))
    output.append(compressor.flush())
    packed = b"".join(output)
    return packed if len(packed) <= budget else None


def unpack(data: bytes) -> Any:
    return json.loads(zlib.decompress(data).decode())


def now_text() -> str:
    """A UTC timestamp as the table stores them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def item_key(week: Week) -> dict[str, Any]:
    return {"week": {"S": week.id}}


def summary_item(table: str, week: Week) -> dict[str, Any] | None:
    """The raw summaries-table item of a week (strongly consistent), or None."""
    response = aws_client("dynamodb").get_item(
        TableName=table, Key=item_key(week), ConsistentRead=True
    )
    item = response.get("Item")
    return dict(item) if item else None


def _keyed(theme: Mapping[str, Any]) -> bool:
    """A theme of a known topic (not an unknown question with its paraphrases), from the
    key the theme was stored with."""
    return ":~" not in str(theme.get("key", ":~"))


def _trimmed_theme(theme: dict[str, Any]) -> dict[str, Any]:
    members = theme.get("members") or []
    keep = TRIMMED_MEMBERS if _keyed(theme) else RESIDUAL_MEMBERS
    if len(members) <= keep:
        return theme
    omitted = int(theme.get("omitted_members", 0)) + len(members) - keep
    return {**theme, "members": members[:keep], "omitted_members": omitted}


def _with_themes(summary: dict[str, Any], themes: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary keeping the first ``len(themes)`` of its themes, counting the rest."""
    rest = summary["themes"][len(themes) :]
    return {
        **summary,
        "themes": themes,
        "omitted_themes": summary.get("omitted_themes", 0) + len(rest),
        "omitted_requests": summary.get("omitted_requests", 0)
        + sum(int(theme["count"]) for theme in rest),
    }


def bounded_summary(summary: dict[str, Any], budget: int) -> bytes:
    """The packed summary within ``budget`` bytes: whole if it fits, else with members
    trimmed, else with the longest prefix of its themes that fits (see the module doc)."""
    whole = pack_within(summary, budget)
    if whole is not None:
        return whole
    themes = [_trimmed_theme(theme) for theme in summary.get("themes") or []]
    trimmed = {**summary, "themes": themes}
    packed = pack_within(trimmed, budget)
    if packed is not None:
        return packed
    fits, too_many = 0, len(themes)  # no theme fits: 7 counts, 10 names, <= 50 gaps
    best = pack_within(_with_themes(trimmed, []), budget)
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        attempt = pack_within(_with_themes(trimmed, themes[:middle]), budget)
        if attempt is None:
            too_many = middle
        else:
            fits, best = middle, attempt
    if best is None:
        raise ValueError(f"a summary without themes passes {budget} bytes")
    return best


def summary_values(figures: WeeklyFigures) -> dict[str, bytes]:
    """The packed ``figures`` and ``summary`` attributes, within :data:`ITEM_BUDGET`."""
    summary = stored_summary(figures).model_dump()
    packed_summary = bounded_summary(summary, ITEM_BUDGET)
    room = ITEM_BUDGET - len(packed_summary)
    packed_figures = pack_within(figures.model_dump(mode="json"), room)
    if packed_figures is not None:
        return {"figures": packed_figures, "summary": packed_summary}
    run_logger().warning("Summary of %s is large: stored without its full figures", figures.week)
    return {"summary": packed_summary}


def save_summary(table: str, figures: WeeklyFigures, records_source: str) -> None:
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
        TableName=table,
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


def previous_summaries(table: str, week: Week) -> dict[str, StoredSummary]:
    """The stored summaries of the 8 weeks before ``week``, by week id: one BatchGetItem.

    Strongly consistent, so a summary saved a moment ago (this run's fallback total, an
    earlier week's regeneration) is seen. A week without an item is missing from the
    result: it has no summary. Unprocessed keys are asked for again with backoff.
    """
    weeks = {w.id: w for w in history_weeks(week)}
    try:
        items = batch_get_items(
            aws_client("dynamodb"),
            table,
            weeks,
            key="week",
            retries=UNPROCESSED_RETRIES,
            ConsistentRead=True,
            ProjectionExpression="week, total_queries, #summary",
            ExpressionAttributeNames={"#summary": "summary"},
        )
    except UnprocessedItemsError as exc:
        message = f"BatchGetItem left summaries of {week}'s history unread"
        raise UnprocessedSummariesError(message) from exc
    found: dict[str, StoredSummary] = {}
    for item in items:
        earlier = weeks[item["week"]["S"]]
        found[earlier.id] = summary_of_item(earlier, item)
    return dict(sorted(found.items()))


def save_fallback_total(table: str, week: Week, total: int, records_source: str) -> bool:
    """Store ``total_queries`` of a week that has no summary; False when one appeared meanwhile.

    Conditional on the total being absent: a report of that week that stored its figures
    in the meantime is kept, not overwritten by this count.
    """
    try:
        aws_client("dynamodb").update_item(
            TableName=table,
            Key=item_key(week),
            UpdateExpression="SET total_queries = :total, records_source = :source, "
            "summary_updated_at = :now",
            ConditionExpression="attribute_not_exists(total_queries)",
            ExpressionAttributeValues={
                ":total": {"N": str(total)},
                ":source": {"S": records_source},
                ":now": {"S": now_text()},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True


def stored_total(table: str, week: Week) -> int | None:
    """``total_queries`` of a week's summary item, None when it has none."""
    item = summary_item(table, week)
    if item and "total_queries" in item:
        return int(item["total_queries"]["N"])
    return None


@task(name="save-weekly-summary", **TASK_OPTIONS)
def save_summary_task(table: str, figures: WeeklyFigures, records_source: str) -> None:
    save_summary(table, figures, records_source)


@task(name="previous-summaries", **TASK_OPTIONS)
def previous_summaries_task(table: str, week: Week) -> dict[str, StoredSummary]:
    """The previous 8 weeks' stored summaries, read fresh on every attempt (no cache)."""
    summaries = previous_summaries(table, week)
    run_logger().info(
        "Stored summaries of %d of the 8 weeks before %s: %s",
        len(summaries),
        week,
        ", ".join(summaries) or "none",
    )
    return summaries
