"""TTL expiry: what DynamoDB's background TTL process does and moto does not."""

from __future__ import annotations

import time
from typing import Any

from deployments.local_stack.provision import client
from tasks.settings import Settings


def expire_ttl_items(settings: Settings | None = None, now: float | None = None) -> int:
    """Do what DynamoDB's TTL process does and moto does not: delete expired items.

    Only items whose TTL attribute is a number of epoch seconds in the past are deleted,
    exactly AWS's rule; an item without it, or with a value in milliseconds (far in the
    future as seconds), stays, so TTL verification still sees those faults.
    """
    settings = settings or Settings()
    dynamodb = client("dynamodb", settings)
    cutoff = int(time.time() if now is None else now)
    expired: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=settings.query_events_table,
        ProjectionExpression="requestId, eventKey",
        FilterExpression="#ttl < :now",
        ExpressionAttributeNames={"#ttl": settings.ttl_attribute},
        ExpressionAttributeValues={":now": {"N": str(cutoff)}},
    ):
        expired.extend(page.get("Items", []))
    for start in range(0, len(expired), 25):
        chunk = expired[start : start + 25]
        dynamodb.batch_write_item(
            RequestItems={
                settings.query_events_table: [{"DeleteRequest": {"Key": key}} for key in chunk]
            }
        )
    return len(expired)
