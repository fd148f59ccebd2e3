"""Ending an operational flow run: artifact, log lines, alert, and the Failed state.

The one place that decides what a failed check does, so the three operational flows
behave alike: the findings become a markdown artifact (key ``<flow-name>-findings``), each
check gets one log line, and if any check failed an alert goes to the alarms topic and
:class:`ChecksFailedError` is raised so the flow run ends Failed (red in the UI) with the
findings as its message. A failure to publish the alert must not hide the findings: it is
logged and added to the exception's message.
"""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact

from tasks import sns
from tasks.aws import run_logger
from tasks.core.checks import Findings, alert_subject, failure_message, log_line, render_markdown


class ChecksFailedError(RuntimeError):
    """At least one check of an operational flow failed; the message holds the findings.

    ``alert_published`` tells the flows' failure hook that the findings alert already
    went out, so one failure makes one alert.
    """

    def __init__(self, message: str, *, alert_published: bool) -> None:
        super().__init__(message)
        self.alert_published = alert_published


def artifact_key(flow_name: str) -> str:
    """``<flow-name>-findings``: lowercase letters, digits and dashes as Prefect requires."""
    cleaned = "".join(c if c.isalnum() else "-" for c in flow_name.lower())
    return f"{cleaned.strip('-')}-findings"


def conclude(flow_name: str, findings: Findings, alarms_topic: str) -> Findings:
    """Publish the findings; raise :class:`ChecksFailedError` if any check failed.

    ``alarms_topic``: the name of the topic a failure alerts (the flow's settings).
    """
    logger = run_logger()
    for check in findings.checks:
        (logger.info if check.ok else logger.error)(log_line(check))
    create_markdown_artifact(
        markdown=render_markdown(findings),
        key=artifact_key(flow_name),
        description=findings.headline,
    )
    if findings.ok:
        logger.info(findings.headline)
        return findings
    message = failure_message(findings)
    try:
        message_id = sns.publish_alert(alarms_topic, alert_subject(findings), message)
        logger.error("alert %s published to the alarms topic: %s", message_id, findings.headline)
    except Exception as exc:  # the findings must still reach the failure message
        logger.error("could not publish the alert: %s", exc)
        message = f"{message}\n\n(alert NOT published: {exc})"
        raise ChecksFailedError(message, alert_published=False) from exc
    raise ChecksFailedError(message, alert_published=True)
