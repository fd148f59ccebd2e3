"""Personal data and markup from visitors never leave the pipeline unmasked or unescaped.

Queries with e-mail addresses, phone numbers and a ``<script>`` go through the real
processor and the weekly report flow; then every e-mail sent (decoded MIME parts), every
archived report object, every Prefect artifact and every log line of the runs is read
back and searched.
"""

from __future__ import annotations

import email
import json
import uuid
from datetime import UTC, datetime
from email.message import Message
from typing import Any, cast

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterStartTime,
    LogFilter,
    LogFilterFlowRunId,
)

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import WorkerSend, send_all
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler
from lambdas.processor.weeks import Week

WEEK = Week(2025, 45)
SECRETS = ["Jane.Doe@Example.COM", "jane.doe@example.com", "+44 20 7946 0958", "07700 900123"]
DIGITS = ["442079460958", "07700900123"]
QUERIES = [
    "Email me at Jane.Doe@Example.COM please",
    "call me on +44 20 7946 0958",
    "my number is 07700 900123 <script>alert('x')</script>",
]


def _traffic() -> list[WorkerSend]:
    start = WEEK.start_ms
    sends = []
    for number, text in enumerate(QUERIES * 2):
        rid = str(uuid.UUID(int=number + 1))
        ts = start + 3600_000 * (number + 1)
        query = {"eventType": "query", "requestId": rid, "timestamp": ts, "query": text}
        response = {
            "eventType": "response",
            "requestId": rid,
            "timestamp": ts + 1000,
            "matchType": "none",
            "matchScore": 10,
            "reasoning": f"No match for {text}",
        }
        for event in (query, response):
            body = json.dumps(event)
            dedup = f"{rid}-{event['eventType']}-{event['timestamp']}"
            sends.append(WorkerSend(body, "analytics", dedup))
    return sends


def _texts_of_mail(raw: str) -> list[str]:
    message: Message = email.message_from_string(raw)
    parts = [str(message["Subject"])]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return parts


def _run_ids_since(started: datetime) -> list[Any]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                start_time=FlowRunFilterStartTime(after_=cast(Any, started))
            )
        )
    return [run.id for run in runs]


def _artifacts_and_logs(run_ids: list[Any]) -> list[str]:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids))
        )
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)))
    return [json.dumps(a.data) for a in artifacts] + [log.message for log in logs]


def _assert_clean(texts: list[str], where: str) -> None:
    for text in texts:
        squeezed = "".join(c for c in text if c.isdigit())
        for secret in SECRETS:
            assert secret.casefold() not in text.casefold(), f"{secret!r} leaked in {where}"
        for digits in DIGITS:
            assert digits not in squeezed, f"a phone number leaked in {where}"


@pytest.mark.integration
def test_no_personal_data_or_markup_escapes_into_mail_archive_artifacts_or_logs(
    stack: StackInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given visitors who typed their e-mail address, phone number and some markup
    started = datetime.now(UTC)
    send_all(_traffic(), stack.queue_url, between_chunks=EventSourceMapping(handler).drain)

    # When the week's report is produced
    figures = weekly_report(WEEK.id)
    assert figures.total_queries == 6

    # Then the e-mail (every decoded part) carries masked text only
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    mails = [text for m in sent for text in _texts_of_mail(m.raw_data)]
    assert mails, "the report e-mail was not sent"
    _assert_clean(mails, "the e-mail")
    assert any("[email]" in text for text in mails) and any("[phone]" in t for t in mails)
    html = [t for t in mails if "<html" in t.lower()]
    assert html and all("<script>" not in t for t in html)
    assert any("&lt;script&gt;" in t for t in html)

    # and so does every archived report object
    s3 = boto3.client("s3", region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=stack.settings.archive_bucket, Prefix=f"reports/{WEEK}/")
    objects = [
        s3.get_object(Bucket=stack.settings.archive_bucket, Key=o["Key"])["Body"].read().decode()
        for o in listed["Contents"]
    ]
    assert len(objects) == 3
    _assert_clean(objects, "the archived report")

    # and every artifact and log line of the runs, and everything printed
    _assert_clean(_artifacts_and_logs(_run_ids_since(started)), "Prefect artifacts or logs")
    captured = capsys.readouterr()
    _assert_clean([captured.out, captured.err], "the process output")
