"""The weekly-report flow end to end through Prefect, against the local stack.

One long scenario (the Prefect test server is slow to start, so flow tests are few):
the sample traffic goes through the Worker simulation and the processor; the report of
2025-W45 matches the expected figures, is archived, shown and e-mailed once; a re-run
does not e-mail; after maintenance archives the week out of DynamoDB and the
dead-letter queue is emptied, a regeneration with ``resend=True`` reads the archive and
gives the same figures, and the same e-mail: the owner's e-mail never shows pipeline
health (the sample's 11 invalid events on the DLQ, then none), the operator's artifact
does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from prefect.client.orchestration import get_client
from prefect.exceptions import ParameterTypeError

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import load_sample, send_all
from flows.parameters import resolve_week
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler
from lambdas.shared.weeks import InvalidWeekError, Week
from tasks.aws import aws_client
from tasks.core.aggregate import METRIC_KEYS, metric_figures
from tasks.core.insights import INSIGHT_KEYS
from tasks.core.render import subject
from tasks.dynamodb.send_ledger import ledger_state
from tasks.dynamodb.summaries import summary_item
from tasks.dynamodb.week_index import query_week_records
from tasks.s3.objects import console_url, get_bytes, list_keys
from tasks.s3.reports import latest_report
from tasks.sqs.queues import queue_depth, queue_url
from tasks.week_archive import archive_week
from tests.conftest import alerts_received, subscribe_alarm_inbox
from tests.tasks.core.test_render_owner import assert_owners_voice

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
WEEK = Week(2025, 45)


def emails_sent() -> int:
    """Messages the (in-process) moto SES accepted; its statistics count recipients twice."""
    return len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def last_email() -> tuple[str, str, str]:
    """The subject, text and HTML of the last message the (in-process) moto SES accepted."""
    raw = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages[-1].raw_data
    message = message_from_bytes(raw.encode(), policy=policy.default)
    text, html = (
        message.get_body(preferencelist=(kind,)).get_content()  # type: ignore[union-attr]
        for kind in ("plain", "html")
    )
    return str(message["Subject"]), text, html


def artifact_data(key: str) -> str:
    """The data of the latest Prefect artifact with this key (GET /artifacts/{key}/latest)."""
    with get_client(sync_client=True) as client:
        response = client._client.get(f"/artifacts/{key}/latest")
    response.raise_for_status()
    return str(response.json()["data"])


@pytest.fixture
def report_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


def test_weekly_report_of_the_sample_then_rerun_then_regenerate_from_archive(
    stack: StackInfo, report_dir: Path
) -> None:
    # Given the sample traffic sent as the Worker sends it and processed by the Lambda
    # (in batches of ten with the Worker's exact bodies, group and dedup ids: moto is slow)
    send_all(load_sample(), stack.queue_url, batched=True)  # raises if SQS refuses any
    EventSourceMapping(handler).drain()
    already_sent = emails_sent()  # moto's backend lives as long as the process
    expected = json.loads((SAMPLES / "expected-2025-W45.json").read_text())

    # When the report of 2025-W45 runs
    figures = weekly_report(WEEK.id)

    # Then the figures are the expected ones and every output carries them
    # (report-metrics.md's keys exactly; report-insights.md's keys follow them)
    assert metric_figures(figures) == expected and list(METRIC_KEYS) == list(expected)
    shown = figures.model_dump(mode="json")
    assert list(shown) == [*expected, *INSIGHT_KEYS]
    archived = latest_report(stack.settings.archive_bucket, WEEK)
    assert (
        json.loads(get_bytes(stack.settings.archive_bucket, archived["report.json"]) or b"")
        == shown
    )
    html = (get_bytes(stack.settings.archive_bucket, archived["report.html"]) or b"").decode()
    text = (get_bytes(stack.settings.archive_bucket, archived["report.txt"]) or b"").decode()
    headline = subject(figures)
    assert headline.startswith("Your CV, 3\u20139 Nov: 91 questions")
    assert headline in html and text.startswith(headline + "\n")
    assert (report_dir / WEEK.id / "report.html").read_text() == html
    assert (report_dir / WEEK.id / "report.txt").read_text() == text
    # the pipeline's health is the operator's: in the artifact, never in the e-mail
    assert queue_depth(stack.settings.dlq_name) == 11  # the sample's 11 invalid events
    markdown = artifact_data("weekly-report-2025-w45-try01-2-figures")
    assert "| total queries | 91 |" in markdown
    assert "| DLQ depth at report time | 11 |" in markdown
    assert "| orphan responses |" in markdown and "| unanswered requests |" in markdown
    sent_subject, sent_text, sent_html = last_email()
    assert (sent_subject, sent_text.strip()) == (headline, text.strip())
    assert_owners_voice(figures, text, html, sent_text, sent_html)
    assert "what is his salary expectation?" in artifact_data(
        "weekly-report-2025-w45-try01-3-top-queries"
    )
    # and the run links the rendered HTML through the AWS console: the reader's own AWS
    # login opens it, and Prefect's database keeps no bearer link to the private archive
    link = artifact_data("weekly-report-2025-w45-try01-1-html")
    assert (
        console_url(stack.settings.archive_bucket, archived["report.html"], stack.settings.region)
        in link
    )
    for credential in ("Signature", "Credential", "AWSAccessKeyId", "Security-Token", "Expires"):
        assert credential not in link
    assert emails_sent() - already_sent == 1
    assert ledger_state(stack.settings.summaries_table, WEEK)[0] == "sent"

    # When it runs again (a retry, a manual re-run): same figures, no second e-mail
    assert weekly_report(WEEK.id).model_dump(mode="json") == shown
    assert emails_sent() - already_sent == 1

    # When monthly maintenance archives the week out of DynamoDB (its own code, verified)
    outcome = archive_week(WEEK, stack.settings)
    assert (outcome.action, outcome.found, outcome.archived) == ("archived", 91, 91)
    assert outcome.deleted == 91 and query_week_records(stack.settings.analytics_table, WEEK) == []
    # and the dead-letter queue is emptied, and the week is regenerated with resend=True
    aws_client("sqs").purge_queue(QueueUrl=queue_url(stack.settings.dlq_name))
    assert queue_depth(stack.settings.dlq_name) == 0
    regenerated = weekly_report(WEEK.id, resend=True)

    # Then the archive gives the same figures and insights, and the e-mail goes out again
    assert metric_figures(regenerated) == expected
    assert regenerated.model_dump(mode="json") == shown
    assert emails_sent() - already_sent == 2
    # the same e-mail, word for word, with the DLQ empty: only the artifact tells them apart
    assert last_email() == (sent_subject, sent_text, sent_html)
    assert_owners_voice(regenerated, *last_email())
    markdown = artifact_data("weekly-report-2025-w45-try01-2-figures")
    assert "| DLQ depth at report time | 0 |" in markdown


CURRENT_WEEK = Week.of(datetime.now(UTC))
REFUSED_WEEKS = {
    "2025-W60": "does not exist",
    "2021-W53": "does not exist",
    "2025-W53": "does not exist",  # 2025 has 52 weeks
    "2025-45": "malformed",
    "0001-W01": "outside the reportable years",
    "2019-W52": "outside the reportable years",
    f"{CURRENT_WEEK.year + 2}-W01": "outside the reportable years",
    "9998-W01": "outside the reportable years",
    CURRENT_WEEK.id: "has not ended",  # would have used up this week's e-mail
    CURRENT_WEEK.shift(3).id: "has not ended",
}


@pytest.mark.parametrize(("week", "why"), sorted(REFUSED_WEEKS.items()))
def test_an_unreportable_week_is_refused_before_any_work_and_pages_nobody(
    aws: StackInfo, week: str, why: str
) -> None:
    # (in-process moto: a failure alert would land in the inbox below)
    inbox = subscribe_alarm_inbox(aws.topic_arn)
    already_sent = emails_sent()
    # refused while validating parameters, before the flow's body (or any AWS read) runs
    with pytest.raises(ParameterTypeError) as raised:
        weekly_report(week)
    assert week in str(raised.value) and why in str(raised.value)
    assert "YYYY-Www" in str(raised.value)
    with pytest.raises(InvalidWeekError, match=why):
        resolve_week(week)  # the same rule, for callers that bypass Prefect
    # nothing was read, written or sent: no report, no summary, no ledger claim, no alert
    assert emails_sent() == already_sent
    assert list_keys(aws.settings.archive_bucket, "reports/") == []
    if why == "has not ended":
        assert summary_item(aws.settings.summaries_table, Week.parse(week)) is None
        assert ledger_state(aws.settings.summaries_table, Week.parse(week)) == (None, None)
    assert alerts_received(inbox) == []


def test_the_last_complete_week_is_reportable_and_the_current_one_is_not() -> None:
    monday = datetime(2025, 11, 10, tzinfo=UTC)  # 2025-W45 ended this instant
    assert resolve_week("2025-W45", now=monday) == Week(2025, 45)
    assert resolve_week(None, now=monday) == Week(2025, 45)
    with pytest.raises(InvalidWeekError, match="up to 2025-W45, the last complete week"):
        resolve_week("2025-W46", now=monday)
    # the years: 2020 to the year after now
    assert resolve_week("2020-W01", now=monday) == Week(2020, 1)
    with pytest.raises(InvalidWeekError, match="2020 to 2026"):
        resolve_week("2019-W52", now=monday)
