"""Provisioning: create what ``deployments/template.yaml`` declares on the configured endpoint.

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
* the service API too, for the KMS keys and their aliases (``_apply_keys``: the leads are
  encrypted with one; the topic is still created without its key, as moto's SNS does not
  encrypt);
* not emulated (see ``NOT_EMULATED``): the Lambda function, IAM and resource policies.

Resources are named after the settings (``SETTINGS_NAMES``), as the deployed function's
environment names them for the processor; with default settings these are the template's
default names.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from deployments.template import DEFAULT_ACCOUNT_ID, Template, referenced_id
from tasks.settings import Settings

#: The Settings field that names each template resource (logical id -> field).
SETTINGS_NAMES = {
    "Queue": "queue_name",
    "DeadLetterQueue": "dlq_name",
    "QueryEventsTable": "query_events_table",
    "AnalyticsTable": "analytics_table",
    "WeeklySummariesTable": "summaries_table",
    "FeedbackTable": "feedback_table",
    "LeadsTable": "leads_table",
    "LeadsKeyAlias": "leads_key",
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
#: Created through the service API: moto's CloudFormation has no model for the alarms; the
#: KMS keys and aliases are made by :func:`_apply_keys` (an alias's target is a key id that
#: exists only once the key does, which the template reader cannot resolve beforehand).
API_TYPES = ("AWS::CloudWatch::Alarm", "AWS::KMS::Key", "AWS::KMS::Alias")
#: Properties not handed to moto: they refer to resources that are not emulated.
OMITTED_PROPERTIES = {"AWS::SNS::Topic": ("KmsMasterKeyId",)}
#: Declared by the template, not emulated locally, and why.
NOT_EMULATED = {
    "AWS::Lambda::Function": "moto runs functions only in Docker; the handler runs in-process",
    "AWS::Lambda::EventSourceMapping": "EventSourceMapping (poller.py) stands in for the poller",
    "AWS::IAM::Role": "moto does not enforce IAM unless asked to",
    "AWS::IAM::ManagedPolicy": "moto does not enforce IAM unless asked to",
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


@dataclass(frozen=True)
class TemplateFigures:
    """The figures of the template with its default parameters that the local stack and its
    tests hold to (the poller's batch, the function's limits, the redrive, the alarms)."""

    function_name: str
    function_arn: str
    function_memory_mb: int
    function_timeout_seconds: int
    #: The main queue's (AWS asks for at least 6x the function timeout; tests check it).
    visibility_timeout_seconds: int
    max_receive_count: int
    dlq_retention_seconds: int
    batch_size: int
    alarm_names: tuple[str, ...]


@cache
def template_figures() -> TemplateFigures:
    """The figures, read from the template on first use (once per process)."""
    template = Template()
    mapping = template.event_source_mapping()
    queue = template.queue(mapping.queue)
    function = template.function(mapping.function)
    if queue.dead_letter_queue is None or queue.max_receive_count is None:
        raise ValueError("the template's event source queue has no redrive policy")
    return TemplateFigures(
        function_name=function.name,
        function_arn=str(template.get_att(function.logical_id, "Arn")),
        function_memory_mb=function.memory_size,
        function_timeout_seconds=function.timeout,
        visibility_timeout_seconds=queue.visibility_timeout,
        max_receive_count=queue.max_receive_count,
        dlq_retention_seconds=template.queue(queue.dead_letter_queue).retention_seconds,
        batch_size=mapping.batch_size,
        alarm_names=tuple(alarm.name for alarm in template.alarms()),
    )


def client(service: str, settings: Settings) -> Any:
    """A boto3 client in the settings' region, on whatever endpoint the environment names."""
    return boto3.client(service, region_name=settings.region)  # type: ignore[call-overload]


class _Clients:
    """One client per service for the length of a provision() (creating one costs ~10 ms)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client(service, self.settings)
        return self._clients[service]


def local_template(settings: Settings, account_id: str = DEFAULT_ACCOUNT_ID) -> Template:
    """The template as the local stack deploys it: resources named after the settings."""
    names = {logical_id: getattr(settings, f) for logical_id, f in SETTINGS_NAMES.items()}
    if not settings.leads_key.startswith("alias/"):  # a key id or ARN: the alias keeps its own
        names.pop("LeadsKeyAlias")
    return Template(
        parameters={name: getattr(settings, f) for name, f in SETTINGS_PARAMETERS.items()},
        names=names,
        region=settings.region,
        account_id=account_id,
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


#: The error codes that mean "no such resource" to _exists().
_MISSING = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ResourceNotFoundException",
        "NotFound",
        "404",
        "NoSuchBucket",
    }
)


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
        if _error_code(exc) in _MISSING:
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


def _apply_keys(template: Template, aws: _Clients) -> None:
    """Each KMS alias of the template and the key it targets, with the key's description,
    policy and rotation; an alias that exists already is left as it is."""
    kms = aws("kms")
    existing = {
        alias["AliasName"]
        for page in kms.get_paginator("list_aliases").paginate()
        for alias in page.get("Aliases", [])
    }
    for alias_id in template.logical_ids("AWS::KMS::Alias"):
        name = template.physical_name(alias_id)
        if name in existing:
            continue
        key_id = referenced_id(template.raw_properties(alias_id)["TargetKeyId"])
        properties = template.resource(key_id).properties
        key = kms.create_key(
            Description=properties.get("Description", ""),
            Policy=json.dumps(properties["KeyPolicy"]),
        )["KeyMetadata"]["KeyId"]
        if properties.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key)
        kms.create_alias(AliasName=name, TargetKeyId=key)


def _verify_sender(template: Template, aws: _Clients) -> None:
    identity = str(template.parameters["SenderIdentity"])
    ses = aws("ses")
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)


def provision(settings: Settings | None = None) -> StackInfo:
    """Create (or re-apply) every emulated resource of the template on the configured endpoint."""
    settings = settings or Settings()
    aws = _Clients(settings)
    account_id = aws("sts").get_caller_identity()["Account"]
    template = local_template(settings, account_id)
    # in template order, so a queue's dead-letter queue comes before it
    by_cloudformation = [
        i for i in template.logical_ids() if template.type_of(i) in CLOUDFORMATION_TYPES
    ]
    _apply_keys(template, aws)  # first: a table may name its key by alias
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
