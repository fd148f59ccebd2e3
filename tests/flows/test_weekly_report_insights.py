"""The insights through the weekly-report flow: stored summaries in, the same insights out.

The sample's two weeks follow three earlier weeks whose summaries are stored (quieter,
better matched, faster), so 2025-W46 shows every anomaly it can; its insights come from
its records and the stored summaries only (one consistent BatchGetItem, no older
records), show in the artifacts and the e-mail, are kept in its own summary, and are the
same after the week is archived out of DynamoDB and regenerated from S3.
"""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import load_sample, send_all
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler
from lambdas.shared.weeks import Week
from tasks.aws import aws_client
from tasks.core.insights import INSIGHT_KEYS, StoredSummary
from tasks.core.intents import INTENTS
from tasks.core.masking import EMAIL_PATTERN, PHONE_PATTERN
from tasks.dynamodb import leads, summaries
from tasks.s3.objects import get_bytes
from tasks.s3.reports import latest_report
from tasks.week_archive import archive_week
from tests.flows.test_weekly_report import artifact_data
from tests.tasks.core.test_render_owner import assert_owners_voice

W45, W46 = Week(2025, 45), Week(2025, 46)
EARLIER = {Week(2025, 41): 100, Week(2025, 42): 110, Week(2025, 43): 90}


def store_earlier_summaries(table: str) -> None:
    for week, total in EARLIER.items():
        summary = StoredSummary(
            week=week.id,
            total_queries=total,
            match_rate=0.95,
            p95_total_time_ms=1500.0,
            intents=dict.fromkeys(INTENTS, 0) | {"skills": total},
            themes=[
                {
                    "theme": "does he know java?",
                    "intent": "skills",
                    "count": total,
                    "members": [{"query": "does he know java?", "count": total}],
                }
            ],
            top_sources=["Java", "Kafka"],
        )
        aws_client("dynamodb").put_item(
            TableName=table,
            Item={
                "week": {"S": week.id},
                "total_queries": {"N": str(total)},
                "summary": {"B": summaries.pack(summary.model_dump())},
            },
        )


def send_sample(stack: StackInfo) -> None:
    send_all(load_sample(), stack.queue_url, batched=True)  # raises if SQS refuses any
    EventSourceMapping(handler).drain()


def insights(figures: Any) -> dict[str, Any]:
    shown = figures.model_dump(mode="json")
    return {key: shown[key] for key in INSIGHT_KEYS}


def deliver_leads(table: str, week: Week, delivered: int) -> None:
    """``delivered`` leads of ``week`` recorded and marked sent, as the leads flow leaves
    them (their ciphertext stands in: the weekly report only counts them)."""
    at_ms = int(week.start.timestamp() * 1000)
    for n in range(delivered):
        request_id = f"lead-{week.id}-{n}"
        assert leads.put_lead(
            table,
            request_id=request_id,
            week=week.id,
            at_ms=at_ms,
            ttl=at_ms // 1000 + 10**9,
            details=b"sealed",
            asked=b"sealed",
        )
        assert leads.record_sent(table, request_id, f"message-{n}")


def test_insights_from_stored_summaries_shown_everywhere_and_kept_on_regeneration(
    stack: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three earlier weeks' summaries, the sample processed by the Lambda, and 3 of
    # W46's leads delivered to the owner (the leads ledger says sent)
    store_earlier_summaries(stack.settings.summaries_table)
    send_sample(stack)
    deliver_leads(stack.settings.leads_table, W46, 3)
    batch_gets: list[dict[str, Any]] = []

    def spy(params: dict[str, Any], **_: Any) -> None:
        batch_gets.append(params)

    events = aws_client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.BatchGetItem", spy, unique_id="spy-bgi")
    try:
        # When W45 then W46 are reported
        weekly_report(W45.id)
        figures = weekly_report(W46.id)
    finally:
        events.unregister("provide-client-params.dynamodb.BatchGetItem", unique_id="spy-bgi")

    # Then each run read its 8 previous summaries with one consistent BatchGetItem
    summary_reads = [p for p in batch_gets if stack.settings.summaries_table in p["RequestItems"]]
    assert len(summary_reads) == 2
    request = summary_reads[1]["RequestItems"][stack.settings.summaries_table]
    assert request["ConsistentRead"] is True
    assert [k["week"]["S"] for k in request["Keys"]] == [f"2025-W{n}" for n in range(38, 46)]

    # and the trend has the stored weeks, null for the weeks without a summary, never 0
    trends = {t.week: t for t in figures.trends}
    assert list(trends) == [f"2025-W{n}" for n in range(39, 47)]
    assert trends["2025-W39"].total_queries is None and trends["2025-W40"].match_rate is None
    assert trends["2025-W41"].total_queries == 100
    assert (trends["2025-W44"].total_queries, trends["2025-W44"].match_rate) == (1, None)
    assert (trends["2025-W45"].total_queries, trends["2025-W45"].match_rate) == (91, 0.8182)
    assert trends["2025-W46"].model_dump() == {
        "week": "2025-W46",
        "total_queries": 298,
        "match_rate": 0.8397,
        "p95_total_time_ms": 2538.6,
    }
    # median of 100, 110, 90, 1, 91 is 91: 298 is a spike; rates 0.95 x3 and 0.8182
    # (median 0.95): 0.8397 is a drop; p95 1500 x3 and 2607 (median 1500): slower
    assert [a.kind for a in figures.anomalies] == [
        "traffic_spike",
        "match_rate_drop",
        "latency_regression",
    ]
    assert figures.intents["skills"].previous_count == 66  # from W45's stored summary
    assert figures.unused_sources == ["Java"]
    themes = {t.theme: t for t in figures.themes}
    assert (themes["does he know fortran?"].new, themes["does he know fortran?"].weeks_seen) == (
        False,
        1,
    )
    # "call [phone] if he is free" was sent 12 times by one session, "email me at [email]
    # about a role" 12 times by 11: the label is what most visitors asked, and the theme
    # is flagged, that one session having sent half of it
    left_details = themes["email me at [email] about a role"]
    assert (left_details.new, left_details.count, left_details.sessions) == (True, 24, 12)
    assert left_details.dominated_by_one_session is True
    # they are leads (section 7), never a gap: the gaps are questions the CV missed
    assert all(gap.key != "contact:left-details" for gap in figures.cv_gaps)
    assert figures.cv_gaps[0].theme == "does he know fortran?"
    assert figures.contact_requests.model_dump() == {"count": 24, "left_details": 24}

    # and W46's own summary keeps what the weeks after it will read
    item = summaries.summary_item(stack.settings.summaries_table, W46)
    assert item is not None
    stored = summaries.summary_of_item(W46, item)
    assert (stored.total_queries, stored.match_rate, stored.p95_total_time_ms) == (
        298,
        0.8397,
        2538.6,
    )
    assert stored.intents == {k: v.count for k, v in figures.intents.items()}
    assert stored.top_sources == [s.source for s in figures.top_sources]
    assert stored.themes is not None
    assert [t["members"] for t in stored.themes] == [
        [m.model_dump() for m in t.members] for t in figures.themes
    ]

    # and the artifacts lead with the gaps and anomalies; the themes table says why
    markdown = artifact_data("weekly-report-2025-w46-try01-2-figures")
    assert markdown.index("## Anomalies") < markdown.index("## Where the CV falls short")
    assert markdown.index("## Where the CV falls short") < markdown.index("## Key figures")
    assert "traffic\\_spike" in markdown
    table = artifact_data("weekly-report-2025-w46-try01-4-themes")
    assert "does he know fortran?" in table and "not_answered" in table
    assert '"gap": "not_answered", "asked": 7, "short": 7' in table  # fortran
    assert '"sessions": 12, "dominated_by_one_session": true' in table  # the left details

    # and report.json, the e-mail and its text part carry the same insights
    archived = latest_report(stack.settings.archive_bucket, W46)
    report = json.loads(get_bytes(stack.settings.archive_bucket, archived["report.json"]) or b"{}")
    assert {k: report[k] for k in INSIGHT_KEYS} == insights(figures)
    html = (get_bytes(stack.settings.archive_bucket, archived["report.html"]) or b"").decode()
    text = (get_bytes(stack.settings.archive_bucket, archived["report.txt"]) or b"").decode()
    assert "Mon 10 \u2013 Sun 16 November 2025" in html and ">Still open<" in html
    assert "Traffic spike: 298 questions" in text and "STILL OPEN" in text
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    # the gaps W45 had are followed: still open since W45 (its summary kept its gaps)
    assert {e.state for e in figures.gap_followup} >= {"open", "new"}
    assert "open since 2025-W45" in text
    # the headline: W46's questions, its new gaps, its leads
    new_gaps = sum(e.state in ("new", "reopened") for e in figures.gap_followup)
    headline = f"Your CV, 10\u201316 Nov: 298 questions, {new_gaps} new gaps, 24 leads"
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages[-1].raw_data
    assert message_from_bytes(sent.encode(), policy=policy.default)["Subject"] == headline
    assert text.startswith(headline + "\n")
    assert_owners_voice(figures, html, text)
    # the leads: 24 left details, 3 delivered so far (the ledger's count, read by the run)
    said = "24 leads: visitors left contact details 24 times this week; 3 of them were e-mailed"
    assert said in text and said in html
    assert "leads delivered: 3" in markdown
    for output in (html, text, markdown, table, json.dumps(stored.model_dump())):
        assert not EMAIL_PATTERN.search(output) and not PHONE_PATTERN.search(output)

    # When W46 is archived out of DynamoDB and regenerated from S3, with leads turned off
    outcome = archive_week(W46, stack.settings)
    assert outcome.action == "archived" and outcome.deleted == 298
    monkeypatch.setenv("CV_ANALYTICS_LEADS_ENABLED", "false")
    regenerated = weekly_report(W46.id, resend=True)

    # Then its insights are the same as before it was archived, and the e-mail says that
    # delivery of leads is off
    assert insights(regenerated) == insights(figures)
    archived = latest_report(stack.settings.archive_bucket, W46)
    text = (get_bytes(stack.settings.archive_bucket, archived["report.txt"]) or b"").decode()
    assert (
        "24 leads: visitors left contact details 24 times this week; delivery of leads is off."
        in text
    )
    assert "leads delivery is off" in artifact_data("weekly-report-2025-w46-try01-2-figures")
