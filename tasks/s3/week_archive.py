"""A week's records in the S3 archive: the monthly archival and the one week reader.

Archival order is the point (:func:`archive_week`): read the week with the report's own
Query, upload the gzip JSON lines, read the object back and check count and checksum
against the manifest, write the manifest, read the week back through the one reader
(:func:`read_week`), and only then delete the records from DynamoDB. Any failure before
the last step leaves DynamoDB untouched; a deletion that stopped half-way is resumed next
month (records identical to the archived ones are deleted, any other is kept and
reported). Weekly summaries and orphan responses stay in DynamoDB: the report of an
archived week is rebuilt from the archive plus the orphans it still counts there.

A manifest means "the archive is complete and authoritative"; its absence means "read
DynamoDB". Report regeneration and maintenance both read through :func:`read_week`, so
an archived week gives the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from prefect import task

from lambdas.processor.weeks import Week
from tasks.aws import TASK_OPTIONS
from tasks.core.aggregate import records_frame
from tasks.core.archive import (
    ArchiveMismatchError,
    Manifest,
    decode_week,
    encode_week,
    manifest_key,
)
from tasks.core.maintenance import split_against_archive
from tasks.dynamodb.week_index import (
    count_week,
    delete_records,
    query_week_records,
    query_week_table,
)
from tasks.s3.objects import get_bytes, put_bytes


@task(name="find-archivable-weeks", **TASK_OPTIONS)
def find_archivable_weeks(weeks: Sequence[Week]) -> dict[Week, int]:
    """Of the candidate weeks, those still holding records in DynamoDB, with their counts.

    One count Query per week rather than a Scan: the candidates run from the earliest week
    the contract accepts to the cutoff (a few hundred partitions, each a fraction of a
    read unit when empty), which is complete and costs nothing like reading the table.
    """
    counts = {week: count_week(week) for week in weeks}
    return {week: count for week, count in counts.items() if count}


@dataclass(frozen=True)
class ArchiveOutcome:
    """What happened to one week: ``action`` is a short verb phrase for the findings."""

    week: str
    found: int
    archived: int
    deleted: int
    kept: int
    action: str


def archive_week(week: Week, dry_run: bool = False) -> ArchiveOutcome:
    """Archive one week to S3, verify it, then delete its records from DynamoDB.

    Raises (deleting nothing) when the upload, the read-back or the verification fails.
    """
    stored = query_week_records(week)
    if not stored:
        return ArchiveOutcome(week.id, 0, 0, 0, 0, "nothing to archive")
    existing = read_archived_week(week)
    if existing is not None:
        held, late = split_against_archive(stored, existing)
        if dry_run:
            action = f"would delete {len(held)} already archived records"
            return ArchiveOutcome(week.id, len(stored), len(existing), 0, len(late), action)
        deleted = delete_records([r["requestId"] for r in held])
        return ArchiveOutcome(
            week.id, len(stored), len(existing), deleted, len(late), "resumed deletion"
        )
    blob, manifest = encode_week(week, stored)
    if dry_run:
        return ArchiveOutcome(week.id, len(stored), 0, 0, 0, f"would archive {len(stored)} records")
    put_bytes(manifest.key, blob, "application/gzip")
    readback = get_bytes(manifest.key)
    if readback is None:
        raise ArchiveMismatchError(f"{manifest.key} is missing right after it was written")
    decoded = decode_week(readback, manifest)
    if sorted(r["requestId"] for r in decoded) != sorted(r["requestId"] for r in stored):
        raise ArchiveMismatchError(f"{manifest.key} does not hold the records that were read")
    put_bytes(manifest_key(week), manifest.to_json(), "application/json")
    confirmed = read_archived_week(week)  # the reader every report uses now sees the archive
    if confirmed is None or len(confirmed) != len(stored):
        raise ArchiveMismatchError(f"the archive of {week} does not read back through its manifest")
    deleted = delete_records([r["requestId"] for r in stored])
    return ArchiveOutcome(week.id, len(stored), len(confirmed), deleted, 0, "archived")


@task(name="archive-week", **TASK_OPTIONS)
def archive_week_task(week: Week, dry_run: bool = False) -> ArchiveOutcome:
    return archive_week(week, dry_run)


@dataclass(frozen=True)
class WeekRecords:
    """A week's records as the figures' table (``tasks.core.aggregate.FIGURE_COLUMNS``)."""

    week: Week
    source: Literal["dynamodb", "archive"]
    table: pd.DataFrame


def read_archived_week(week: Week) -> list[dict[str, Any]] | None:
    """The archived records of a week, verified against the manifest; None if not archived."""
    manifest_blob = get_bytes(manifest_key(week))
    if manifest_blob is None:
        return None
    manifest = Manifest.from_json(manifest_blob)
    blob = get_bytes(manifest.key)
    if blob is None:
        raise FileNotFoundError(f"manifest of {week} names {manifest.key}, which is missing")
    return decode_week(blob, manifest)


def read_week(week: Week) -> WeekRecords:
    """A week's records from the archive if it was archived, else from DynamoDB."""
    archived = read_archived_week(week)
    if archived is not None:
        return WeekRecords(week, "archive", records_frame(archived))
    return WeekRecords(week, "dynamodb", query_week_table(week))
