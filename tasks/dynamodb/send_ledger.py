"""TODO docstring: tasks.dynamodb.send_ledger."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    ClientError,
)
from prefect import task

from tasks.aws import AWS_TASK_OPTIONS, aws_client
from tasks.dynamodb.summaries import _key, _now, _table, summary_item

SENDING = "sending"


SENT = "sent"


FAILED = "failed"


def ledger_state(week: str) -> tuple[str | None, str | None]:
    """(send_state, message_id) of a week, (None, None) when never attempted."""
    item = summary_item(week) or {}
    state = item.get("send_state", {}).get("S")
    message_id = item.get("message_id", {}).get("S")
    return state, message_id


def claim_send(week: str, observed: str | None) -> bool:
    """Set ``sending`` if the state is still ``observed``; False when another run got there."""
    if observed is None:
        condition = "attribute_not_exists(send_state)"
        values: dict[str, Any] = {}
    else:
        condition = "send_state = :observed"
        values = {":observed": {"S": observed}}
    try:
        aws_client("dynamodb").update_item(
            TableName=_table(),
            Key=_key(week),
            UpdateExpression="SET send_state = :sending, sending_at = :now ADD send_attempts :one",
            ConditionExpression=condition,
            ExpressionAttributeValues={
                ":sending": {"S": SENDING},
                ":now": {"S": _now()},
                ":one": {"N": "1"},
                **values,
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_sent(week: str, message_id: str) -> None:
    aws_client("dynamodb").update_item(
        TableName=_table(),
        Key=_key(week),
        UpdateExpression="SET send_state = :sent, message_id = :id, sent_at = :now "
        "REMOVE last_error",
        ExpressionAttributeValues={
            ":sent": {"S": SENT},
            ":id": {"S": message_id},
            ":now": {"S": _now()},
        },
    )


def release_claim(week: str, error: str) -> None:
    """Mark a claim ``failed`` (SES did not accept the mail), so a later attempt may send."""
    aws_client("dynamodb").update_item(
        TableName=_table(),
        Key=_key(week),
        UpdateExpression="SET send_state = :failed, last_error = :error, failed_at = :now",
        ExpressionAttributeValues={
            ":failed": {"S": FAILED},
            ":error": {"S": error[:500]},
            ":now": {"S": _now()},
        },
    )


@task(name="sent-report-weeks", **AWS_TASK_OPTIONS)
def sent_report_weeks(weeks: list[str]) -> list[str]:
    """The weeks whose report the summaries ledger records as sent."""
    return [week for week in weeks if ledger_state(week)[0] == "sent"]
