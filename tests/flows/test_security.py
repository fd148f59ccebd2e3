"""Personal data and markup from visitors never leave the pipeline unmasked or unescaped.

Queries with e-mail addresses, phone numbers and a ``<script>`` go through the real
processor and the weekly report flow; then every e-mail sent (decoded MIME parts), every
archived report object, every Prefect artifact and every log line of the runs is read
back and searched.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import WorkerSend, send_all
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler
from lambdas.shared.weeks import Week
from tests.flows.surfaces import artifacts_and_logs, run_ids_since, sent_mail_texts

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
    mails = sent_mail_texts()
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
    _assert_clean(artifacts_and_logs(run_ids_since(started)), "Prefect artifacts or logs")
    captured = capsys.readouterr()
    _assert_clean([captured.out, captured.err], "the process output")
