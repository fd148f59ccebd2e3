"""SES: the plain sends, the weekly report's raw message and the maintenance summary.

Each send is made once (``ONE_ATTEMPT``, botocore retries off): a retry after a read
timeout could deliver twice. Sending the report exactly once per week, with the send
ledger as the guard, is :mod:`tasks.report_delivery`'s; the maintenance summary goes out
without a ledger, masked: it is a notice, and a rare duplicate of it harms nobody. Sender and
recipients are the caller's (the flow's settings): this module reads no settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import task

from tasks.aws import ONE_ATTEMPT, SIDE_EFFECT_TASK_OPTIONS, aws_client
from tasks.core.masking import mask

#: No botocore retries for the send itself: a retry after a read timeout could deliver twice.
SEND_CONFIG = ONE_ATTEMPT


def _ses_client() -> Any:
    """An SES client with botocore retries off (see the module docstring)."""
    return aws_client("ses", SEND_CONFIG)


def send_raw_email(raw_message: bytes, sender: str, recipients: Sequence[str]) -> str:
    """One ``SendRawEmail`` of a ready MIME message; returns SES's message id.

    Errors propagate as botocore raised them: the caller tells a refusal (``ClientError``,
    nothing delivered) from an unknown outcome (a read timeout).
    """
    response = _ses_client().send_raw_email(
        Source=sender,
        Destinations=list(recipients),
        RawMessage={"Data": raw_message},
    )
    return str(response["MessageId"])


@task(name="send-summary-email", **SIDE_EFFECT_TASK_OPTIONS)
def send_summary_email(
    subject: str, text: str, html: str, sender: str, recipients: Sequence[str]
) -> str:
    """Send the maintenance summary to ``recipients`` (masked); returns the id."""
    if not recipients:
        raise ValueError("no report recipients configured (CV_ANALYTICS_REPORT_RECIPIENTS)")
    response = aws_client("ses", ONE_ATTEMPT).send_email(
        Source=sender,
        Destination={"ToAddresses": list(recipients)},
        Message={
            "Subject": {"Data": mask(subject)[:200], "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": mask(text), "Charset": "UTF-8"},
                "Html": {"Data": mask(html), "Charset": "UTF-8"},
            },
        },
    )
    return str(response["MessageId"])
