"""The ``dlq-triage`` flow through Prefect's test harness (kept few: the harness is shared).

The end-to-end test strands a week of sample traffic in the DLQ with an injected DynamoDB
outage, triages, processes again, and checks the week's figures count every request once.
The others hold the flow to what it tells a person: a dry run lists the weeks a real run
would make stale, a Quick run of the deployment is a dry run named so, and a main queue
that never drains fails ``regenerate_reports`` with progress in the log, what to do, and
one alert.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
import yaml
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from prefect.exceptions import ParameterTypeError

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import load_sample
from flows import dlq_triage as triage_flow
from flows.dlq_triage import TriageFailedError, dlq_triage
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
from tests.conftest import (
    REPO_ROOT,
    alerts_received,
    client_error,
    query,
    records_of,
    subscribe_alarm_inbox,
)
from tests.flows.surfaces import run_artifacts, run_logs, run_name
from tests.tasks.sqs.conftest import WORST_BODY

WEEK = Week(2025, 45)
STALE_WEEK = Week(2025, 46)


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
    for bad in (-3, True, "3", 2.5, None):
        with pytest.raises(ParameterTypeError, match="max_messages"):
            dlq_triage(max_messages=bad)  # type: ignore[arg-type]
    bad_flags: list[Any] = ["true", 1, None]
    for bad_flag in bad_flags:
        with pytest.raises(ParameterTypeError, match="dry_run"):
            dlq_triage(dry_run=bad_flag)
    # refused before any side effect: the dead letter is where it was, visible
    assert queue_depth(aws.settings.dlq_name) == 1
    assert queue_total(aws.settings.queue_name) == 0


def summary_artifact(state: Any) -> str:
    [summary] = [
        a for a in run_artifacts(state.state_details.flow_run_id) if a["key"].endswith("-summary")
    ]
    return str(summary["data"])


def test_a_dry_run_lists_the_stale_weeks_a_real_run_then_reports(aws: StackInfo) -> None:
    # Given W46's report sent, and a W46 query and a poison message on the DLQ
    mark_report_sent(STALE_WEEK)
    put_dead_letter(aws, json.dumps(query("late-1", "2025-11-12T09:30:00")), "d1")
    put_dead_letter(aws, "{not json", "d2")
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    mails_before = len(sent)

    # When dry runs look, with and without regenerate_reports (a valid combination)
    for regenerate in (False, True):
        state = dlq_triage(dry_run=True, regenerate_reports=regenerate, return_state=True)
        # Then each completes, lists W46 as a week a real run would make stale, named so,
        assert state.is_completed(), state.message
        summary = state.result()
        assert summary.stale_weeks == [STALE_WEEK.id] and summary.regenerated_weeks == []
        markdown = summary_artifact(state)
        assert "## Stale reports (a real run would make these stale)" in markdown
        assert f"- {STALE_WEEK.id}: report already sent; a real run" in markdown
        assert run_name(state.state_details.flow_run_id).startswith("dlq-triage-dry-run-")
    # and changes nothing: no redrive, no archive, no e-mail, the DLQ as it was
    assert queue_depth(aws.settings.dlq_name) == 2
    assert queue_total(aws.settings.queue_name) == 0
    assert s3.list_keys(aws.settings.archive_bucket, "dlq/") == [] and len(sent) == mails_before

    # When the real run follows, it reports the weeks the dry run listed
    real = dlq_triage(return_state=True)
    assert real.is_completed() and real.result().stale_weeks == [STALE_WEEK.id]
    assert not run_name(real.state_details.flow_run_id).startswith("dlq-triage-dry-run")
    # and its advice does not ask for what it just did: another triage finds nothing now
    markdown = summary_artifact(real)
    assert "regenerate_reports=True" not in markdown
    assert f"report-regeneration, week={STALE_WEEK.id}, resend=true" in markdown


def deployment_parameters(name: str) -> dict[str, Any]:
    """The parameters a Quick run of the deployment ``name`` gets (prefect.yaml)."""
    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    [deployment] = [d for d in config["deployments"] if d["name"] == name]
    parameters: dict[str, Any] = deployment["parameters"]
    return parameters


def test_a_quick_run_of_the_deployment_is_a_dry_run_and_named_so(aws: StackInfo) -> None:
    put_dead_letter(aws, "{not json", "d1")
    # a Quick run: the deployment's parameters and nothing else
    state = dlq_triage(**deployment_parameters("dlq-triage"), return_state=True)
    assert state.is_completed()
    assert run_name(state.state_details.flow_run_id).startswith("dlq-triage-dry-run-")
    assert queue_depth(aws.settings.dlq_name) == 1
    assert s3.list_keys(aws.settings.archive_bucket, "dlq/") == []


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
        pytest.raises(TriageFailedError) as stopped,
    ):
        dlq_triage()

    message = str(stopped.value)
    assert "nothing was lost" not in message
    assert "2 message(s) left on the DLQ" in message and "S3 is down" in message
    assert "docs/runbook.md#dlq-alarm" in message
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
    def processor_drains(name: str) -> int:
        drain_main_queue()
        return queue_total(name)

    with patch.object(triage_flow, "main_queue_depth", side_effect=processor_drains):
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


def test_regenerate_reports_fails_saying_what_to_do_when_the_main_queue_never_drains(
    aws: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a short wait (the flow's is 5 minutes), W46's report sent, and a W46 query on
    # the DLQ, and no processor taking the main queue
    monkeypatch.setattr(triage_flow, "DRAIN_WAIT_SECONDS", 1.0)
    monkeypatch.setattr(triage_flow, "DRAIN_POLL_SECONDS", 0.05)
    monkeypatch.setattr(triage_flow, "DRAIN_REPORT_SECONDS", 0.2)
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    mark_report_sent(STALE_WEEK)
    put_dead_letter(aws, json.dumps(query("late-1", "2025-11-12T09:30:00")), "d1")

    # When triage redrives it with regenerate_reports
    state = dlq_triage(regenerate_reports=True, return_state=True)

    # Then the run fails, saying what was not done and what to do, with its runbook section
    assert state.is_failed()
    message = state.message or ""
    assert f"{STALE_WEEK.id} were NOT regenerated" in message, message
    assert "docs/runbook.md#dlq-alarm" in message and "resend=true" in message
    with pytest.raises(TriageFailedError):
        state.result()
    # its log said it was waiting, how much was left and for how long, from the start
    logs = run_logs(state.state_details.flow_run_id)
    progress = [line for line in logs if line.startswith("waiting for the main queue")]
    assert len(progress) >= 2, logs
    assert "1 message(s) left, waited 0 s of 1 s" in progress[0]
    assert "1 message(s) left, waited 1 s of 1 s" in progress[-1]
    # the failure is in the log once, with no traceback to bury it
    assert not [line for line in logs if "Traceback" in line], logs
    # the summary says what happened, never to run again with what was just asked
    markdown = summary_artifact(state)
    assert f"- {STALE_WEEK.id}: report already sent; NOT regenerated" in markdown
    assert "regenerate_reports=True" not in markdown
    # one alert carries it (the hook adds none), and the event is safe on the main queue
    [alert] = alerts_received(inbox)
    assert f"{STALE_WEEK.id} NOT regenerated" in alert["Message"]
    assert queue_total(aws.settings.queue_name) == 1
