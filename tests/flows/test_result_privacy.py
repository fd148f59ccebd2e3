"""With result persistence on (as a deployment may turn it on), every flow leaves no
e-mail address, phone number or query text in Prefect's result storage."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import boto3
from prefect import State
from prefect.settings import (
    PREFECT_LOCAL_STORAGE_PATH,
    PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    temporary_settings,
)

from deployments.local_stack import EventSourceMapping, StackInfo
from flows.dlq_triage import dlq_triage
from flows.health_check import health_check
from flows.monthly_maintenance import monthly_maintenance
from flows.owner_feedback import owner_feedback
from flows.ttl_verification import ttl_verification
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler
from lambdas.shared.weeks import Week

WEEK = Week(2025, 45)
ADDRESS = "secret.visitor@example.org"
PHONE = "+44 7700 900123"
QUERY = "does he know zanzibarian cobol"
SECRETS = (ADDRESS, "7700 900123", "7700900123", QUERY)


def stored(path: Path) -> bytes:
    """A result file as written and decoded (Prefect stores base64 of the pickled value)."""
    raw = path.read_bytes()
    try:
        return raw + base64.b64decode(raw)
    except binascii.Error:
        return raw


def send(stack: StackInfo, body: dict[str, object], dedup: str) -> None:
    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=stack.queue_url,
        MessageBody=json.dumps(body),
        MessageGroupId="analytics",
        MessageDeduplicationId=dedup,
    )


def test_no_flow_persists_a_visitors_words(aws: StackInfo, tmp_path: Path) -> None:
    ts = WEEK.start_ms + 3_600_000
    for i, text in enumerate((f"mail me at {ADDRESS}", f"call {PHONE}", QUERY)):
        rid = f"privacy-{i}"
        send(aws, {"eventType": "query", "requestId": rid, "timestamp": ts + i, "query": text}, rid)
    # and invalid bodies with the same words, which end on the DLQ and go through triage
    send(aws, {"eventType": "query", "requestId": "", "timestamp": ts, "query": QUERY}, "bad-1")
    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=aws.queue_url,
        MessageBody=f'{{"query": "{ADDRESS} {PHONE}"',
        MessageGroupId="analytics",
        MessageDeduplicationId="bad-2",
    )
    EventSourceMapping(handler).drain()

    storage = tmp_path / "results"
    with temporary_settings(
        updates={PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOCAL_STORAGE_PATH: storage}
    ):
        states: list[State[Any]] = [
            weekly_report(WEEK.id, return_state=True),
            dlq_triage(dry_run=True, return_state=True),
            dlq_triage(return_state=True),
            ttl_verification(return_state=True),
            health_check(return_state=True),
            monthly_maintenance(dry_run=True, return_state=True),
            # the owner's word on a theme whose key quotes a visitor's question
            owner_feedback(f"skills:~{QUERY}", "dismiss", note=QUERY, return_state=True),
        ]
    assert states[0].is_completed() and states[2].is_completed()
    assert states[-1].is_completed(), states[-1].message
    files = [p for p in storage.rglob("*") if p.is_file()]
    assert files, "persistence was on: some results must have been written"
    leaks = [
        (str(path.relative_to(storage)), secret)
        for path in files
        for secret in SECRETS
        if secret.encode() in stored(path) or secret.casefold().encode() in stored(path)
    ]
    assert leaks == []

    # The check can see a leak: the same triage with its result persisted shows the words.
    for secret in SECRETS[:1]:
        send(aws, {"eventType": "query", "requestId": "", "timestamp": ts, "query": secret}, "x")
    EventSourceMapping(handler).drain()
    leaky = tmp_path / "leaky"
    with temporary_settings(
        updates={PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOCAL_STORAGE_PATH: leaky}
    ):
        dlq_triage.with_options(persist_result=True)(dry_run=True)
    persisted = b"".join(stored(p) for p in leaky.rglob("*") if p.is_file())
    assert b"[email]" in persisted  # the masked sample, i.e. visitors' words, were stored
