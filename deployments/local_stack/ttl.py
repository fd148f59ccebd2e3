"""TTL expiry: what DynamoDB's background TTL process does and moto does not.

``expire_ttl_items()`` is one sweep; ``ttl_sweeper()`` runs sweeps in a background loop
for as long as a stack runs (``make serve``), so an item past its TTL is gone within
``TTL_SWEEP_SECONDS`` plus one sweep. DynamoDB promises less (typically within 48 hours),
so the sweeper is within what AWS allows, and ``ttl-verification`` (which tolerates
``ttl_grace_hours`` of lag) sees what it would see on AWS.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from botocore.exceptions import ClientError

from deployments.local_stack.background import BackgroundLoop
from deployments.local_stack.provision import client
from tasks.settings import Settings

logger = logging.getLogger("deployments.local_stack")

#: DynamoDB's TTL process leaves items whose TTL is more than five years in the past.
MAX_PAST_SECONDS = 5 * 365 * 24 * 3600
#: How often the background sweeper looks for expired items (seconds).
TTL_SWEEP_SECONDS = 10.0


def ttl_attributes(dynamodb: Any) -> dict[str, str]:
    """The tables whose TTL is ENABLED, with their TTL attribute (the only ones AWS sweeps)."""
    found: dict[str, str] = {}
    for page in dynamodb.get_paginator("list_tables").paginate():
        for table in page.get("TableNames", []):
            description = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
            if description.get("TimeToLiveStatus") == "ENABLED":
                found[table] = description["AttributeName"]
    return found


def _expire_table(dynamodb: Any, table: str, attribute: str, now: int) -> int:
    keys = [
        k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    ]
    names = {f"#k{i}": key for i, key in enumerate(keys)} | {"#ttl": attribute}
    expired: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        ProjectionExpression=", ".join(f"#k{i}" for i in range(len(keys))),
        # a Number (tested first: moto raises comparing a string with a number, where
        # DynamoDB finds no match), in the past, not over five years ago
        FilterExpression="attribute_type(#ttl, :number) AND #ttl < :now AND #ttl >= :oldest",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={
            ":number": {"S": "N"},
            ":now": {"N": str(now)},
            ":oldest": {"N": str(now - MAX_PAST_SECONDS)},
        },
    ):
        expired.extend(page.get("Items", []))
    deleted = 0
    for key in expired:
        try:  # as AWS does: only if the item is still expired when it is deleted
            dynamodb.delete_item(
                TableName=table,
                Key=key,
                ConditionExpression="#ttl < :now",
                ExpressionAttributeNames={"#ttl": attribute},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
            deleted += 1
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
    return deleted


def expire_ttl_items(
    settings: Settings | None = None, now: float | None = None, *, dynamodb: Any = None
) -> int:
    """One sweep of DynamoDB's TTL process, which moto lacks: delete expired items.

    AWS's rules (the developer guide's "Formatting an item's TTL attribute"): only tables
    whose TTL is ENABLED, only items whose TTL attribute is a Number of epoch seconds in
    the past and at most five years old; each deleted only if still expired then. An item
    without the attribute, with a string, or with milliseconds (far in the future as
    seconds) stays, so TTL verification still sees those faults. Returns how many went.
    """
    dynamodb = dynamodb or client("dynamodb", settings or Settings())
    cutoff = int(time.time() if now is None else now)
    return sum(
        _expire_table(dynamodb, table, attribute, cutoff)
        for table, attribute in ttl_attributes(dynamodb).items()
    )


def ttl_sweeper(settings: Settings, interval: float = TTL_SWEEP_SECONDS) -> BackgroundLoop:
    """A (not yet started) loop sweeping every ``interval`` seconds with its own client."""
    dynamodb = client("dynamodb", settings)  # made here, on the caller's thread

    def sweep() -> bool:
        deleted = expire_ttl_items(dynamodb=dynamodb)
        if deleted:
            logger.info("TTL sweeper: %d expired item(s) deleted", deleted)
        return False  # a sweep per interval, however much it found

    return BackgroundLoop("DynamoDB TTL sweeper", sweep, interval)
