"""tasks.dynamodb: the week's Query, as dicts and as the figures' table (in-process moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from deployments.local_stack import StackInfo
from deployments.worker import load_sample
from lambdas.processor.contract import Invalid, parse_event
from lambdas.processor.storage import store_events
from tasks.core.aggregate import FIGURE_COLUMNS, records_frame, weekly_figures
from tasks.dynamodb.week_index import query_week_records, query_week_table

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NOW_MS = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp() * 1000)  # after the sample


def store_sample(aws: StackInfo) -> None:
    """The sample's Worker traffic stored through the processor's own write path."""
    events = [parse_event(send.body, now_ms=NOW_MS) for send in load_sample()]
    valid = [e for e in events if not isinstance(e, Invalid)]
    store_events(
        boto3.client("dynamodb", region_name="us-east-1"),
        valid,
        query_events_table=aws.settings.query_events_table,
        analytics_table=aws.settings.analytics_table,
        ttl_days=aws.settings.query_events_ttl_days,
    )


def by_request(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda row: row["requestId"])


def test_week_table_holds_the_figure_columns_of_the_stored_records(aws: StackInfo) -> None:
    # Given the sample stored by the processor's write path
    store_sample(aws)
    # When W45 is read as a table and as dicts
    table = query_week_table("2025-W45")
    records = query_week_records("2025-W45")
    # Then the table has exactly the figures' columns, no payloads, the same values
    assert tuple(table.columns) == FIGURE_COLUMNS
    assert "queryEvent" not in table.columns and len(table) == len(records) > 0
    assert by_request(table.to_dict("records")) == by_request(
        records_frame(records).to_dict("records")
    )
    # and an attribute a record lacks is None, not NaN or a string
    unanswered = [row for row in table.to_dict("records") if row["matchType"] is None]
    assert unanswered and all(row["sourcesUsed"] is None for row in unanswered)


def test_figures_from_the_week_table_match_the_expected_files(aws: StackInfo) -> None:
    store_sample(aws)
    w45 = weekly_figures("2025-W45", query_week_table("2025-W45"), 1)
    w46 = weekly_figures("2025-W46", query_week_table("2025-W46"), w45.total_queries)
    for figures in (w45, w46):
        expected = json.loads((SAMPLES / f"expected-{figures.week}.json").read_text())
        assert figures.model_dump(mode="json") == expected


def test_an_empty_week_gives_an_empty_table_with_every_column(aws: StackInfo) -> None:
    table = query_week_table("2025-W40")
    assert tuple(table.columns) == FIGURE_COLUMNS and len(table) == 0
    assert weekly_figures("2025-W40", table, 0).total_queries == 0
