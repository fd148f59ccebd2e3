"""The automations are valid Prefect objects and say what they watch (no server)."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

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
