"""The previous week's total for a report: from its stored summary, else computed once.

A capability over two services: the summaries table (:mod:`tasks.dynamodb.summaries`)
and a week's records wherever they are, DynamoDB or the S3 archive
(:func:`tasks.week_archive.read_week`). It lives outside both service packages so that
neither imports the other. The flow's settings are passed in (``settings``).
"""

from __future__ import annotations

from prefect import task

from lambdas.shared.weeks import Week
from tasks.aws import TASK_OPTIONS, run_logger
from tasks.core.aggregate import population_size
from tasks.dynamodb.summaries import save_fallback_total, stored_total
from tasks.settings import Settings
from tasks.week_archive import read_week


def previous_week_total(week: Week, settings: Settings) -> int:
    """``total_queries`` of the week before ``week``: from its summary, else computed once.

    The fallback reads the previous week's records (DynamoDB or archive) and stores just
    the total, so the next report finds it without reading records again.
    """
    previous = week.previous
    total = stored_total(settings.summaries_table, previous)
    if total is not None:
        return total
    records = read_week(previous, settings)
    total = population_size(previous, records.table)
    # False: a report of that week stored its figures meanwhile, and they are kept.
    save_fallback_total(settings.summaries_table, previous, total, f"fallback-{records.source}")
    run_logger().info(
        "No summary for %s: computed its total (%d) from %s and stored it",
        previous,
        total,
        records.source,
    )
    return total


@task(name="previous-week-total", **TASK_OPTIONS)
def previous_week_total_task(week: Week, settings: Settings) -> int:
    return previous_week_total(week, settings)
