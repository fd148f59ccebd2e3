"""Failure alerting through flow hooks: a failing or crashing flow publishes to the topic.

The alarms topic gets an SQS subscriber, as an operator's e-mail would, and the test
reads what arrived. The flows are tiny ones declared here with ``FLOW_HOOKS``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import patch

import pytest
from prefect import flow
from prefect.runtime import flow_run as runtime_flow_run

from deployments.local_stack import StackInfo
from flows import hooks
from flows.hooks import FLOW_HOOKS, alert_on_failure, failure_alert
from lambdas.processor.weeks import last_complete_week
from tests.conftest import alerts_received, client_error, subscribe_alarm_inbox


@flow(name="hooked-failure", flow_run_name="hooked-failure-2025-W45", **FLOW_HOOKS)
def failing_flow(query: str) -> None:
    raise ValueError(f"cannot aggregate the query {query!r}")


class Crash(BaseException):
    """A BaseException ends a flow run as Crashed (as a killed process would)."""


@flow(name="hooked-crash", **FLOW_HOOKS)
def crashing_flow() -> None:
    raise Crash("the process went away")


def test_failed_flow_publishes_a_masked_alert_to_the_alarms_topic(aws: StackInfo) -> None:
    # Given a subscriber on the alarms topic
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    # When a hooked flow fails with a visitor's e-mail address in its error
    state = failing_flow("mail me at jane.doe@example.com", return_state=True)
    # Then the run failed and one alert arrived, named after the run, masked
    assert state.is_failed()
    [notice] = alerts_received(inbox)
    assert notice["Subject"] == "cv-analytics flow failed: hooked-failure-2025-W45"
    body = notice["Message"]
    assert "Flow: hooked-failure" in body
    assert "Run: hooked-failure-2025-W45" in body
    assert "State: Failed" in body
    assert "cannot aggregate the query" in body
    assert "jane.doe@example.com" not in body and "[email]" in body
    assert "Run id: " in body


def test_crashed_flow_publishes_an_alert(aws: StackInfo) -> None:
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    with pytest.raises(Crash):
        crashing_flow()
    [notice] = alerts_received(inbox)
    assert notice["Subject"].startswith("cv-analytics flow failed: ")
    assert "Flow: hooked-crash" in notice["Message"]
    assert "State: Crashed" in notice["Message"]


def test_hook_swallows_an_sns_failure(aws: StackInfo) -> None:
    # Given SNS refusing to publish
    outage = client_error("InternalError", "Publish", status=500)
    with patch.object(hooks, "publish_alert", side_effect=outage) as publish:
        # When a hooked flow fails, Then the run's outcome is still its own failure
        state = failing_flow("anything", return_state=True)
    assert publish.called
    assert state.is_failed()
    with pytest.raises(ValueError, match="cannot aggregate"):
        state.result()


def test_alert_text_links_to_the_run_and_truncates_the_message() -> None:
    subject, body = failure_alert(
        "weekly-report",
        "weekly-report-2025-W45",
        "1234",
        "Failed",
        "x" * 5_000 + " call +44 20 7946 0958",
        "http://127.0.0.1:4200/",
    )
    assert subject == "cv-analytics flow failed: weekly-report-2025-W45"
    assert "Open the run: http://127.0.0.1:4200/runs/flow-run/1234" in body
    message_line = next(line for line in body.splitlines() if line.startswith("Message: "))
    assert len(message_line) <= len("Message: ") + hooks.STATE_MESSAGE_LIMIT


def test_alert_on_failure_never_raises_on_a_broken_input() -> None:
    # a hook given objects without the expected attributes logs and returns
    alert_on_failure(object(), object(), object())


@flow(flow_run_name=hooks.weekly_report_run_name)
def named_by_week(week: str | None = None) -> str:
    return str(runtime_flow_run.name)


@flow(flow_run_name=hooks.dated_run_name("health-check"))
def named_by_date() -> str:
    return str(runtime_flow_run.name)


def test_runs_are_named_after_their_week_or_day() -> None:
    assert named_by_week("2025-W45") == "weekly-report-2025-W45"
    assert named_by_week() == f"weekly-report-{last_complete_week()}"
    assert named_by_week("2025-45") == "weekly-report-invalid-week"
    assert named_by_date() == f"health-check-{datetime.now(UTC):%Y-%m-%d}"


@flow(name="hooked-checks", **FLOW_HOOKS)
def checks_flow_that_alerted_itself() -> None:
    from tasks.conclude import ChecksFailedError

    raise ChecksFailedError("health-check: 1 of 7 checks failed", alert_published=True)


def test_a_failure_the_flow_already_alerted_on_is_not_alerted_twice(aws: StackInfo) -> None:
    # Given a flow that published its own findings alert before failing
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    # When it fails
    state = checks_flow_that_alerted_itself(return_state=True)
    # Then it is Failed, and the hook added no second alert
    assert state.is_failed()
    assert alerts_received(inbox) == []
