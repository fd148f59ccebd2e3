"""Flow state hooks, run names and expected durations shared by every flow.

- :func:`alert_on_failure`, an ``on_failure`` and ``on_crashed`` hook publishing to the
  alarms topic (``FLOW_HOOKS`` splats both into ``@flow(...)``): the one alert path of a
  failed run, on both deployment targets (docs/flows.md, "Alerts"). It publishes nothing
  when the flow already published this failure's alert (an ``alert_published``
  exception), for a run whose parameters Prefect refused before it did anything (the run
  shows why; nobody is paged), or for a subflow (its parent run fails and alerts). Once
  the failure is handled it emits :data:`ALERT_HANDLED_EVENT`, which the fallback
  automation (``deployments/automations.py``) waits for: it notifies only when no hook
  handled a failure (an ECS task killed before its hook could run, SNS unreachable);
- :data:`EXPECTED_SECONDS`, how long each flow normally takes, from which the flows'
  timeouts (:func:`timeout_seconds`) and the "running too long" automations are derived;
- meaningful run names (``weekly-report-2025-W45``, ``dlq-triage-2025-11-17``, and
  ``dlq-triage-dry-run-2025-11-17`` for a dry run).

A hook must never raise: Prefect would log the hook's own error and the alert would be
lost anyway, so a failure to publish is logged to the run log and swallowed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect.events import emit_event
from prefect.exceptions import ParameterTypeError
from prefect.logging.loggers import flow_run_logger, get_logger
from prefect.runtime import flow_run as runtime_flow_run
from prefect.settings import get_current_settings

from lambdas.shared.weeks import InvalidWeekError, Week
from tasks.core.checks import runbook
from tasks.core.masking import mask_sample
from tasks.settings import Settings
from tasks.sns import publish_alert

PROJECT_TAG = "cv-analytics"
STATE_MESSAGE_LIMIT = 1_000
#: Emitted for a failed or crashed run once its alert is handled (published by the hook or
#: the flow, or not needed); the fallback automation notifies only when it never comes.
ALERT_HANDLED_EVENT = "cv-analytics.flow-run.alert-handled"

#: How long each flow normally takes on a production week of traffic (seconds).
#: The reporter Lambda's duration alarm was 45 s for the whole report; a flow adds
#: Prefect's orchestration and the S3 archive, hence the headroom.
EXPECTED_SECONDS: dict[str, int] = {
    "weekly-report": 300,
    "dlq-triage": 600,
    "ttl-verification": 900,
    "health-check": 120,
    "monthly-maintenance": 1_800,
    "owner-feedback": 60,
    "leads": 120,
}
#: A run is stopped (TimedOut, a Failed state: the hook alerts) at this multiple.
TIMEOUT_FACTOR = 3


def timeout_seconds(flow_name: str) -> int:
    """The flow's ``timeout_seconds``: a few times its expected duration."""
    return EXPECTED_SECONDS[flow_name] * TIMEOUT_FACTOR


def failure_alert(
    flow_name: str,
    run_name: str,
    run_id: str,
    state_name: str,
    state_message: str | None,
    ui_url: str | None,
) -> tuple[str, str]:
    """Subject and body of the alert for a failed or crashed run. Pure.

    The state message usually carries the exception text, which may quote a visitor's
    query: it is masked and truncated like any untrusted text.
    """
    subject = f"{PROJECT_TAG} flow failed: {run_name}"
    lines = [
        f"Flow: {flow_name}",
        f"Run: {run_name}",
        f"Run id: {run_id}",
        f"State: {state_name}",
        f"Message: {mask_sample(state_message or '(none)', STATE_MESSAGE_LIMIT)}",
    ]
    if ui_url:
        lines.append(f"Open the run: {ui_url.rstrip('/')}/runs/flow-run/{run_id}")
    lines.append(
        "What to do: read the run's artifacts and log, fix the cause, then Retry the run "
        f"from the UI ({runbook('failed-flow-run')})."
    )
    return subject, "\n".join(lines)


def _failure_of(state: Any) -> object:
    """The exception a failed run holds, or None (a crashed run may hold no result)."""
    try:
        return state.result(raise_on_failure=False)
    except Exception:
        return None


def _already_alerted(exc: object) -> bool:
    """True when the failure is an exception that says its alert went out already."""
    return bool(getattr(exc, "alert_published", False))


def _refused_parameters(exc: object) -> bool:
    """True when Prefect refused the run's parameters before its body ran.

    Nothing was done, and the person who typed them sees why in the run's state message:
    an operator's typo is not an incident, so it pages nobody.
    """
    return isinstance(exc, ParameterTypeError)


def _is_subflow(flow_run: Any) -> bool:
    """True for a flow run started inside another flow run: its parent alerts."""
    return getattr(flow_run, "parent_task_run_id", None) is not None


def _not_alerted_because(exc: object, flow_run: Any) -> str | None:
    """Why this failure needs no alert from the hook, or None when it does."""
    if _already_alerted(exc):
        return "The flow already published its own alert for this failure"
    if _refused_parameters(exc):
        return "The run's parameters were refused before it did anything: not alerted"
    if _is_subflow(flow_run):
        return "A subflow's failure is alerted by its parent run"
    return None


def alert_handled(flow_run: Any, outcome: str) -> None:
    """Emit :data:`ALERT_HANDLED_EVENT` for ``flow_run``: its failure needs no fallback
    notification (``outcome``: how it was handled). Never raises."""
    try:
        emit_event(
            event=ALERT_HANDLED_EVENT,
            resource={"prefect.resource.id": f"prefect.flow-run.{flow_run.id}"},
            related=[
                {
                    "prefect.resource.id": f"prefect.tag.{PROJECT_TAG}",
                    "prefect.resource.role": "tag",
                }
            ],
            payload={"outcome": outcome},
        )
    except Exception:  # the fallback automation then notifies: an extra alert, never none
        get_logger("cv_analytics.hooks").warning("could not emit %s", ALERT_HANDLED_EVENT)


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure``/``on_crashed`` hook: publish the failure to the alarms topic, unless
    it needs no alert; then say so with an event; never raise.

    A hook runs outside the flow's body, so it resolves the settings (the topic's name)
    itself, inside the guard: settings that cannot be read are logged like any failure,
    and no event is emitted, so the fallback automation notifies instead.
    """
    try:
        logger: Any = flow_run_logger(flow_run, flow)
    except Exception:  # no API context (e.g. the runner's crash handling): plain logger
        logger = get_logger("cv_analytics.hooks")
    reason = _not_alerted_because(_failure_of(state), flow_run)
    if reason is not None:
        logger.info(reason)
        alert_handled(flow_run, "not needed")
        return
    try:
        subject, message = failure_alert(
            flow.name,
            flow_run.name,
            str(flow_run.id),
            state.name or str(state.type),
            state.message,
            get_current_settings().ui_url,
        )
        message_id = publish_alert(Settings().alarms_topic, subject, message)
    except Exception as exc:
        logger.error("Could not publish the failure alert: %s: %s", type(exc).__name__, exc)
        return
    logger.info("Failure alert published to the alarms topic (message %s)", message_id)
    alert_handled(flow_run, "published")


#: ``@flow(..., **FLOW_HOOKS)``: every failure or crash alerts the operators.
FLOW_HOOKS: dict[str, Any] = {
    "on_failure": [alert_on_failure],
    "on_crashed": [alert_on_failure],
}


def weekly_report_run_name() -> str:
    """``weekly-report-<week>``, the default week (empty) resolved to the last complete one.

    Prefect names a run after its parameters were accepted; a week that does not parse
    still gets a name rather than an error.
    """
    week = runtime_flow_run.parameters.get("week")
    try:
        return f"weekly-report-{Week.last_complete() if not week else Week.parse(week)}"
    except InvalidWeekError:
        return "weekly-report-invalid-week"


def is_dry_run() -> bool:
    """True when the current run's ``dry_run`` parameter is true."""
    return runtime_flow_run.parameters.get("dry_run") is True


def dated_run_name(flow_name: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable: ``<flow>-<UTC date of the scheduled start>``, and
    ``<flow>-dry-run-<date>`` for a run with ``dry_run`` true, so a dry run is never taken
    for a real one in the runs list."""

    def name() -> str:
        start = runtime_flow_run.scheduled_start_time
        day = start.astimezone(UTC) if start is not None else datetime.now(UTC)
        mode = "-dry-run" if is_dry_run() else ""
        return f"{flow_name}{mode}-{day:%Y-%m-%d}"

    return name
