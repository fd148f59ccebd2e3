"""On-demand report regeneration: the ``weekly-report`` flow with the week required.

The ``report-regeneration`` deployment regenerates any week from the Prefect UI or
``prefect deployment run weekly-report/report-regeneration --param week=2025-W45``.
Prefect 3 computes a deployment's parameter schema from the entrypoint's signature
(``prefect deploy`` overwrites any ``parameter_openapi_schema`` in ``prefect.yaml``), and
``weekly_report``'s ``week`` is optional (the schedule needs "last week"). So this thin
entrypoint, registered under the same flow name ``weekly-report``, declares ``week``
required and shaped ``YYYY-Www`` (a week of 2020 to next year that exists, as of the
deploy): with ``enforce_parameter_schema`` the server refuses a missing, malformed or
out-of-range week before any run starts, and the UI's Run form says why. A week that has
not ended passes the form and is refused when the run starts, before any work
(:mod:`flows.parameters`).
It runs the weekly report's own body in this run, so the run's artifacts are the report's.
"""

from __future__ import annotations

from prefect import flow
from pydantic import StrictBool

from flows.hooks import FLOW_HOOKS, timeout_seconds, weekly_report_run_name
from flows.parameters import WeekParameter
from flows.weekly_report import weekly_report
from tasks.core.aggregate import WeeklyFigures


@flow(
    name="weekly-report",
    flow_run_name=weekly_report_run_name,
    persist_result=False,  # the figures hold display queries: never in result storage
    timeout_seconds=timeout_seconds("weekly-report"),
    **FLOW_HOOKS,
)
def report_regeneration(week: WeekParameter, resend: StrictBool = False) -> WeeklyFigures:
    """Regenerate one week's report: figures, archive, artifacts (and the e-mail once).

    Args:
        week: ISO week to (re)generate, YYYY-Www, e.g. 2025-W45 (weeks start on Monday, UTC):
            a week that has ended, from 2020 on. See docs/runbook.md#report-regeneration.
        resend: Send the e-mail again even if this week's report was already sent.
    """
    return weekly_report.fn(week=week, resend=resend)
