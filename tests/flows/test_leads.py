"""The leads flow on Prefect's engine and the emulated AWS (docs/spec/report-insights.md,
section 7): each lead reaches the report's recipients once, across a retry and a re-run;
its details are on no other surface; TTL deletes it after the retention; nothing happens
when the feature is off; a bad lookback is refused before any AWS call."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from prefect import flow, task
from prefect.settings import (
    PREFECT_LOCAL_STORAGE_PATH,
    PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    temporary_settings,
)

from deployments.local_stack import StackInfo, expire_ttl_items
from flows.leads import leads
from flows.weekly_report import weekly_report
from lambdas.processor.storage import store_events
from lambdas.shared.contract import Invalid, parse_event
from lambdas.shared.weeks import Week
from tasks import ses
from tasks.aws import reset_aws_clients
from tasks.core.leads import SENT_AGAIN
from tasks.dynamodb.leads import delivered_count
from tasks.settings import Settings
from tests.conftest import alerts_received, client_error, subscribe_alarm_inbox
from tests.flows.surfaces import (
    artifacts_and_logs,
    retry_from_ui,
    run_artifacts,
    run_ids_since,
    run_logs,
    texts_of_mail,
)

REGION = "us-east-1"
#: Each lead's details as the visitor typed them, and their digits (a number reformatted
#: is the same number).
JANE, JOE_PHONE, ANON_PHONE = "Jane.Doe@Example.COM", "+44 7700 900123", "07700 900456"
SECRETS = (JANE, JOE_PHONE, ANON_PHONE)
DIGITS = ("447700900123", "07700900456")
#: Questions of the leads' sessions: e-mailed with the lead, shown by no leads surface.
QUESTIONS = ("what is your notice period", "does he know zanzibarian cobol")


def at(hours_ago: float, now: datetime | None = None) -> int:
    return int(((now or datetime.now(UTC)) - timedelta(hours=hours_ago)).timestamp() * 1000)


def visits(now: datetime | None = None, hours_ago: float = 3) -> list[dict[str, Any]]:
    """Three leads (two sessions and an anonymous visitor) among other questions, the
    first ``hours_ago`` hours before ``now``."""
    h = hours_ago
    asked = [  # oldest first
        ("s1-q", h, "What is your notice period?", "s1", "full"),
        ("s1-lead", h - 0.1, f"Email me at {JANE} about a role", "s1", "none"),
        ("s2-q", h - 0.2, "Does he know Zanzibarian COBOL?", "s2", "partial"),
        ("s2-lead", h - 0.3, f"Call {JOE_PHONE} if he is free", "s2", "none"),
        ("anon-lead", h - 0.4, f"my number is {ANON_PHONE}, call me", None, None),
        ("other", h - 0.5, "what's your tech stack?", "s3", "full"),
    ]
    events: list[dict[str, Any]] = []
    for rid, hours, text, session, answer in asked:
        ts = at(hours, now)
        query: dict[str, Any] = {"eventType": "query", "requestId": rid, "timestamp": ts}
        query["query"] = text
        if session:
            query["sessionId"] = session
        events.append(query)
        if answer:
            events.append(
                {
                    "eventType": "response",
                    "requestId": rid,
                    "timestamp": ts + 1500,
                    "matchType": answer,
                    "matchScore": 50,
                    "reasoning": "test",
                }
            )
    return events


def store(stack: StackInfo, events: list[dict[str, Any]]) -> None:
    """The events stored through the processor's own write path."""
    parsed = [parse_event(json.dumps(e)) for e in events]
    valid = [p for p in parsed if not isinstance(p, Invalid)]
    assert len(valid) == len(parsed), parsed
    store_events(
        boto3.client("dynamodb", region_name=REGION),
        valid,
        query_events_table=stack.settings.query_events_table,
        analytics_table=stack.settings.analytics_table,
        ttl_days=stack.settings.query_events_ttl_days,
    )


def lead_mails() -> list[tuple[list[str], str]]:
    """(destinations, all decoded texts) of every lead e-mail SES accepted."""
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    mails = [(list(m.destinations), "\n".join(texts_of_mail(m.raw_data))) for m in sent]
    return [mail for mail in mails if "New lead: a visitor left contact details" in mail[1]]


def items(table: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION)
    pages = client.get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page.get("Items", [])]


def states(table: str) -> dict[str, str]:
    return {i["requestId"]["S"]: i["send_state"]["S"] for i in items(table)}


def refusing(call: int, error: Callable[[], BaseException]) -> Callable[..., str]:
    """``ses.send_raw_email`` that fails its ``call``-th call with ``error()``."""
    real = ses.send_raw_email
    calls = {"n": 0}

    def send(raw: bytes, sender: str, recipients: Any) -> str:
        calls["n"] += 1
        if calls["n"] == call:
            raise error()
        return real(raw, sender, recipients)

    return send


# --- exactly once ---------------------------------------------------------------------------


def test_each_lead_is_delivered_once_across_a_retry_and_a_rerun(aws: StackInfo) -> None:
    store(aws, visits())
    table = aws.settings.leads_table

    # Given SES refusing the second of the three leads' e-mails
    refused = refusing(2, lambda: client_error("MessageRejected", "SendRawEmail"))
    with patch.object(ses, "send_raw_email", refused):
        first = leads(return_state=True)

    # the run fails saying what happens next, the refused lead is pending again,
    assert first.is_failed()
    assert "1 lead(s) not delivered (MessageRejected)" in str(first.message)
    assert "Retry" in str(first.message)
    assert states(table) == {"s1-lead": "sent", "s2-lead": "pending", "anon-lead": "sent"}
    assert len(lead_mails()) == 2

    # when the operator presses Retry, and later the hourly run comes,
    retried = retry_from_ui(leads, first)
    assert retried.is_completed(), retried.message
    assert retried.result().delivered == 1
    again = leads()

    # then nothing was sent twice and every lead once, to the report's recipients
    assert (again.found, again.recorded, again.delivered) == (3, 0, 0)
    assert set(states(table).values()) == {"sent"}
    mails = lead_mails()
    assert len(mails) == 3
    for destinations, _ in mails:
        assert set(destinations) == set(Settings().report_recipients)
    for secret in SECRETS:
        assert sum(secret in text for _, text in mails) == 1, secret
    # and each try of the failed run kept its own artifact
    run_id = first.state_details.flow_run_id
    assert [a["key"] for a in run_artifacts(run_id)] == [
        "leads-try01-1-counts",
        "leads-try02-1-counts",
    ]
    # the weekly report's count of delivered leads sees them
    weeks = {Week.parse(item["week"]["S"]) for item in items(table)}
    assert sum(delivered_count(table, week) for week in weeks) == 3


def asked(rid: str, hours_ago: float, text: str, session: str | None) -> dict[str, Any]:
    """One visitor's question (no answer), ``hours_ago`` hours before now."""
    query: dict[str, Any] = {"eventType": "query", "requestId": rid, "timestamp": at(hours_ago)}
    return query | {"query": text} | ({"sessionId": session} if session else {})


#: The same number as one visitor types it again and again.
TYPED = ("+44 7700 900123", "+44 (7700) 900-123", "+447700900123")


def test_a_visitor_leaving_one_number_12_times_gets_one_email_saying_12(aws: StackInfo) -> None:
    table = aws.settings.leads_table
    # Given a session that left the same number 10 times (however formatted), then another
    # number, and two anonymous visitors who left one same number
    rows: list[tuple[str, float, str, str | None]] = [
        (f"rep-{n:02d}", 20 - n, f"Call {TYPED[n % 3]} if he is free", "rep") for n in range(10)
    ]
    rows += [("rep-new-number", 9, "or call 07700 900999 instead", "rep")]
    rows += [(f"anon-{n}", 8, f"my number is {ANON_PHONE}, call me", None) for n in range(2)]
    store(aws, [asked(*row) for row in rows])

    # When SES refuses the first e-mail (the repeated number's),
    refused = refusing(1, lambda: client_error("MessageRejected", "SendRawEmail"))
    with patch.object(ses, "send_raw_email", refused):
        first = leads(return_state=True)
    assert first.is_failed()
    assert len(lead_mails()) == 3  # the new number and the two anonymous visitors
    # and the visitor types it twice more before the operator presses Retry,
    store(
        aws,
        [asked(f"rep-{n:02d}", 20 - n, f"Call {TYPED[0]} if he is free", "rep") for n in (10, 11)],
    )
    retried = retry_from_ui(leads, first)
    # and once more after it was delivered, seen by a re-run whose 1 h window no longer
    # holds the first
    store(aws, [asked("rep-12", 0.5, f"call {TYPED[1]} if he is free", "rep")])
    rerun = leads(lookback_hours=1)

    # Then the repeated number reached the owner in ONE e-mail, saying 12 times
    assert retried.is_completed(), retried.message
    assert (retried.result().recorded, retried.result().repeats) == (2, 2)
    assert (rerun.recorded, rerun.repeats, rerun.delivered) == (1, 1, 0)
    mails = [text for _, text in lead_mails()]
    assert len(mails) == 4
    (repeated,) = [text for text in mails if "7700 900123" in text]
    assert "They left these same details 12 times" in repeated
    # the other number was a lead of its own, the anonymous visitors were not merged
    assert sum("07700 900999" in text for text in mails) == 1
    assert sum(ANON_PHONE in text for text in mails) == 2
    assert not any("same details" in text for text in mails if text != repeated)
    # the repeats are recorded without details, pointing at their first; never sent
    by_id = {item["requestId"]["S"]: item for item in items(table)}
    repeats = {rid: item for rid, item in by_id.items() if item["send_state"]["S"] == "repeat"}
    assert sorted(repeats) == [f"rep-{n:02d}" for n in range(1, 13)]
    for item in repeats.values():
        assert item["repeat_of"]["S"] == "rep-00"
        assert "details" not in item and "asked" not in item
    assert by_id["rep-00"]["send_state"]["S"] == "sent"
    # the first try's log lists 5 of the 13 ids it recorded, then how many more
    assert (
        "13 lead(s) in the window, 13 recorded now (9 of them repeats): "
        "rep-00, rep-01, rep-02, rep-03, rep-04 and 8 more"
    ) in run_logs(first.state_details.flow_run_id)
    # and the weekly leads line counts every time details were left as delivered
    weeks = {Week.parse(item["week"]["S"]) for item in items(table)}
    assert sum(delivered_count(table, week) for week in weeks) == 16


def test_a_first_lead_that_does_not_decrypt_is_not_compared(aws: StackInfo) -> None:
    # Given a session's lead recorded and sent, whose ciphertext no longer decrypts
    table = aws.settings.leads_table
    store(aws, [asked("first", 5, f"Call {TYPED[0]} if he is free", "s")])
    leads()
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=table,
        Key={"requestId": {"S": "first"}},
        UpdateExpression="SET details = :broken",
        ExpressionAttributeValues={":broken": {"B": b"not a KMS ciphertext"}},
    )
    # when the visitor leaves the same number again
    store(aws, [asked("again", 1, f"Call {TYPED[1]} if he is free", "s")])
    state = leads(return_state=True)
    # then the run goes on: the new one is a lead of its own, e-mailed (a rare second
    # e-mail rather than a blocked run), and the log names the lead and KMS's code
    counts = state.result()
    assert (counts.recorded, counts.repeats, counts.delivered) == (1, 0, 1)
    assert "Lead first: its details do not read back (InvalidCiphertextException)" in run_logs(
        state.state_details.flow_run_id
    )
    assert states(table) == {"first": "sent", "again": "sent"}
    assert len(lead_mails()) == 2


def test_a_transient_refusal_is_retried_within_the_run(aws: StackInfo) -> None:
    store(aws, visits())
    throttled = refusing(1, lambda: client_error("Throttling", "SendRawEmail"))
    with patch.object(ses, "send_raw_email", throttled):
        counts = leads()
    assert (counts.found, counts.recorded, counts.delivered, counts.pending) == (3, 3, 3, 0)
    assert len(lead_mails()) == 3


def test_a_send_whose_outcome_is_unknown_is_sent_again_and_says_so(aws: StackInfo) -> None:
    store(aws, visits())

    def accepted_then_lost(raw: bytes, sender: str, recipients: Any) -> str:
        ses_send(raw, sender, recipients)  # SES accepted it ...
        raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")

    ses_send = ses.send_raw_email
    with patch.object(ses, "send_raw_email", accepted_then_lost):
        first = leads(return_state=True)
    # ... and the answer was lost: that lead stays 'sending', the others wait untried
    assert first.is_failed() and "ReadTimeoutError" in str(first.message)
    assert states(aws.settings.leads_table) == {
        "s1-lead": "sending",
        "s2-lead": "pending",
        "anon-lead": "pending",
    }
    assert len(lead_mails()) == 1

    counts = leads()

    # the next run delivers all three, the first again and marked as possibly sent
    assert (counts.delivered, counts.sent_again, counts.pending) == (3, 1, 0)
    mails = [text for _, text in lead_mails()]
    assert len(mails) == 4
    assert [SENT_AGAIN in text.lower() for text in mails] == [False, True, False, False]
    assert JANE in mails[0] and JANE in mails[1]


# --- never elsewhere ------------------------------------------------------------------------


def _decoded(blob: bytes) -> bytes:
    """A stored blob and what it may hold encoded: a Prefect result record (JSON whose
    ``result`` is base64 of the pickled value), zlib (stored summaries), gzip (archives)."""
    found = [blob]
    try:
        record = json.loads(blob)
    except ValueError:
        record = None
    if isinstance(record, dict) and isinstance(record.get("result"), str):
        found.append(base64.b64decode(record["result"]))
    for decode in (zlib.decompress, gzip.decompress):
        try:
            found.append(decode(blob))
        except (zlib.error, OSError, EOFError):
            continue
    return b"\n".join(found)


def _leaks(where: str, texts: list[str], with_questions: bool = False) -> list[tuple[str, str]]:
    secrets = [*SECRETS, *(QUESTIONS if with_questions else ())]
    found = []
    for text in texts:
        squeezed = "".join(c for c in text if c.isdigit())
        found += [(where, s) for s in secrets if s.casefold() in text.casefold()]
        found += [(where, d) for d in DIGITS if d in squeezed]
    return found


def _s3_texts() -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    texts = []
    for bucket in s3.list_buckets()["Buckets"]:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"])
        for version in (v for page in pages for v in page.get("Versions", [])):
            body = s3.get_object(
                Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"]
            )["Body"].read()
            texts.append(_decoded(body).decode("utf-8", errors="replace"))
    return texts


def _item_texts(table: str) -> list[str]:
    """Every attribute of every item, binary ones decoded as far as they decode."""
    texts = []
    for item in items(table):
        for value in item.values():
            if "B" in value:
                texts.append(_decoded(bytes(value["B"])).decode("utf-8", errors="replace"))
            else:
                texts.append(json.dumps(value, ensure_ascii=False))
    return texts


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of Prefect's loggers and ours (Prefect's do not propagate)."""
    prefect_logger = logging.getLogger("prefect")
    prefect_logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="prefect")
    try:
        yield caplog
    finally:
        prefect_logger.removeHandler(caplog.handler)


def test_the_details_reach_the_recipients_and_no_other_surface(
    aws: StackInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    captured: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given leads of a week that has ended (so its report can be made too), an SES
    # refusal, the UI's Retry, and results persisted as a deployment may persist them
    monkeypatch.setenv("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(tmp_path / "reports"))
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    now = datetime.now(UTC)
    store(aws, visits(now, hours_ago=8 * 24 + 3))
    week = Week.of(now - timedelta(days=8))
    started = datetime.now(UTC)
    storage = tmp_path / "results"
    refused = refusing(2, lambda: client_error("MessageRejected", "SendRawEmail"))
    with temporary_settings(
        updates={PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOCAL_STORAGE_PATH: storage}
    ):
        with patch.object(ses, "send_raw_email", refused):
            first = leads(lookback_hours=336, return_state=True)
        retried = retry_from_ui(leads, first)
        report = weekly_report(week.id, return_state=True)
        # even a run whose flow-level result is persisted stores counts only
        persisted = leads.with_options(persist_result=True)(lookback_hours=336)
    assert first.is_failed() and retried.is_completed() and report.is_completed()
    assert (persisted.found, persisted.delivered) == (3, 0)

    # Then the recipients got every detail, as written
    mails = lead_mails()
    assert len(mails) == 3
    for secret in SECRETS:
        assert any(secret in text for _, text in mails), secret
    assert any(QUESTIONS[0] in text for _, text in mails)

    # and no other surface holds one: artifacts and log lines of every run (the leads
    # runs: not the session's questions either), the log records and the output,
    leads_run = first.state_details.flow_run_id
    surfaces = _leaks("leads artifacts", [json.dumps(a) for a in run_artifacts(leads_run)], True)
    surfaces += _leaks("leads logs", run_logs(leads_run), True)
    surfaces += _leaks("artifacts and logs", artifacts_and_logs(run_ids_since(started)))
    records = [r.getMessage() for r in captured.records]
    assert any("lead(s) in the last 336 h" in r for r in records)  # the capture works
    surfaces += _leaks("log records", records)
    output = capsys.readouterr()
    surfaces += _leaks("printed output", [output.out, output.err])
    # every result file Prefect wrote,
    files = [p for p in storage.rglob("*") if p.is_file()]
    assert files, "persistence was on: at least the last run's result was written"
    surfaces += _leaks(
        "results", [_decoded(p.read_bytes()).decode(errors="replace") for p in files]
    )
    # every S3 object (the archived report), the alerts,
    surfaces += _leaks("S3", _s3_texts())
    alerts = alerts_received(inbox)
    assert alerts, "the failed run alerted"
    surfaces += _leaks("alerts", [json.dumps(a) for a in alerts], True)
    # the stored summaries, and the leads table, whose items hold ciphertext only
    surfaces += _leaks("summaries", _item_texts(aws.settings.summaries_table))
    leads_items = _item_texts(aws.settings.leads_table)
    assert leads_items
    surfaces += _leaks("leads table", leads_items, with_questions=True)
    assert surfaces == []


def test_the_scan_of_result_files_can_see_a_leak(tmp_path: Path) -> None:
    """What the scan above reads: a result Prefect stored with a detail in it is found."""

    @task(persist_result=True)
    def leaky() -> str:
        return f"reach me at {JANE}"

    @flow(persist_result=False)
    def run() -> None:
        leaky()

    storage = tmp_path / "results"
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: storage}):
        run()
    files = [p for p in storage.rglob("*") if p.is_file()]
    texts = [_decoded(p.read_bytes()).decode(errors="replace") for p in files]
    assert _leaks("results", texts) == [("results", JANE)]


# --- retention, off, refused ----------------------------------------------------------------


def test_a_lead_is_deleted_after_its_retention(
    aws: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CV_ANALYTICS_LEADS_RETENTION_DAYS", "1")
    now = datetime.now(UTC)
    store(aws, visits(now, hours_ago=3))
    # and a lead older than the retention: TTL deleted it, the lookback must not revive it
    old = {"eventType": "query", "requestId": "old-lead", "timestamp": at(30, now)}
    store(aws, [old | {"query": "old.lead@example.org call me"}])
    table = aws.settings.leads_table

    counts = leads()

    assert (counts.found, counts.recorded, counts.delivered) == (3, 3, 3)
    ttls = {i["requestId"]["S"]: int(i["ttl"]["N"]) for i in items(table)}
    assert ttls["s1-lead"] == at(2.9, now) // 1000 + 86_400
    # DynamoDB's TTL process (emulated by its rules) keeps them until their TTL ...
    assert expire_ttl_items(aws.settings, now=min(ttls.values()) - 1) == 0
    assert len(items(table)) == 3
    # ... and deletes them after it
    assert expire_ttl_items(aws.settings, now=max(ttls.values()) + 1) >= 3
    assert items(table) == []


def test_nothing_is_recorded_or_sent_when_leads_are_off(
    aws: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CV_ANALYTICS_LEADS_ENABLED", "false")
    store(aws, visits())

    state = leads(return_state=True)

    assert state.is_completed()
    counts = state.result()
    assert counts.enabled is False and (counts.found, counts.delivered) == (0, 0)
    assert items(aws.settings.leads_table) == []
    assert lead_mails() == []
    run_id = state.state_details.flow_run_id
    (artifact,) = run_artifacts(run_id)
    assert artifact["key"] == "leads-try01-1-counts" and "off" in artifact["data"]
    assert any("Leads are off" in line for line in run_logs(run_id))


def test_without_recipients_the_run_fails_before_recording_anything(
    aws: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CV_ANALYTICS_REPORT_RECIPIENTS", "[]")
    store(aws, visits())
    state = leads(return_state=True)
    assert state.is_failed()
    assert "CV_ANALYTICS_REPORT_RECIPIENTS is empty" in str(state.message)
    assert items(aws.settings.leads_table) == []


def test_a_lookback_out_of_range_is_refused_before_any_aws_call(aws: StackInfo) -> None:
    calls: list[str] = []
    boto3.setup_default_session(region_name=REGION)
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "before-call", lambda model, **_: calls.append(model.name)
    )
    reset_aws_clients()
    try:
        bad: tuple[Any, ...] = (0, 337, -5, True, "48")
        for hours in bad:
            state = leads(lookback_hours=hours, return_state=True)
            assert state.is_failed(), hours
            assert "lookback_hours" in str(state.message), state.message
            with pytest.raises(ValueError, match="1 to 336"):
                leads.fn(lookback_hours=hours)
        assert calls == []
        leads(lookback_hours=1)  # the watch sees a run's calls
        assert "Query" in calls
    finally:
        boto3.DEFAULT_SESSION = None
        reset_aws_clients()
