"""Monthly maintenance (docs/runbook.md#monthly-maintenance), as a flow (``monthly-maintenance``).

Top to bottom, like the runbook; each step's findings become checks, and an error in one
step becomes a failed check while the other steps still run:

1. log retention of ``/aws/lambda/cv-analytics-*`` set to ``log_retention_days`` where it
   is missing or longer;
2. table figures, and point-in-time recovery enabled where it is off;
3. an on-demand backup of the analytics table; older backups of this flow beyond
   ``backups_to_keep`` are deleted only once the new one is AVAILABLE;
4. archival of analytics weeks that ended more than ``archive_after_days`` ago
   (:func:`tasks.week_archive.archive_week`: records deleted only once the archive is
   confirmed);
5. the alarm notification test (``test_alarms``), skipped when the alarm is already in
   ALARM so a real alarm is never cleared;
6. a masked summary e-mail to the report recipients.

``dry_run`` changes and sends nothing, and names the run ``monthly-maintenance-dry-run-<date>``.
A Quick run of the deployment is a dry run (its default parameters); the monthly schedule
passes ``dry_run: false``. Findings: artifact ``monthly-maintenance-try<NN>-1-findings``;
failure: one alert and the Failed state, naming the runbook section. Details: docs/flows.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from pydantic import StrictBool

from flows.hooks import FLOW_HOOKS, dated_run_name, timeout_seconds
from lambdas.shared.contract import EPOCH_MS_MIN
from tasks import cloudwatch, ses, sns, week_archive
from tasks.conclude import ChecksFailedError, conclude, failed_run
from tasks.core.checks import Check, Findings, render_html, render_text
from tasks.core.health import ALARM_PREFIX
from tasks.core.maintenance import (
    AVAILABLE,
    BackupInfo,
    archive_cutoff,
    backup_name,
    backup_prefix,
    backups_to_delete,
    first_possible_week,
    needs_retention,
    weeks_ended_before,
)
from tasks.dynamodb import backups
from tasks.settings import Settings

FLOW_NAME = "monthly-maintenance"
TEST_ALARM = "cv-analytics-dlq-depth"


def guarded(name: str, step: Callable[[], list[Check]]) -> list[Check]:
    """Run one step; an exception becomes a failed check so the other steps still run."""
    try:
        return step()
    except Exception as exc:
        get_run_logger().exception("step %s failed", name)
        return [Check(name, False, f"error: {type(exc).__name__}: {exc}")]


def log_group_checks(settings: Settings, dry_run: bool) -> list[Check]:
    target = settings.log_retention_days
    groups = cloudwatch.describe_log_groups(settings.log_group_prefix)
    if not groups:
        return [Check("log groups", True, f"no log groups under {settings.log_group_prefix}")]
    checks = []
    for group in groups:
        figures = {
            "stored bytes": group.stored_bytes
            if group.stored_bytes is not None
            else "not reported by this endpoint",
            "retention days": group.retention_days or "never expire",
        }
        if not needs_retention(group.retention_days, target):
            detail = f"retention {group.retention_days} days (at most {target})"
        elif dry_run:
            detail = f"would set retention to {target} days (now {figures['retention days']})"
        else:
            cloudwatch.put_retention_policy(group.name, target)
            detail = f"retention set to {target} days (was {figures['retention days']})"
        checks.append(Check(f"log group {group.name}", True, detail, figures))
    return checks


def table_checks(settings: Settings, dry_run: bool) -> list[Check]:
    checks = []
    for table in (
        settings.query_events_table,
        settings.analytics_table,
        settings.summaries_table,
        settings.feedback_table,
    ):
        facts = backups.describe_table(table)
        checks.append(
            Check(
                f"table {table}",
                True,
                f"{facts.item_count} items, {facts.size_bytes} bytes, {facts.billing_mode}",
                {
                    "size bytes": facts.size_bytes,
                    "item count": facts.item_count,
                    "billing mode": facts.billing_mode,
                },
            )
        )
        status = backups.pitr_status(table)
        if status == "ENABLED":
            checks.append(Check(f"PITR {table}", True, "point-in-time recovery enabled"))
        elif dry_run:
            checks.append(Check(f"PITR {table}", True, f"{status}: would enable"))
        else:
            backups.enable_pitr(table)
            after = backups.pitr_status(table)
            checks.append(Check(f"PITR {table}", after == "ENABLED", f"was {status}, now {after}"))
    return checks


def backup_checks(settings: Settings, dry_run: bool, now: datetime) -> list[Check]:
    table, keep = settings.analytics_table, settings.backups_to_keep
    name, prefix = backup_name(table, now), backup_prefix(table)
    if dry_run:
        planned = [*backups.list_backups(table), BackupInfo(name, "(new)", now)]
        doomed = backups_to_delete(planned, prefix, keep)
        return [
            Check(
                "backup",
                True,
                f"would create {name} and delete {len(doomed)} older monthly backups",
                {"would delete": [b.name for b in doomed]},
            )
        ]
    arn = backups.create_backup(table, name)
    status = backups.wait_for_backup(arn)
    if status != AVAILABLE:  # write, confirm, then delete: no confirmation, no deletion
        return [
            Check(
                "backup",
                False,
                f"created {name}, but it is {status}, not AVAILABLE: kept every older backup",
                {"created": name, "status": status, "deleted": []},
            )
        ]
    doomed = backups_to_delete(backups.list_backups(table), prefix, keep)
    if arn in {b.arn for b in doomed}:  # never rotate out the backup just made
        raise RuntimeError(f"rotation would delete the new backup {name}: clock skew?")
    for backup in doomed:
        backups.delete_backup(backup.arn)
    return [
        Check(
            "backup",
            True,
            f"created {name}; deleted {len(doomed)} older monthly backups (keeping {keep})",
            {"created": name, "deleted": [b.name for b in doomed]},
        )
    ]


def archive_checks(settings: Settings, dry_run: bool, now: datetime) -> list[Check]:
    cutoff = archive_cutoff(now, settings.archive_after_days)
    weeks = weeks_ended_before(first_possible_week(EPOCH_MS_MIN), cutoff)
    candidates = week_archive.find_archivable_weeks(weeks, settings)
    checks = [
        Check(
            "archival",
            True,
            f"{len(candidates)} weeks ended before {cutoff:%Y-%m-%d} still in DynamoDB",
            {
                "weeks scanned": len(weeks),
                "weeks to archive": [week.id for week in sorted(candidates)],
            },
        )
    ]
    for week in sorted(candidates):
        state = week_archive.archive_week_task(week, settings, dry_run, return_state=True)
        if state.is_failed():
            error = state.result(raise_on_failure=False)
            checks.append(
                Check(f"archive {week}", False, f"not archived, nothing deleted: {error}")
            )
            continue
        outcome = state.result()
        figures = {
            "found": outcome.found,
            "archived": outcome.archived,
            "deleted": outcome.deleted,
            "kept": outcome.kept,
        }
        detail = f"{outcome.action}: {outcome.found} records, {outcome.deleted} deleted"
        if outcome.kept:
            detail += f"; {outcome.kept} records changed while archiving kept (next run merges)"
        checks.append(Check(f"archive {week}", True, detail, figures))
    return checks


def alarm_checks(settings: Settings, dry_run: bool, test_alarms: bool) -> list[Check]:
    alarms = cloudwatch.describe_alarms(ALARM_PREFIX)
    firing = [a.name for a in alarms if a.state == "ALARM"]
    listed = f": {', '.join(firing)}" if firing else ""
    checks = [
        Check(
            "alarms in ALARM",
            not firing,
            f"{len(firing)} of {len(alarms)} in ALARM{listed}",
            {a.name: a.state for a in alarms},
        )
    ]
    if not test_alarms:
        return [*checks, Check("alarm notification test", True, "skipped (test_alarms=False)")]
    original = next((a.state for a in alarms if a.name == TEST_ALARM), None)
    if original is None:
        return [*checks, Check("alarm notification test", False, f"{TEST_ALARM} not found")]
    topic = sns.alarms_topic_arn(settings.alarms_topic)
    if topic not in cloudwatch.alarm_actions(TEST_ALARM):
        return [
            *checks,
            Check("alarm notification test", False, f"{TEST_ALARM} does not notify {topic}"),
        ]
    if original == "ALARM":
        detail = f"skipped: {TEST_ALARM} is already in ALARM (a real alarm is not cleared)"
        return [*checks, Check("alarm notification test", True, detail)]
    if dry_run:
        detail = f"would set {TEST_ALARM} to ALARM and back to {original}"
        return [*checks, Check("alarm notification test", True, detail)]
    cloudwatch.set_alarm_state(TEST_ALARM, "ALARM", "Monthly test of the notification system")
    seen = {a.name: a.state for a in cloudwatch.describe_alarms(TEST_ALARM)}.get(TEST_ALARM)
    cloudwatch.set_alarm_state(TEST_ALARM, original, "Monthly notification test complete")
    after = {a.name: a.state for a in cloudwatch.describe_alarms(TEST_ALARM)}.get(TEST_ALARM)
    ok = seen == "ALARM" and after == original
    detail = (
        f"{TEST_ALARM} set to ALARM (read back {seen}) and back to {original} (read back "
        f"{after}): confirm both e-mails reached the alarms topic's subscribers"
    )
    return [*checks, Check("alarm notification test", ok, detail, {"topic": topic})]


def email_check(settings: Settings, findings: Findings, dry_run: bool) -> Check:
    recipients = len(settings.report_recipients)
    if dry_run:
        return Check("summary e-mail", True, f"would send the summary to {recipients} recipients")
    subject = f"CV Analytics monthly maintenance: {'OK' if findings.ok else 'ATTENTION'}"
    message_id = ses.send_summary_email(
        subject,
        render_text(findings),
        render_html(findings),
        settings.report_sender,
        settings.report_recipients,
    )
    return Check("summary e-mail", True, f"sent to {recipients} recipients", {"id": message_id})


@flow(
    name=FLOW_NAME,
    log_prints=True,
    flow_run_name=dated_run_name(FLOW_NAME),
    timeout_seconds=timeout_seconds(FLOW_NAME),
    **FLOW_HOOKS,
)
def monthly_maintenance(dry_run: StrictBool = False, test_alarms: StrictBool = True) -> Findings:
    """Log groups, tables, PITR, backup, archival, alarm test and summary e-mail.

    Args:
        dry_run: Only report what would change: set no retention, enable no PITR, take and
            delete no backup, archive and delete no week, e-mail nothing. A Quick run of
            the deployment is a dry run; the monthly schedule runs for real.
            See docs/runbook.md#monthly-maintenance.
        test_alarms: Test the alarm notifications: set cv-analytics-dlq-depth to ALARM and
            back (skipped when it is in ALARM already); its subscribers get two e-mails.
    """
    settings = Settings()
    now = datetime.now(UTC)
    checks: list[Check] = []
    checks += guarded("log groups", lambda: log_group_checks(settings, dry_run))
    checks += guarded("tables", lambda: table_checks(settings, dry_run))
    checks += guarded("backup", lambda: backup_checks(settings, dry_run, now))
    checks += guarded("archival", lambda: archive_checks(settings, dry_run, now))
    checks += guarded("alarms", lambda: alarm_checks(settings, dry_run, test_alarms))
    checks += guarded(
        "summary e-mail",
        lambda: [email_check(settings, Findings.of(FLOW_NAME, checks), dry_run)],
    )
    try:
        return conclude(FLOW_NAME, Findings.of(FLOW_NAME, checks), settings.alarms_topic)
    except ChecksFailedError as failure:
        return failed_run(failure)  # type: ignore[return-value]  # ends the run Failed


if __name__ == "__main__":
    monthly_maintenance()
