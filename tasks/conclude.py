"""Ending an operational flow run: artifact, log lines, alert, and the Failed state.

The one place that decides what a failed check does, so the three operational flows
behave alike: the findings become a markdown artifact (key ``<flow-name>-try<NN>-1-findings``,
:func:`run_artifact_key`), each check gets one log line, and if any check failed one alert
goes to the alarms topic and :class:`ChecksFailedError` is raised so the flow run ends
Failed (red in the UI). Its message is short: the failed checks, each with its next step,
and the flow's runbook section; the passed checks are in the artifact and the log. A
failure to publish the alert must not hide the findings: it is logged and added to the
exception's message.

One alert per failure: an exception that is an :class:`AlertedFailure` with
``alert_published`` tells the flows' failure hook (``flows/hooks.py``) that the alert
already went out.

An expected failure is a finding, not a bug: the flow returns it as a Failed state
(:func:`failed_run`) rather than letting it propagate, so the run's log holds its message
once, with no traceback to bury it. Calling the flow still raises the exception.
"""

from __future__ import annotations

from typing import Any

from prefect import State
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run as runtime_flow_run
from prefect.states import Failed

from tasks import sns
from tasks.aws import run_logger
from tasks.core.checks import (
    Findings,
    alert_subject,
    artifact_key,
    failed_state_message,
    failure_message,
    log_line,
    render_markdown,
)


class AlertedFailure(RuntimeError):
    """An expected failure of a flow run whose message says what to do next.

    ``alert_published``: the flow published this failure's alert itself, so the failure
    hook does not publish a second one.
    """

    def __init__(self, message: str, *, alert_published: bool) -> None:
        super().__init__(message)
        self.alert_published = alert_published


class ChecksFailedError(AlertedFailure):
    """At least one check of an operational flow failed; the message holds the failed
    checks and what to do."""


def failed_run(error: AlertedFailure) -> State[Any]:
    """The Failed state a flow returns to end its run with an expected failure.

    Prefect takes a state a flow returns as the run's final state: the run is Failed with
    ``error``'s message as its state message, and nothing logs a traceback. The state
    holds ``error``, so calling the flow raises it and the failure hook reads its
    ``alert_published``.
    """
    return Failed(message=str(error), data=error)


def run_attempt() -> int:
    """The current flow run's try (Prefect's run count: 1, then 2 after a Retry); 1
    outside a flow run."""
    return max(1, int(runtime_flow_run.run_count or 0))


def run_artifact_key(prefix: str, step: int, what: str) -> str:
    """The key of this run's ``step``-th artifact in its current try
    (:func:`tasks.core.checks.artifact_key`): distinct across retries, in creation order."""
    return artifact_key(prefix, run_attempt(), step, what)


def findings_key(flow_name: str) -> str:
    """``<flow-name>-try<NN>-1-findings``: lowercase letters, digits and dashes as Prefect
    requires."""
    cleaned = "".join(c if c.isalnum() else "-" for c in flow_name.lower()).strip("-")
    return run_artifact_key(cleaned, 1, "findings")


def conclude(flow_name: str, findings: Findings, alarms_topic: str) -> Findings:
    """Publish the findings; raise :class:`ChecksFailedError` if any check failed.

    ``alarms_topic``: the name of the topic a failure alerts (the flow's settings).
    """
    logger = run_logger()
    for check in findings.checks:
        (logger.info if check.ok else logger.error)(log_line(check))
    create_markdown_artifact(
        markdown=render_markdown(findings),
        key=findings_key(flow_name),
        description=findings.headline,
    )
    if findings.ok:
        logger.info(findings.headline)
        return findings
    message = failed_state_message(findings)
    try:
        message_id = sns.publish_alert(
            alarms_topic, alert_subject(findings), failure_message(findings)
        )
        logger.info("alert %s published to the alarms topic: %s", message_id, findings.headline)
    except Exception as exc:  # the findings must still reach the failure message
        logger.error("could not publish the alert: %s", exc)
        message = f"{message}\n\n(alert NOT published: {exc})"
        # the cause is summarised in the message: no second traceback in the run's log
        raise ChecksFailedError(message, alert_published=False) from None
    raise ChecksFailedError(message, alert_published=True)
