"""Alerts to the operators' topic (``cv-analytics-alarms``), as a task and a plain function.

The topic is named by the caller (the flow's settings, ``alarms_topic``): this module
reads no settings of its own.

A publish is made once (``ONE_ATTEMPT``): SNS has no deduplication on a standard topic, so
a botocore retry after a read timeout could page the operator twice. The task retries only
what SNS provably refused.
"""

from __future__ import annotations

from prefect import task

from tasks.aws import ONE_ATTEMPT, SIDE_EFFECT_TASK_OPTIONS, aws_client
from tasks.core.masking import mask

SUBJECT_LIMIT = 100  # SNS refuses longer subjects


def alarms_topic_arn(name: str) -> str:
    """The ARN of the topic called ``name``, found by name (no account id in settings)."""
    sns = aws_client("sns")
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    raise LookupError(f"SNS topic {name!r} not found: is the stack provisioned?")


def publish_alert(topic: str, subject: str, message: str) -> str:
    """Publish to the topic called ``topic`` (masked, subject trimmed to SNS's limit);
    returns the message id."""
    response = aws_client("sns", ONE_ATTEMPT).publish(
        TopicArn=alarms_topic_arn(topic),
        Subject=mask(subject)[:SUBJECT_LIMIT],
        Message=mask(message),
    )
    return str(response["MessageId"])


@task(name="publish-alert", **SIDE_EFFECT_TASK_OPTIONS)
def publish_alert_task(topic: str, subject: str, message: str) -> str:
    return publish_alert(topic, subject, message)
