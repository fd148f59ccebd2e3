"""Dead letters as the processor leaves them, for the SQS tests (plain helpers)."""

from __future__ import annotations

import json
from typing import Any

import boto3

from deployments.local_stack import StackInfo

QUERY = {
    "eventType": "query",
    "requestId": "req-stranded",
    "timestamp": 1_762_769_279_371,  # 2025-W46
    "query": "PostgreSQL experience?",
}

#: The worst body: nested past any parser's recursion limit, with a visitor's e-mail, phone
#: and an escaped lone surrogate in front (a JSON escape is plain ASCII, so SQS accepts it).
WORST_BODY = (
    '{"eventType": "query", "requestId": "req-worst", "timestamp": 1762769279371, '
    '"query": "jane.doe@example.com +44 7700 900123 \\ud800", "x": '
    + "[" * 200_000
    + "]" * 200_000
    + "}"
)


def sqs() -> Any:
    return boto3.client("sqs", region_name="us-east-1")


def put_dead_letter(
    stack: StackInfo,
    body: str,
    *,
    dedup: str,
    group: str = "analytics",
    attributes: dict[str, Any] | None = None,
) -> str:
    kwargs: dict[str, Any] = {
        "QueueUrl": stack.dlq_url,
        "MessageBody": body,
        "MessageGroupId": group,
        "MessageDeduplicationId": dedup,
    }
    if attributes:
        kwargs["MessageAttributes"] = attributes
    return str(sqs().send_message(**kwargs)["MessageId"])


def load_mixed(stack: StackInfo) -> None:
    """One of each class: invalid_json, invalid_event, exhausted, redrivable."""
    reason = {"reason": {"DataType": "String", "StringValue": "invalid_json"}}
    put_dead_letter(stack, "{not json", dedup="d1", attributes=reason)
    put_dead_letter(stack, json.dumps({**QUERY, "requestId": ""}), dedup="d2")
    exhausted = {"redriveCount": {"DataType": "Number", "StringValue": "3"}}
    put_dead_letter(
        stack, json.dumps({**QUERY, "requestId": "req-x"}), dedup="d3", attributes=exhausted
    )
    put_dead_letter(stack, json.dumps(QUERY), dedup="d4")
