"""The ``dlq-triage`` flow through Prefect's test harness (kept few: the harness is shared).

The end-to-end test strands a week of sample traffic in the DLQ with an injected DynamoDB
outage, triages, processes again, and checks the week's figures count every request once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from prefect.exceptions import ParameterTypeError

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import load_sample
from flows.dlq_triage import dlq_triage
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler
from lambdas.processor.storage import write_items
from lambdas.shared.contract import Invalid, parse_event
from lambdas.shared.correlation import analytics_item, fold_events
from lambdas.shared.weeks import Week, iso_week_of_ms
from tasks.core.aggregate import weekly_figures
from tasks.core.archive import decode_records as decode_archive
from tasks.core.triage import alert_text, summary_markdown
from tasks.dynamodb.send_ledger import ledger_state
from tasks.dynamodb.summaries import summary_item
from tasks.dynamodb.week_index import query_week_records
from tasks.s3 import objects as s3
from tasks.s3.objects import get_bytes
from tasks.s3.reports import latest_report
from tasks.settings import Settings
from tasks.sqs.queues import queue_depth, queue_total
from tests.conftest import client_error, query, records_of
from tests.tasks.sqs.conftest import WORST_BODY

WEEK = Week(2025, 45)


def dynamodb_outage(*_: Any, **__: Any) -> int:
    raise client_error(
        "ServiceUnavailable", "BatchWriteItem", status=503, message="injected outage"
    )


def mark_report_sent(week: Week) -> None:
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName="cv-analytics-weekly-summaries",
        Item={"week": {"S": week.id}, "send_state": {"S": "sent"}},
    )


def drain_main_queue(timeout_seconds: float = 60.0) -> None:
    """Poll the main queue as Lambda's poller does: until it is empty, not until one empty
    receive. ``EventSourceMapping.drain`` stops at the first empty receive, and moto can
    answer one while a failed FIFO message still counts as in flight (its visibility reset
    to 0 read back in the same clock tick keeps it pending, which hides its whole group)."""
    esm = EventSourceMapping(handler)
    name = Settings().queue_name
    deadline = time.monotonic() + timeout_seconds
    esm.drain()
    while queue_total(name):
        assert time.monotonic() < deadline, f"{queue_total(name)} messages never drained"
        time.sleep(0.05)
        esm.drain()


def put_dead_letter(stack: StackInfo, body: str, dedup: str) -> None:
    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=stack.dlq_url,
        MessageBody=body,
        MessageGroupId="analytics",
        MessageDeduplicationId=dedup,
    )


def test_events_stranded_by_an_outage_are_redriven_and_counted_exactly_once(
    stack: StackInfo,
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    sends = [
        s
        for s in load_sample()
        if s.kind.startswith("invalid")
        or iso_week_of_ms(json.loads(s.body)["timestamp"]) == WEEK.id
    ]
    valid = [e for s in sends if not isinstance(e := parse_event(s.body), Invalid)]
    invalid = len(sends) - len(valid)
    assert invalid == 11 and len(valid) > 150

    # Given a DynamoDB outage while the week's traffic arrives,
    with patch("lambdas.processor.storage.write_items", side_effect=dynamodb_outage):
        for send in sends:
            sqs.send_message(**send.as_send_kwargs(stack.queue_url))
        drain_main_queue()  # a function error fails the batch, as on Lambda
    # every message is stranded in the DLQ (valid: after 3 receives; invalid: at once).
    assert queue_total(stack.settings.queue_name) == 0
    assert queue_depth(stack.settings.dlq_name) == len(sends)
    assert query_week_records(stack.settings.analytics_table, WEEK) == []
    mark_report_sent(WEEK)

    # When the outage is over and triage runs, then the processor drains the main queue,
    summary = dlq_triage()
    drain_main_queue()

    assert summary.seen == len(sends)
    assert summary.counts["redrivable"] == summary.redriven == len(valid)
    assert summary.counts["invalid_json"] + summary.counts["invalid_event"] == invalid
    assert summary.archived == invalid and summary.counts["exhausted"] == 0
    assert summary.left == 0 and queue_total(stack.settings.dlq_name) == 0
    assert summary.stale_weeks == [WEEK.id] and summary.alerted
    archived = [
        r
        for key in summary.archive_keys
        for r in decode_archive(s3.get_bytes(stack.settings.archive_bucket, key) or b"")
    ]
    assert len(archived) == invalid and sorted(
        s3.list_keys(stack.settings.archive_bucket, "dlq/")
    ) == sorted(summary.archive_keys)

    # the week's figures equal those of a clean run: each request counted exactly once.
    clean = [analytics_item(state) for state in fold_events(valid).values()]
    stored = query_week_records(stack.settings.analytics_table, WEEK)
    assert sorted(r["requestId"] for r in stored) == sorted(
        r["requestId"] for r in clean if r.get("weekKey") == WEEK.index_key
    )
    figures = weekly_figures(WEEK, stored, None)
    assert figures == weekly_figures(WEEK, clean, None)
    expected = json.loads((stack_samples() / "expected-2025-W45.json").read_text(encoding="utf-8"))
    assert figures.total_queries == expected["total_queries"]
    assert figures.match_counts.model_dump() == expected["match_counts"]


def stack_samples() -> Any:
    from deployments.worker import SAMPLES_DIR

    return SAMPLES_DIR


def test_a_dry_run_changes_nothing(aws: StackInfo) -> None:
    put_dead_letter(aws, "{not json", "d1")
    put_dead_letter(aws, json.dumps({"eventType": "query"}), "d2")
    before = queue_depth(aws.settings.dlq_name)

    summary = dlq_triage(dry_run=True)

    assert summary.dry_run and summary.seen == before == 2
    assert summary.counts["invalid_json"] == summary.counts["invalid_event"] == 1
    assert (summary.archived, summary.redriven, summary.alerted) == (0, 0, False)
    assert queue_depth(aws.settings.dlq_name) == before  # visible again, as found
    assert queue_total(aws.settings.queue_name) == 0
    assert s3.list_keys(aws.settings.archive_bucket, "dlq/") == []


def test_bad_parameters_are_refused_with_what_was_expected(aws: StackInfo) -> None:
    put_dead_letter(aws, json.dumps(query("q-1", "2025-11-12T09:30:00")), "d1")
    for bad in (0, -3, True, "3", 2.5):
        with pytest.raises(ParameterTypeError, match="max_messages"):
            dlq_triage(max_messages=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs dry_run=False"):
        dlq_triage(dry_run=True, regenerate_reports=True)
    # refused before any side effect: the dead letter is where it was, visible
    assert queue_depth(aws.settings.dlq_name) == 1
    assert queue_total(aws.settings.queue_name) == 0


def test_the_worst_body_at_the_head_of_the_dlq_does_not_stop_the_run(aws: StackInfo) -> None:
    # Given the worst body at the head of the one-group DLQ and two pages behind it
    put_dead_letter(aws, WORST_BODY, "worst")
    for i in range(15):
        put_dead_letter(aws, json.dumps(query(f"q-{i}", "2025-11-12T09:30:00")), f"d{i}")

    summary = dlq_triage()

    # Then it is archived as poison and every later message is triaged
    assert summary.seen == 16 and summary.left == 0 and summary.stopped is None
    assert (summary.archived, summary.redriven, summary.counts["redrivable"]) == (1, 15, 15)
    assert queue_total(aws.settings.dlq_name) == 0
    shown = summary_markdown(summary) + " ".join(alert_text(summary, 10))
    assert "jane.doe" not in shown and "7700 900123" not in shown


def test_a_run_stopped_by_an_outage_says_what_was_left_and_why(aws: StackInfo) -> None:
    put_dead_letter(aws, "{not json: jane.doe@example.com", "d1")
    put_dead_letter(aws, json.dumps(query("q-1", "2025-11-12T09:30:00")), "d2")

    def s3_outage(*_: Any, **__: Any) -> None:
        raise client_error("ServiceUnavailable", "PutObject", status=503, message="S3 is down")

    with (
        patch("tasks.s3.objects.put_bytes", side_effect=s3_outage),
        pytest.raises(RuntimeError) as stopped,
    ):
        dlq_triage()

    message = str(stopped.value)
    assert "nothing was lost" not in message
    assert "2 message(s) left on the DLQ" in message and "S3 is down" in message
    assert "jane.doe" not in message and "not json" not in message
    assert queue_depth(aws.settings.dlq_name) == 2  # nothing deleted, visible for the next run
    assert s3.list_keys(aws.settings.archive_bucket, "dlq/") == []


def test_regenerate_reports_resends_each_stale_week_with_the_redriven_events_counted(
    aws: StackInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(tmp_path / "reports"))
    stale_week = Week(2025, 46)
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    # Given W46's report sent with the one query stored then
    [early] = records_of(query("early-1", "2025-11-11T10:00:00"))
    write_items(boto3.client("dynamodb"), [(aws.settings.analytics_table, early)])
    assert weekly_report(stale_week.id).total_queries == 1
    mails_before = len(sent)
    # and a W46 query that was stranded in the DLQ meanwhile
    late = query("late-1", "2025-11-12T09:30:00", "does he know Go?")
    put_dead_letter(aws, json.dumps(late), "d1")

    # When triage redrives it with regenerate_reports, while the processor drains the queue
    def processor_drains(*_: Any, **__: Any) -> bool:
        drain_main_queue()
        return queue_total(aws.settings.queue_name) == 0

    with patch("flows.dlq_triage.wait_for_main_queue", side_effect=processor_drains):
        summary = dlq_triage(regenerate_reports=True)

    # Then W46 is stale and regenerated: re-computed with the late query, re-sent once
    assert summary.redriven == 1
    assert summary.stale_weeks == summary.regenerated_weeks == [stale_week.id]
    assert len(sent) == mails_before + 1
    report = json.loads(
        get_bytes(
            aws.settings.archive_bucket,
            latest_report(aws.settings.archive_bucket, stale_week)["report.json"],
        )
        or b"{}"
    )
    assert report["week"] == stale_week.id and report["total_queries"] == 2
    assert [t["query"] for t in report["top_queries"]] == [
        "does he know go?",
        "does he know python?",
    ]
    item = summary_item(aws.settings.summaries_table, stale_week)
    assert item is not None and item["total_queries"]["N"] == "2"
    assert ledger_state(aws.settings.summaries_table, stale_week)[0] == "sent"
