"""The week's GSI Query, as dicts and as the figures' table, on the stored sample.

The sample is stored once per module through the processor's own write path (the tests
here only read it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from deployments.local_stack import StackInfo, provision
from lambdas.processor.handler import reset_clients
from lambdas.shared.weeks import Week
from tasks.core.aggregate import FIGURE_COLUMNS, metric_figures, records_frame, weekly_figures
from tasks.dynamodb import week_index
from tasks.dynamodb.week_index import query_week_records, query_week_table
from tests.conftest import SAMPLES, store_sample

W45, W46 = Week(2025, 45), Week(2025, 46)


def expected(week: Week) -> dict[str, Any]:
    return dict(json.loads((SAMPLES / f"expected-{week}.json").read_text()))


@pytest.fixture(scope="module")
def sample_stack() -> Iterator[StackInfo]:
    """In-process moto with the stack provisioned and the sample stored (read-only here)."""
    with mock_aws():
        reset_clients()
        info = provision()
        store_sample(info)
        yield info


def by_request(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda row: row["requestId"])


def test_week_table_holds_the_figure_columns_of_the_stored_records(
    sample_stack: StackInfo,
) -> None:
    # When W45 is read as a table and as dicts
    table = query_week_table(sample_stack.settings.analytics_table, W45)
    records = query_week_records(sample_stack.settings.analytics_table, W45)
    # Then the table has exactly the figures' columns, no payloads, the same values
    assert tuple(table.columns) == FIGURE_COLUMNS
    assert "queryEvent" not in table.columns and len(table) == len(records) > 0
    assert by_request(table.to_dict("records")) == by_request(
        records_frame(records).to_dict("records")
    )
    # and an attribute a record lacks is None, not NaN or a string
    unanswered = [row for row in table.to_dict("records") if row["matchType"] is None]
    assert unanswered and all(row["sourcesUsed"] is None for row in unanswered)


def test_figures_from_the_week_table_match_the_expected_files(sample_stack: StackInfo) -> None:
    w45 = weekly_figures(W45, query_week_table(sample_stack.settings.analytics_table, W45), 1)
    w46 = weekly_figures(
        W46, query_week_table(sample_stack.settings.analytics_table, W46), w45.total_queries
    )
    for figures in (w45, w46):
        assert metric_figures(figures) == expected(Week.parse(figures.week))


def test_an_empty_week_gives_an_empty_table_with_every_column(sample_stack: StackInfo) -> None:
    table = query_week_table(sample_stack.settings.analytics_table, Week(2025, 40))
    assert tuple(table.columns) == FIGURE_COLUMNS and len(table) == 0
    assert weekly_figures(Week(2025, 40), table, 0).total_queries == 0


def test_read_recent_records_finds_awaiting_queries_and_orphans(sample_stack: StackInfo) -> None:
    records, orphans = week_index.read_recent_records.fn(
        sample_stack.settings.analytics_table, [W45, W46]
    )
    # every record of both partitions
    assert len(records) == expected(W45)["total_queries"] + expected(W46)["total_queries"]
    assert {r["weekKey"] for r in records} == {W45.index_key, W46.index_key}
    # including the queries still awaiting a response
    waiting = [r for r in records if "responseTs" not in r]
    assert len(waiting) == expected(W45)["unanswered"] + expected(W46)["unanswered"]
    # and the sample's orphan responses, filed apart, with no query week
    assert len(orphans) == 3
    assert {o["weekKey"] for o in orphans} <= {W45.orphan_key, W46.orphan_key}
    assert all("week" not in o for o in orphans)
