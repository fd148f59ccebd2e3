"""Prefect Automations for servers that run them (Prefect server 3 and Prefect Cloud).

One alert per failure (docs/flows.md, "Alerts"): the flows' failure hook
(``flows/hooks.py``) is the alert path on both deployment targets. It publishes a failed or
crashed run to the alarms topic (masked, with what to do), or knows the flow already did,
or that no alert is needed, and then emits ``cv-analytics.flow-run.alert-handled``. The
automations add only what a hook cannot do:

- ``cv-analytics flow run failed or crashed``: the fallback. A run tagged ``cv-analytics``
  that enters Failed, Crashed or TimedOut and whose hook did not report the failure
  handled within :data:`ALERT_GRACE` (an ECS task killed before its hook ran, a worker
  host lost, SNS unreachable from the hook) notifies through a notification block. When
  the hook handled it, this automation stays silent, so a failure never alerts twice;
- ``cv-analytics <flow> running too long``, one per flow: a run that entered Running and
  has not left it within the flow's expected duration (``flows.hooks.EXPECTED_SECONDS``)
  notifies, well before the flow's own timeout stops it. Not a failure: the run goes on.

The notification goes through any Prefect notification block (Slack, e-mail, Microsoft
Teams, a custom webhook...), named ``<block-type-slug>/<block-name>``; create it once in
the UI (Blocks) or in Python, then::

    PREFECT_API_URL=... python -m deployments.automations --block slack-webhook/cv-analytics-alerts

:func:`create_automations` upserts by name, so running it again updates them in place (an
older server's failure automation, which notified on every failure, becomes the fallback).
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

from flows.hooks import ALERT_HANDLED_EVENT, EXPECTED_SECONDS, PROJECT_TAG

#: A run failing: Failed, Crashed, or TimedOut (a Failed type emitted under its own name).
FAILED_EVENTS = frozenset(
    {"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"}
)
#: How long after a failure the hook has to report it handled before the fallback notifies.
ALERT_GRACE = timedelta(minutes=10)
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
TAG_RESOURCE: dict[str, str | list[str]] = {
    "prefect.resource.role": "tag",
    "prefect.resource.id": f"prefect.tag.{PROJECT_TAG}",
}

FAILED_NAME = f"{PROJECT_TAG} flow run failed or crashed"
#: No state message: it may quote what a visitor typed, and only the hook masks it.
FAILED_BODY = """\
Flow run {{ flow_run.name }} of {{ flow.name }} entered {{ flow_run.state.name }}, and no
alert was published for it: its failure hook did not run (the infrastructure was lost)
or could not reach the alarms topic.
Open it: {{ flow_run|ui_url }} (its state message and log say what failed).
What to do: docs/runbook.md#failed-flow-run."""
LONG_RUNNING_BODY = """\
Flow run {{ flow_run.name }} of {{ flow.name }} has been Running for longer than its
expected duration ({expected} s). It is still running: look at its logs before its
timeout stops it (docs/runbook.md#failed-flow-run).
Open it: {{ flow_run|ui_url }}"""


def long_running_name(flow_name: str) -> str:
    return f"{PROJECT_TAG} {flow_name} running too long"


def failure_automation(block_document_id: UUID) -> Automation:
    """The fallback: a ``cv-analytics`` flow run that failed, crashed or timed out notifies
    only if its hook did not report the failure handled within :data:`ALERT_GRACE`."""
    return Automation(
        name=FAILED_NAME,
        description=(
            "Notifies when a cv-analytics flow run fails, crashes or times out and its own "
            "failure hook published no alert for it (lost infrastructure, SNS unreachable). "
            "A run whose hook alerted (or needed no alert) is not notified again."
        ),
        trigger=EventTrigger(
            after=set(FAILED_EVENTS),
            expect={ALERT_HANDLED_EVENT},
            for_each={"prefect.resource.id"},
            match=FLOW_RUN_RESOURCE,
            match_related=TAG_RESOURCE,
            posture=Posture.Proactive,
            threshold=1,
            within=ALERT_GRACE,
        ),
        actions=[
            SendNotification(
                block_document_id=block_document_id,
                subject=f"{PROJECT_TAG} flow run {{{{ flow_run.name }}}} failed (no alert)",
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
