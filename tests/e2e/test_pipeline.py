"""The sample traffic through the real HTTP emulator: queue -> poller -> handler -> tables."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import load_sample, send_all
from lambdas.processor import handler as processor
from lambdas.shared.weeks import Week
from tasks.dynamodb.week_index import query_week_orphans, query_week_records
from tests.conftest import REPO_ROOT

EXPECTED = {
    week: json.loads((REPO_ROOT / "samples" / f"expected-{week}.json").read_text())
    for week in ("2025-W45", "2025-W46")
}


def _drain_dlq(info: StackInfo) -> list[Any]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages: list[Any] = []
    while batch := sqs.receive_message(
        QueueUrl=info.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
        # FIFO: a group's later messages stay hidden while earlier ones are in flight
        sqs.delete_message_batch(
            QueueUrl=info.dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return messages


def test_sample_traffic_lands_where_it_should_within_the_request_budget(stack: StackInfo) -> None:
    sends = load_sample()
    esm = EventSourceMapping(processor.handler)
    dynamodb_requests: list[str] = []
    processor._clients()[0].meta.events.register(
        "before-send.dynamodb", lambda request, **_: dynamodb_requests.append(request.url)
    )

    # when the Worker's traffic is sent while the poller drains
    send_all(sends, stack.queue_url, between_chunks=esm.drain)

    # then each week's population is the spec's, orphans are filed apart
    for week, expected in EXPECTED.items():
        assert (
            len(query_week_records(stack.settings.analytics_table, Week.parse(week)))
            == expected["total_queries"]
        )
    assert (
        len(query_week_orphans(stack.settings.analytics_table, Week(2025, 46)))
        + len(query_week_orphans(stack.settings.analytics_table, Week(2025, 45)))
        == Counter(s.kind for s in sends)["orphan"]
    )

    # and every invalid line is on the DLQ once, with a reason, and nothing valid is
    invalid = sorted(s.body for s in sends if s.kind.startswith("invalid"))
    dead = _drain_dlq(stack)
    assert sorted(m["Body"] for m in dead) == invalid
    assert all(m["MessageAttributes"]["reason"]["StringValue"] for m in dead)

    # and the processor stayed within 0.5 DynamoDB requests per event (HTTP requests)
    valid_events = sum(not s.kind.startswith("invalid") for s in sends)
    assert len(dynamodb_requests) / valid_events <= 0.5

    # when the whole sample is replayed (dedup window passed) the stored records are unchanged
    before = {
        w: sorted(query_week_records(stack.settings.analytics_table, Week.parse(w)), key=str)
        for w in EXPECTED
    }
    replay = [s.__class__(s.body, s.group_id, s.dedup_id + "-replay", s.kind) for s in sends]
    send_all(replay, stack.queue_url, between_chunks=esm.drain)
    assert {
        w: sorted(query_week_records(stack.settings.analytics_table, Week.parse(w)), key=str)
        for w in EXPECTED
    } == before
