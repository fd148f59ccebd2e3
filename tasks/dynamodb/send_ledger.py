"""The send ledger: which week's report went out, kept on the week's summary item.

``send_state`` is ``sending`` (claimed, outcome unknown), ``sent`` (SES accepted it, with
its ``message_id``) or ``failed`` (SES refused: a later attempt may send). The claim is a
conditional update on the state that was read, so two runs, on one Prefect server or
two, cannot both send a week (:func:`tasks.report_delivery.send_report_once` explains the protocol),
and it is refused for a week that has not ended (:class:`UnfinishedWeekError`). The table
is named by the caller (the flow's settings, ``summaries_table``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from prefect import task

from lambdas.shared.weeks import Week
from tasks.aws import TASK_OPTIONS, aws_client
from tasks.dynamodb.summaries import item_key, now_text, summary_item

SENDING = "sending"
SENT = "sent"
FAILED = "failed"


class UnfinishedWeekError(ValueError):
    """A week that has not ended has no final report: its ledger is never claimed.

    A claim for it would use up the week's one e-mail on partial figures, and the real
    report after the week would be skipped as already sent.
    """


def require_ended(week: Week, now: datetime | None = None) -> None:
    """Refuse a week whose end (the next Monday 00:00 UTC) is after ``now``."""
    if not week.has_ended(now):
        raise UnfinishedWeekError(
            f"week {week} has not ended (it ends {week.end:%Y-%m-%d %H:%M} UTC): its report "
            "is sent, and its send ledger claimed, only after that"
        )


def ledger_state(table: str, week: Week) -> tuple[str | None, str | None]:
    """(send_state, message_id) of a week, (None, None) when never attempted."""
    item = summary_item(table, week) or {}
    state = item.get("send_state", {}).get("S")
    message_id = item.get("message_id", {}).get("S")
    return state, message_id


def claim_send(table: str, week: Week, observed: str | None, now: datetime | None = None) -> bool:
    """Set ``sending`` if the state is still ``observed``; False when another run got there.

    Raises :class:`UnfinishedWeekError`, claiming nothing, for a week not ended at ``now``.
    """
    require_ended(week, now)
    if observed is None:
        condition = "attribute_not_exists(send_state)"
        values: dict[str, Any] = {}
    else:
        condition = "send_state = :observed"
        values = {":observed": {"S": observed}}
    try:
        aws_client("dynamodb").update_item(
            TableName=table,
            Key=item_key(week),
            UpdateExpression="SET send_state = :sending, sending_at = :now ADD send_attempts :one",
            ConditionExpression=condition,
            ExpressionAttributeValues={
                ":sending": {"S": SENDING},
                ":now": {"S": now_text()},
                ":one": {"N": "1"},
                **values,
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_sent(table: str, week: Week, message_id: str) -> None:
    aws_client("dynamodb").update_item(
        TableName=table,
        Key=item_key(week),
        UpdateExpression="SET send_state = :sent, message_id = :id, sent_at = :now "
        "REMOVE last_error",
        ExpressionAttributeValues={
            ":sent": {"S": SENT},
            ":id": {"S": message_id},
            ":now": {"S": now_text()},
        },
    )


def release_claim(table: str, week: Week, error: str) -> None:
    """Mark a claim ``failed`` (SES did not accept the mail), so a later attempt may send."""
    aws_client("dynamodb").update_item(
        TableName=table,
        Key=item_key(week),
        UpdateExpression="SET send_state = :failed, last_error = :error, failed_at = :now",
        ExpressionAttributeValues={
            ":failed": {"S": FAILED},
            ":error": {"S": error[:500]},
            ":now": {"S": now_text()},
        },
    )


@task(name="sent-report-weeks", **TASK_OPTIONS)
def sent_report_weeks(table: str, weeks: list[Week]) -> list[Week]:
    """The weeks whose report the summaries ledger records as sent."""
    return [week for week in weeks if ledger_state(table, week)[0] == SENT]
