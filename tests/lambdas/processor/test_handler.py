"""The handler under in-process moto: what lands where, and FIFO partial-batch semantics."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from deployments.local_stack import LocalContext, StackInfo
from lambdas.processor import handler as processor
from tests.conftest import EVENTS_DIR, client_error
from tests.lambdas.processor.batches import invoke, sqs_records

QUERY = (EVENTS_DIR / "query_event.json").read_text()
RESPONSE = (EVENTS_DIR / "response_event.json").read_text()
BAD_SCORE = json.dumps(
    {
        "eventType": "response",
        "requestId": "sc-1",
        "timestamp": 1762819200000,
        "matchType": "full",
        "matchScore": 140,
        "reasoning": "?",
    }
)


def _dlq(info: StackInfo) -> list[Any]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    return sqs.receive_message(
        QueueUrl=info.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])


def _analytics(request_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("cv-analytics-analytics")
    return table.get_item(Key={"requestId": request_id}).get("Item", {})


def test_valid_pair_is_stored_and_reported_done(aws: StackInfo) -> None:
    # given a query and its response in one batch; when processed
    failures = invoke(sqs_records(QUERY, RESPONSE))
    # then nothing fails and the correlated record is answered, in its week
    assert failures == []
    item = _analytics("6b0f3c1e-2a55-4c3e-9d7e-1f2a3b4c5d6e")
    assert item["weekKey"] == "2025-W46" and item["matchType"] == "full"
    raw = boto3.client("dynamodb", region_name="us-east-1").scan(
        TableName="cv-analytics-query-events"
    )
    assert raw["Count"] == 2
    assert {int(i["ttl"]["N"]) for i in raw["Items"]} == {
        json.loads(QUERY)["timestamp"] // 1000 + 7 * 86400,
        json.loads(RESPONSE)["timestamp"] // 1000 + 7 * 86400,
    }


def test_invalid_event_goes_to_the_dlq_on_first_delivery_with_its_reason(aws: StackInfo) -> None:
    records = sqs_records("not json {", BAD_SCORE, QUERY)
    failures = invoke(records)
    assert failures == []  # an invalid event never blocks the FIFO group
    dead = _dlq(aws)
    reasons = {m["Body"]: m["MessageAttributes"]["reason"]["StringValue"] for m in dead}
    assert reasons == {"not json {": "invalid_json", BAD_SCORE: "invalid_event"}
    details = [m["MessageAttributes"]["detail"]["StringValue"] for m in dead]
    assert any("matchScore" in d for d in details)
    sources = {m["MessageAttributes"]["sourceMessageId"]["StringValue"] for m in dead}
    assert sources == {records[0]["messageId"], records[1]["messageId"]}
    assert _analytics("6b0f3c1e-2a55-4c3e-9d7e-1f2a3b4c5d6e")  # the valid one was stored


def test_valid_events_never_reach_the_dlq(aws: StackInfo) -> None:
    assert invoke(sqs_records(QUERY, RESPONSE, QUERY)) == []
    assert _dlq(aws) == []


def _throttled(*_: Any, **__: Any) -> None:
    raise client_error("ProvisionedThroughputExceededException", "BatchWriteItem")


def test_throttling_fails_the_batch_from_the_first_valid_message_on(aws: StackInfo) -> None:
    # given [invalid, valid, invalid, valid] and DynamoDB throttling every write
    records = sqs_records("oops", QUERY, BAD_SCORE, RESPONSE)
    dynamodb = processor._clients()[0]
    with patch.object(dynamodb, "batch_write_item", side_effect=_throttled):
        failures = invoke(records)
    # then the leading invalid one is done (in the DLQ) and FIFO order holds for the rest:
    # everything after the first failed message of the group is reported failed too
    assert failures == [r["messageId"] for r in records[1:]]
    assert _analytics("6b0f3c1e-2a55-4c3e-9d7e-1f2a3b4c5d6e") == {}
    # when the same batch is redelivered after the throttling passes
    assert invoke(records) == []
    # then the records are stored and the DLQ holds each invalid message once
    assert _analytics("6b0f3c1e-2a55-4c3e-9d7e-1f2a3b4c5d6e")["matchType"] == "full"
    assert sorted(m["Body"] for m in _dlq(aws)) == sorted(["oops", BAD_SCORE])


def test_an_invalid_event_behind_a_failure_is_held_back_so_the_dlq_gets_it_once(
    aws: StackInfo,
) -> None:
    # given [valid, invalid] and DynamoDB throttling: the valid one fails first
    records = sqs_records(QUERY, BAD_SCORE)
    dynamodb = processor._clients()[0]
    # then the whole batch fails (Powertools raises when every record failed, which Lambda
    # treats as all of them to be redelivered) and the invalid one is not dead-lettered
    # yet: SQS would move the original to the DLQ after 3 receives, a second copy
    with (
        patch.object(dynamodb, "batch_write_item", side_effect=_throttled),
        pytest.raises(BatchProcessingError),
    ):
        invoke(records)
    assert _dlq(aws) == []
    # when redelivered after the throttling passes, it is dead-lettered, once
    assert invoke(records) == []
    assert [m["Body"] for m in _dlq(aws)] == [BAD_SCORE]


def test_dlq_outage_fails_the_invalid_message_and_everything_after_it(aws: StackInfo) -> None:
    records = sqs_records(QUERY, "oops", RESPONSE)
    sqs = processor._clients()[1]
    with patch.object(sqs, "send_message_batch", side_effect=_throttled):
        failures = invoke(records)
    assert failures == [records[1]["messageId"], records[2]["messageId"]]


def test_a_record_dynamodb_refuses_is_dead_lettered_and_spares_its_neighbours(
    aws: StackInfo,
) -> None:
    # given a batch whose middle query makes a record over DynamoDB's 400 KB item limit
    # (the record keeps the query text and the query event, so 210 KB of text is 420 KB)
    huge = json.dumps({**json.loads(QUERY), "requestId": "huge-1", "query": "x" * 210_000})
    records = sqs_records(QUERY, huge, RESPONSE)
    # when processed
    failures = invoke(records)
    # then nothing is retried: the neighbours are stored, the refused one is in the DLQ
    assert failures == []
    assert _analytics("6b0f3c1e-2a55-4c3e-9d7e-1f2a3b4c5d6e")["matchType"] == "full"
    assert _analytics("huge-1") == {}
    dead = _dlq(aws)
    assert [m["Body"] for m in dead] == [huge]
    attributes = dead[0]["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "store_refused"
    assert "size" in attributes["detail"]["StringValue"]
    assert attributes["sourceMessageId"]["StringValue"] == records[1]["messageId"]


def test_a_throttled_event_while_storing_one_by_one_is_retried_with_the_rest(
    aws: StackInfo,
) -> None:
    # given DynamoDB refusing the batch, then throttling the second one-by-one write
    records = sqs_records(QUERY, RESPONSE, QUERY)
    dynamodb = processor._clients()[0]
    real_write = dynamodb.batch_write_item
    outcomes = iter(["refuse", "ok", "throttle", "ok"])

    def write(**kwargs: Any) -> Any:
        outcome = next(outcomes)
        if outcome == "refuse":
            raise client_error("ValidationException", "BatchWriteItem", message="too large")
        if outcome == "throttle":
            raise client_error("ProvisionedThroughputExceededException", "BatchWriteItem")
        return real_write(**kwargs)

    with patch.object(dynamodb, "batch_write_item", side_effect=write):
        failures = invoke(records)
    # then the throttled message and every later one are retried (FIFO), none dead-lettered
    assert failures == [records[1]["messageId"], records[2]["messageId"]]
    assert _dlq(aws) == []


def test_replay_of_a_batch_changes_no_stored_record(aws: StackInfo) -> None:
    invoke(sqs_records(RESPONSE, QUERY))
    before = _analytics("6b0f3c1e-2a55-4c3e-9d7e-1f2a3b4c5d6e")
    invoke(sqs_records(QUERY, RESPONSE, RESPONSE))
    assert _analytics("6b0f3c1e-2a55-4c3e-9d7e-1f2a3b4c5d6e") == before


def test_batch_uses_one_read_and_one_write_request(aws: StackInfo) -> None:
    dynamodb = processor._clients()[0]
    calls: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    invoke(sqs_records(QUERY, RESPONSE, "oops"))
    assert calls == ["BatchGetItem", "BatchWriteItem"]


def test_empty_event_is_a_no_op(aws: StackInfo) -> None:
    assert processor.handler({"Records": []}, LocalContext()) == {"batchItemFailures": []}


@pytest.mark.parametrize("body", ["", " ", "null", "{}", '{"eventType": null}'])
def test_degenerate_bodies_are_dead_lettered_not_raised(aws: StackInfo, body: str) -> None:
    assert invoke(sqs_records(body or "x")) == []
    assert len(_dlq(aws)) == 1
