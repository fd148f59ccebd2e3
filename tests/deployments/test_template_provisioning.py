"""The provisioned local stack is what the template declares: drift between them fails here.

One stack for the module (the tests only read it). Each check reads the resource back from
moto and compares it with the template's own properties, whichever way (moto's CloudFormation
or the API) ``provision()`` created it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployments.local_stack import (
    API_PROPERTIES,
    API_TYPES,
    CLOUDFORMATION_TYPES,
    NOT_EMULATED,
    OMITTED_PROPERTIES,
    StackInfo,
    local_template,
    provision,
)
from deployments.template import Template
from lambdas.processor.handler import reset_clients
from tasks.settings import Settings

#: What moto accepts but never reports back, so cannot be compared (see the report of each).
NOT_REPORTED_BY_MOTO = {
    # moto's SQS stores RedriveAllowPolicy but returns it from no GetQueueAttributes.
    "AWS::SQS::Queue": {"RedriveAllowPolicy"},
    # moto's CloudFormation passes SSESpecification on, but its table reads the API's
    # "Enabled" key, not CloudFormation's "SSEEnabled": no SSEDescription is reported.
    "AWS::DynamoDB::Table": {"SSESpecification"},
}


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def provisioned() -> Iterator[tuple[StackInfo, Template]]:
    with mock_aws():
        reset_clients()
        info = provision(Settings())
        yield info, local_template(info.settings)
    reset_clients()


def test_every_resource_type_of_the_template_has_a_way_to_the_local_stack() -> None:
    """A new resource type in the template needs a decision: CloudFormation, API, or not."""
    ways = [set(CLOUDFORMATION_TYPES), set(API_TYPES), set(NOT_EMULATED)]
    assert set.union(*ways) == Template().resource_types()
    assert sum(map(len, ways)) == len(set.union(*ways))  # one way each
    assert set(API_PROPERTIES) | set(OMITTED_PROPERTIES) <= set(CLOUDFORMATION_TYPES)


def test_cloudformation_created_its_share(provisioned: tuple[StackInfo, Template]) -> None:
    _, template = provisioned
    (stack,) = _client("cloudformation").describe_stacks()["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    resources = _client("cloudformation").list_stack_resources(StackName=stack["StackName"])
    created = {r["LogicalResourceId"] for r in resources["StackResourceSummaries"]}
    expected = {i for kind in CLOUDFORMATION_TYPES for i in template.logical_ids(kind)}
    assert created == expected


def test_queues_have_the_templates_attributes(provisioned: tuple[StackInfo, Template]) -> None:
    _, template = provisioned
    sqs = _client("sqs")
    for queue in template.queues():
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        actual = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        declared = queue.api_attributes()
        for name in NOT_REPORTED_BY_MOTO["AWS::SQS::Queue"]:
            declared.pop(name, None)
        redrive = declared.pop("RedrivePolicy", None)
        if redrive is None:
            assert "RedrivePolicy" not in actual, queue.name
        else:
            expected = json.loads(redrive)
            assert json.loads(actual["RedrivePolicy"]) == expected, queue.name
            assert expected["deadLetterTargetArn"].endswith(
                f":{template.queue(queue.dead_letter_queue or '').name}"
            )
        assert {k: actual.get(k) for k in declared} == declared, queue.name
        # what the template leaves to SQS's defaults is SQS's default here too
        assert int(actual["VisibilityTimeout"]) == queue.visibility_timeout, queue.name


def test_tables_have_the_templates_keys_indexes_ttl_and_recovery(
    provisioned: tuple[StackInfo, Template],
) -> None:
    _, template = provisioned
    dynamodb = _client("dynamodb")
    for table in template.tables():
        actual = dynamodb.describe_table(TableName=table.name)["Table"]
        assert actual["KeySchema"] == table.key_schema, table.name
        assert sorted(actual["AttributeDefinitions"], key=str) == sorted(
            table.properties["AttributeDefinitions"], key=str
        )
        assert actual["BillingModeSummary"]["BillingMode"] == table.properties["BillingMode"]
        indexes = {
            i["IndexName"]: {k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
            for i in actual.get("GlobalSecondaryIndexes", [])
        }
        assert indexes == {i["IndexName"]: i for i in table.global_secondary_indexes}

        ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
        if table.ttl_attribute is None:
            assert ttl["TimeToLiveStatus"] == "DISABLED", table.name
        else:
            assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute}
        backups = dynamodb.describe_continuous_backups(TableName=table.name)
        recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        expected = "ENABLED" if table.point_in_time_recovery else "DISABLED"
        assert recovery["PointInTimeRecoveryStatus"] == expected, table.name


def test_log_groups_keep_the_templates_retention(provisioned: tuple[StackInfo, Template]) -> None:
    _, template = provisioned
    for group in template.log_groups():
        found = _client("logs").describe_log_groups(logGroupNamePrefix=group.name)["logGroups"]
        (actual,) = (g for g in found if g["logGroupName"] == group.name)
        assert actual.get("retentionInDays") == group.retention_days


def test_alarms_are_the_templates(provisioned: tuple[StackInfo, Template]) -> None:
    info, template = provisioned
    prefix = f"{template.parameters['NamePrefix']}-"
    actual = {
        a["AlarmName"]: a
        for a in _client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    }
    declared = {alarm.name: alarm.properties for alarm in template.alarms()}
    assert set(actual) == set(declared)
    for name, properties in declared.items():
        assert {k: actual[name][k] for k in properties} == properties, name
        assert actual[name]["AlarmActions"] == [info.topic_arn]


def test_topic_and_archive_bucket_are_the_templates(
    provisioned: tuple[StackInfo, Template],
) -> None:
    info, template = provisioned
    (topic,) = template.topics()
    assert topic.arn == info.topic_arn
    _client("sns").get_topic_attributes(TopicArn=topic.arn)  # exists

    s3 = _client("s3")
    (bucket,) = template.buckets()
    properties = bucket.properties
    encryption = s3.get_bucket_encryption(Bucket=bucket.name)["ServerSideEncryptionConfiguration"]
    declared = bucket.encryption()
    assert declared is not None
    assert [r["ApplyServerSideEncryptionByDefault"] for r in encryption["Rules"]] == [
        r["ApplyServerSideEncryptionByDefault"] for r in declared["Rules"]
    ]
    block = s3.get_public_access_block(Bucket=bucket.name)["PublicAccessBlockConfiguration"]
    assert block == properties["PublicAccessBlockConfiguration"]
    versioning = s3.get_bucket_versioning(Bucket=bucket.name)
    assert versioning["Status"] == properties["VersioningConfiguration"]["Status"]
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket.name)["OwnershipControls"]
    assert ownership == properties["OwnershipControls"]
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket.name)["Rules"]
    assert lifecycle == (bucket.lifecycle() or {}).get("Rules")


def test_sender_identity_is_verified(provisioned: tuple[StackInfo, Template]) -> None:
    _, template = provisioned
    identities = _client("ses").list_identities()["Identities"]
    assert template.parameters["SenderIdentity"] in identities


def test_stack_info_points_at_the_templates_queues(provisioned: tuple[StackInfo, Template]) -> None:
    info, template = provisioned
    mapping = template.event_source_mapping()
    queue = template.queue(mapping.queue)
    assert info.queue_url.endswith(f"/{queue.name}")
    assert info.dlq_url.endswith(f"/{template.queue(queue.dead_letter_queue or '').name}")
