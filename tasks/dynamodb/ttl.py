"""DynamoDB TTL of the raw-events table: its status, turning it on, and a projected scan.

The scan reads one parallel segment at a time with only the key and TTL attributes
projected, and classifies each item with the pure rules of :mod:`tasks.core.ttl`.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from tasks.aws import TASK_OPTIONS, aws_client
from tasks.core.ttl import TtlPolicy, TtlSummary


@task(name="ttl-status", **TASK_OPTIONS)
def ttl_status(table: str) -> tuple[str, str | None]:
    """(TimeToLiveStatus, AttributeName) of a table; ``DISABLED``/None when off."""
    description = aws_client("dynamodb").describe_time_to_live(TableName=table)
    ttl = description.get("TimeToLiveDescription", {})
    return str(ttl.get("TimeToLiveStatus", "DISABLED")), ttl.get("AttributeName")


@task(name="enable-ttl", **TASK_OPTIONS)
def enable_ttl(table: str, attribute: str) -> None:
    """Turn TTL on (AWS accepts one TTL change per table per hour)."""
    aws_client("dynamodb").update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
    )


@task(name="scan-ttl-segment", **TASK_OPTIONS)
def scan_ttl_segment(
    table: str, policy: TtlPolicy, segment: int, total_segments: int, now_s: int
) -> TtlSummary:
    """One segment of a parallel Scan projecting only keys, TTL and event time, classified.

    Items are classified page by page and only the summary is returned, so memory stays
    flat however large the table is.
    """
    if not 0 <= segment < total_segments:
        raise ValueError(f"segment must be in [0, {total_segments}), got {segment}")
    client = aws_client("dynamodb")
    summary = TtlSummary()
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Segment": segment,
        "TotalSegments": total_segments,
        "ProjectionExpression": "requestId, eventKey, #ttl, #ts",
        "ExpressionAttributeNames": {"#ttl": policy.attribute, "#ts": "timestamp"},
    }
    while True:
        page = client.scan(**kwargs)
        for item in page.get("Items", []):
            summary.add(item, now_s, policy)
        if "LastEvaluatedKey" not in page:
            return summary
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
