"""The weekly-report flow end to end through Prefect, against the local stack.

One long scenario (the Prefect test server is slow to start, so flow tests are few):
the sample traffic goes through the Worker simulation and the processor; the report of
2025-W45 matches the expected figures, is archived, shown and e-mailed once; a re-run
does not e-mail; after maintenance-style archiving of the week out of DynamoDB, a
regeneration with ``resend=True`` reads the archive and gives the same figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends
from prefect.client.orchestration import get_client
from prefect.exceptions import ParameterTypeError

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import load_sample
from flows.weekly_report import resolve_week, weekly_report
from lambdas.processor.handler import handler
from lambdas.processor.settings import get_settings
from lambdas.processor.weeks import InvalidWeekError
from tasks.core.archive import encode_week, manifest_key
from tasks.dynamodb.send_ledger import ledger_state
from tasks.dynamodb.week_index import query_week_records
from tasks.s3.objects import get_bytes, put_bytes

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
WEEK = "2025-W45"


def emails_sent() -> int:
    """Messages the (in-process) moto SES accepted; its statistics count recipients twice."""
    return len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def artifact_data(key: str) -> str:
    """The data of the latest Prefect artifact with this key (GET /artifacts/{key}/latest)."""
    with get_client(sync_client=True) as client:
        response = client._client.get(f"/artifacts/{key}/latest")
    response.raise_for_status()
    return str(response.json()["data"])


def archive_week_out_of_dynamodb(week: str) -> None:
    """What monthly maintenance does: archive (records, then manifest), verify, delete."""
    records = query_week_records(week)
    blob, manifest = encode_week(week, records)
    put_bytes(manifest.key, blob, "application/gzip")
    put_bytes(manifest_key(week), manifest.to_json(), "application/json")
    dynamodb = boto3.client("dynamodb")
    table = get_settings().analytics_table
    for start in range(0, len(records), 25):
        dynamodb.batch_write_item(
            RequestItems={
                table: [
                    {"DeleteRequest": {"Key": {"requestId": {"S": r["requestId"]}}}}
                    for r in records[start : start + 25]
                ]
            }
        )
    assert query_week_records(week) == []


@pytest.fixture
def report_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(tmp_path / "reports"))
    get_settings.cache_clear()
    return tmp_path / "reports"


def test_weekly_report_of_the_sample_then_rerun_then_regenerate_from_archive(
    stack: StackInfo, report_dir: Path
) -> None:
    # Given the sample traffic sent as the Worker sends it and processed by the Lambda
    # (in batches of ten with the Worker's exact bodies, group and dedup ids: moto is slow)
    sqs = boto3.client("sqs")
    sends = load_sample()
    for start in range(0, len(sends), 10):
        entries: list[Any] = []
        for i, send in enumerate(sends[start : start + 10]):
            kwargs = send.as_send_kwargs(stack.queue_url)
            del kwargs["QueueUrl"]
            entries.append({"Id": str(i), **kwargs})
        sent = sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries)
        assert not sent.get("Failed")
    EventSourceMapping(handler).drain()
    already_sent = emails_sent()  # moto's backend lives as long as the process
    expected = json.loads((SAMPLES / "expected-2025-W45.json").read_text())

    # When the report of 2025-W45 runs
    figures = weekly_report(WEEK)

    # Then the figures are the expected ones and every output carries them
    assert figures.model_dump(mode="json") == expected
    assert json.loads(get_bytes(f"reports/{WEEK}/report.json") or b"") == expected
    html = (get_bytes(f"reports/{WEEK}/report.html") or b"").decode()
    text = (get_bytes(f"reports/{WEEK}/report.txt") or b"").decode()
    assert "CV Analytics Weekly Report - Week 2025-W45" in html
    assert "Total queries: 91" in text
    assert "Dead-letter queue depth at report time: 11" in text  # the sample's 11 invalid
    assert (report_dir / WEEK / "report.html").read_text() == html
    assert (report_dir / WEEK / "report.txt").read_text() == text
    assert "| total queries | 91 |" in artifact_data("weekly-report-2025-w45")
    assert "what is his salary expectation?" in artifact_data("weekly-report-top-queries-2025-w45")
    # and the run links the rendered HTML (a presigned link to the private archive)
    assert "reports/2025-W45/report.html" in artifact_data("weekly-report-html-2025-w45")
    assert emails_sent() - already_sent == 1
    assert ledger_state(WEEK)[0] == "sent"

    # When it runs again (a retry, a manual re-run): same figures, no second e-mail
    assert weekly_report(WEEK).model_dump(mode="json") == expected
    assert emails_sent() - already_sent == 1

    # When the week is archived out of DynamoDB and regenerated with resend=True
    archive_week_out_of_dynamodb(WEEK)
    regenerated = weekly_report(WEEK, resend=True)

    # Then the archive gives the same figures and the e-mail goes out again, once
    assert regenerated.model_dump(mode="json") == expected
    assert emails_sent() - already_sent == 2


@pytest.mark.parametrize("week", ["2025-W60", "2021-W53", "2025-45"])
def test_malformed_or_impossible_week_is_refused_before_any_work(week: str) -> None:
    # refused while validating parameters, before a flow run (or any AWS call) exists
    with pytest.raises(ParameterTypeError) as raised:
        weekly_report(week)
    assert week in str(raised.value)
    assert "YYYY-Www" in str(raised.value)
    with pytest.raises(InvalidWeekError, match="YYYY-Www"):
        resolve_week(week)  # the same rule, for callers that bypass Prefect
