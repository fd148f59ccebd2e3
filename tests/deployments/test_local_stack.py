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
import pytest

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


# --- DynamoDB's TTL rules, as the stand-in applies them -------------------------------------


def _put_ttl_items(table: str, rows: dict[str, dict[str, str]]) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    for name, ttl in rows.items():
        dynamodb.put_item(
            TableName=table,
            Item={"requestId": {"S": name}, "eventKey": {"S": "query#1"}, "ttl": ttl},
        )


def _left(table: str) -> list[str]:
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table)["Items"]
    return sorted(i["requestId"]["S"] for i in items)


def test_ttl_stand_in_leaves_what_aws_leaves(aws: StackInfo) -> None:
    # given items AWS's TTL process ignores: over five years past, a string, and one it takes
    table = aws.settings.query_events_table
    now = 1_800_000_000
    _put_ttl_items(
        table,
        {
            "five-years-ago": {"N": str(now - 6 * 365 * 86_400)},
            "a-string": {"S": str(now - 10)},
            "expired": {"N": str(now - 10)},
        },
    )
    # when a sweep runs
    assert expire_ttl_items(now=now) == 1
    # then only the expired Number within five years went
    assert _left(table) == ["a-string", "five-years-ago"]


def test_ttl_stand_in_sweeps_only_tables_whose_ttl_is_enabled(aws: StackInfo) -> None:
    # given TTL disabled on the raw events table, and enabled on another table
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    raw = aws.settings.query_events_table
    dynamodb.update_time_to_live(
        TableName=raw, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    summaries = aws.settings.summaries_table
    dynamodb.update_time_to_live(
        TableName=summaries, TimeToLiveSpecification={"Enabled": True, "AttributeName": "gone"}
    )
    key_name = dynamodb.describe_table(TableName=summaries)["Table"]["KeySchema"][0]
    now = 1_800_000_000
    _put_ttl_items(raw, {"expired": {"N": str(now - 10)}})
    dynamodb.put_item(
        TableName=summaries,
        Item={key_name["AttributeName"]: {"S": "old"}, "gone": {"N": str(now - 10)}},
    )
    # when a sweep runs
    deleted = expire_ttl_items(now=now)
    # then the table with TTL disabled keeps its item; the other table's expired item went
    assert deleted == 1
    assert _left(raw) == ["expired"]
    assert dynamodb.scan(TableName=summaries)["Count"] == 0


# --- the background loop ----------------------------------------------------------------------


def test_a_failing_step_does_not_end_the_loop() -> None:
    from deployments.local_stack import BackgroundLoop

    # given a step that fails twice, then works
    calls: list[int] = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) <= 2:
            raise ConnectionError("endpoint not answering")
        return False

    loop = BackgroundLoop("flaky", flaky, interval=0.01, backoff=(0.01, 0.02))
    # when it runs for three passes
    with loop:
        for _ in range(3):
            assert loop.wait_for_fresh_pass(30)
        # then it is still running, the failures counted and remembered
        assert loop.running
        assert loop.failures == 2
        assert loop.last_error == "ConnectionError: endpoint not answering"
    # and leaving the block stops it
    assert not loop.running
    assert not loop.wait_for_fresh_pass(0.5)


def test_a_loop_stops_during_its_pause() -> None:
    from deployments.local_stack import BackgroundLoop

    # given a loop whose pause is an hour
    loop = BackgroundLoop("slow", lambda: False, interval=3600).start()
    assert loop.wait_for_fresh_pass(30)
    # when stopped, it ends without waiting the pause out
    loop.stop(timeout=30)
    assert not loop.running


def test_a_loop_refuses_a_pause_that_is_not_positive() -> None:
    from deployments.local_stack import BackgroundLoop

    with pytest.raises(ValueError, match="positive"):
        BackgroundLoop("busy", lambda: True, interval=0)


# --- the event source mapping as make serve runs it (no fast retry) ---------------------------


def test_the_background_poller_honours_batch_item_failures_and_the_redrive_policy(
    stack: StackInfo,
) -> None:
    from deployments.local_stack import BackgroundLoop, EventSourceMapping

    # given 24 events and one the function always fails, and a 1 s visibility timeout
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "1"})
    for i in range(25):
        sqs.send_message(
            QueueUrl=stack.queue_url,
            MessageBody="poison" if i == 12 else f"ok {i}",
            MessageGroupId=f"g{i % 2}",
            MessageDeduplicationId=str(i),
        )
    batches: list[list[str]] = []

    def function(event: dict[str, Any], context: object) -> dict[str, Any]:
        records = event["Records"]
        batches.append([r["body"] for r in records])
        failed = [r["messageId"] for r in records if r["body"] == "poison"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    mapping = EventSourceMapping(function, stack.settings, fast_retry=False)
    # when the mapping polls in the background until the poison reached the DLQ
    with BackgroundLoop("mapping", mapping.step, interval=0.05):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            dlq = sqs.get_queue_attributes(
                QueueUrl=stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            if dlq["ApproximateNumberOfMessages"] == "1":
                break
            time.sleep(0.1)
    # then batches held at most 10, each ok event was processed once, the poison was
    # received maxReceiveCount times (again only after its visibility timeout), then dead-lettered
    assert batches and max(len(b) for b in batches) <= 10
    bodies = [body for batch in batches for body in batch]
    assert sorted(b for b in bodies if b != "poison") == sorted(
        f"ok {i}" for i in range(25) if i != 12
    )
    assert bodies.count("poison") == MAX_RECEIVE_COUNT
    (dead,) = sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert dead["Body"] == "poison"
    assert mapping.totals.failed == MAX_RECEIVE_COUNT


def test_without_fast_retry_a_failed_message_waits_out_its_visibility_timeout(
    stack: StackInfo,
) -> None:
    from deployments.local_stack import EventSourceMapping

    # given a message the function fails (the queue's timeout: the template's 180 s)
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(
        QueueUrl=stack.queue_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="1"
    )

    def broken(event: dict[str, object], context: object) -> dict[str, object]:
        raise RuntimeError("every record failed")

    mapping = EventSourceMapping(broken, stack.settings, fast_retry=False)
    # when it fails once
    assert mapping.step() is True
    # then it is in flight, not received again, not dead-lettered
    assert mapping.step() is False
    counts = sqs.get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert (mapping.totals.invocations, mapping.totals.failed) == (1, 1)


def test_the_local_processor_never_prints_disabled_metrics(
    aws: StackInfo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from deployments.local_stack import EventSourceMapping, processor_handler

    # given metrics disabled, as the demo and serve run the processor
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    sqs = boto3.client("sqs", region_name="us-east-1")
    mapping = EventSourceMapping(processor_handler(), aws.settings)
    # when it is invoked more than 100 times (Powertools prints at 100 values)
    for i in range(110):
        sqs.send_message(
            QueueUrl=aws.queue_url,
            MessageBody="not json",
            MessageGroupId="g",
            MessageDeduplicationId=str(i),
        )
        assert mapping.poll_once().invocations == 1
    # then no EMF line was printed
    assert "CloudWatchMetrics" not in capsys.readouterr().out
