"""The automations created on the harness's server, read back, and upserted by name."""

from __future__ import annotations

from typing import Any

from prefect.automations import Automation
from prefect.blocks.notifications import CustomWebhookNotificationBlock

from deployments.automations import FAILED_NAME, create_automations, long_running_name
from flows.hooks import EXPECTED_SECONDS

BLOCK = "custom-webhook/cv-analytics-alerts-test"


def test_create_automations_upserts_them_on_the_server() -> None:
    # Given a notification block (a webhook nobody listens to: nothing fires here)
    CustomWebhookNotificationBlock(  # type: ignore[call-arg]
        name="cv-analytics", url="http://127.0.0.1:9/alerts", json_data={"text": "{{body}}"}
    ).save(BLOCK.split("/", 1)[1], overwrite=True)

    # When the automations are created twice
    first = {a.name: a.id for a in create_automations(BLOCK)}
    second = {a.name: a.id for a in create_automations(BLOCK)}

    # Then each exists once, under its name, with the same id (updated, not duplicated)
    assert first == second
    assert set(first) == {FAILED_NAME} | {long_running_name(f) for f in EXPECTED_SECONDS}
    stored: Automation = Automation.read(name=long_running_name("weekly-report"))  # type: ignore[assignment]
    assert stored.id == first[long_running_name("weekly-report")]
    trigger: Any = stored.trigger
    assert trigger.within.total_seconds() == EXPECTED_SECONDS["weekly-report"]
    failed: Automation = Automation.read(name=FAILED_NAME)  # type: ignore[assignment]
    assert failed.enabled
