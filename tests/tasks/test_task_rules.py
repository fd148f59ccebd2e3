"""The one cache rule holds for every task of the project (``tasks.aws.CACHE_RULE``)."""

from __future__ import annotations

import importlib
import pkgutil

from prefect import Task
from prefect.cache_policies import NO_CACHE

import flows
import tasks


def every_task() -> dict[str, Task[..., object]]:
    found: dict[str, Task[..., object]] = {}
    for package in (tasks, flows):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if isinstance(value, Task) and value.__module__ == info.name:
                    found[f"{info.name}.{name}"] = value
    return found


def test_no_task_reuses_a_result_from_its_inputs() -> None:
    found = every_task()
    assert len(found) > 20  # the walk finds the project's tasks
    cached = sorted(name for name, task in found.items() if task.cache_policy is not NO_CACHE)
    assert cached == []


def test_tasks_over_aws_retry_only_what_is_worth_retrying() -> None:
    from tasks.aws import retry_on_transient, retry_when_never_delivered

    rules = {retry_on_transient, retry_when_never_delivered}
    retried = {n: t for n, t in every_task().items() if t.retries}
    assert retried
    unconditioned = sorted(n for n, t in retried.items() if t.retry_condition_fn is None)
    assert unconditioned == []
    # the report send has its own rule (tasks.report_delivery.retry_send_when_not_delivered)
    own_rule = "report_delivery"
    assert {t.retry_condition_fn for n, t in retried.items() if own_rule not in n} <= rules
