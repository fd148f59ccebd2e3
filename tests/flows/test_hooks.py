"""Failure alerting through flow hooks: a failing or crashing flow publishes to the topic.

The alarms topic gets an SQS subscriber, as an operator's e-mail would, and the test
reads what arrived. The flows are tiny ones declared here with ``FLOW_HOOKS``. One alert
per failure: the hook publishes (or knows the flow did, or that none is needed) and then
emits the event the fallback automation waits for, read here through Prefect's own
``AssertingEventsClient``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from prefect import flow
from prefect.events.clients import AssertingEventsClient
from prefect.events.worker import EventsWorker
from prefect.runtime import flow_run as runtime_flow_run
from prefect.states import Failed

from deployments.local_stack import StackInfo
from flows import hooks
from flows.hooks import ALERT_HANDLED_EVENT, FLOW_HOOKS, alert_on_failure, failure_alert
from flows.parameters import PositiveCount
from tests.conftest import alerts_received, client_error, subscribe_alarm_inbox


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[EventsWorker]:
    """Prefect's events worker with its recording client (as prefect.testing.fixtures)."""
    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    yield worker
    worker.drain()


def handled_events(worker: EventsWorker, run_id: Any) -> list[dict[str, Any]]:
    """The payloads of the alert-handled events the hook emitted for the run ``run_id``."""
    worker.drain()
    client = worker._client
    assert isinstance(client, AssertingEventsClient)
    resource = f"prefect.flow-run.{run_id}"
    return [
        dict(e.payload)
        for e in client.events
        if e.event == ALERT_HANDLED_EVENT and e.resource.id == resource
    ]


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
    assert "What to do: " in body and "docs/runbook.md#failed-flow-run" in body


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


def test_alert_on_failure_publishes_the_run_it_is_given_masked(aws: StackInfo) -> None:
    # Given a subscriber and a failed run described by plain objects (no API context)
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    flow_ = SimpleNamespace(name="weekly-report")
    run = SimpleNamespace(name="weekly-report-2025-W45", id="run-1")
    # When the hook is called with it
    alert_on_failure(flow_, run, Failed(message="query of jane.doe@example.com failed"))
    # Then exactly that run's alert arrived, masked
    [notice] = alerts_received(inbox)
    assert notice["Subject"] == "cv-analytics flow failed: weekly-report-2025-W45"
    lines = notice["Message"].splitlines()
    assert lines[:5] == [
        "Flow: weekly-report",
        "Run: weekly-report-2025-W45",
        "Run id: run-1",
        "State: Failed",
        "Message: query of [email] failed",
    ]
    assert "jane.doe" not in notice["Message"]


def test_alert_on_failure_logs_and_publishes_nothing_on_a_broken_input(
    aws: StackInfo, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    logger = logging.getLogger("tests.hooks")
    # a hook given objects without the expected attributes logs the error and returns
    with (
        patch.object(hooks, "get_logger", return_value=logger),
        caplog.at_level(logging.INFO, logger="tests.hooks"),
    ):
        alert_on_failure(object(), object(), object())
    assert alerts_received(inbox) == []
    [record] = [r for r in caplog.records if r.name == "tests.hooks"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("Could not publish the failure alert: AttributeError")


@flow(flow_run_name=hooks.weekly_report_run_name)
def named_by_week(week: str | None = None) -> str:
    return str(runtime_flow_run.name)


@flow(flow_run_name=hooks.dated_run_name("health-check"))
def named_by_date() -> str:
    return str(runtime_flow_run.name)


def frozen_now(moment: datetime) -> type[datetime]:
    """``datetime`` whose ``now()`` is ``moment`` (patched into the weeks module)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            return cls.fromtimestamp(moment.timestamp(), tz)

    return Frozen


@pytest.mark.parametrize(
    ("now", "name"),
    [
        (datetime(2025, 11, 12, 10, tzinfo=UTC), "weekly-report-2025-W45"),  # mid-W46
        (datetime(2025, 11, 16, 23, 59, 59, tzinfo=UTC), "weekly-report-2025-W45"),  # W46 open
        (datetime(2025, 11, 17, tzinfo=UTC), "weekly-report-2025-W46"),  # W46 just ended
        (datetime(2021, 1, 5, tzinfo=UTC), "weekly-report-2020-W53"),  # across the year end
    ],
)
def test_a_run_without_a_week_is_named_after_the_last_complete_one(
    now: datetime, name: str
) -> None:
    # the run-name callable itself, as Prefect calls it, with the run's parameters
    runtime = SimpleNamespace(parameters={"week": None})
    with (
        patch("lambdas.shared.weeks.datetime", frozen_now(now)),
        patch.object(hooks, "runtime_flow_run", runtime),
    ):
        assert hooks.weekly_report_run_name() == name
        runtime.parameters = {}
        assert hooks.weekly_report_run_name() == name


def test_a_flow_run_without_a_week_is_named_by_the_hook_at_run_time() -> None:
    with patch("lambdas.shared.weeks.datetime", frozen_now(datetime(2025, 11, 12, tzinfo=UTC))):
        assert named_by_week() == "weekly-report-2025-W45"


def test_runs_are_named_after_their_week_or_day() -> None:
    assert named_by_week("2025-W45") == "weekly-report-2025-W45"
    assert named_by_week("2020-W53") == "weekly-report-2020-W53"
    assert named_by_week("2025-45") == "weekly-report-invalid-week"
    assert named_by_week("\uff12\uff10\uff12\uff15-W45") == "weekly-report-invalid-week"
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


@flow(name="hooked-parameters", **FLOW_HOOKS)
def flow_with_a_count(count: PositiveCount = 1) -> int:
    return count


def test_a_run_refused_for_its_parameters_is_failed_but_not_alerted(aws: StackInfo) -> None:
    # Given a subscriber on the alarms topic
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    # When a hooked flow is called with a parameter it refuses (an operator's typo)
    state = flow_with_a_count(True, return_state=True)
    # Then the run is Failed with what was expected, and nobody is paged for it
    assert state.is_failed()
    assert "count" in (state.message or "") and "integer" in (state.message or "")
    assert alerts_received(inbox) == []


def test_a_failing_flow_alerts_exactly_once(aws: StackInfo, events: EventsWorker) -> None:
    # Given a subscriber on the alarms topic (the hook's path)
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    # When a hooked flow fails
    state = failing_flow("anything", return_state=True)
    # Then one alert reached the topic, and the hook reported the failure handled, so the
    # fallback automation (deployments/automations.py) stays silent for this run
    assert state.is_failed()
    assert len(alerts_received(inbox)) == 1
    assert handled_events(events, state.state_details.flow_run_id) == [{"outcome": "published"}]


def test_a_failure_the_flow_alerted_itself_is_reported_handled_without_a_second_alert(
    aws: StackInfo, events: EventsWorker
) -> None:
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    state = checks_flow_that_alerted_itself(return_state=True)
    assert alerts_received(inbox) == []  # the flow's own alert is the one
    assert handled_events(events, state.state_details.flow_run_id) == [{"outcome": "not needed"}]


def test_an_alert_the_hook_cannot_publish_leaves_it_to_the_fallback(
    aws: StackInfo, events: EventsWorker
) -> None:
    outage = client_error("InternalError", "Publish", status=500)
    with patch.object(hooks, "publish_alert", side_effect=outage):
        state = failing_flow("anything", return_state=True)
    # no handled event: the fallback automation notifies instead, so the failure is not lost
    assert handled_events(events, state.state_details.flow_run_id) == []


@flow(name="hooked-child", **FLOW_HOOKS)
def failing_child() -> None:
    raise ValueError("the child failed")


@flow(name="hooked-parent", **FLOW_HOOKS)
def parent_of_a_failing_child() -> None:
    failing_child()


def test_a_failing_subflow_is_alerted_once_by_its_parent(aws: StackInfo) -> None:
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    state = parent_of_a_failing_child(return_state=True)
    assert state.is_failed()
    [notice] = alerts_received(inbox)
    assert "Flow: hooked-parent" in notice["Message"]


def test_a_dry_run_is_named_as_one() -> None:
    @flow(flow_run_name=hooks.dated_run_name("dlq-triage"))
    def named(dry_run: bool = False) -> str:
        return str(runtime_flow_run.name)

    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert named(dry_run=True) == f"dlq-triage-dry-run-{today}"
    assert named() == named(dry_run=False) == f"dlq-triage-{today}"
