"""The automations are valid Prefect objects and say what they watch (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.server.events.schemas.automations import EventTrigger as ServerEventTrigger
from prefect.server.events.schemas.events import ReceivedEvent as Event

from deployments.automations import (
    ALERT_GRACE,
    FAILED_BODY,
    FAILED_NAME,
    build_automations,
    long_running_name,
)
from flows.hooks import ALERT_HANDLED_EVENT, EXPECTED_SECONDS


def test_one_failure_automation_and_one_duration_automation_per_flow() -> None:
    block_id = uuid4()
    automations = {a.name: a for a in build_automations(block_id)}
    assert set(automations) == {FAILED_NAME} | {long_running_name(f) for f in EXPECTED_SECONDS}

    # the failure automation is only the fallback of the hook: it notifies when, after a
    # failure, the run's hook did not report the failure handled (one alert per failure)
    failed = automations[FAILED_NAME].trigger
    assert isinstance(failed, EventTrigger)
    assert failed.posture == Posture.Proactive and failed.threshold == 1
    assert failed.after == {
        "prefect.flow-run.Failed",
        "prefect.flow-run.Crashed",
        "prefect.flow-run.TimedOut",
    }
    assert failed.expect == {ALERT_HANDLED_EVENT}
    assert failed.for_each == {"prefect.resource.id"} and failed.within == ALERT_GRACE
    assert failed.match_related.model_dump() == {  # type: ignore[union-attr]
        "prefect.resource.role": "tag",
        "prefect.resource.id": "prefect.tag.cv-analytics",
    }

    for flow_name, seconds in EXPECTED_SECONDS.items():
        automation = automations[long_running_name(flow_name)]
        trigger = automation.trigger
        assert isinstance(trigger, EventTrigger)
        assert trigger.posture == Posture.Proactive
        assert trigger.after == {"prefect.flow-run.Running"}
        assert "prefect.flow-run.Completed" in trigger.expect
        assert trigger.within == timedelta(seconds=seconds)
        assert trigger.for_each == {"prefect.resource.id"}
        names = [spec.model_dump().get("prefect.resource.name") for spec in trigger.match_related]  # type: ignore[union-attr]
        assert flow_name in names

    for automation in automations.values():
        [action] = automation.actions
        assert isinstance(action, SendNotification) and action.block_document_id == block_id


def _run_event(event: str, run_id: Any, message: str = "") -> Any:
    resource = {"prefect.resource.id": f"prefect.flow-run.{run_id}"}
    if message:
        resource["prefect.state-message"] = message
    return Event.model_validate(
        {
            "occurred": datetime.now(UTC),
            "event": event,
            "resource": resource,
            "related": [
                {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.cv-analytics"}
            ],
            "id": uuid4(),
        }
    )


def test_the_fallback_waits_for_the_hooks_event_on_the_same_run() -> None:
    [failed] = [a for a in build_automations(uuid4()) if a.name == FAILED_NAME]
    # the server's own trigger model (prefect.server.events), as the automation is stored
    trigger = ServerEventTrigger.model_validate(failed.trigger.model_dump())
    run_id = uuid4()
    failure = _run_event("prefect.flow-run.Failed", run_id, "ClientError('Throttling')")
    handled = _run_event(ALERT_HANDLED_EVENT, run_id)  # what flows.hooks emits

    # a failure starts the wait; the hook's event for the same run is what it expects
    assert trigger.covers(failure) and trigger.starts_after(failure.event)
    assert trigger.covers(handled) and trigger.expects(handled.event)
    assert trigger.bucketing_key(failure) == trigger.bucketing_key(handled)
    # one handled event is enough (Proactive: fires below the threshold only)
    assert not trigger.meets_threshold(1) and trigger.meets_threshold(0)
    # a refused run's Failed starts it too: its hook reports it handled (nothing to page)
    refused = _run_event(
        "prefect.flow-run.Failed", run_id, "Validation of flow parameters failed with error"
    )
    assert trigger.covers(refused)


def test_the_fallback_notice_quotes_no_state_message_and_says_what_to_do() -> None:
    # the state message may quote a visitor; only the hook masks it
    assert "state.message" not in FAILED_BODY
    assert "docs/runbook.md#failed-flow-run" in FAILED_BODY
