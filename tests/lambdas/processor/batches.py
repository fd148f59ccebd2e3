"""SQS FIFO batches as the event source mapping hands them to the handler, and one
invocation of the real handler: the builders the handler tests share."""

from __future__ import annotations

import uuid
from typing import Any

from deployments.local_stack import LocalContext
from lambdas.processor import handler as processor


def sqs_records(*bodies: str) -> list[dict[str, Any]]:
    """One Lambda SQS record per body, in order, all in the ``analytics`` message group."""
    return [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": f"rh-{i}",
            "body": body,
            "attributes": {"MessageGroupId": "analytics", "ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cv-analytics-queue.fifo",
            "awsRegion": "us-east-1",
        }
        for i, body in enumerate(bodies)
    ]


def invoke(records: list[dict[str, Any]]) -> list[str]:
    """Invoke the handler with one batch; the message ids it reports failed."""
    response = processor.handler({"Records": records}, LocalContext())
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]
