"""The embedded local AWS: moto's server, provisioned like the real account.

``provision()`` creates every resource of ``deployments/template.yaml`` on whatever
endpoint the environment points at (idempotent: existing resources are left alone, their
settings re-applied), including what an emulator's CloudFormation ignores: TTL, PITR,
alarms, log retention, the SES sender identity. ``local_stack()`` runs a
``ThreadedMotoServer`` on 127.0.0.1 for the demo and integration tests.
``EventSourceMapping`` stands in for Lambda's SQS poller, which moto cannot run without
Docker: receive up to 10, call the handler, delete what it did not report as failed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from lambdas.processor.settings import Settings, get_settings

FUNCTION_TIMEOUT_SECONDS = 30
#: AWS asks for a visibility timeout of at least 6x the function timeout.
VISIBILITY_TIMEOUT_SECONDS = 6 * FUNCTION_TIMEOUT_SECONDS
MAX_RECEIVE_COUNT = 3
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
ALARM_NAMES = (
    "cv-analytics-dlq-depth",
    "cv-analytics-processor-errors",
    "cv-analytics-processor-throttles",
    "cv-analytics-queue-age",
)


@dataclass(frozen=True)
class StackInfo:
    """Where the provisioned resources are."""

    endpoint_url: str | None
    queue_url: str
    dlq_url: str
    topic_arn: str
    settings: Settings


def _client(service: str, settings: Settings) -> Any:
    return boto3.client(service, region_name=settings.region)  # type: ignore[call-overload]


def _provision_queues(settings: Settings) -> tuple[str, str]:
    sqs = _client("sqs", settings)
    dlq_url = sqs.create_queue(
        QueueName=settings.dlq_name,
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
        },
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}'
    attributes = {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "true",
        "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
        "MessageRetentionPeriod": str(4 * 24 * 3600),
        "RedrivePolicy": redrive,
    }
    queue_url = sqs.create_queue(QueueName=settings.queue_name, Attributes=attributes)["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={k: v for k, v in attributes.items() if k != "FifoQueue"}
    )
    return queue_url, dlq_url


def _create_table(dynamodb: Any, **kwargs: Any) -> None:
    try:
        dynamodb.create_table(BillingMode="PAY_PER_REQUEST", **kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(
        TableName=kwargs["TableName"], WaiterConfig={"Delay": 1}
    )


def _provision_tables(settings: Settings) -> None:
    dynamodb = _client("dynamodb", settings)
    _create_table(
        dynamodb,
        TableName=settings.query_events_table,
        KeySchema=[
            {"AttributeName": "requestId", "KeyType": "HASH"},
            {"AttributeName": "eventKey", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "requestId", "AttributeType": "S"},
            {"AttributeName": "eventKey", "AttributeType": "S"},
        ],
    )
    _create_table(
        dynamodb,
        TableName=settings.analytics_table,
        KeySchema=[{"AttributeName": "requestId", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "requestId", "AttributeType": "S"},
            {"AttributeName": "weekKey", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "week-index",
                "KeySchema": [
                    {"AttributeName": "weekKey", "KeyType": "HASH"},
                    {"AttributeName": "requestId", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    _create_table(
        dynamodb,
        TableName=settings.summaries_table,
        KeySchema=[{"AttributeName": "week", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "week", "AttributeType": "S"}],
    )
    ttl = dynamodb.describe_time_to_live(TableName=settings.query_events_table)
    if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") != "ENABLED":
        dynamodb.update_time_to_live(
            TableName=settings.query_events_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": settings.ttl_attribute},
        )
    for table in (settings.query_events_table, settings.analytics_table, settings.summaries_table):
        dynamodb.update_continuous_backups(
            TableName=table,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def _provision_monitoring(settings: Settings, queue_url: str, dlq_url: str) -> str:
    topic_arn: str = _client("sns", settings).create_topic(Name=settings.alarms_topic)["TopicArn"]
    logs = _client("logs", settings)
    group = f"/aws/lambda/{settings.processor_function}"
    try:
        logs.create_log_group(logGroupName=group)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    logs.put_retention_policy(logGroupName=group, retentionInDays=settings.log_retention_days)

    cloudwatch = _client("cloudwatch", settings)
    common = {
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn],
        "TreatMissingData": "notBreaching",
        "EvaluationPeriods": 1,
        "Period": 300,
    }
    function = [{"Name": "FunctionName", "Value": settings.processor_function}]
    alarms: list[dict[str, Any]] = [
        {
            "AlarmName": "cv-analytics-dlq-depth",
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": settings.dlq_name}],
            "Statistic": "Maximum",
            "Threshold": float(settings.dlq_alarm_threshold),
            "ComparisonOperator": "GreaterThanThreshold",
        },
        {
            "AlarmName": "cv-analytics-processor-errors",
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": function,
            "Statistic": "Sum",
            "Threshold": 5.0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
        {
            "AlarmName": "cv-analytics-processor-throttles",
            "Namespace": "AWS/Lambda",
            "MetricName": "Throttles",
            "Dimensions": function,
            "Statistic": "Sum",
            "Threshold": 0.0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
        {
            "AlarmName": "cv-analytics-queue-age",
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Dimensions": [{"Name": "QueueName", "Value": settings.queue_name}],
            "Statistic": "Maximum",
            "Threshold": float(settings.max_queue_age_seconds),
            "ComparisonOperator": "GreaterThanThreshold",
        },
    ]
    for alarm in alarms:
        cloudwatch.put_metric_alarm(**common, **alarm)
    return topic_arn


def _provision_storage_and_mail(settings: Settings) -> None:
    s3 = _client("s3", settings)
    try:
        if settings.region == "us-east-1":
            s3.create_bucket(Bucket=settings.archive_bucket)
        else:
            s3.create_bucket(
                Bucket=settings.archive_bucket,
                CreateBucketConfiguration={"LocationConstraint": settings.region},
            )
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_public_access_block(
        Bucket=settings.archive_bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=settings.archive_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    _client("ses", settings).verify_email_identity(EmailAddress=settings.report_sender)


def provision(settings: Settings | None = None) -> StackInfo:
    """Create (or re-apply) every resource of the pipeline on the configured endpoint."""
    settings = settings or get_settings()
    queue_url, dlq_url = _provision_queues(settings)
    _provision_tables(settings)
    topic_arn = _provision_monitoring(settings, queue_url, dlq_url)
    _provision_storage_and_mail(settings)
    return StackInfo(os.environ.get("AWS_ENDPOINT_URL"), queue_url, dlq_url, topic_arn, settings)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The emulator accepts any credentials; these dummies keep boto3 from looking for real ones.
LOCAL_ENV = dict.fromkeys(
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), "testing"
) | {"AWS_DEFAULT_REGION": "us-east-1"}


def _forget_clients() -> None:
    """Cached clients (processor, flows) point at the previous endpoint: drop them."""
    from lambdas.processor.handler import reset_clients
    from tasks.aws import reset_aws_clients

    reset_clients()
    reset_aws_clients()


def _use_fast_sqs_clock() -> None:
    """Give moto's SQS model a cheap clock: the same epoch milliseconds, 20x less work.

    moto recomputes every queue attribute several times per call, and each message's
    ``visible``/``delayed`` check converts two naive datetimes to epoch milliseconds; at
    1,000 queued messages a SendMessage took 125 ms and a receive+delete 1.1 s. Returning
    ``time.time() * 1000`` (which freezegun patches too) for "now" gives the same values,
    so behaviour is unchanged; only explicit datetimes still take moto's own path.
    """
    import moto.sqs.models as sqs_models

    original = sqs_models.unix_time_millis
    if getattr(original, "fast_clock", False):
        return

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else original(dt)

    unix_time_millis.fast_clock = True  # type: ignore[attr-defined]
    sqs_models.unix_time_millis = unix_time_millis


@contextmanager
def local_stack(port: int | None = None) -> Iterator[StackInfo]:
    """Run moto's server on 127.0.0.1, point the environment at it, provision, clean up."""
    from moto.server import ThreadedMotoServer

    _use_fast_sqs_clock()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto's backends are process-wide: without a reset, a second stack in the same
    # process would inherit the first one's queues, tables and messages.
    # (a fixed http URL on our own loopback server)
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310  # nosec B310
        pass
    saved = {key: os.environ.get(key) for key in [*LOCAL_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(LOCAL_ENV, AWS_ENDPOINT_URL=endpoint)
    try:
        _forget_clients()
        yield provision()
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _forget_clients()


@dataclass
class LocalContext:
    """The parts of a Lambda context object that Powertools reads."""

    function_name: str = "cv-analytics-processor"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:cv-analytics-processor"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = field(default_factory=lambda: time.time() + FUNCTION_TIMEOUT_SECONDS)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "dataType": value["DataType"],
            "stringListValues": [],
            "binaryListValues": [],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class DrainResult:
    invocations: int = 0
    processed: int = 0
    failed: int = 0


class EventSourceMapping:
    """Local stand-in for Lambda's SQS FIFO poller (batch size 10, partial batch responses).

    Failed messages are left on the queue for SQS's redrive policy. Because waiting out
    a 180 s visibility timeout is pointless locally, ``fast_retry`` makes them visible
    again at once, which is what the passage of the timeout would do.
    """

    def __init__(
        self,
        handler: Handler,
        settings: Settings | None = None,
        *,
        batch_size: int = 10,
        fast_retry: bool = True,
    ) -> None:
        self.handler = handler
        self.settings = settings or get_settings()
        self.batch_size = batch_size
        self.fast_retry = fast_retry
        self.sqs = _client("sqs", self.settings)
        self.queue_url = self.sqs.get_queue_url(QueueName=self.settings.queue_name)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

    def poll_once(self, result: DrainResult | None = None) -> DrainResult:
        """One receive and (if anything came) one invocation."""
        result = result or DrainResult()
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return result
        records = [lambda_record(m, self.queue_arn, self.settings.region) for m in messages]
        result.invocations += 1
        try:
            response = self.handler({"Records": records}, LocalContext())
            failed_ids = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:  # a function error: Lambda retries the whole batch
            # (Powertools raises BatchProcessingError when every record of a batch failed)
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        if failed and self.fast_retry:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(failed)
                ],
            )
        result.processed += len(done)
        result.failed += len(failed)
        return result

    def drain(self, max_invocations: int = 100_000) -> DrainResult:
        """Poll until the queue gives nothing (or the invocation budget is spent)."""
        result = DrainResult()
        while result.invocations < max_invocations:
            before = result.invocations
            self.poll_once(result)
            if result.invocations == before:
                break
        return result


def expire_ttl_items(settings: Settings | None = None, now: float | None = None) -> int:
    """Do what DynamoDB's TTL process does and moto does not: delete expired items.

    Only items whose TTL attribute is a number of epoch seconds in the past are deleted,
    exactly AWS's rule; an item without it, or with a value in milliseconds (far in the
    future as seconds), stays, so TTL verification still sees those faults.
    """
    settings = settings or get_settings()
    dynamodb = _client("dynamodb", settings)
    cutoff = int(time.time() if now is None else now)
    expired: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=settings.query_events_table,
        ProjectionExpression="requestId, eventKey",
        FilterExpression="#ttl < :now",
        ExpressionAttributeNames={"#ttl": settings.ttl_attribute},
        ExpressionAttributeValues={":now": {"N": str(cutoff)}},
    ):
        expired.extend(page.get("Items", []))
    for start in range(0, len(expired), 25):
        chunk = expired[start : start + 25]
        dynamodb.batch_write_item(
            RequestItems={
                settings.query_events_table: [{"DeleteRequest": {"Key": key}} for key in chunk]
            }
        )
    return len(expired)
