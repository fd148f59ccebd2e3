"""Rendered weekly reports in the archive bucket, one folder per generation.

``reports/<week>/<generated>/report.{html,txt,json}``, where ``<generated>`` is the UTC
time of the write and a fresh id: a re-run or a retry of a week's report adds a
generation and never replaces one (every put is ``IfNoneMatch``). The newest generation
is the week's report; older ones stay for the record until the bucket's lifecycle ends
them. The bucket is named by the caller (the flow's settings).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from prefect import task

from lambdas.shared.weeks import Week
from tasks.aws import TASK_OPTIONS
from tasks.s3.objects import list_keys, put_bytes

REPORTS_PREFIX = "reports"
REPORT_FILES = {
    "report.html": "text/html; charset=utf-8",
    "report.txt": "text/plain; charset=utf-8",
    "report.json": "application/json",
}


def report_prefix(week: Week) -> str:
    return f"{REPORTS_PREFIX}/{week.id}/"


def new_generation(now: datetime | None = None) -> str:
    """``<UTC time>-<fresh id>``: sorts by time, unique per write."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


@task(name="archive-report", **TASK_OPTIONS)
def archive_report(
    bucket: str, week: Week, html: str, text: str, report_json: str
) -> dict[str, str]:
    """Write one new generation of the week's report; returns file name -> key."""
    generation = new_generation()
    bodies = {"report.html": html, "report.txt": text, "report.json": report_json}
    keys = {}
    for name, content_type in REPORT_FILES.items():
        key = f"{report_prefix(week)}{generation}/{name}"
        put_bytes(bucket, key, bodies[name].encode("utf-8"), content_type)
        keys[name] = key
    return keys


def latest_report(bucket: str, week: Week) -> dict[str, str]:
    """File name -> key of the newest complete generation of a week's report ({} if none)."""
    generations: dict[str, dict[str, str]] = {}
    for key in list_keys(bucket, report_prefix(week)):
        generation, _, name = key.removeprefix(report_prefix(week)).rpartition("/")
        if name in REPORT_FILES:
            generations.setdefault(generation, {})[name] = key
    complete = [g for g, files in generations.items() if len(files) == len(REPORT_FILES)]
    return generations[max(complete)] if complete else {}
