"""Weekly report: the figures of one ISO week, e-mailed once, archived, shown in Prefect.

Two flows: ``weekly-aggregation`` (:func:`weekly_aggregation`) reads the week's records
(DynamoDB or the S3 archive), the stored summaries of earlier weeks and the owner's words
in force (report-insights.md section 9), computes the figures and insights and stores the
week's summary; ``weekly-report`` (:func:`weekly_report`) counts the week's leads
delivered (section 7) and the pipeline's health, renders the owner's e-mail (section 10:
no pipeline health in it) and the operator's artifacts (pipeline health in them),
archives a new generation to S3, sends the e-mail once per week and returns the figures.
Scheduled Monday 07:00 UTC for the last complete week; any ended week from 2020 on can be
regenerated (``python -m flows.weekly_report --week 2025-W45``). A week that has not ended
is refused before any work (:mod:`flows.parameters`). Details: docs/flows.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from pydantic import StrictBool

from flows.hooks import FLOW_HOOKS, timeout_seconds, weekly_report_run_name
from flows.parameters import OptionalWeekParameter, resolve_week
from lambdas.shared.weeks import InvalidWeekError, Week
from tasks.aws import TASK_OPTIONS
from tasks.conclude import run_attempt
from tasks.core.aggregate import PipelineHealth, WeeklyFigures, pipeline_health, weekly_figures
from tasks.core.checks import artifact_key as checks_artifact_key
from tasks.core.feedback import Feedback
from tasks.core.insights import StoredSummary
from tasks.core.render import (
    LeadsDelivery,
    build_mime,
    render_html,
    render_markdown,
    render_text,
    report_title,
    themes_table,
    top_queries_table,
)
from tasks.dynamodb.feedback import current_feedback_task
from tasks.dynamodb.leads import delivered_count_task
from tasks.dynamodb.summaries import previous_summaries_task, save_summary_task
from tasks.dynamodb.week_index import query_week_orphans
from tasks.report_delivery import send_report_task
from tasks.s3.objects import console_url, s3_uri
from tasks.s3.reports import archive_report
from tasks.settings import Settings
from tasks.sqs.queues import queue_depth
from tasks.week_archive import read_week
from tasks.weekly_summaries import previous_week_total_task

#: The report's artifacts, in the order a run makes them (the step of each key).
ARTIFACT_STEPS = {"html": 1, "figures": 2, "top-queries": 3, "themes": 4}


def artifact_key(week: Week, what: str = "figures", attempt: int = 1) -> str:
    """``weekly-report-<week>-try<NN>-<step>-<what>``: the key of one of the report's
    artifacts in a run's ``attempt``-th try (:func:`tasks.core.checks.artifact_key`), so a
    retried run's artifacts stay distinct and sort in the order they were made. Prefect
    artifact keys allow lowercase letters, digits and dashes only."""
    prefix = f"weekly-report-{week.id.lower()}"
    return checks_artifact_key(prefix, attempt, ARTIFACT_STEPS[what], what)


def report_folder(output_dir: str, week: Week) -> Path:
    """Where ``make demo``/``make report`` leave the rendered report for a person to open."""
    return Path(output_dir) / week.id


# --- weekly aggregation -----------------------------------------------------------------


@task(name="aggregate-week", persist_result=False, **TASK_OPTIONS)  # display queries
def aggregate_week(
    week: Week,
    settings: Settings,
    previous_total: int,
    previous: dict[str, StoredSummary],
    feedback: Feedback,
) -> tuple[WeeklyFigures, str]:
    """Read the week's records (Query or archive) and compute its figures and insights,
    with the owner's words in force (joins regroup the themes, dismissals mark gaps).

    Reading and aggregating share one task so the records, possibly hundreds of
    thousands, never travel through Prefect as task parameters.
    """
    week_records = read_week(week, settings)
    get_run_logger().info(
        "Read %d records of %s from %s", len(week_records.table), week, week_records.source
    )
    figures = weekly_figures(
        week,
        week_records.table,
        previous_total,
        previous,
        candidate=settings.candidate,
        feedback=feedback,
    )
    return figures, week_records.source


@flow(
    name="weekly-aggregation",
    flow_run_name="weekly-aggregation-{week}",
    persist_result=False,  # the figures hold display queries: never in result storage
)
def weekly_aggregation(week: Week) -> WeeklyFigures:
    """The week's figures and insights, with its summary stored for the weeks after it.

    A flow run of its own: it resolves the settings once, here, for its tasks. The
    owner's words (report-insights.md section 9) are read on every run, so a report and
    every regeneration after a word honour it.
    """
    settings = Settings()
    previous_total = previous_week_total_task(week, settings)
    # after the total: a fallback total it just stored shows in the trends too
    previous = previous_summaries_task(settings.summaries_table, week)
    feedback = current_feedback_task(settings.feedback_table)
    figures, source = aggregate_week(week, settings, previous_total, previous, feedback)
    save_summary_task(settings.summaries_table, figures, source)
    return figures


# --- report e-mailing ---------------------------------------------------------------------


@task(name="count-orphan-responses", **TASK_OPTIONS)
def count_orphan_responses(analytics_table: str, week: Week) -> int:
    """Responses received in the week whose query never arrived."""
    return len(query_week_orphans(analytics_table, week))


@task(name="dlq-depth", **TASK_OPTIONS)
def dlq_depth(dlq_name: str) -> int:
    """Visible messages on the dead-letter queue, now."""
    return queue_depth(dlq_name)


def leads_delivery(week: Week, settings: Settings) -> LeadsDelivery:
    """What the e-mail says of the week's leads: delivery off, or how many were e-mailed
    to the owner (the leads ledger's ``sent``; report-insights.md section 7).

    A count that cannot be read does not stop the report: the e-mail says it could not
    be checked, and the run logs a warning.
    """
    if not settings.leads_enabled:
        return LeadsDelivery(enabled=False)
    state = delivered_count_task(settings.leads_table, week, return_state=True)
    if state.is_completed():
        return LeadsDelivery(enabled=True, delivered=state.result())
    get_run_logger().warning("Could not count the delivered leads of %s; the e-mail says so", week)
    return LeadsDelivery(enabled=True, delivered=None)


def write_local_report(folder: Path, html: str, text: str, report_json: str) -> Path:
    """Write the rendered report to ``folder`` (``report_output_dir/<week>/``) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(html, encoding="utf-8")
    (folder / "report.txt").write_text(text, encoding="utf-8")
    (folder / "report.json").write_text(report_json, encoding="utf-8")
    return folder


def publish_artifacts(
    week: Week,
    figures: WeeklyFigures,
    health: PipelineHealth,
    leads: LeadsDelivery,
    html_key: str,
    folder: Path,
    settings: Settings,
) -> None:
    """The operator's view, by week: key figures led by gaps and anomalies, with the
    pipeline health and the leads' counts (markdown), top queries and themes (tables) and
    a link to the rendered HTML.

    The link is the object's AWS console page (:func:`~tasks.s3.objects.console_url`),
    which needs the reader's own AWS sign-in: no bearer link is kept in Prefect.
    """
    uri = s3_uri(settings.archive_bucket, html_key)
    attempt = run_attempt()
    create_link_artifact(
        key=artifact_key(week, "html", attempt),
        link=console_url(settings.archive_bucket, html_key, settings.region),
        link_text=f"{report_title(figures.week)} (HTML, in the AWS console)",
        description=(
            f"The rendered report of {figures.week}: {uri}. The link opens it "
            "in the AWS console with your own AWS sign-in; the run's machine also has it "
            f"under {folder / 'report.html'}."
        ),
    )
    create_markdown_artifact(
        key=artifact_key(week, "figures", attempt),
        markdown=render_markdown(figures, health, leads),
        description=f"Gaps, anomalies and key figures of {figures.week}",
    )
    create_table_artifact(
        key=artifact_key(week, "top-queries", attempt),
        table=top_queries_table(figures),
        description=f"Top queries of {figures.week} (display queries, personal data masked)",
    )
    create_table_artifact(
        key=artifact_key(week, "themes", attempt),
        table=themes_table(figures),
        description=(
            f"Themes of {figures.week}: one row per question, why it is a gap (kind, asked, "
            "short), its examples (display queries, personal data masked)"
        ),
    )


@flow(
    name="weekly-report",
    flow_run_name=weekly_report_run_name,
    persist_result=False,  # the figures hold display queries: never in result storage
    timeout_seconds=timeout_seconds("weekly-report"),
    **FLOW_HOOKS,
)
def weekly_report(week: OptionalWeekParameter = "", resend: StrictBool = False) -> WeeklyFigures:
    """Compute, archive, show and e-mail (once) the report of a week.

    Args:
        week: ISO week YYYY-Www, e.g. 2025-W45 (Monday to Sunday, UTC), that has ended, from
            2020 on. Leave it empty for the last complete week (what the Monday schedule
            does).
        resend: Send the e-mail again even if this week's report was already sent.
    """
    # Prefect refused an unreportable week before this body; this also covers callers
    # of ``weekly_report.fn`` (report regeneration), before any work.
    report_week = resolve_week(week)
    logger = get_run_logger()
    settings = Settings()

    figures = weekly_aggregation(report_week)

    orphans = count_orphan_responses(settings.analytics_table, report_week)
    depth_state = dlq_depth(settings.dlq_name, return_state=True)
    depth = depth_state.result() if depth_state.is_completed() else None
    if depth is None:
        logger.warning("Could not read the DLQ depth; the report shows it as n/a")
    health = pipeline_health(figures, orphans, depth)  # the operator's: artifacts only
    leads = leads_delivery(report_week, settings)

    html = render_html(figures, leads)
    text = render_text(figures, leads)
    report_json = json.dumps(figures.model_dump(mode="json"), indent=2, ensure_ascii=False)

    folder = write_local_report(
        report_folder(settings.report_output_dir, report_week), html, text, report_json
    )
    logger.info("Report of %s written to %s", report_week, folder.resolve())
    keys = archive_report(settings.archive_bucket, report_week, html, text, report_json)
    logger.info(
        "Report of %s archived to s3://%s/%s",
        report_week,
        settings.archive_bucket,
        keys["report.html"],
    )
    publish_artifacts(report_week, figures, health, leads, keys["report.html"], folder, settings)

    message = build_mime(figures, html, text, settings.report_sender, settings.report_recipients)
    outcome = send_report_task(
        report_week,
        message.as_bytes(),
        settings.summaries_table,
        settings.report_sender,
        settings.report_recipients,
        resend,
    )
    logger.info("E-mail of %s: %s", report_week, outcome.status)
    return figures


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.weekly_report [--week 2025-W45] [--resend]``: regenerate one week."""
    parser = argparse.ArgumentParser(description="Compute, archive and e-mail a weekly report.")
    parser.add_argument("--week", help="ISO week YYYY-Www (default: the last complete week)")
    parser.add_argument(
        "--resend", action="store_true", help="send the e-mail even if it was sent already"
    )
    args = parser.parse_args(argv)
    try:
        week = resolve_week(args.week)
    except InvalidWeekError as exc:
        parser.error(str(exc))
    figures = weekly_report(week=week.id, resend=args.resend)
    folder = report_folder(Settings().report_output_dir, week).resolve()
    print(f"Weekly report {week}: {figures.total_queries} queries")
    print(f"Written to {folder / 'report.html'} and {folder / 'report.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
