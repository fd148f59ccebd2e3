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
from lambdas.shared.contract import parse_event
from lambdas.shared.weeks import Week
from tasks.aws import aws_client
from tasks.core.archive import decode_records as decode_archive
from tasks.dlq_pages import triage_round
from tasks.dynamodb.week_index import query_week_records
from tasks.s3 import objects as s3
from tasks.sqs.queues import queue_depth, queue_total, release_messages_task
from tests.conftest import client_error, s3_confirms_another_checksum
from tests.tasks.sqs.conftest import QUERY, WORST_BODY, load_mixed, put_dead_letter, sqs

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
    result = triage_round.fn("run-dry", 1, None, True, aws.settings)
    assert result.seen == 4 and result.error is None
    assert result.counts == {
        "invalid_json": 1,
        "invalid_event": 1,
        "store_refused": 0,
        "duplicate_conflict": 0,
        "exhausted": 1,
        "unreadable": 0,
        "unsendable": 0,
        "redrivable": 1,
    }
    assert (result.redriven, result.archived) == (0, 0)
    assert release_messages_task.fn(aws.settings.dlq_name, result.held) == 4
    assert queue_depth(aws.settings.dlq_name) == 4
    assert queue_total(aws.settings.queue_name) == 0
    assert s3.list_keys(aws.settings.archive_bucket, "dlq/") == []


def test_given_an_s3_outage_then_nothing_is_deleted_or_redriven(aws: StackInfo) -> None:
    load_mixed(aws)
    with patch("tasks.s3.objects.put_bytes", side_effect=s3_failure):
        result = triage_round.fn("run-s3", 1, None, False, aws.settings)
    assert result.error is not None and "injected S3 outage" in result.error
    assert (result.archived, result.redriven) == (0, 0)
    # Every message is still on the DLQ and visible again for the next run.
    assert queue_depth(aws.settings.dlq_name) == 4
    assert queue_total(aws.settings.queue_name) == 0
    assert s3.list_keys(aws.settings.archive_bucket, "dlq/") == []


def test_given_s3_does_not_confirm_the_checksum_then_nothing_is_deleted(aws: StackInfo) -> None:
    load_mixed(aws)
    with s3_confirms_another_checksum():
        result = triage_round.fn("run-unconfirmed", 1, None, False, aws.settings)
    assert result.error is not None and "S3 confirmed checksum" in result.error
    assert (result.archived, result.redriven) == (0, 0)
    assert queue_depth(aws.settings.dlq_name) == 4


def test_archiving_poison_costs_one_put_and_no_read_back(aws: StackInfo) -> None:
    load_mixed(aws)
    calls: list[str] = []
    events = aws_client("s3").meta.events
    events.register("before-call.s3", lambda model, **_: calls.append(model.name), "test-count")
    try:
        result = triage_round.fn("run-count", 1, None, False, aws.settings)
    finally:
        events.unregister("before-call.s3", unique_id="test-count")
    assert result.archived == 3
    assert calls == ["PutObject"]


def test_poison_is_archived_then_deleted_and_redrivable_goes_back(aws: StackInfo) -> None:
    load_mixed(aws)
    result = triage_round.fn("run-1", 1, None, False, aws.settings)
    assert result.error is None
    assert (result.archived, result.redriven) == (3, 1)
    assert queue_total(aws.settings.dlq_name) == 0
    (key,) = s3.list_keys(aws.settings.archive_bucket, "dlq/")
    assert re.fullmatch(r"dlq/20\d\d/\d\d/\d\d/run-1-00001-[0-9a-z]+\.jsonl\.gz", key), key
    data = s3.get_bytes(aws.settings.archive_bucket, key)
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
    result = triage_round.fn("run-1", 1, None, False, aws.settings)
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
        crashed = triage_round.fn("run-crash", 1, None, False, aws.settings)
    assert crashed.error is not None and "injected crash" in crashed.error
    # then the message is on the main queue AND still on the DLQ: nothing lost.
    assert queue_total(aws.settings.queue_name) == 1
    assert queue_depth(aws.settings.dlq_name) == 1

    # When the next run redrives it again, SQS deduplicates the re-send (same DLQ id),
    again = triage_round.fn("run-2", 1, None, False, aws.settings)
    assert again.error is None and again.redriven == 1
    assert queue_total(aws.settings.dlq_name) == 0
    assert queue_total(aws.settings.queue_name) == 1

    # and once processed, the week counts the request exactly once.
    EventSourceMapping(handler).drain()
    records = query_week_records(aws.settings.analytics_table, WEEK)
    assert [r["requestId"] for r in records] == ["req-stranded"]


def test_max_messages_budget_stops_the_round(aws: StackInfo) -> None:
    for i in range(12):
        put_dead_letter(aws, json.dumps({**QUERY, "requestId": f"r{i}"}), dedup=f"d{i}")
    result = triage_round.fn("run-b", 1, 5, False, aws.settings)
    assert (result.seen, result.redriven, result.finished) == (5, 5, True)
    assert queue_depth(aws.settings.dlq_name) == 7


# --- Triage always moves on ------------------------------------------------------------------


def test_the_worst_body_at_the_head_is_archived_as_poison_and_later_pages_follow(
    aws: StackInfo,
) -> None:
    # Given the worst body at the head of the one-group FIFO DLQ, and two pages behind it
    worst_id = put_dead_letter(aws, WORST_BODY, dedup="worst")
    for i in range(14):
        put_dead_letter(aws, json.dumps({**QUERY, "requestId": f"r{i}"}), dedup=f"d{i}")
    put_dead_letter(aws, "{not json", dedup="last")

    result = triage_round.fn("run-worst", 1, None, False, aws.settings)

    # Then it is archived as poison with its reason, and the run went on to the end
    assert result.error is None and result.finished
    assert (result.seen, result.pages, result.redriven, result.archived) == (16, 2, 14, 2)
    assert queue_total(aws.settings.dlq_name) == 0
    records = [
        r
        for key in result.archive_keys
        for r in decode_archive(s3.get_bytes(aws.settings.archive_bucket, key) or b"")
    ]
    (worst,) = [r for r in records if r["messageId"] == worst_id]
    assert worst["body"] == WORST_BODY and worst["reason"] == worst["classification"]
    assert worst["classification"] in ("invalid_json", "invalid_event", "unreadable")
    # and no visitor text reached what a person sees
    shown = " ".join(text for _, text in result.samples)
    assert "jane.doe" not in shown and "7700 900123" not in shown
    assert all(len(text) < 1000 for _, text in result.samples)


def test_a_message_the_contract_check_cannot_judge_is_archived_as_unreadable(
    aws: StackInfo,
) -> None:
    # Given a head message on which the contract check raises (as json.loads did on deep
    # nesting), and a page behind it
    head = json.dumps({**QUERY, "requestId": "req-head"})
    put_dead_letter(aws, head, dedup="head")
    for i in range(10):
        put_dead_letter(aws, json.dumps({**QUERY, "requestId": f"r{i}"}), dedup=f"d{i}")
    real = parse_event

    def raises_on_the_head(body: str, now_ms: int | None = None) -> Any:
        if "req-head" in body:
            raise RecursionError("maximum recursion depth exceeded")
        return real(body, now_ms)

    with patch("tasks.core.triage.parse_event", side_effect=raises_on_the_head):
        result = triage_round.fn("run-unreadable", 1, None, False, aws.settings)

    assert result.error is None and (result.pages, result.redriven, result.archived) == (2, 10, 1)
    assert result.counts["unreadable"] == 1 and queue_total(aws.settings.dlq_name) == 0
    (record,) = decode_archive(
        s3.get_bytes(aws.settings.archive_bucket, result.archive_keys[0]) or b""
    )
    assert (record["body"], record["reason"]) == (head, "unreadable")
    assert "RecursionError" in record["detail"]


def test_processor_reasons_that_are_permanent_are_archived_not_redriven(aws: StackInfo) -> None:
    for i, reason in enumerate(["duplicate_conflict", "store_refused"]):
        put_dead_letter(
            aws,
            json.dumps({**QUERY, "requestId": f"r{i}"}),
            dedup=f"d{i}",
            attributes={"reason": {"DataType": "String", "StringValue": reason}},
        )
    result = triage_round.fn("run-reasons", 1, None, False, aws.settings)
    assert result.error is None and (result.archived, result.redriven) == (2, 0)
    assert result.counts["duplicate_conflict"] == result.counts["store_refused"] == 1
    assert queue_total(aws.settings.queue_name) == 0


def test_large_valid_events_are_redriven_in_batches_sqs_accepts(aws: StackInfo) -> None:
    # Two valid 600 KB events: together over SendMessageBatch's 1 MiB, each one under it.
    for i in range(2):
        big = json.dumps({**QUERY, "requestId": f"big-{i}", "query": "x" * 600_000})
        put_dead_letter(aws, big, dedup=f"d{i}")
    result = triage_round.fn("run-big", 1, None, False, aws.settings)
    assert result.error is None and result.redriven == 2
    assert queue_total(aws.settings.dlq_name) == 0
    assert queue_total(aws.settings.queue_name) == 2


def sqs_refuses_one_entry(parsed: dict[str, Any], **_: Any) -> None:
    """SendMessageBatch answers that SQS refused the first entry (a sender's fault)."""
    refused, *rest = parsed["Successful"]
    parsed["Successful"] = rest
    parsed["Failed"] = [{"Id": refused["Id"], "SenderFault": True, "Code": "InvalidParameterValue"}]


def sqs_fails_one_entry(parsed: dict[str, Any], **_: Any) -> None:
    """SendMessageBatch answers that the first entry failed on SQS's side (transient)."""
    failed, *rest = parsed["Successful"]
    parsed["Successful"] = rest
    parsed["Failed"] = [{"Id": failed["Id"], "SenderFault": False, "Code": "InternalError"}]


def test_a_redrive_sqs_refuses_is_archived_as_unsendable_and_the_run_goes_on(
    aws: StackInfo,
) -> None:
    for i in range(12):
        put_dead_letter(aws, json.dumps({**QUERY, "requestId": f"r{i}"}), dedup=f"d{i}")
    events = aws_client("sqs").meta.events
    events.register("after-call.sqs.SendMessageBatch", sqs_refuses_one_entry, "test-refuse")
    try:
        result = triage_round.fn("run-refused", 1, None, False, aws.settings)
    finally:
        events.unregister("after-call.sqs.SendMessageBatch", unique_id="test-refuse")
    assert result.error is None and result.pages == 2
    assert (result.redriven, result.archived) == (10, 2)
    assert (result.counts["redrivable"], result.counts["unsendable"]) == (10, 2)
    assert queue_total(aws.settings.dlq_name) == 0
    records = [
        r
        for key in result.archive_keys
        for r in decode_archive(s3.get_bytes(aws.settings.archive_bucket, key) or b"")
    ]
    assert [r["classification"] for r in records] == ["unsendable", "unsendable"]
    assert all("InvalidParameterValue" in r["detail"] for r in records)


def test_a_transient_redrive_failure_stops_the_run_and_leaves_the_message(aws: StackInfo) -> None:
    for i in range(3):
        put_dead_letter(aws, json.dumps({**QUERY, "requestId": f"r{i}"}), dedup=f"d{i}")
    events = aws_client("sqs").meta.events
    events.register("after-call.sqs.SendMessageBatch", sqs_fails_one_entry, "test-fail")
    try:
        result = triage_round.fn("run-transient", 1, None, False, aws.settings)
    finally:
        events.unregister("after-call.sqs.SendMessageBatch", unique_id="test-fail")
    assert result.error is not None and "InternalError" in result.error
    assert (result.redriven, result.archived) == (2, 0)
    # the failed one is still on the DLQ, visible for the next run; nothing archived
    assert queue_depth(aws.settings.dlq_name) == 1
    assert s3.list_keys(aws.settings.archive_bucket, "dlq/") == []


def test_an_error_shows_no_visitor_text(aws: StackInfo) -> None:
    load_mixed(aws)

    def leaky_outage(*_: Any, **__: Any) -> None:
        raise client_error("InternalError", "PutObject", status=500, message="jane@example.com")

    with patch("tasks.s3.objects.put_bytes", side_effect=leaky_outage):
        result = triage_round.fn("run-leak", 1, None, False, aws.settings)
    assert result.error is not None and "InternalError" in result.error
    assert "jane@example.com" not in result.error
