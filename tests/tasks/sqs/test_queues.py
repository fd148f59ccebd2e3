"""The SQS helpers: pages, visibility, depth and totals, against in-process moto."""

from __future__ import annotations

import boto3

from deployments.local_stack import StackInfo
from tasks.core.health import dlq_check
from tasks.sqs.queues import (
    change_visibility,
    queue_counts,
    queue_depth,
    queue_total,
    receive_page,
)
from tests.tasks.sqs.conftest import load_mixed


def test_receive_page_reads_every_attribute_and_depth_counts_visible_messages(
    aws: StackInfo,
) -> None:
    load_mixed(aws)
    assert queue_depth(aws.settings.dlq_name) == 4
    page = receive_page(aws.dlq_url, wait_seconds=0)
    assert len(page) == 4
    assert page[0]["Attributes"]["MessageGroupId"] == "analytics"
    assert page[0]["MessageAttributes"]["reason"]["StringValue"] == "invalid_json"
    # Received = in flight: invisible, but still on the queue.
    assert queue_depth(aws.settings.dlq_name) == 0
    assert queue_total(aws.settings.dlq_name) == 4
    assert change_visibility(aws.dlq_url, page, 0) == 4
    assert queue_depth(aws.settings.dlq_name) == 4


def test_dlq_of_eleven_fails_and_empty_dlq_passes(aws: StackInfo) -> None:
    name = aws.settings.dlq_name
    assert dlq_check(name, queue_counts(name)["visible"], 10).ok
    sqs = boto3.client("sqs", region_name="us-east-1")
    for i in range(11):
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=f"bad {i}", MessageGroupId="analytics")
    depth = queue_counts(name)
    assert depth == {"visible": 11, "in flight": 0, "delayed": 0}
    assert not dlq_check(name, depth["visible"], 10).ok
