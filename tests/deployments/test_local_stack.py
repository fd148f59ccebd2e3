"""The embedded stack: provisioning is idempotent and the TTL stand-in follows AWS's rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from deployments.local_stack import (
    ALARM_NAMES,
    FUNCTION_TIMEOUT_SECONDS,
    MAX_RECEIVE_COUNT,
    StackInfo,
    expire_ttl_items,
    fast_sqs_clock,
    local_template,
    provision,
)
from tasks.settings import Settings


def test_provision_twice_changes_nothing_and_keeps_data(aws: StackInfo) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.put_item(TableName="cv-analytics-analytics", Item={"requestId": {"S": "kept"}})
    again = provision()
    assert again.queue_url == aws.queue_url and again.topic_arn == aws.topic_arn
    assert "Item" in dynamodb.get_item(
        TableName="cv-analytics-analytics", Key={"requestId": {"S": "kept"}}
    )
    ttl = dynamodb.describe_time_to_live(TableName="cv-analytics-query-events")
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    alarms = boto3.client("cloudwatch", region_name="us-east-1").describe_alarms(
        AlarmNamePrefix="cv-analytics-"
    )["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(ALARM_NAMES)
    assert all(a["AlarmActions"] == [aws.topic_arn] for a in alarms)


def test_provision_again_restores_drifted_settings(aws: StackInfo) -> None:
    # given settings changed behind the template's back
    template = local_template(aws.settings)
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.set_queue_attributes(QueueUrl=aws.queue_url, Attributes={"VisibilityTimeout": "5"})
    (group,) = template.log_groups()
    logs = boto3.client("logs", region_name="us-east-1")
    logs.put_retention_policy(logGroupName=group.name, retentionInDays=1)
    (bucket,) = template.buckets()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.delete_bucket_lifecycle(Bucket=bucket.name)
    # when provisioning again
    provision()
    # then the template's settings are back
    attributes = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])
    queue = template.queue(template.event_source_mapping().queue)
    assert int(attributes["Attributes"]["VisibilityTimeout"]) == queue.visibility_timeout
    (found,) = logs.describe_log_groups(logGroupNamePrefix=group.name)["logGroups"]
    assert found["retentionInDays"] == group.retention_days
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket.name)["Rules"]
    assert rules == (bucket.lifecycle() or {})["Rules"]


def test_resources_are_named_after_the_settings(aws: StackInfo) -> None:
    # given settings naming the queues and the function otherwise (as CV_ANALYTICS_* would)
    settings = Settings(
        queue_name="other-queue.fifo",
        dlq_name="other-dlq.fifo",
        processor_function="other-processor",
    )
    # when provisioning with them
    info = provision(settings)
    # then the queues have those names, and the alarms watch them
    assert info.queue_url.endswith("/other-queue.fifo")
    assert info.dlq_url.endswith("/other-dlq.fifo")
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=info.queue_url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(
        ":other-dlq.fifo"
    )
    alarms = boto3.client("cloudwatch", region_name="us-east-1").describe_alarms(
        AlarmNamePrefix="cv-analytics-"
    )["MetricAlarms"]
    watched = {d["Value"] for a in alarms for d in a["Dimensions"]}
    assert {"other-queue.fifo", "other-dlq.fifo", "other-processor"} <= watched


def test_queue_redrive_and_visibility_follow_the_aws_rules(aws: StackInfo) -> None:
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=aws.queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert int(attributes["VisibilityTimeout"]) >= 6 * FUNCTION_TIMEOUT_SECONDS
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVE_COUNT
    assert redrive["deadLetterTargetArn"].endswith(":cv-analytics-dlq.fifo")


def test_ttl_stand_in_deletes_only_items_expired_in_epoch_seconds(aws: StackInfo) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    now = 1_800_000_000
    rows = {
        "expired": {"N": str(now - 1)},
        "alive": {"N": str(now + 3600)},
        "milliseconds": {"N": str((now - 10) * 1000)},  # a bug: never expires
    }
    for name, ttl in rows.items():
        dynamodb.put_item(
            TableName="cv-analytics-query-events",
            Item={"requestId": {"S": name}, "eventKey": {"S": "query#1"}, "ttl": ttl},
        )
    dynamodb.put_item(
        TableName="cv-analytics-query-events",
        Item={"requestId": {"S": "no-ttl"}, "eventKey": {"S": "query#1"}},
    )
    assert expire_ttl_items(now=now) == 1
    left = dynamodb.scan(TableName="cv-analytics-query-events")["Items"]
    assert sorted(i["requestId"]["S"] for i in left) == ["alive", "milliseconds", "no-ttl"]


def test_poller_treats_a_function_error_as_a_failed_batch(aws: StackInfo) -> None:
    from deployments.local_stack import EventSourceMapping

    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(
        QueueUrl=aws.queue_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="1"
    )

    def broken(event: dict[str, object], context: object) -> dict[str, object]:
        raise RuntimeError("every record failed")

    poller = EventSourceMapping(broken)
    first = poller.poll_once()
    assert (first.invocations, first.processed, first.failed) == (1, 0, 1)
    # after maxReceiveCount receives, SQS's redrive policy moves it to the DLQ
    poller.drain()
    dlq = sqs.get_queue_attributes(
        QueueUrl=aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert dlq["ApproximateNumberOfMessages"] == "1"


def test_the_fast_sqs_clock_keeps_visibility_timeouts_and_delays(stack: StackInfo) -> None:
    # given the local stack (whose moto SQS model reads time.time() for "now")
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="clock-check")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    # when a message is received with a 1 s visibility timeout
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, MaxNumberOfMessages=10)
    # then only the undelayed one came, it is hidden for the second, then visible again
    assert [m["Body"] for m in first["Messages"]] == ["now"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    assert sorted(m["Body"] for m in again["Messages"]) == ["later", "now"]
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "2"


def test_the_fast_sqs_clock_is_moto_s_only_inside_its_block() -> None:
    import moto.sqs.models

    sqs_models: Any = moto.sqs.models
    original = sqs_models.unix_time_millis
    with fast_sqs_clock():
        assert getattr(sqs_models.unix_time_millis, "fast_clock", False)
        with fast_sqs_clock():  # nested: the outer block keeps the patch
            patched = sqs_models.unix_time_millis
        assert sqs_models.unix_time_millis is patched
        assert abs(patched() - time.time() * 1000) < 1000
    assert sqs_models.unix_time_millis is original


#: Run in a fresh interpreter: importing the package (and the template reader) must not read
#: the template, import or patch moto, start a thread or touch the environment.
IMPORT_ONLY = """
import os, sys, threading
import deployments.local_stack as local_stack
import deployments.template as template
assert template._default_document.cache_info().currsize == 0, "the template was read"
assert local_stack.template_figures.cache_info().currsize == 0, "the figures were read"
assert "cfnlint" not in sys.modules, "the template loader was imported"
assert not [m for m in sys.modules if m == "moto" or m.startswith("moto.")], "moto imported"
assert threading.active_count() == 1, threading.enumerate()
assert "AWS_ENDPOINT_URL" not in os.environ
print("idle")
"""


def test_importing_the_local_stack_does_no_work() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ONLY],
        cwd=root,
        env=env | {"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "idle", done.stderr
