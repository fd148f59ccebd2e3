"""The one reader of a week's records, wherever they live now.

Monthly maintenance moves weeks older than 90 days from DynamoDB to the S3 archive and
writes the manifest only after verifying the upload; so a manifest means "the archive is
complete and authoritative", and its absence means "read DynamoDB". Report regeneration
and maintenance both go through here, so an archived week gives the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from tasks.aggregate import records_frame
from tasks.archive_format import Manifest, decode_week, manifest_key
from tasks.dynamodb import query_week_table
from tasks.s3 import get_bytes


@dataclass(frozen=True)
class WeekRecords:
    """A week's records as the figures' table (``tasks.aggregate.FIGURE_COLUMNS``)."""

    week: str
    source: Literal["dynamodb", "archive"]
    table: pd.DataFrame


def read_archived_week(week: str) -> list[dict[str, Any]] | None:
    """The archived records of a week, verified against the manifest; None if not archived."""
    manifest_blob = get_bytes(manifest_key(week))
    if manifest_blob is None:
        return None
    manifest = Manifest.from_json(manifest_blob)
    blob = get_bytes(manifest.key)
    if blob is None:
        raise FileNotFoundError(f"manifest of {week} names {manifest.key}, which is missing")
    return decode_week(blob, manifest)


def read_week(week: str) -> WeekRecords:
    """A week's records from the archive if it was archived, else from DynamoDB."""
    archived = read_archived_week(week)
    if archived is not None:
        return WeekRecords(week, "archive", records_frame(archived))
    return WeekRecords(week, "dynamodb", query_week_table(week))
