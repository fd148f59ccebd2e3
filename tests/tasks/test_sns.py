"""Alerts to the operators' topic: found by name, masked, the subject within SNS's limit."""

from __future__ import annotations

import boto3
import pytest

from deployments.local_stack import StackInfo
from tasks import sns
from tests.conftest import alerts_received, subscribe_alarm_inbox


def test_an_alert_reaches_the_topic_masked_with_the_subject_trimmed(aws: StackInfo) -> None:
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    assert sns.alarms_topic_arn(aws.settings.alarms_topic) == aws.topic_arn
    subject = "flow failed for jane@example.com " + "x" * 200
    message_id = sns.publish_alert(
        aws.settings.alarms_topic, subject, "call +44 20 7946 0958 or jane@example.com"
    )
    [notice] = alerts_received(inbox)
    assert notice["MessageId"] == message_id
    assert notice["Subject"] == ("flow failed for [email] " + "x" * 200)[: sns.SUBJECT_LIMIT]
    assert "jane@example.com" not in notice["Message"] and "7946" not in notice["Message"]
    assert "[email]" in notice["Message"] and "[phone]" in notice["Message"]


def test_a_missing_topic_is_named(aws: StackInfo) -> None:
    boto3.client("sns", region_name="us-east-1").delete_topic(TopicArn=aws.topic_arn)
    with pytest.raises(LookupError, match=aws.settings.alarms_topic):
        sns.alarms_topic_arn(aws.settings.alarms_topic)
