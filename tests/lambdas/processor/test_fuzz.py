"""Fuzzing the processor: it never raises, and every record is stored or dead-lettered."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployments.local_stack import LocalContext, StackInfo
from lambdas.processor import handler as processor
from lambdas.shared.contract import MAX_NESTING_DEPTH, Invalid, parse_event
from lambdas.shared.correlation import canonical_json

NOW_MS = 1764547200000

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)

_VALID_QUERY = {"eventType": "query", "requestId": "r", "timestamp": 1762819200000, "query": "q"}
_VALID_RESPONSE = {
    "eventType": "response",
    "requestId": "r",
    "timestamp": 1762819200000,
    "matchType": "partial",
    "matchScore": 60,
    "reasoning": "r",
}


@st.composite
def near_valid_bodies(draw: st.DrawFn) -> str:
    """A valid event with one field removed, replaced by junk, or a junk key added."""
    event = dict(draw(st.sampled_from([_VALID_QUERY, _VALID_RESPONSE])))
    event["requestId"] = draw(st.text(min_size=0, max_size=40))
    key = draw(st.sampled_from(sorted(event)))
    action = draw(st.sampled_from(["drop", "junk", "extra"]))
    if action == "drop":
        event.pop(key)
    elif action == "junk":
        event[key] = draw(_json_values)
    else:
        event[draw(st.text(max_size=10))] = draw(_json_values)
    return json.dumps(event)


def _nested(depth: int) -> object:
    value: object = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


#: Hostile bodies: arrays and objects nested around the contract's depth limit, and text
#: with lone surrogates, which ``json.dumps`` writes as ``\ud800`` escapes.
hostile_bodies = st.one_of(
    st.integers(min_value=0, max_value=3 * MAX_NESTING_DEPTH).map(
        lambda depth: json.dumps({**_VALID_QUERY, "x": _nested(depth)})
    ),
    st.lists(st.integers(min_value=0xD7F0, max_value=0xE010).map(chr), max_size=8).map(
        lambda chars: json.dumps({**_VALID_QUERY, "query": "".join(chars)})
    ),
)

bodies = st.one_of(
    st.text(max_size=200),
    _json_values.map(json.dumps),
    near_valid_bodies(),
    hostile_bodies,
)


@settings(max_examples=1500, deadline=None)
@given(bodies)
def test_parse_event_never_raises(body: str) -> None:
    outcome = parse_event(body, now_ms=NOW_MS)
    if isinstance(outcome, Invalid):
        assert outcome.reason in {"invalid_json", "invalid_event"} and outcome.detail


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(bodies.filter(bool), min_size=1, max_size=10))
def test_handler_stores_or_dead_letters_every_record(aws: StackInfo, batch: list[str]) -> None:
    # one provisioned stack for all examples: assert on what each batch adds
    dynamodb, sqs, _ = processor._clients()  # cached across examples: client creation is slow

    records: list[dict[str, Any]] = [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": "rh",
            "body": body,
            "attributes": {"MessageGroupId": "analytics"},
            "messageAttributes": {},
        }
        for body in batch
    ]
    response = processor.handler({"Records": records}, LocalContext())

    assert response == {"batchItemFailures": []}
    outcomes = [parse_event(body) for body in batch]
    # at most 10 records per batch, so one receive sees every dead letter of this batch
    dead = sqs.receive_message(
        QueueUrl=aws.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    if dead:  # leave the DLQ empty for the next example (moto slows as a queue grows)
        sqs.delete_message_batch(
            QueueUrl=aws.dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(dead)
            ],
        )
    expected = sorted(
        (body, o.reason) for body, o in zip(batch, outcomes, strict=True) if isinstance(o, Invalid)
    )
    got = sorted((m["Body"], m["MessageAttributes"]["reason"]["StringValue"]) for m in dead)
    # the examples share one table, so a valid event may meet another copy of its request
    # and type stored with other content: then it is dead-lettered as a conflict instead
    conflicts = {body for body, reason in got if reason == "duplicate_conflict"}
    assert [g for g in got if g[0] not in conflicts] == expected
    for body, event in zip(batch, outcomes, strict=True):
        if isinstance(event, Invalid):
            continue
        stored = dynamodb.get_item(
            TableName="cv-analytics-analytics", Key={"requestId": {"S": event.requestId}}
        )["Item"][f"{event.eventType}Event"]["S"]
        assert (stored != canonical_json(event)) == (body in conflicts)
        if body not in conflicts:
            key = {
                "requestId": {"S": event.requestId},
                "eventKey": {"S": f"{event.eventType}#{event.timestamp:013d}"},
            }
            assert "Item" in dynamodb.get_item(TableName="cv-analytics-query-events", Key=key)
