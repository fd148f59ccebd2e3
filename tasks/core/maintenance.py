"""The monthly maintenance's decisions, separated from the AWS calls that act on them. Pure.

Which log groups get a retention policy, which backups are rotated out, which weeks are
old enough to archive, and which DynamoDB records an existing archive already holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lambdas.shared.correlation import analytics_item, merge, state_from_item
from lambdas.shared.weeks import Week

BACKUP_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
AVAILABLE = "AVAILABLE"


def needs_retention(retention_days: int | None, target_days: int) -> bool:
    """A log group needs the policy when it keeps logs forever or longer than the target."""
    return retention_days is None or retention_days > target_days


def backup_prefix(table: str) -> str:
    """The name prefix of backups made by this flow: only these are ever rotated out."""
    return f"{table}-monthly-"


def backup_name(table: str, now: datetime) -> str:
    """``<table>-monthly-<UTC timestamp>`` (letters, digits, ``-``: valid backup names)."""
    return backup_prefix(table) + now.astimezone(UTC).strftime(BACKUP_TIME_FORMAT)


@dataclass(frozen=True)
class BackupInfo:
    name: str
    arn: str
    created: datetime
    status: str = AVAILABLE


def backups_to_delete(backups: Iterable[BackupInfo], prefix: str, keep: int) -> list[BackupInfo]:
    """Ours (name starts with ``prefix``) beyond the newest ``keep``, oldest last kept first.

    Newest is by creation time, then name (names carry the timestamp), so two backups of
    the same second still order deterministically. Other backups are never touched, and
    only AVAILABLE ones count toward ``keep``: one still CREATING (or failed) replaces
    nothing yet, so nothing is deleted on its account.
    """
    if keep < 1:
        raise ValueError(f"backups to keep must be at least 1, got {keep}")
    ours = sorted(
        (b for b in backups if b.name.startswith(prefix) and b.status == AVAILABLE),
        key=lambda b: (b.created, b.name),
        reverse=True,
    )
    return ours[keep:]


def archive_cutoff(now: datetime, archive_after_days: int) -> datetime:
    """Weeks that ended at or before this instant are old enough to archive."""
    if archive_after_days < 1:
        raise ValueError(f"archive_after_days must be at least 1, got {archive_after_days}")
    return now.astimezone(UTC) - timedelta(days=archive_after_days)


def weeks_ended_before(first_week: Week, cutoff: datetime) -> list[Week]:
    """Every ISO week from ``first_week`` whose end (next Monday 00:00 UTC) <= ``cutoff``."""
    weeks: list[Week] = []
    week = first_week
    while week.end <= cutoff:
        weeks.append(week)
        week = week.shift(1)
    return weeks


def first_possible_week(earliest_event_ms: int) -> Week:
    """The week of the earliest event time the contract accepts: no record is older."""
    return Week.of_ms(earliest_event_ms)


def merge_late_records(
    archived: Sequence[Mapping[str, Any]], late: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The archive with records that arrived after it merged in, one record per request.

    A late record of a request the archive already holds is joined with it the way the
    processor joins events (``correlation.merge``: order never matters), so a query
    redriven after its week was archived and the archived response make one record.
    """
    by_id: dict[str, dict[str, Any]] = {r["requestId"]: dict(r) for r in archived}
    for record in late:
        rid = record["requestId"]
        if rid in by_id:
            joined = merge(state_from_item(by_id[rid]), state_from_item(dict(record)))
            by_id[rid] = analytics_item(joined)
        else:
            by_id[rid] = dict(record)
    return [by_id[rid] for rid in sorted(by_id)]


def split_against_archive(
    stored: Sequence[Mapping[str, Any]], archived: Sequence[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Stored records the archive already holds verbatim, and those it does not.

    After an interrupted deletion the first kind is safe to delete; the second kind (a late
    event stored after the week was archived) is merged in first (:func:`merge_late_records`).
    """
    by_id = {record["requestId"]: record for record in archived}
    held = [record for record in stored if by_id.get(record["requestId"]) == record]
    held_ids = {id(record) for record in held}
    return held, [record for record in stored if id(record) not in held_ids]
