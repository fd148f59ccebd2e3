"""The automations are valid Prefect objects and say what they watch (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.server.events.schemas.automations import EventTrigger as ServerEventTrigger
from prefect.server.events.schemas.events import ReceivedEvent as Event

from deployments.automations import FAILED_NAME, build_automations, long_running_name
from flows.hooks import EXPECTED_SECONDS


def test_one_failure_automation_and_one_duration_automation_per_flow() -> None:
    block_id = uuid4()
    automations = {a.name: a for a in build_automations(block_id)}
    assert set(automations) == {FAILED_NAME} | {long_running_name(f) for f in EXPECTED_SECONDS}

    failed = automations[FAILED_NAME].trigger
    assert isinstance(failed, EventTrigger)
    assert failed.posture == Posture.Reactive
    assert failed.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
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


def _failed_run_event(message: str) -> Any:
    return Event.model_validate(
        {
            "occurred": datetime.now(UTC),
            "event": "prefect.flow-run.Failed",
            "resource": {
                "prefect.resource.id": f"prefect.flow-run.{uuid4()}",
                "prefect.state-message": message,
            },
            "related": [
                {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.cv-analytics"}
            ],
            "id": uuid4(),
        }
    )


def test_a_run_refused_for_its_parameters_pages_nobody_but_a_failure_does() -> None:
    [failed] = [a for a in build_automations(uuid4()) if a.name == FAILED_NAME]
    # the server's own trigger matching (prefect.server.events), as the automation is stored
    trigger = ServerEventTrigger.model_validate(failed.trigger.model_dump())

    refused = _failed_run_event(
        "Validation of flow parameters failed with error: ParameterTypeError('week 2026-W49 "
        "has not ended')"
    )
    broken = _failed_run_event("Flow run encountered an exception: ClientError('Throttling')")

    assert not trigger.covers(refused)
    assert trigger.covers(broken)
