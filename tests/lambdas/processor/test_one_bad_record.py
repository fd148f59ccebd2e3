"""One bad record costs only itself: each hostile body in a batch of ten, nine valid neighbours.

Through the real handler on in-process moto: the neighbours are stored, the bad record is
on the DLQ with its reason, and nothing is reported for retry unless SQS or DynamoDB
really failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from deployments.local_stack import StackInfo
from lambdas.processor import handler as processor
from lambdas.shared.contract import MAX_NESTING_DEPTH, parse_event
from tests.conftest import client_error, query
from tests.lambdas.processor.batches import invoke, sqs_records

#: SQS's limit on one message and on one SendMessageBatch, body and attributes together.
SQS_PAYLOAD_LIMIT = 1_048_576
AT = "2025-11-10T10:00:00"


def _neighbours(count: int, prefix: str = "n") -> list[str]:
    return [json.dumps(query(f"{prefix}-{i}", AT, text=f"question {i}")) for i in range(count)]


def _batch_of_ten(*bad: str, at: int = 4) -> tuple[list[dict[str, Any]], list[str]]:
    """Nine (or fewer) valid neighbours with the bad bodies from position ``at`` on."""
    bodies = _neighbours(10 - len(bad))
    bodies[at:at] = bad
    return sqs_records(*bodies), [b for b in bodies if b not in bad]


def _dlq(info: StackInfo) -> list[Any]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages: list[Any] = []
    while batch := sqs.receive_message(
        QueueUrl=info.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += batch
    return messages


def _reasons(info: StackInfo) -> list[tuple[str, str, str]]:
    """(source message id, reason, detail) of every dead letter."""
    return [
        (
            m["MessageAttributes"]["sourceMessageId"]["StringValue"],
            m["MessageAttributes"]["reason"]["StringValue"],
            m["MessageAttributes"]["detail"]["StringValue"],
        )
        for m in _dlq(info)
    ]


def _stored(body: str) -> bool:
    event = json.loads(body)
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("cv-analytics-analytics")
    return "Item" in table.get_item(Key={"requestId": event["requestId"]})


def _assert_neighbours_stored(neighbours: list[str]) -> None:
    assert len(neighbours) >= 8
    assert [b for b in neighbours if not _stored(b)] == []


@pytest.fixture
def processor_log() -> Iterator[list[logging.LogRecord]]:
    """The processor's log records (Powertools logs through the standard logger)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(level=logging.DEBUG)
    std = logging.getLogger("cv-analytics-processor")
    std.addHandler(keep)
    try:
        yield records
    finally:
        std.removeHandler(keep)


# --- bodies the contract refuses ----------------------------------------------------------

_HEAD = json.dumps(query("bad-1", AT))[:-1]


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        ("[" * 10_000 + "]" * 10_000, f"nesting deeper than {MAX_NESTING_DEPTH} levels"),
        (_HEAD + ', "x": ' + "[" * 10_000 + "]" * 10_000 + "}", "nesting deeper than"),
        (_HEAD + ', "x": ' + "[" * 300 + "]" * 300 + "}", "nesting deeper than"),
        (_HEAD.replace("does he", "\\ud800 does he") + "}", "lone surrogate"),
    ],
    ids=["nested-array", "nested-in-an-event", "nested-past-serialisation", "lone-surrogate"],
)
def test_a_body_the_contract_refuses_costs_only_itself(
    aws: StackInfo, bad: str, detail: str
) -> None:
    records, neighbours = _batch_of_ten(bad)
    assert invoke(records) == []
    _assert_neighbours_stored(neighbours)
    [(source, reason, why)] = _reasons(aws)
    assert (source, reason) == (records[4]["messageId"], "invalid_json")
    assert detail in why


def test_a_raw_lone_surrogate_is_dead_lettered_as_its_json_escape(aws: StackInfo) -> None:
    # SQS refuses such a body, so only a hand-made invoke can bring one; it must not raise,
    # and the DLQ copy (which SQS must accept) is the same JSON with the surrogate escaped
    bad = _HEAD.replace("does he", "\ud800 does he") + "}"
    records, neighbours = _batch_of_ten(bad)
    assert invoke(records) == []
    _assert_neighbours_stored(neighbours)
    [dead] = _dlq(aws)
    assert dead["Body"] == bad.replace("\ud800", "\\ud800")
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "invalid_json"
    assert parse_event(dead["Body"]) == parse_event(bad)  # triage reaches the same verdict


# --- any other exception while handling one record ------------------------------------------


class VisitorDataError(Exception):
    """An exception whose message carries what a visitor typed."""


def test_an_exception_while_parsing_one_record_dead_letters_only_that_record(
    aws: StackInfo,
) -> None:
    marker = json.dumps(query("boom-1", AT, text="call me on +44 7700 900123"))
    records, neighbours = _batch_of_ten(marker)
    real = parse_event

    def parse(body: str, *args: Any, **kwargs: Any) -> Any:
        if body == marker:
            raise VisitorDataError("call me on +44 7700 900123")
        return real(body, *args, **kwargs)

    with patch.object(processor, "parse_event", side_effect=parse):
        assert invoke(records) == []
    _assert_neighbours_stored(neighbours)
    [(source, reason, detail)] = _reasons(aws)
    assert (source, reason) == (records[4]["messageId"], "processing_error")
    assert "VisitorDataError" in detail and "7700" not in detail
    assert not _stored(marker)


def test_an_exception_while_storing_one_record_dead_letters_only_that_record(
    aws: StackInfo,
) -> None:
    # botocore's serialiser raising (not AWS answering) for any request that holds one event
    poisoned = json.dumps(query("boom-2", AT))
    records, neighbours = _batch_of_ten(poisoned)
    dynamodb = processor._clients()[0]

    def explode(params: dict[str, Any], **_: Any) -> None:
        if "boom-2" in json.dumps(params):
            raise VisitorDataError("boom-2 and what the visitor typed")

    dynamodb.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", explode)
    assert invoke(records) == []
    _assert_neighbours_stored(neighbours)
    [(source, reason, detail)] = _reasons(aws)
    assert (source, reason) == (records[4]["messageId"], "processing_error")
    assert "VisitorDataError" in detail and "visitor" not in detail
    assert not _stored(poisoned)


def test_an_outage_while_storing_still_retries_the_batch(aws: StackInfo) -> None:
    # a transient error is not "one bad record": every valid message is retried, none dead
    records, _ = _batch_of_ten()
    dynamodb = processor._clients()[0]
    throttled = client_error("ThrottlingException", "BatchWriteItem")
    with (
        patch.object(dynamodb, "batch_write_item", side_effect=throttled),
        pytest.raises(BatchProcessingError),
    ):
        invoke(records)
    assert _dlq(aws) == []


# --- dead letters under SQS's payload limit --------------------------------------------------


def _sqs_size(entry: dict[str, Any]) -> int:
    """A message's size as SQS counts it: body, and each attribute's name, type and value."""
    size = len(entry["MessageBody"].encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode())
        size += len(value.get("StringValue", "").encode())
    return size


@pytest.fixture
def dlq_sends() -> Iterator[list[list[int]]]:
    """The SQS size of each entry of every SendMessageBatch the processor makes."""
    sends: list[list[int]] = []
    sqs = processor._clients()[1]

    def record(params: dict[str, Any], **_: Any) -> None:
        sends.append([_sqs_size(entry) for entry in params["Entries"]])

    sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
    yield sends


@pytest.mark.parametrize("char", ["x", "é"], ids=["ascii", "two-byte"])
def test_two_oversized_events_are_dead_lettered_in_sends_under_the_payload_limit(
    aws: StackInfo, dlq_sends: list[list[int]], processor_log: list[logging.LogRecord], char: str
) -> None:
    # given two valid queries of ~600 KB (DynamoDB refuses their 400 KB+ records); moto
    # only checks the bodies' *characters* against 1 MiB, so the two-byte case passes moto
    # in one send and only the recorded sizes show that SQS would refuse it
    big = [
        json.dumps(
            query(f"big-{i}", AT, text=char * (600_000 // len(char.encode()))), ensure_ascii=False
        )
        for i in range(2)
    ]
    records, neighbours = _batch_of_ten(*big)
    assert invoke(records) == []
    _assert_neighbours_stored(neighbours)
    dead = _reasons(aws)
    assert sorted((s, r) for s, r, _ in dead) == sorted(
        (r["messageId"], "store_refused") for r in records[4:6]
    )
    assert all(sum(sizes) <= SQS_PAYLOAD_LIMIT for sizes in dlq_sends)
    assert sorted(len(sizes) for sizes in dlq_sends) == [1, 1]
    sent = [r for r in processor_log if r.getMessage() == "event sent to the DLQ"]
    assert len(sent) == 2


def test_a_body_at_the_limit_keeps_its_reason_and_drops_the_detail_to_fit(
    aws: StackInfo, dlq_sends: list[list[int]]
) -> None:
    # given a valid query 100 bytes under SQS's limit: with every attribute its dead letter
    # would be over it, so SQS would refuse it and the reason would be lost with it
    head = json.dumps(query("edge-1", AT, text=""))
    filler = "x" * (SQS_PAYLOAD_LIMIT - 100 - len(head))
    edge = head.replace('"query": ""', f'"query": "{filler}"')
    assert len(edge.encode()) == SQS_PAYLOAD_LIMIT - 100
    records, neighbours = _batch_of_ten(edge)
    assert invoke(records) == []
    _assert_neighbours_stored(neighbours)
    [dead] = _dlq(aws)
    assert dead["Body"] == edge
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "store_refused"
    assert "detail" not in dead["MessageAttributes"]
    assert [sum(sizes) <= SQS_PAYLOAD_LIMIT for sizes in dlq_sends] == [True]


def test_a_dead_letter_sqs_fails_is_retried_and_never_logged_as_sent(
    aws: StackInfo, processor_log: list[logging.LogRecord]
) -> None:
    # given SQS failing the one entry of the first of two invalid records (per-entry)
    records, _ = _batch_of_ten("not json {", "{also not json", at=2)
    sqs = processor._clients()[1]

    def fail_first(parsed: dict[str, Any], **_: Any) -> None:
        successful = parsed.get("Successful", [])
        if successful and successful[0]["Id"] == "m0":
            parsed["Failed"] = [
                {"Id": "m0", "SenderFault": False, "Code": "InternalError", "Message": "x"}
            ]
            parsed["Successful"] = successful[1:]

    sqs.meta.events.register("after-call.sqs.SendMessageBatch", fail_first)
    failures = invoke(records)
    # then it and every later record are retried (FIFO); nothing says it reached the DLQ
    assert failures == [r["messageId"] for r in records[2:]]
    sent = [r for r in processor_log if r.getMessage() == "event sent to the DLQ"]
    # (the second entry SQS did accept: its redelivered copy gets the same deduplication id)
    assert [r.__dict__.get("message_id") for r in sent] == [records[3]["messageId"]]


# --- a duplicate requestId with other content ------------------------------------------------


def test_a_conflicting_duplicate_is_dead_lettered_and_the_first_copy_stands(
    aws: StackInfo, processor_log: list[logging.LogRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    # given a stored query, then a batch with an identical and a conflicting copy of it
    first = json.dumps(query("dup-1", AT, text="first words", session="s-1"))
    assert invoke(sqs_records(first)) == []
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("cv-analytics-analytics")
    before = table.get_item(Key={"requestId": "dup-1"})["Item"]
    other = json.dumps(query("dup-1", "2025-11-10T09:00:00", text="other words", session="s-1"))
    records, neighbours = _batch_of_ten(first, other)
    capsys.readouterr()
    # when processed
    assert invoke(records) == []
    # then the neighbours and the identical copy are fine, the conflicting one is dead
    _assert_neighbours_stored(neighbours)
    [(source, reason, detail)] = _reasons(aws)
    assert (source, reason) == (records[5]["messageId"], "duplicate_conflict")
    assert "query" in detail and "timestamp" in detail and "sessionId" not in detail
    assert "words" not in detail
    assert table.get_item(Key={"requestId": "dup-1"})["Item"] == before
    raw = boto3.client("dynamodb", region_name="us-east-1").query(
        TableName="cv-analytics-query-events",
        KeyConditionExpression="requestId = :r",
        ExpressionAttributeValues={":r": {"S": "dup-1"}},
    )
    assert raw["Count"] == 1
    assert '"DuplicateConflicts":[1' in capsys.readouterr().out.replace(" ", "")


def test_a_conflict_within_one_batch_keeps_the_first_in_queue_order(aws: StackInfo) -> None:
    a = json.dumps(query("dup-2", AT, text="later but first in the queue"))
    b = json.dumps(query("dup-2", "2025-11-10T09:00:00", text="earlier but second"))
    records, neighbours = _batch_of_ten(a, b)
    dynamodb = processor._clients()[0]
    calls: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    assert invoke(records) == []
    assert calls == ["BatchGetItem", "BatchWriteItem"]  # detection costs no request
    _assert_neighbours_stored(neighbours)
    [(source, reason, _)] = _reasons(aws)
    assert (source, reason) == (records[5]["messageId"], "duplicate_conflict")
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("cv-analytics-analytics")
    assert table.get_item(Key={"requestId": "dup-2"})["Item"]["query"] == (
        "later but first in the queue"
    )
