"""Prefect Automations for servers that run them (Prefect server 3 and Prefect Cloud).

The flows' own hooks (``flows/hooks.py``) already publish every failure or crash to the
alarms topic; automations add what a hook cannot see:

- ``cv-analytics flow run failed or crashed``: any flow run tagged ``cv-analytics`` that
  enters Failed or Crashed, including a crash of the infrastructure the hook never ran
  in (an ECS task killed, a worker host lost), notifies through a notification block;
- ``cv-analytics <flow> running too long``, one per flow: a run that entered Running and
  has not left it within the flow's expected duration (``flows.hooks.EXPECTED_SECONDS``)
  notifies too, well before the flow's own timeout stops it.

The notification goes through any Prefect notification block (Slack, e-mail, Microsoft
Teams, a custom webhook...), named ``<block-type-slug>/<block-name>``; create it once in
the UI (Blocks) or in Python, then::

    PREFECT_API_URL=... python -m deployments.automations --block slack-webhook/cv-analytics-alerts

:func:`create_automations` upserts by name, so running it again updates them in place.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect.automations import Automation
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

from flows.hooks import EXPECTED_SECONDS, PROJECT_TAG

FAILED_EVENTS = frozenset({"prefect.flow-run.Failed", "prefect.flow-run.Crashed"})
#: The events of a run leaving Running (TimedOut and the retry states are Failed/Scheduled
#: types with their own names; each is emitted as ``prefect.flow-run.<state name>``).
LEFT_RUNNING_EVENTS = frozenset(
    {
        "prefect.flow-run.Completed",
        "prefect.flow-run.Failed",
        "prefect.flow-run.Crashed",
        "prefect.flow-run.Cancelled",
        "prefect.flow-run.Cancelling",
        "prefect.flow-run.TimedOut",
        "prefect.flow-run.AwaitingRetry",
        "prefect.flow-run.Retrying",
        "prefect.flow-run.Paused",
        "prefect.flow-run.Suspended",
    }
)
FLOW_RUN_RESOURCE: dict[str, str | list[str]] = {"prefect.resource.id": "prefect.flow-run.*"}
#: Prefect's state message when it refuses a run's parameters (flow_engine): the operator
#: already saw the refusal in the Run form or the CLI, so it is not an incident to page on.
PARAMETERS_REFUSED = "Validation of flow parameters failed*"
#: A failed or crashed run, unless it failed because its parameters were refused.
FAILED_RUN_RESOURCE: dict[str, str | list[str]] = {
    **FLOW_RUN_RESOURCE,
    "prefect.state-message": f"!{PARAMETERS_REFUSED}",
}
TAG_RESOURCE: dict[str, str | list[str]] = {
    "prefect.resource.role": "tag",
    "prefect.resource.id": f"prefect.tag.{PROJECT_TAG}",
}

FAILED_NAME = f"{PROJECT_TAG} flow run failed or crashed"
FAILED_BODY = """\
Flow run {{ flow_run.name }} of {{ flow.name }} entered {{ flow_run.state.name }}.
Message: {{ flow_run.state.message }}
Open it: {{ flow_run|ui_url }}
Runbook: docs/runbook.md."""
LONG_RUNNING_BODY = """\
Flow run {{ flow_run.name }} of {{ flow.name }} has been Running for longer than its
expected duration ({expected} s). It is still running: look at its logs before its
timeout stops it.
Open it: {{ flow_run|ui_url }}"""


def long_running_name(flow_name: str) -> str:
    return f"{PROJECT_TAG} {flow_name} running too long"


def failure_automation(block_document_id: UUID) -> Automation:
    """Any ``cv-analytics`` flow run entering Failed or Crashed notifies at once, except a run
    refused for its parameters (a week that has not ended, a malformed count)."""
    return Automation(
        name=FAILED_NAME,
        description=(
            "Notifies when any cv-analytics flow run fails or crashes (not when its "
            "parameters are refused)."
        ),
        trigger=EventTrigger(
            expect=set(FAILED_EVENTS),
            match=FAILED_RUN_RESOURCE,
            match_related=TAG_RESOURCE,
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(
                block_document_id=block_document_id,
                subject=f"{PROJECT_TAG} flow run {{{{ flow_run.name }}}} failed",
                body=FAILED_BODY,
            )
        ],
    )


def long_running_automation(
    flow_name: str, expected_seconds: int, block_document_id: UUID
) -> Automation:
    """A run of ``flow_name`` still Running ``expected_seconds`` after it started notifies."""
    flow_resource: dict[str, str | list[str]] = {
        "prefect.resource.role": "flow",
        "prefect.resource.name": flow_name,
    }
    return Automation(
        name=long_running_name(flow_name),
        description=(
            f"Notifies when {flow_name} runs longer than expected: it normally finishes "
            f"within {expected_seconds} s."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.Running"},
            expect=set(LEFT_RUNNING_EVENTS),
            for_each={"prefect.resource.id"},
            match=FLOW_RUN_RESOURCE,
            match_related=[flow_resource, TAG_RESOURCE],
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=expected_seconds),
        ),
        actions=[
            SendNotification(
                block_document_id=block_document_id,
                subject=f"{PROJECT_TAG} flow run {{{{ flow_run.name }}}} is running too long",
                body=LONG_RUNNING_BODY.replace("{expected}", str(expected_seconds)),
            )
        ],
    )


def build_automations(
    block_document_id: UUID, expected: dict[str, int] | None = None
) -> list[Automation]:
    """Every automation of the project, not yet sent anywhere."""
    expected = EXPECTED_SECONDS if expected is None else expected
    return [failure_automation(block_document_id)] + [
        long_running_automation(name, seconds, block_document_id)
        for name, seconds in sorted(expected.items())
    ]


def notification_block_id(block: str) -> UUID:
    """The document id of a saved notification block ``<type-slug>/<name>``."""
    from prefect.blocks.core import Block

    loaded: Any = Block.load(block)
    block_id = loaded._block_document_id
    if block_id is None:
        raise LookupError(f"block {block!r} has no document id: save it first")
    return UUID(str(block_id))


def upsert(automation: Automation) -> Automation:
    """Create the automation, or update the one with the same name."""
    try:
        existing: Automation = Automation.read(name=automation.name)  # type: ignore[assignment]
    except ValueError:  # Prefect's "Automation with name ... not found"
        created: Automation = automation.create()  # type: ignore[assignment]
        return created
    automation.id = existing.id
    automation.update()
    return automation


def create_automations(block: str) -> list[Automation]:
    """Upsert every automation against the current API, notifying through ``block``."""
    block_id = notification_block_id(block)
    return [upsert(automation) for automation in build_automations(block_id)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create or update the cv-analytics automations.")
    parser.add_argument(
        "--block",
        required=True,
        help="notification block as <type-slug>/<name>, e.g. slack-webhook/cv-analytics-alerts",
    )
    args = parser.parse_args(argv)
    for automation in create_automations(args.block):
        print(f"{automation.name}: {automation.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
