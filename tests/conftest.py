"""Fixtures and builders shared by every test: an isolated AWS environment, fresh settings,
Worker events and the records the processor makes of them, seeded weeks, fault injection.

PREFECT_HOME goes to a temporary folder before Prefect is imported anywhere, so tests
never read or write the developer's own Prefect profile or database.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="cv-analytics-prefect-"))
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_PROFILE", None)
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "CVAnalytics",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}.items():
    os.environ[_key] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from datetime import UTC, datetime  # noqa: E402
from typing import Any, cast  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from moto import mock_aws  # noqa: E402

from deployments.local_stack import StackInfo, local_stack, provision  # noqa: E402
from deployments.worker import load_sample  # noqa: E402
from lambdas.processor.handler import reset_clients  # noqa: E402
from lambdas.processor.storage import store_events  # noqa: E402
from lambdas.shared.contract import Invalid, parse_event  # noqa: E402
from lambdas.shared.correlation import analytics_item, fold_events  # noqa: E402
from lambdas.shared.weeks import Week  # noqa: E402
from tasks.aws import aws_client, reset_aws_clients  # noqa: E402
from tasks.s3.objects import sha256_base64  # noqa: E402

EVENTS_DIR = Path(__file__).parent / "events"
REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "samples"
#: The clock of ``parse_event`` for sample-era events: after the sample, before any TTL.
NOW_MS = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp() * 1000)

# Hypothesis: ``ci`` (the env var CI is set) is reproducible and bounded; ``dev`` explores.
hypothesis_settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None)
hypothesis_settings.register_profile("dev", max_examples=100, deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Cached clients (and the processor's config) are per test: a test may change the
    environment. The flows' settings are not cached: each ``Settings()`` reads it anew."""
    reset_clients()
    reset_aws_clients()
    yield
    reset_clients()
    reset_aws_clients()


@pytest.fixture
def aws() -> Iterator[StackInfo]:
    """In-process moto with the whole stack provisioned."""
    with mock_aws():
        reset_clients()
        yield provision()


@pytest.fixture
def stack() -> Iterator[StackInfo]:
    """A real HTTP moto server on 127.0.0.1 with the stack provisioned (integration)."""
    with local_stack() as info:
        yield info


def client_error(
    code: str, operation: str, status: int = 400, message: str | None = None
) -> ClientError:
    """A real botocore ClientError, as AWS would raise it, for fault injection."""
    response = {
        "Error": {"Code": code, "Message": message or code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(cast(Any, response), operation)


def subscribe_alarm_inbox(topic_arn: str) -> str:
    """An SQS queue subscribed to the alarms topic, to observe what operators would get."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url: str = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    boto3.client("sns", region_name="us-east-1").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn
    )
    return url


def alerts_received(url: str) -> list[dict[str, Any]]:
    """The SNS notifications that reached the inbox (each a JSON envelope)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


@contextmanager
def s3_confirms_another_checksum() -> Iterator[None]:
    """S3's PutObject answers name a checksum other than ours (botocore's own event hook)."""

    def tamper(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ChecksumSHA256"] = sha256_base64(b"not what we sent")

    events = aws_client("s3").meta.events
    events.register("after-call.s3.PutObject", tamper, unique_id="test-other-checksum")
    try:
        yield
    finally:
        events.unregister("after-call.s3.PutObject", unique_id="test-other-checksum")


# --- Worker events and the records the processor makes of them -----------------------------


def ms(text: str) -> int:
    """Epoch ms of an ISO instant written like ``2025-11-09T23:59:59.999`` (UTC)."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def query(
    rid: str,
    at: str,
    text: str = "does he know python?",
    session: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Worker query event; ``session`` becomes its ``sessionId``."""
    event = {"eventType": "query", "requestId": rid, "timestamp": ms(at), "query": text, **extra}
    if session is not None:
        event["sessionId"] = session
    return event


def response(
    rid: str,
    at: str,
    match: str = "full",
    score: float = 90,
    sources: list[str] | None = None,
    performance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Worker response event."""
    event: dict[str, Any] = {
        "eventType": "response",
        "requestId": rid,
        "timestamp": ms(at),
        "matchType": match,
        "matchScore": score,
        "reasoning": "test",
    }
    if sources is not None:
        event["metadata"] = {"sourcesUsed": sources}
    if performance is not None:
        event["performance"] = performance
    return event


def records_of(*events: dict[str, Any]) -> list[dict[str, Any]]:
    """Analytics records exactly as the processor would store them for these events."""
    parsed = [parse_event(json.dumps(e), now_ms=NOW_MS) for e in events]
    valid = [p for p in parsed if not isinstance(p, Invalid)]
    assert len(valid) == len(parsed), parsed
    return [analytics_item(state) for state in fold_events(valid).values()]


def store_sample(stack: StackInfo) -> None:
    """The sample's Worker traffic stored through the processor's own write path."""
    events = [parse_event(send.body, now_ms=NOW_MS) for send in load_sample()]
    valid = [e for e in events if not isinstance(e, Invalid)]
    store_events(
        boto3.client("dynamodb", region_name="us-east-1"),
        valid,
        query_events_table=stack.settings.query_events_table,
        analytics_table=stack.settings.analytics_table,
        ttl_days=stack.settings.query_events_ttl_days,
    )


def seed_week(stack: StackInfo, week: Week, count: int, answered: bool = True) -> list[str]:
    """Store ``count`` requests whose queries fall in ``week`` through the processor's path."""
    start = week.start_ms
    events = []
    ids = []
    for i in range(count):
        rid = f"{week}-req-{i:03d}"
        ids.append(rid)
        ts = start + 3_600_000 * (i + 1)
        events.append(
            {"eventType": "query", "requestId": rid, "timestamp": ts, "query": f"Go skills {i}?"}
        )
        if answered:
            events.append(
                {
                    "eventType": "response",
                    "requestId": rid,
                    "timestamp": ts + 2000,
                    "matchType": "partial",
                    "matchScore": 61.5,
                    "reasoning": "Match",
                    "performance": {"totalTime": 1234.5, "cacheHit": False},
                    "metadata": {"sourcesUsed": ["Go"]},
                }
            )
    parsed = [parse_event(json.dumps(e)) for e in events]
    valid = [p for p in parsed if not isinstance(p, Invalid)]
    assert len(valid) == len(parsed), parsed
    store_events(
        boto3.client("dynamodb", region_name="us-east-1"),
        valid,
        query_events_table=stack.settings.query_events_table,
        analytics_table=stack.settings.analytics_table,
        ttl_days=stack.settings.query_events_ttl_days,
    )
    return ids
