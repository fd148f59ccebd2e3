"""The flows' task retry policy, on Prefect's engine: transient AWS errors only."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prefect import flow, task

from tasks.aws import TASK_OPTIONS
from tests.conftest import client_error

OPTIONS = {**TASK_OPTIONS, "retry_delay_seconds": 0, "retry_jitter_factor": None}
attempts: Counter[str] = Counter()


@task(**OPTIONS)
def throttled_once() -> str:
    attempts["throttled"] += 1
    if attempts["throttled"] == 1:
        raise client_error("ThrottlingException", "Query")
    return "done"


@task(**OPTIONS)
def invalid_request() -> None:
    attempts["invalid"] += 1
    raise client_error("ValidationException", "Query")


@task(**OPTIONS)
def always_unavailable() -> None:
    attempts["unavailable"] += 1
    raise client_error("ServiceUnavailable", "Query", status=503)


@flow
def run(task_name: str) -> str:
    """The task's final state type, as data (returning the state would fail the flow)."""
    chosen: Any = {"throttled": throttled_once, "invalid": invalid_request}.get(
        task_name, always_unavailable
    )
    return str(chosen(return_state=True).type.value)


def test_throttling_is_retried_until_it_succeeds() -> None:
    attempts.clear()
    assert run("throttled") == "COMPLETED" and attempts["throttled"] == 2


def test_a_validation_error_is_not_retried() -> None:
    attempts.clear()
    assert run("invalid") == "FAILED" and attempts["invalid"] == 1


def test_a_lasting_outage_is_retried_three_times_then_fails() -> None:
    attempts.clear()
    assert run("unavailable") == "FAILED" and attempts["unavailable"] == 1 + 3
