"""The triage loop over DLQ pages (``triage_round.fn``) against in-process moto.

Faults are injected at our own boundaries (``tasks.s3.put_bytes``, ``tasks.sqs.delete_batch``)
with real ``botocore`` ``ClientError``s; everything else is moto's real SQS/S3/DynamoDB.
"""

from __future__ import annotations

import json
import re
from typing import Any
from unittest.mock import patch

from deployments.local_stack import EventSourceMapping, StackInfo
from lambdas.processor.handler import handler
from lambdas.processor.weeks import Week
from tasks.aws import aws_client
from tasks.core.archive import decode_records as decode_archive
from tasks.dynamodb.week_index import query_week_records
from tasks.s3 import objects as s3
from tasks.sqs.dlq_pages import triage_round
from tasks.sqs.queues import queue_depth, queue_total, release_messages_task
from tests.conftest import client_error, s3_confirms_another_checksum
from tests.tasks.sqs.conftest import QUERY, load_mixed, put_dead_letter, sqs

WEEK = Week(2025, 46)  # the week of QUERY


def s3_failure(*_: Any, **__: Any) -> None:
    raise client_error("InternalError", "PutObject", status=500, message="injected S3 outage")


def sqs_delete_failure(*_: Any, **__: Any) -> None:
    raise client_error(
        "ServiceUnavailable", "DeleteMessageBatch", status=503, message="injected crash"
    )


def test_given_a_dry_run_when_released_then_queues_and_bucket_are_untouched(
    aws: StackInfo,
) -> None:
    load_mixed(aws)
    result = triage_round.fn("run-dry", 1, None, True)
    assert result.seen == 4 and result.error is None
    assert result.counts == {
        "invalid_json": 1,
        "invalid_event": 1,
        "store_refused": 0,
        "exhausted": 1,
        "redrivable": 1,
    }
    assert (result.redriven, result.archived) == (0, 0)
    assert release_messages_task.fn(aws.settings.dlq_name, result.held) == 4
    assert queue_depth(aws.settings.dlq_name) == 4
    assert queue_total(aws.settings.queue_name) == 0
    assert s3.list_keys("dlq/") == []


def test_given_an_s3_outage_then_nothing_is_deleted_or_redriven(aws: StackInfo) -> None:
    load_mixed(aws)
    with patch("tasks.s3.objects.put_bytes", side_effect=s3_failure):
        result = triage_round.fn("run-s3", 1, None, False)
    assert result.error is not None and "injected S3 outage" in result.error
    assert (result.archived, result.redriven) == (0, 0)
    # Every message is still on the DLQ and visible again for the next run.
    assert queue_depth(aws.settings.dlq_name) == 4
    assert queue_total(aws.settings.queue_name) == 0
    assert s3.list_keys("dlq/") == []


def test_given_s3_does_not_confirm_the_checksum_then_nothing_is_deleted(aws: StackInfo) -> None:
    load_mixed(aws)
    with s3_confirms_another_checksum():
        result = triage_round.fn("run-unconfirmed", 1, None, False)
    assert result.error is not None and "S3 confirmed checksum" in result.error
    assert (result.archived, result.redriven) == (0, 0)
    assert queue_depth(aws.settings.dlq_name) == 4


def test_archiving_poison_costs_one_put_and_no_read_back(aws: StackInfo) -> None:
    load_mixed(aws)
    calls: list[str] = []
    events = aws_client("s3").meta.events
    events.register("before-call.s3", lambda model, **_: calls.append(model.name), "test-count")
    try:
        result = triage_round.fn("run-count", 1, None, False)
    finally:
        events.unregister("before-call.s3", unique_id="test-count")
    assert result.archived == 3
    assert calls == ["PutObject"]


def test_poison_is_archived_then_deleted_and_redrivable_goes_back(aws: StackInfo) -> None:
    load_mixed(aws)
    result = triage_round.fn("run-1", 1, None, False)
    assert result.error is None
    assert (result.archived, result.redriven) == (3, 1)
    assert queue_total(aws.settings.dlq_name) == 0
    (key,) = s3.list_keys("dlq/")
    assert re.fullmatch(r"dlq/20\d\d/\d\d/\d\d/run-1-00001-[0-9a-z]+\.jsonl\.gz", key), key
    data = s3.get_bytes(key)
    assert data is not None
    records = decode_archive(data)
    assert sorted(r["classification"] for r in records) == [
        "exhausted",
        "invalid_event",
        "invalid_json",
    ]
    assert {r["body"] for r in records} >= {"{not json"}
    assert all(r["reason"] and r["archivedAt"] and r["attributes"] for r in records)


def test_redrive_keeps_the_group_id_and_increments_the_count(aws: StackInfo) -> None:
    once = {"redriveCount": {"DataType": "Number", "StringValue": "1"}}
    dlq_id = put_dead_letter(aws, json.dumps(QUERY), dedup="d1", group="g-7", attributes=once)
    result = triage_round.fn("run-1", 1, None, False)
    assert result.redriven == 1
    (message,) = sqs().receive_message(
        QueueUrl=aws.queue_url,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        MaxNumberOfMessages=10,
    )["Messages"]
    assert message["Attributes"]["MessageGroupId"] == "g-7"
    assert message["Attributes"]["MessageDeduplicationId"] == f"redrive-{dlq_id}"
    assert message["MessageAttributes"]["redriveCount"]["StringValue"] == "2"
    assert message["Body"] == json.dumps(QUERY)


def test_a_crash_between_send_and_delete_duplicates_and_the_week_counts_it_once(
    aws: StackInfo,
) -> None:
    put_dead_letter(aws, json.dumps(QUERY), dedup="d1")

    # Given a crash after the send and before the delete,
    with patch("tasks.sqs.queues.delete_batch", side_effect=sqs_delete_failure):
        crashed = triage_round.fn("run-crash", 1, None, False)
    assert crashed.error is not None and "injected crash" in crashed.error
    # then the message is on the main queue AND still on the DLQ: nothing lost.
    assert queue_total(aws.settings.queue_name) == 1
    assert queue_depth(aws.settings.dlq_name) == 1

    # When the next run redrives it again, SQS deduplicates the re-send (same DLQ id),
    again = triage_round.fn("run-2", 1, None, False)
    assert again.error is None and again.redriven == 1
    assert queue_total(aws.settings.dlq_name) == 0
    assert queue_total(aws.settings.queue_name) == 1

    # and once processed, the week counts the request exactly once.
    EventSourceMapping(handler).drain()
    records = query_week_records(WEEK)
    assert [r["requestId"] for r in records] == ["req-stranded"]


def test_max_messages_budget_stops_the_round(aws: StackInfo) -> None:
    for i in range(12):
        put_dead_letter(aws, json.dumps({**QUERY, "requestId": f"r{i}"}), dedup=f"d{i}")
    result = triage_round.fn("run-b", 1, 5, False)
    assert (result.seen, result.redriven, result.finished) == (5, 5, True)
    assert queue_depth(aws.settings.dlq_name) == 7
