"""Hostile visitors through the real path: Worker sends -> SQS FIFO -> processor -> DynamoDB ->
the flows, on the embedded HTTP emulator.

Each test plays one kind of visitor the public chatbot gets (issue "Hostile visitors"):
contact details in disguise, pasted novels, bodies built to crash the processor, and
reads back every surface a person sees (the e-mail's decoded parts, the archived report,
Prefect's artifacts and logs, the stored summary) for what must not be there.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import string
import unicodedata
import uuid
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from deployments.local_stack import EventSourceMapping, StackInfo
from deployments.worker import WorkerSend, send_all
from flows.dlq_triage import dlq_triage
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler
from lambdas.shared.weeks import Week
from tasks.dynamodb.week_index import query_week_records
from tests.flows.surfaces import artifacts_and_logs, run_ids_since, sent_mail_texts

pytestmark = pytest.mark.integration

WEEK = Week(2025, 45)

#: Contact details as a hostile or careless visitor writes them, each with the unique part
#: that must appear on no surface (letters, or the digits of a phone number).
DISGUISED: list[tuple[str, str]] = [
    ("write to zwsp\u200bvisitor@example.com", "zwspvisitor"),
    ("mail shy\u00advisitor@example.org today", "shyvisitor"),
    ("backwards \u202emoc.elpmaxe@rotisivolr\u202c ok?", "rlovisitor"),
    ("reach bracketvisitor [at] example [dot] com", "bracketvisitor"),
    ("reach parenvisitor(at)example.com", "parenvisitor"),
    ("write wordyvisitor at example dot com", "wordyvisitor"),
    ("see https://example.com/c?u=pctvisitor%40example.com", "pctvisitor"),
    ("entvisitor&#64;example.com is me", "entvisitor"),
    ("cyr\u0430visitor@ex\u0430mple.com", "cyravisitor"),
    ("my profile: linkedin.com/in/profilevisitor-42", "profilevisitor"),
    ("call +44\u201320\u20137946\u20130958 after six", "2079460958"),
    ("ring +1/415/555/2671 please", "4155552671"),
]
#: Text that only looks like a detail, which the report must show as typed.
KEPT = ["can we meet 2026-11-09 12:30?"]
TYPED_PLACEHOLDER = "my address is [email] and my number [phone]"


def _fold(text: str) -> str:
    """A surface as a leak hunter reads it: NFKC, no format characters, casefolded."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return text.casefold().replace("\u0430", "a")


def _leaks(texts: Iterable[str]) -> list[str]:
    found = []
    for text in texts:
        folded = _fold(text)
        digits = re.sub(r"\D", "", folded)
        for _, secret in DISGUISED:
            hay = digits if secret.isdigit() else folded
            if secret in hay or secret[::-1] in hay:
                found.append(secret)
    return found


def _pair(rid: str, ts: int, text: str, session: str, match: str = "none") -> list[WorkerSend]:
    query = {
        "eventType": "query",
        "requestId": rid,
        "timestamp": ts,
        "query": text,
        "sessionId": session,
    }
    response = {
        "eventType": "response",
        "requestId": rid,
        "timestamp": ts + 1500,
        "matchType": match,
        "matchScore": 12 if match == "none" else 80,
        "reasoning": "hostile-visitor test",
    }
    return [
        WorkerSend(json.dumps(e), "analytics", f"{rid}-{e['eventType']}-{e['timestamp']}")
        for e in (query, response)
    ]


def _traffic(texts: list[str]) -> list[WorkerSend]:
    sends: list[WorkerSend] = []
    for number, text in enumerate(texts):
        rid = str(uuid.UUID(int=number + 1))
        sends += _pair(rid, WEEK.start_ms + 3_600_000 * (number + 1), text, f"s-{number}")
    return sends


def _archived(stack: StackInfo, prefix: str) -> list[str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = stack.settings.archive_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    texts = []
    for listing in listed:
        body = s3.get_object(Bucket=bucket, Key=listing["Key"])["Body"].read()
        if listing["Key"].endswith(".gz"):
            body = gzip.decompress(body)
        texts.append(body.decode("utf-8", "replace"))
    return texts


def _stored_summaries(stack: StackInfo) -> list[str]:
    """Every stored summary item, with its compressed values inflated."""
    table = boto3.client("dynamodb", region_name="us-east-1")
    items = table.scan(TableName=stack.settings.summaries_table)["Items"]
    texts = []
    for item in items:
        for value in item.values():
            if "B" in value:
                texts.append(zlib.decompress(value["B"]).decode("utf-8"))
            else:
                texts.append(json.dumps(value, ensure_ascii=False))
    return texts


def test_disguised_contact_details_reach_no_surface_and_only_real_ones_count_as_leads(
    stack: StackInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given visitors who hide their details from the masking, one who types the
    # placeholders themselves, and one whose question only looks like a number
    started = datetime.now(UTC)
    texts = [text for text, _ in DISGUISED] + [*KEPT, TYPED_PLACEHOLDER]
    send_all(_traffic(texts), stack.queue_url, between_chunks=EventSourceMapping(handler).drain)

    # When the week's report is made and e-mailed
    figures = weekly_report(WEEK.id)

    # Then every request was counted, and only the real details count as leads
    assert figures.total_queries == len(texts)
    assert figures.contact_requests.left_details == len(DISGUISED)
    # and what only looks like a detail is shown as the visitor typed it
    shown = [q.query for q in figures.top_queries] + [q.query for q in figures.unmatched_queries]
    assert any(KEPT[0] in query for query in shown), shown

    # and no disguised detail is in the e-mail, the archive, Prefect or the summaries
    surfaces = {
        "the e-mail": sent_mail_texts(),
        "the archived report": _archived(stack, f"reports/{WEEK}/"),
        "Prefect artifacts and logs": artifacts_and_logs(run_ids_since(started)),
        "the stored summaries": _stored_summaries(stack),
        "the process output": list(capsys.readouterr()),
    }
    assert surfaces["the e-mail"], "the report e-mail was not sent"
    leaked = {where: _leaks(found) for where, found in surfaces.items() if _leaks(found)}
    assert not leaked, leaked


def _incompressible(rng: random.Random, size: int) -> str:
    alphabet = string.ascii_letters + string.digits + "     "
    return "".join(rng.choice(alphabet) for _ in range(size))


def test_a_week_of_pasted_novels_is_still_reported_and_e_mailed(stack: StackInfo) -> None:
    # Given eight visitors who each paste ~90 KB of incompressible text as their question
    rng = random.Random(18)
    texts = [f"why {_incompressible(rng, 90_000)}?" for _ in range(8)] + ["does he know go?"]
    send_all(_traffic(texts), stack.queue_url, between_chunks=EventSourceMapping(handler).drain)

    # When the week's report is made
    figures = weekly_report(WEEK.id)

    # Then it completes with every request counted, its summary is stored within
    # DynamoDB's item limit, and the e-mail went out
    assert figures.total_queries == len(texts)
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=stack.settings.summaries_table, Key={"week": {"S": WEEK.id}}
    )["Item"]
    size = sum(len(k) + len(v.get("B", b"")) + len(str(v.get("S", ""))) for k, v in item.items())
    assert size < 400_000
    assert len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages) == 1


def _bad_body(kind: str, ts: int) -> str:
    if kind == "deep":
        nested = '{"a":' * 20_000 + "1" + "}" * 20_000
        head = f'{{"eventType":"query","requestId":"deep-1","timestamp":{ts},"query":"hi"'
        return f'{head},"metadata":{nested}}}'
    # a lone surrogate, escaped as JSON allows, that no UTF-8 store or queue can hold
    head = f'{{"eventType":"query","requestId":"lone-1","timestamp":{ts}'
    return head + r',"query":"hi \ud800 there"}'


def test_bodies_built_to_crash_cost_only_themselves_and_triage_moves_past_them(
    stack: StackInfo,
) -> None:
    # Given one FIFO batch of ten: a crash-me body first, eight valid events, another one
    start = WEEK.start_ms + 3_600_000
    valid = _traffic(["does he know go?", "what about rust?", "and python?", "and sql?"])
    bad = [
        WorkerSend(_bad_body("deep", start), "analytics", "bad-deep"),
        WorkerSend(_bad_body("lone", start), "analytics", "bad-lone"),
    ]
    send_all([bad[0], *valid, bad[1]], stack.queue_url, batched=True)

    # When the processor drains the queue
    EventSourceMapping(handler).drain()

    # Then the eight valid neighbours are stored and the two bad bodies wait on the DLQ
    # with a reason each
    assert len(query_week_records(stack.settings.analytics_table, WEEK)) == 4
    sqs = boto3.client("sqs", region_name="us-east-1")
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "2"

    # When DLQ triage runs with the worst body at the head of the one FIFO group
    summary = dlq_triage()

    # Then both are archived as poison with their reasons and the DLQ is empty
    assert summary.archived == 2
    assert summary.redriven == 0
    assert summary.left == 0
    poison = "\n".join(_archived(stack, "dlq/"))
    assert "deep-1" in poison or "nest" in poison
