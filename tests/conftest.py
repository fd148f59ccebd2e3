"""Fixtures shared by every test: an isolated AWS environment and fresh settings.

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

from typing import Any, cast  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

from deployments.local_stack import StackInfo, local_stack, provision  # noqa: E402
from lambdas.processor.handler import reset_clients  # noqa: E402
from lambdas.processor.settings import get_settings  # noqa: E402
from tasks.aws import aws_client, reset_aws_clients  # noqa: E402
from tasks.s3.objects import sha256_base64  # noqa: E402

EVENTS_DIR = Path(__file__).parent / "events"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Settings and cached clients are per test: a test may change the environment."""
    get_settings.cache_clear()
    reset_clients()
    reset_aws_clients()
    yield
    get_settings.cache_clear()
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
