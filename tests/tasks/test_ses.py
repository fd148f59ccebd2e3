"""The plain SES sends: the maintenance summary e-mail, against in-process moto (``aws``)."""

from __future__ import annotations

from deployments.local_stack import StackInfo
from tasks import ses


def test_summary_email_goes_to_the_recipients_masked(aws: StackInfo) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    leak = "visitor wrote jane@example.org"
    settings = aws.settings
    # moto keeps the HTML
    ses.send_summary_email.fn(
        "subject", leak, f"<p>{leak}</p>", settings.report_sender, settings.report_recipients
    )
    (message,) = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert message.destinations["ToAddresses"] == aws.settings.report_recipients
    assert "jane@example.org" not in message.body and "[email]" in message.body
