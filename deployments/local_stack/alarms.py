"""The alarm inbox: a local subscriber of the alarms topic, so alerts are seen under serve.

On AWS the alarms topic (``cv-analytics-alarms``) e-mails its subscribers; an e-mail
subscription cannot be confirmed locally (``NOT_EMULATED``), so nothing would ever show
what the flows publish. ``AlarmInbox`` subscribes an SQS queue, ``<topic>-local-inbox``,
to the topic (SNS's own delivery, as AWS does it for an SQS subscriber) and reads it:
each notification becomes an ``Alert`` whose text is masked again before it is shown
(``tasks.core.masking.mask``: publishers mask already; a local copy must not undo that).
``alarm_printer()`` drains it in a background loop, printing each alert and appending it
to a log file.

``alarm_actions()`` adds what moto's CloudWatch lacks for that topic to hear alarms at all:
an alarm's actions. On AWS a state change of an alarm with actions enabled publishes a
notification to the SNS topics among the new state's actions (``AlarmActions`` for ALARM,
``OKActions`` for OK...); moto only records the state. Inside the block it publishes them
(monthly maintenance's alarm test, or ``aws cloudwatch set-alarm-state``, then shows up).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployments.local_stack.background import BackgroundLoop
from deployments.local_stack.provision import client
from tasks.core.masking import mask
from tasks.settings import Settings

#: How often the printer looks at the inbox when it was empty (seconds).
ALARM_POLL_SECONDS = 1.0


def inbox_name(settings: Settings) -> str:
    """The local inbox queue's name: the topic's name with ``-local-inbox``."""
    return f"{settings.alarms_topic}-local-inbox"


@dataclass(frozen=True)
class Alert:
    """One notification of the alarms topic, as its subscribers get it."""

    subject: str
    message: str
    sent: str  # SNS's Timestamp (ISO 8601, UTC)

    @classmethod
    def from_body(cls, body: str) -> Alert:
        """An SQS subscriber's message body: SNS's JSON envelope (or, raw, the message)."""
        try:
            envelope = json.loads(body)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict) or "Message" not in envelope:
            return cls("", mask(body), "")
        return cls(
            mask(str(envelope.get("Subject") or "")),
            mask(_alarm_summary(str(envelope["Message"]))),
            str(envelope.get("Timestamp", "")),
        )

    def render(self) -> str:
        """A few lines for a terminal or a log: header, then the message indented."""
        header = " ".join(p for p in ("ALERT", self.sent, self.subject or "(no subject)") if p)
        body = "\n".join(f"    {line}" for line in self.message.splitlines())
        return f"{header}\n{body}" if body else header


def _alarm_summary(message: str) -> str:
    """A CloudWatch alarm notification (JSON) in one line; any other message as it is."""
    try:
        alarm = json.loads(message)
    except ValueError:
        return message
    if not isinstance(alarm, dict) or not {"AlarmName", "NewStateValue"} <= set(alarm):
        return message
    return (
        f"{alarm['AlarmName']}: {alarm.get('OldStateValue', '?')} -> {alarm['NewStateValue']}: "
        f"{alarm.get('NewStateReason', '')}"
    )


class AlarmInbox:
    """An SQS queue subscribed to the alarms topic (created, or found, on construction)."""

    def __init__(self, topic_arn: str, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.name = inbox_name(self.settings)
        self.topic_arn = topic_arn
        self.sqs = client("sqs", self.settings)
        self.url: str = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        # the policy an SQS subscriber needs on AWS (moto does not enforce it)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
        self.sqs.set_queue_attributes(QueueUrl=self.url, Attributes={"Policy": json.dumps(policy)})
        client("sns", self.settings).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)

    def receive(self) -> list[Alert]:
        """Up to 10 alerts, removed from the inbox."""
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return []
        alerts = [Alert.from_body(m["Body"]) for m in messages]
        self.sqs.delete_message_batch(
            QueueUrl=self.url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        return alerts


def alarm_printer(
    inbox: AlarmInbox,
    log_file: Path,
    show: Callable[[str], None] = print,
    interval: float = ALARM_POLL_SECONDS,
) -> BackgroundLoop:
    """A (not yet started) loop that shows each alert and appends it to ``log_file``."""

    def drain() -> bool:
        alerts = inbox.receive()
        for alert in alerts:
            text = alert.render()
            show(text)
            with log_file.open("a", encoding="utf-8") as log:
                log.write(text + "\n")
        return bool(alerts)

    return BackgroundLoop("alarm inbox", drain, interval)


def alarm_notification(alarm: Any, old_state: str) -> tuple[str, str]:
    """The subject and message CloudWatch publishes for a state change of ``alarm`` (a
    moto ``FakeAlarm``): AWS's JSON, with the fields the runbook reads."""
    _, _, _, region, account, *_ = str(alarm.alarm_arn).split(":")
    message = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account,
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "Region": region,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "Statistic": alarm.statistic,
            "Dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
        },
    }
    subject = f'{alarm.state_value}: "{alarm.name}" in {region}'[:100]
    return subject, json.dumps(message)


def _state_actions(alarm: Any, state: str) -> list[str]:
    actions: dict[str, list[str]] = {
        "ALARM": alarm.alarm_actions,
        "OK": alarm.ok_actions,
        "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
    }
    return [arn for arn in actions.get(state) or [] if str(arn).startswith("arn:aws:sns:")]


@contextmanager
def alarm_actions() -> Iterator[None]:
    """While in the block, an alarm state change publishes to its SNS actions, as on AWS.

    Patches moto's ``Alarm.update_state`` (process-wide; restored on exit), the one
    place every state change goes through (``SetAlarmState`` and moto's own evaluations).
    """
    from moto.cloudwatch.models import Alarm
    from moto.sns.models import sns_backends

    original = Alarm.update_state

    def update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
        old_state = self.state_value
        original(self, reason, reason_data, state_value)
        if old_state == state_value or not self.actions_enabled:
            return
        subject, message = alarm_notification(self, old_state)
        for arn in _state_actions(self, state_value):
            _, _, _, region, account, *_ = arn.split(":")
            sns_backends[account][region].publish(message, arn=arn, subject=subject)

    Alarm.update_state = update_state  # type: ignore[method-assign]
    try:
        yield
    finally:
        Alarm.update_state = original  # type: ignore[method-assign]
