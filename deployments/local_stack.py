"""The embedded local AWS: moto's server, provisioned from ``deployments/template.yaml``.

``provision()`` reads the template (``deployments/template.py``) and creates what it declares
on whatever endpoint the environment points at, idempotently (existing resources are left
alone, their settings re-applied). Each resource type goes the way that honours its properties:

* moto's CloudFormation (``create_stack`` with the template's own resources, intrinsics
  resolved): the queues, tables, log group, topic and bucket;
* the service API, for what moto's CloudFormation ignores: TTL and point-in-time recovery of
  the tables (``moto/dynamodb/models/table.py`` reads neither), the bucket's public access
  block, versioning, ownership controls and lifecycle (``moto/s3/models.py`` applies only
  ``BucketEncryption``), and the alarms (moto has no ``AWS::CloudWatch::Alarm`` model);
  also the SES sender identity, a template parameter rather than a resource;
* not emulated (see ``NOT_EMULATED``): the Lambda function, IAM, KMS and resource policies.

Resources are named after the settings (``SETTINGS_NAMES``), as the deployed function's
environment names them for the processor; with default settings these are the template's
default names. ``local_stack()`` runs a ``ThreadedMotoServer`` on 127.0.0.1 for the demo and
integration tests. ``EventSourceMapping`` stands in for Lambda's SQS poller, which moto cannot
run without Docker: receive a batch, call the handler, delete what it did not report as failed.
"""

from __future__ import annotations

import json
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

from deployments.template import DEFAULT_ACCOUNT_ID, Template
from lambdas.processor.settings import Settings, get_settings

#: The template with its default parameters, for the figures below.
TEMPLATE = Template()
_MAPPING = TEMPLATE.event_source_mapping()
_QUEUE = TEMPLATE.queue(_MAPPING.queue)
_FUNCTION = TEMPLATE.function(_MAPPING.function)
if _QUEUE.dead_letter_queue is None or _QUEUE.max_receive_count is None:
    raise ValueError("the template's event source queue has no redrive policy")
_DLQ = TEMPLATE.queue(_QUEUE.dead_letter_queue)

FUNCTION_TIMEOUT_SECONDS = _FUNCTION.timeout
#: The main queue's (AWS asks for at least 6x the function timeout; tests check the template).
VISIBILITY_TIMEOUT_SECONDS = _QUEUE.visibility_timeout
MAX_RECEIVE_COUNT: int = _QUEUE.max_receive_count
DLQ_RETENTION_SECONDS = _DLQ.retention_seconds
BATCH_SIZE = _MAPPING.batch_size
ALARM_NAMES = tuple(alarm.name for alarm in TEMPLATE.alarms())

#: The Settings field that names each template resource (logical id -> field).
SETTINGS_NAMES = {
    "Queue": "queue_name",
    "DeadLetterQueue": "dlq_name",
    "QueryEventsTable": "query_events_table",
    "AnalyticsTable": "analytics_table",
    "WeeklySummariesTable": "summaries_table",
    "AlarmTopic": "alarms_topic",
    "ProcessorFunction": "processor_function",
}
#: The Settings field that gives each template parameter (parameter -> field).
SETTINGS_PARAMETERS = {"ArchiveBucketName": "archive_bucket", "SenderIdentity": "report_sender"}

#: Created through moto's CloudFormation, whose models honour these types' properties
#: (except those in API_PROPERTIES).
CLOUDFORMATION_TYPES = (
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::Logs::LogGroup",
    "AWS::SNS::Topic",
    "AWS::S3::Bucket",
)
#: Properties moto's CloudFormation ignores; provision() applies them through the API.
API_PROPERTIES = {
    "AWS::DynamoDB::Table": ("TimeToLiveSpecification", "PointInTimeRecoverySpecification"),
    "AWS::S3::Bucket": (
        "PublicAccessBlockConfiguration",
        "VersioningConfiguration",
        "OwnershipControls",
        "LifecycleConfiguration",
    ),
}
#: Created through the service API: moto's CloudFormation has no model for the type.
API_TYPES = ("AWS::CloudWatch::Alarm",)
#: Properties not handed to moto: they refer to resources that are not emulated.
OMITTED_PROPERTIES = {"AWS::SNS::Topic": ("KmsMasterKeyId",)}
#: Declared by the template, not emulated locally, and why.
NOT_EMULATED = {
    "AWS::Lambda::Function": "moto runs functions only in Docker; the handler runs in-process",
    "AWS::Lambda::EventSourceMapping": "EventSourceMapping below stands in for the poller",
    "AWS::IAM::Role": "moto does not enforce IAM unless asked to",
    "AWS::IAM::ManagedPolicy": "moto does not enforce IAM unless asked to",
    "AWS::KMS::Key": "moto's SNS does not encrypt; the topic is created without the key",
    "AWS::KMS::Alias": "the key is not emulated",
    "AWS::SNS::TopicPolicy": "moto does not enforce resource policies",
    "AWS::SNS::Subscription": "an e-mail subscription cannot be confirmed locally",
    "AWS::S3::BucketPolicy": "its Deny of non-TLS requests would refuse the plain-HTTP endpoint",
}


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


class _Clients:
    """One client per service for the length of a provision() (creating one costs ~10 ms)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = _client(service, self.settings)
        return self._clients[service]


def local_template(settings: Settings, account_id: str = DEFAULT_ACCOUNT_ID) -> Template:
    """The template as the local stack deploys it: resources named after the settings."""
    return Template(
        parameters={name: getattr(settings, f) for name, f in SETTINGS_PARAMETERS.items()},
        names={logical_id: getattr(settings, f) for logical_id, f in SETTINGS_NAMES.items()},
        region=settings.region,
        account_id=account_id,
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _exists(template: Template, logical_id: str, aws: _Clients) -> bool:
    """Whether the resource is already there (then CloudFormation must not create it)."""
    kind = template.type_of(logical_id)
    name = template.physical_name(logical_id)
    try:
        if kind == "AWS::SQS::Queue":
            aws("sqs").get_queue_url(QueueName=name)
        elif kind == "AWS::DynamoDB::Table":
            aws("dynamodb").describe_table(TableName=name)
        elif kind == "AWS::SNS::Topic":
            arn = template.get_att(logical_id, "TopicArn")
            aws("sns").get_topic_attributes(TopicArn=arn)
        elif kind == "AWS::S3::Bucket":
            aws("s3").head_bucket(Bucket=name)
        elif kind == "AWS::Logs::LogGroup":
            groups = aws("logs").describe_log_groups(logGroupNamePrefix=name)
            return any(g["logGroupName"] == name for g in groups["logGroups"])
        else:
            raise ValueError(f"no existence check for {kind}")
    except ClientError as exc:
        missing = {
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
            "ResourceNotFoundException",
            "NotFound",
            "404",
            "NoSuchBucket",
        }
        if _error_code(exc) in missing:
            return False
        raise
    return True


def cloudformation_template(template: Template, logical_ids: list[str]) -> dict[str, Any]:
    """The template's own definitions of these resources, intrinsics resolved.

    Resolved here rather than by moto so that the settings' names apply, and so that a
    resource referring to one that already exists (hence left out) still resolves.
    """
    resources: dict[str, Any] = {}
    for logical_id in logical_ids:
        kind = template.type_of(logical_id)
        definition: dict[str, Any] = {
            "Type": kind,
            "Properties": template.resource_properties_lenient(
                logical_id, OMITTED_PROPERTIES.get(kind, ())
            ),
        }
        depends_on = sorted(template.references(logical_id) & set(logical_ids))
        if depends_on:
            definition["DependsOn"] = depends_on
        resources[logical_id] = definition
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The parts of deployments/template.yaml moto's CloudFormation creates.",
        "Resources": resources,
    }


def _deploy(template: Template, logical_ids: list[str], aws: _Clients) -> None:
    cloudformation = aws("cloudformation")
    name = f"{template.parameters['NamePrefix']}-local"
    try:
        cloudformation.describe_stacks(StackName=name)
        name = f"{name}-{uuid.uuid4().hex[:8]}"  # a later deployment of missing resources
    except ClientError as exc:
        if _error_code(exc) != "ValidationError":
            raise
    body = json.dumps(cloudformation_template(template, logical_ids))
    cloudformation.create_stack(StackName=name, TemplateBody=body)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        reason = stack.get("StackStatusReason", "")
        raise RuntimeError(f"stack {name} is {stack['StackStatus']}: {reason}")


def _reapply(template: Template, logical_id: str, aws: _Clients) -> None:
    """Set again, on a resource that already existed, what CloudFormation sets on creation."""
    kind = template.type_of(logical_id)
    if kind == "AWS::SQS::Queue":
        sqs = aws("sqs")
        queue = template.queue(logical_id)
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        attributes = queue.api_attributes()
        attributes.pop("FifoQueue", None)  # fixed at creation
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    elif kind == "AWS::Logs::LogGroup":
        (group,) = (g for g in template.log_groups() if g.logical_id == logical_id)
        if group.retention_days is not None:
            aws("logs").put_retention_policy(
                logGroupName=group.name, retentionInDays=group.retention_days
            )
    elif kind == "AWS::S3::Bucket":
        (bucket,) = (b for b in template.buckets() if b.logical_id == logical_id)
        encryption = bucket.encryption()
        if encryption is not None:
            aws("s3").put_bucket_encryption(
                Bucket=bucket.name, ServerSideEncryptionConfiguration=encryption
            )
    # tables (keys, indexes) and topics have nothing CloudFormation sets that can change


def _apply_tables(template: Template, aws: _Clients) -> None:
    dynamodb = aws("dynamodb")
    for table in template.tables():
        dynamodb.get_waiter("table_exists").wait(TableName=table.name, WaiterConfig={"Delay": 1})
        if table.ttl_attribute is not None:
            ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") != "ENABLED":
                dynamodb.update_time_to_live(
                    TableName=table.name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        if table.point_in_time_recovery:
            dynamodb.update_continuous_backups(
                TableName=table.name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )


def _apply_buckets(template: Template, aws: _Clients) -> None:
    s3 = aws("s3")
    for bucket in template.buckets():
        properties = bucket.properties
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=bucket.name,
                PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"],
            )
        if "VersioningConfiguration" in properties:
            s3.put_bucket_versioning(
                Bucket=bucket.name, VersioningConfiguration=properties["VersioningConfiguration"]
            )
        if "OwnershipControls" in properties:
            s3.put_bucket_ownership_controls(
                Bucket=bucket.name, OwnershipControls=properties["OwnershipControls"]
            )
        lifecycle = bucket.lifecycle()
        if lifecycle is not None:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket.name, LifecycleConfiguration=lifecycle
            )


def _apply_alarms(template: Template, aws: _Clients) -> None:
    cloudwatch = aws("cloudwatch")
    for alarm in template.alarms():
        cloudwatch.put_metric_alarm(**alarm.properties)


def _verify_sender(template: Template, aws: _Clients) -> None:
    identity = str(template.parameters["SenderIdentity"])
    ses = aws("ses")
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)


def provision(settings: Settings | None = None) -> StackInfo:
    """Create (or re-apply) every emulated resource of the template on the configured endpoint."""
    settings = settings or get_settings()
    aws = _Clients(settings)
    account_id = aws("sts").get_caller_identity()["Account"]
    template = local_template(settings, account_id)
    # in template order, so a queue's dead-letter queue comes before it
    by_cloudformation = [
        i for i in template.logical_ids() if template.type_of(i) in CLOUDFORMATION_TYPES
    ]
    existing = [i for i in by_cloudformation if _exists(template, i, aws)]
    missing = [i for i in by_cloudformation if i not in existing]
    if missing:
        _deploy(template, missing, aws)
    for logical_id in existing:
        _reapply(template, logical_id, aws)
    _apply_tables(template, aws)
    _apply_buckets(template, aws)
    _apply_alarms(template, aws)
    _verify_sender(template, aws)

    sqs = aws("sqs")
    mapping = template.event_source_mapping()
    queue = template.queue(mapping.queue)
    if queue.dead_letter_queue is None:
        raise ValueError("the template's event source queue has no redrive policy")
    dlq = template.queue(queue.dead_letter_queue)
    (topic,) = template.topics()
    return StackInfo(
        os.environ.get("AWS_ENDPOINT_URL"),
        sqs.get_queue_url(QueueName=queue.name)["QueueUrl"],
        sqs.get_queue_url(QueueName=dlq.name)["QueueUrl"],
        topic.arn,
        settings,
    )


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

    function_name: str = _FUNCTION.name
    memory_limit_in_mb: int = _FUNCTION.memory_size
    invoked_function_arn: str = TEMPLATE.get_att(_FUNCTION.logical_id, "Arn")
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
    """Local stand-in for Lambda's SQS FIFO poller (the template's batch size, partial batch
    responses).

    Failed messages are left on the queue for SQS's redrive policy. Because waiting out
    the visibility timeout is pointless locally, ``fast_retry`` makes them visible
    again at once, which is what the passage of the timeout would do.
    """

    def __init__(
        self,
        handler: Handler,
        settings: Settings | None = None,
        *,
        batch_size: int = BATCH_SIZE,
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

    def drain(self, max_invocations: int = 100_000, settle_seconds: float = 2.0) -> DrainResult:
        """Poll until the queue is empty (or the invocation budget is spent).

        An empty receive alone does not mean empty: a failed FIFO message made visible
        again can still count as in flight for an instant (moto compares microsecond
        clocks), and while it does SQS hides its whole message group. With
        ``fast_retry`` the drain looks at the queue's counts and polls again for up to
        ``settle_seconds`` of no progress; without it, in-flight messages wait out their
        visibility timeout, as on AWS, and the drain stops.
        """
        result = DrainResult()
        idle_since: float | None = None
        while result.invocations < max_invocations:
            before = result.invocations
            self.poll_once(result)
            if result.invocations != before:
                idle_since = None
                continue
            if not self.fast_retry or self._remaining() == 0:
                break
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > settle_seconds:
                break
            time.sleep(0.005)
        return result

    def _remaining(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())


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
