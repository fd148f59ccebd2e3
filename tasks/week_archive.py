"""A week's records in the S3 archive: the monthly archival and the one week reader.

Archival order is the point (:func:`archive_week`): read the week with the report's own
Query, write the records object (S3 confirms its SHA-256), read it back and decode it,
write the next manifest (a new object, never a replaced one), read the week back through
the one reader (:func:`read_week`), and only then delete each record from DynamoDB, on
the condition that it is unchanged since it was read. Any failure before the deletes
leaves DynamoDB as it was; a record the processor changed meanwhile stays and is
archived next month. A record that arrives after its week was archived is merged into a
new archive (new records object, verified, new manifest) before it is deleted, so
regenerating that week's report counts it. Weekly summaries and orphan responses stay in
DynamoDB.

The newest manifest means "this archive is complete and authoritative"; none means
"read DynamoDB". Report regeneration and maintenance both read through :func:`read_week`,
so an archived week gives the same figures. The tables and the bucket are the flow's
settings, passed in (``settings``): this module reads none of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from prefect import task

from lambdas.shared.weeks import Week
from tasks.aws import TASK_OPTIONS
from tasks.core.aggregate import records_frame
from tasks.core.archive import (
    ArchiveMismatchError,
    Manifest,
    decode_week,
    encode_week,
    latest_manifest_key,
    manifest_key,
    manifest_prefix,
)
from tasks.core.maintenance import merge_late_records, split_against_archive
from tasks.dynamodb.week_index import (
    count_week,
    delete_unchanged,
    query_week_records,
    query_week_table,
)
from tasks.s3.objects import get_bytes, list_keys, put_bytes
from tasks.settings import Settings


@task(name="find-archivable-weeks", **TASK_OPTIONS)
def find_archivable_weeks(weeks: Sequence[Week], settings: Settings) -> dict[Week, int]:
    """Of the candidate weeks, those still holding records in DynamoDB, with their counts.

    One count Query per week rather than a Scan: the candidates run from the earliest week
    the contract accepts to the cutoff (a few hundred partitions, each a fraction of a
    read unit when empty), which is complete and costs nothing like reading the table.
    """
    counts = {week: count_week(settings.analytics_table, week) for week in weeks}
    return {week: count for week, count in counts.items() if count}


@dataclass(frozen=True)
class ArchiveOutcome:
    """What happened to one week: ``action`` is a short verb phrase for the findings.

    ``kept``: records the processor changed between our read and our delete; they stay in
    DynamoDB and the next archival merges them.
    """

    week: str
    found: int
    archived: int
    deleted: int
    kept: int
    action: str


def archive_week(week: Week, settings: Settings, dry_run: bool = False) -> ArchiveOutcome:
    """Archive one week to S3 (or merge late records into its archive), confirm, then delete.

    Raises, deleting nothing, when a write is refused or the archive does not read back as
    the records it was made from.
    """
    table = settings.analytics_table
    stored = query_week_records(table, week)
    if not stored:
        return ArchiveOutcome(week.id, 0, 0, 0, 0, "nothing to archive")
    bucket = settings.archive_bucket
    current = latest_archive(week, settings)
    if current is None:
        records, seq, verb = stored, 1, "archived"
        planned = f"would archive {len(stored)} records"
    else:
        archived, manifest = current
        held, late = split_against_archive(stored, archived)
        if not late:  # an earlier archival stopped before it had deleted everything
            if dry_run:
                action = f"would delete {len(held)} already archived records"
                return ArchiveOutcome(week.id, len(stored), len(archived), 0, 0, action)
            deleted, kept = delete_unchanged(table, held)
            action = "resumed deletion"
            return ArchiveOutcome(week.id, len(stored), len(archived), deleted, kept, action)
        records = merge_late_records(archived, late)
        seq, verb = manifest.seq + 1, f"merged {len(late)} late records into the archive"
        planned = f"would merge {len(late)} late records into the archive"
    blob, new_manifest = encode_week(week, records, seq)
    if dry_run:
        return ArchiveOutcome(week.id, len(stored), 0, 0, 0, planned)
    put_bytes(bucket, new_manifest.key, blob, "application/gzip")  # S3 confirms the SHA-256
    readback = get_bytes(
        bucket, new_manifest.key
    )  # and it decodes to these records: else no manifest
    if readback is None:
        raise ArchiveMismatchError(f"{new_manifest.key} is missing right after it was written")
    if [r["requestId"] for r in decode_week(readback, new_manifest)] != sorted(
        r["requestId"] for r in records
    ):
        raise ArchiveMismatchError(f"{new_manifest.key} does not hold the records that were read")
    put_bytes(bucket, manifest_key(week, seq), new_manifest.to_json(), "application/json")
    confirmed = read_archived_week(
        week, settings
    )  # the reader every report uses now sees the archive
    expected = sorted(r["requestId"] for r in records)
    if confirmed is None or sorted(r["requestId"] for r in confirmed) != expected:
        raise ArchiveMismatchError(f"the archive of {week} does not read back through its manifest")
    deleted, kept = delete_unchanged(table, stored)
    return ArchiveOutcome(week.id, len(stored), len(confirmed), deleted, kept, verb)


@task(name="archive-week", **TASK_OPTIONS)
def archive_week_task(week: Week, settings: Settings, dry_run: bool = False) -> ArchiveOutcome:
    return archive_week(week, settings, dry_run)


@dataclass(frozen=True)
class WeekRecords:
    """A week's records as the figures' table (``tasks.core.aggregate.FIGURE_COLUMNS``)."""

    week: Week
    source: Literal["dynamodb", "archive"]
    table: pd.DataFrame


def latest_archive(week: Week, settings: Settings) -> tuple[list[dict[str, Any]], Manifest] | None:
    """The week's newest archive, verified against its manifest; None if never archived."""
    bucket = settings.archive_bucket
    key = latest_manifest_key(week, list_keys(bucket, manifest_prefix(week)))
    if key is None:
        return None
    manifest_blob = get_bytes(bucket, key)
    if manifest_blob is None:
        raise FileNotFoundError(f"{key} was listed but cannot be read")
    manifest = Manifest.from_json(manifest_blob)
    blob = get_bytes(bucket, manifest.key)
    if blob is None:
        raise FileNotFoundError(f"{key} names {manifest.key}, which is missing")
    return decode_week(blob, manifest), manifest


def read_archived_week(week: Week, settings: Settings) -> list[dict[str, Any]] | None:
    """The archived records of a week, verified against the manifest; None if not archived."""
    current = latest_archive(week, settings)
    return None if current is None else current[0]


def read_week(week: Week, settings: Settings) -> WeekRecords:
    """A week's records from the archive if it was archived, else from DynamoDB."""
    archived = read_archived_week(week, settings)
    if archived is not None:
        return WeekRecords(week, "archive", records_frame(archived))
    return WeekRecords(week, "dynamodb", query_week_table(settings.analytics_table, week))
