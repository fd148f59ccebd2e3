"""The weekly summaries: figures and totals a later week's report reads, and the previous
week's total computed once when it has no summary (in-process moto)."""

from __future__ import annotations

from unittest.mock import patch

import boto3

from deployments.local_stack import StackInfo
from lambdas.processor.storage import write_items
from lambdas.shared.weeks import Week
from tasks import report_delivery, weekly_summaries
from tasks.core.aggregate import WeeklyFigures, stored_summary, weekly_figures
from tasks.dynamodb import send_ledger, summaries
from tasks.settings import Settings
from tests.conftest import query, records_of, response

WEEK = Week(2025, 45)
RAW = b"Subject: CV Analytics Weekly Report - Week 2025-W45\r\n\r\nhello\r\n"


def test_summary_round_trips_without_touching_the_ledger(aws: StackInfo) -> None:
    records = records_of(query("a", "2025-11-05T10:00:00"), response("a", "2025-11-05T10:00:01"))
    figures = weekly_figures(WEEK, records, 0)
    report_delivery.send_report_once(
        WEEK,
        RAW,
        aws.settings.summaries_table,
        aws.settings.report_sender,
        aws.settings.report_recipients,
    )
    summaries.save_summary(aws.settings.summaries_table, figures, "dynamodb")
    item = summaries.summary_item(aws.settings.summaries_table, WEEK)
    assert item is not None
    assert WeeklyFigures.model_validate(summaries.stored_figures(item)) == figures
    assert summaries.summary_of_item(WEEK, item) == stored_summary(figures)
    assert send_ledger.ledger_state(aws.settings.summaries_table, WEEK)[0] == "sent"
    # The next week's previous total comes from the summary, reading no records
    with patch.object(weekly_summaries, "read_week", side_effect=AssertionError("records re-read")):
        assert weekly_summaries.previous_week_total(Week(2025, 46), aws.settings) == 1


def test_missing_previous_summary_is_computed_once_from_records(aws: StackInfo) -> None:
    records = records_of(
        query("a", "2025-11-05T10:00:00"),
        query("b", "2025-11-06T10:00:00"),
        query("c", "2025-11-10T10:00:00"),  # 2025-W46: not W45's
    )
    settings = Settings()
    write_items(boto3.client("dynamodb"), [(settings.analytics_table, r) for r in records])
    assert weekly_summaries.previous_week_total(Week(2025, 46), aws.settings) == 2
    item = summaries.summary_item(aws.settings.summaries_table, WEEK)
    assert item is not None and item["total_queries"]["N"] == "2"
    with patch.object(weekly_summaries, "read_week", side_effect=AssertionError("records re-read")):
        assert weekly_summaries.previous_week_total(Week(2025, 46), aws.settings) == 2
