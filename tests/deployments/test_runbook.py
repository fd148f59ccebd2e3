"""docs/runbook.md holds to what the code does.

* Its sections are the fixed ones other pages, flows and alerts cite, and every
  ``docs/runbook.md#<anchor>`` cited anywhere in the repository is one of its headings
  (GitHub's anchor rules); its own links to other pages' anchors resolve too.
* "Old runbook, mapped": every command or procedure of the AWS CLI runbook the flows
  replaced (v1.0, 2025-11-03) has its row, by id (:data:`SEED_ROWS`, with the words that
  name what each row maps, so a row cannot silently map something else). The seed's wording
  lives in the table, never read from outside the repository.
* Each row that is not **Gone** is run: the flow it names on the Prefect test server with
  the embedded AWS (moto's ``ThreadedMotoServer``, the ``stack`` fixture), or the AWS call
  it names against that server, asserting what the row says. A **Gone** row must say why,
  and the files and ``make`` targets it names must exist.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch
from uuid import UUID

import boto3
import pytest
import yaml
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from prefect import State
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogWorker

from deployments.local_stack import EventSourceMapping, StackInfo, template_figures
from deployments.template import Template, load_document
from deployments.worker import load_sample
from flows.dlq_triage import dlq_triage
from flows.health_check import health_check
from flows.monthly_maintenance import monthly_maintenance
from flows.report_regeneration import report_regeneration
from flows.ttl_verification import ttl_verification
from flows.weekly_report import weekly_report
from lambdas.processor.handler import handler
from lambdas.processor.storage import store_events
from lambdas.shared.contract import Invalid, parse_event
from lambdas.shared.weeks import Week
from tasks.core.archive import decode_records
from tasks.core.checks import RUNBOOK_SECTIONS
from tasks.dynamodb.send_ledger import ledger_state
from tasks.dynamodb.week_index import query_week_records
from tasks.s3 import objects as s3
from tasks.settings import Settings
from tasks.sqs.queues import queue_counts, queue_total
from tests.conftest import alerts_received, client_error, seed_week, subscribe_alarm_inbox

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
REGION = "us-east-1"
PROCESSOR_LOGS = "/aws/lambda/cv-analytics-processor"

#: The sections other pages, flows and alerts cite, in order (heading -> anchor).
SECTIONS = {
    "DLQ alarm": "dlq-alarm",
    "Report regeneration": "report-regeneration",
    "Failed health check": "failed-health-check",
    "TTL findings": "ttl-findings",
    "Monthly maintenance": "monthly-maintenance",
    "Failed flow run": "failed-flow-run",
    "Unfinished report send": "unfinished-report-send",
    "Processor alarms": "processor-alarms",
    "Queue age alarm": "queue-age-alarm",
    "Old runbook, mapped": "old-runbook-mapped",
}

#: Every command and procedure of the old runbook, by row id, with the words its row's
#: first column must hold (what the row maps). Adding a row to the table means adding it here.
SEED_ROWS: dict[str, str] = {
    "R01": "terraform plan",
    "R02": "terraform apply",
    "R03": "terraform output",
    "R04": "wrangler secret put",
    "R05": "wrangler deploy",
    "R06": "/health",
    "R07": "curl -X POST",
    "R08": "aws dynamodb scan --table-name cv-analytics-query-events --limit 5",
    "R09": "--attribute-names ApproximateNumberOfMessages`",
    "R10": "aws sns list-subscriptions-by-topic",
    "R11": "npm run build` in the processor",
    "R12": "aws lambda get-function",
    "R13": "npm run build` in the reporter",
    "R14": "aws cloudwatch describe-alarms",
    "R15": "ApproximateNumberOfMessages,ApproximateNumberOfMessagesNotVisible",
    "R16": "--queue-url <dlq> --attribute-names ApproximateNumberOfMessages",
    "R17": "Query:query.S",
    "R18": "--metric-name Invocations",
    "R19": "aws lambda invoke --function-name cv-analytics-reporter",
    "R20": "aws logs tail /aws/lambda/cv-analytics-reporter --follow",
    "R21": "alarm e-mail",
    "R22": "aws logs get-log-events",
    "R23": "aws logs tail /aws/lambda/cv-analytics-processor --filter-pattern",
    "R24": "aws logs tail /aws/lambda/cv-analytics-reporter --filter-pattern",
    "R25": "aws sqs receive-message",
    "R26": "malformed events",
    "R27": "aws sqs start-message-move-task",
    "R28": "Watching the move",
    "R29": "--metric-name Errors",
    "R30": "cv-analytics-lambda-role",
    "R31": "aws ses get-send-quota",
    "R32": "aws ses list-identities",
    "R33": "aws ses verify-email-identity",
    "R34": "aws events describe-rule",
    "R35": "aws events enable-rule",
    "R36": "sandbox",
    "R37": "--metric-name Duration",
    "R38": "deduplication id",
    "R39": "NumberOfMessagesSent,NumberOfMessagesReceived",
    "R40": "aws lambda list-event-source-mappings",
    "R41": "wrangler secret list",
    "R42": "test message",
    "R43": "aws lambda update-event-source-mapping",
    "R44": "complete outage",
    "R45": "aws lambda list-versions-by-function",
    "R46": "git revert",
    "R47": "wrangler rollback",
    "R48": "Rolling back Terraform",
    "R49": "A table deleted",
    "R50": "aws sqs purge-queue",
    "R51": "aws logs describe-log-groups",
    "R52": "aws logs put-retention-policy",
    "R53": "aws dynamodb describe-table",
    "R54": "ConsumedReadCapacityUnits",
    "R55": "aws dynamodb describe-time-to-live",
    "R56": "Items[*].timestamp.N",
    "R57": "aws cloudwatch set-alarm-state",
    "R58": "aws iam get-user-policy",
    "R59": "npm outdated",
    "R60": "--filter-expression",
    "R61": "--select COUNT",
    "R62": "cv-analytics-dlq-depth",
    "R63": "cv-analytics-processor-throttles",
    "R64": "cv-analytics-reporter-errors",
    "R65": "cv-analytics-reporter-throttles",
    "R66": "cv-analytics-reporter-duration",
}

#: Where ``docs/runbook.md#<anchor>`` citations are looked for.
CITING = ("prefect.yaml", "prefect.ecs.yaml", "README.md", "Makefile")
CITING_DIRS = ("flows", "tasks", "deployments", "docs", "lambdas", "benchmarks")
CITATION = re.compile(r"docs/runbook\.md#([A-Za-z0-9_-]+)")


# --- reading the page ----------------------------------------------------------------------


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(markdown: str) -> list[tuple[int, str]]:
    """(level, text) of each ATX heading outside code fences."""
    found: list[tuple[int, str]] = []
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"^(#{1,6}) (.+?)\s*#*\s*$", line)
        if match and not fenced:
            found.append((len(match.group(1)), match.group(2)))
    return found


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor, with GitHub's ``-1``, ``-2`` suffixes for repeats."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for _, text in headings(markdown):
        anchor = github_anchor(text)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        result.add(anchor if count == 0 else f"{anchor}-{count}")
    return result


@dataclass(frozen=True)
class Row:
    """One row of "Old runbook, mapped"."""

    id: str
    seed: str
    here: str

    @property
    def gone(self) -> bool:
        return self.here.startswith("**Gone**")


def split_cells(line: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` is a pipe inside a cell)."""
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def mapped_rows(markdown: str) -> list[Row]:
    """The rows of the table under ``## Old runbook, mapped``."""
    section = markdown.split("\n## Old runbook, mapped\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if re.match(r"^\| R\d", line):
            cells = split_cells(line)
            assert len(cells) == 3, f"a row has {len(cells)} cells, not 3: {line[:80]}"
            rows.append(Row(*cells))
    return rows


@pytest.fixture(scope="module")
def runbook() -> str:
    return RUNBOOK.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rows(runbook: str) -> dict[str, Row]:
    return {row.id: row for row in mapped_rows(runbook)}


# --- the page's shape ----------------------------------------------------------------------


def test_the_sections_are_the_cited_ones_in_order(runbook: str) -> None:
    second_level = [text for level, text in headings(runbook) if level == 2]
    assert second_level == list(SECTIONS), second_level
    assert [github_anchor(text) for text in second_level] == list(SECTIONS.values())


def test_github_anchor_rules() -> None:
    assert github_anchor("Old runbook, mapped") == "old-runbook-mapped"
    assert github_anchor("DLQ triage stopped early") == "dlq-triage-stopped-early"
    assert github_anchor("`make serve`") == "make-serve"
    assert anchors("# A\n## A\n```\n# B\n```\n") == {"a", "a-1"}


def cited_anchors() -> dict[str, set[str]]:
    """``docs/runbook.md#<anchor>`` citations by file, and the runbook's own ``(#anchor)``
    and the docs' relative ``runbook.md#anchor`` links."""
    files = [REPO_ROOT / name for name in CITING]
    for folder in CITING_DIRS:
        files += [p for p in (REPO_ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".yaml")]
    cited: dict[str, set[str]] = {}
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found = set(CITATION.findall(text))
        if path.parent == REPO_ROOT / "docs":
            found |= set(re.findall(r"\]\(runbook\.md#([A-Za-z0-9_-]+)\)", text))
        if path == RUNBOOK:
            found |= set(re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", text))
        if found:
            cited[str(path.relative_to(REPO_ROOT))] = found
    return cited


def test_every_cited_runbook_anchor_is_a_heading(runbook: str) -> None:
    cited = cited_anchors()
    assert cited.get("docs/runbook.md"), "the runbook's own links were not found"
    have = anchors(runbook)
    missing = {path: sorted(found - have) for path, found in cited.items() if found - have}
    assert not missing, f"cited anchors that are not headings of docs/runbook.md: {missing}"


def test_the_sections_the_flows_send_people_to_are_headings(runbook: str) -> None:
    """The flows build their citations from ``RUNBOOK_SECTIONS`` (anchor -> heading)."""
    titles = {github_anchor(text): text for level, text in headings(runbook) if level == 2}
    for anchor, title in RUNBOOK_SECTIONS.items():
        assert titles.get(anchor) == title, f"docs/runbook.md#{anchor} is not '## {title}'"


def test_the_runbooks_links_to_other_pages_resolve(runbook: str) -> None:
    for target, anchor in re.findall(r"\]\(([\w./-]+\.md)(?:#([\w-]+))?\)", runbook):
        path = (RUNBOOK.parent / target).resolve()
        assert path.is_file(), f"docs/runbook.md links to {target}, which does not exist"
        if anchor:
            assert anchor in anchors(path.read_text(encoding="utf-8")), f"{target}#{anchor}"


# --- the table -----------------------------------------------------------------------------


def test_every_command_of_the_old_runbook_has_its_row(rows: dict[str, Row]) -> None:
    assert list(rows) == list(SEED_ROWS), "row ids differ from SEED_ROWS (missing, extra, order)"
    for row_id, words in SEED_ROWS.items():
        assert words.lower() in rows[row_id].seed.lower(), f"{row_id} no longer maps {words!r}"
        assert rows[row_id].here, f"{row_id} says nothing about what replaces it"


def test_rows_not_gone_are_exactly_those_the_test_runs(rows: dict[str, Row]) -> None:
    kept = {row_id for row_id, row in rows.items() if not row.gone}
    assert kept == set(CHECKS), (
        f"a row not gone without a check: {sorted(kept - set(CHECKS))}; "
        f"a check for a gone row: {sorted(set(CHECKS) - kept)}"
    )
    for row_id in sorted(CHECKS):
        missing = [w for w in CHECKS[row_id].says if w not in rows[row_id].here]
        assert not missing, f"{row_id}'s row does not name what its check runs: {missing}"


#: The repository's top-level files and folders a row may name.
TOP_LEVEL = ("benchmarks", "deployments", "docs", "flows", "lambdas", "samples", "tasks", "tests")
TOP_FILES = ("Dockerfile", "Makefile", "uv.lock", "prefect.yaml", "prefect.ecs.yaml")


def named_paths(text: str) -> list[str]:
    """Repository files and folders a row names in code spans."""
    spans = re.findall(r"`([^`]+)`", text)
    return [
        span
        for span in spans
        if re.fullmatch(r"[\w.-]+(/[\w.-]+)*", span)
        and ((span.split("/")[0] in TOP_LEVEL and "/" in span) or span in TOP_FILES)
    ]


def make_targets(text: str) -> list[str]:
    return re.findall(r"`make ([a-z-]+)", text)


@pytest.mark.parametrize("row_id", list(SEED_ROWS))
def test_a_gone_row_says_why_and_what_it_names_exists(row_id: str, rows: dict[str, Row]) -> None:
    row = rows[row_id]
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    for target in make_targets(row.here):
        assert re.search(rf"^{target}:", makefile, re.M), f"{row_id}: no `make {target}`"
    for name in named_paths(row.here):
        assert (REPO_ROOT / name).exists(), f"{row_id} names {name}, which does not exist"
    for target in re.findall(r"\]\(([\w./-]+\.md)", row.here):
        assert (RUNBOOK.parent / target).is_file(), f"{row_id} links to {target}"
    if not row.gone:
        return
    said = re.match(r"\*\*Gone\*\*(?: as an? [a-z]+| here)?: (.+)$", row.here)
    assert said, f"{row_id}: a gone row says why after '**Gone**:'"
    assert len(said.group(1).split()) >= 8, f"{row_id}: say why it is gone and what replaces it"


# --- running the replacements ----------------------------------------------------------------


@dataclass
class Ctx:
    """What a row's check gets: the embedded AWS, a scratch folder, the environment."""

    stack: StackInfo
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    api_url: str

    @property
    def settings(self) -> Settings:
        return self.stack.settings


@dataclass(frozen=True)
class Replacement:
    run: Callable[[Ctx], None]
    #: Words the row's "here" cell must contain: what the check runs.
    says: tuple[str, ...]


CHECKS: dict[str, Replacement] = {}


def replaces(*row_ids: str, says: tuple[str, ...]) -> Callable[[Callable[[Ctx], None]], Any]:
    def register(check: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
        for row_id in row_ids:
            assert row_id not in CHECKS, row_id
            CHECKS[row_id] = Replacement(check, says)
        return check

    return register


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


@dataclass
class Run:
    """A flow run as the operator sees it: its state, artifacts and log lines."""

    state: State[Any]
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> UUID:
        run_id = self.state.state_details.flow_run_id
        assert run_id is not None
        return run_id

    def logs(self) -> list[str]:
        """The run's log lines in the API (sent in the background: drained, then read)."""
        APILogWorker.drain_all(timeout=10)
        with get_client(sync_client=True) as prefect:
            found = prefect.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[self.id]))
            )
        return [log.message for log in found]

    def artifact(self, what: str) -> Any:
        """The data of the run's one artifact ``what``: its key ends in ``-<what>``
        (``dlq-triage-try01-2-counts``, ``weekly-report-2025-w46-try01-2-figures``)."""
        keys = [key for key in self.artifacts if key.endswith(f"-{what}")]
        assert len(keys) == 1, f"no one artifact {what!r} among {sorted(self.artifacts)}"
        return self.artifacts[keys[0]]

    def markdown(self, what: str) -> str:
        data = self.artifact(what)
        assert isinstance(data, str), (what, data)
        return data

    def table(self, what: str) -> list[dict[str, Any]]:
        data = self.artifact(what)
        rows = json.loads(data) if isinstance(data, str) else data
        assert isinstance(rows, list), (what, rows)
        return rows

    def findings(self) -> dict[str, tuple[str, str]]:
        """The findings artifact's table: check -> (OK/FAILED, detail)."""
        found = {}
        for line in self.markdown("findings").splitlines():
            cells = split_cells(line) if line.startswith("| ") else []
            if len(cells) == 3 and cells[0] in ("OK", "FAILED"):
                found[cells[1]] = (cells[0], cells[2])
        return found


def run_flow(flow: Any, **parameters: Any) -> Run:
    state = flow(**parameters, return_state=True)
    run = Run(state)
    with get_client(sync_client=True) as prefect:
        for artifact in prefect.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        ):
            if artifact.key:
                run.artifacts[artifact.key] = artifact.data
    return run


def fresh_events(count: int, answered: bool = True, ago_ms: int = 2 * 3_600_000) -> list[Any]:
    """Worker events of ``count`` requests made ``ago_ms`` before now (parsed)."""
    start = int(time.time() * 1000) - ago_ms
    events: list[dict[str, Any]] = []
    for i in range(count):
        rid = f"fresh-{i:03d}"
        events.append(
            {"eventType": "query", "requestId": rid, "timestamp": start + i, "query": "Rust?"}
        )
        if answered:
            events.append(
                {
                    "eventType": "response",
                    "requestId": rid,
                    "timestamp": start + i + 1500,
                    "matchType": "full",
                    "matchScore": 88.0,
                    "reasoning": "test",
                }
            )
    parsed = [parse_event(json.dumps(event)) for event in events]
    assert not [p for p in parsed if isinstance(p, Invalid)], parsed
    return parsed


def store(ctx: Ctx, events: list[Any]) -> None:
    """Store parsed events through the processor's own write path."""
    store_events(
        client("dynamodb"),
        events,
        query_events_table=ctx.settings.query_events_table,
        analytics_table=ctx.settings.analytics_table,
        ttl_days=ctx.settings.query_events_ttl_days,
    )


def put_dead_letter(ctx: Ctx, body: str, dedup: str, reason: str | None = None) -> None:
    attributes = {}
    if reason:
        attributes["reason"] = {"DataType": "String", "StringValue": reason}
    client("sqs").send_message(
        QueueUrl=ctx.stack.dlq_url,
        MessageBody=body,
        MessageGroupId="analytics",
        MessageDeduplicationId=dedup,
        MessageAttributes=attributes,
    )


def drain_main_queue() -> None:
    """The processor's poller until the main queue is empty."""
    EventSourceMapping(handler).drain()
    assert queue_total(Settings().queue_name) == 0


# --- health check ---


@replaces("R08", says=("health-check", "newest analytics record"))
def newest_record_is_shown(ctx: Ctx) -> None:
    store(ctx, fresh_events(3))
    run = run_flow(health_check)
    assert run.state.is_completed(), run.state.message
    mark, detail = run.findings()["newest analytics record"]
    assert mark == "OK" and re.search(r"newest record stored for an event \d+h \d+m ago", detail)


@replaces("R09", "R15", says=("health-check", "queue depth"))
def queue_depth_is_shown(ctx: Ctx) -> None:
    sqs = client("sqs")
    for group in ("a", "b", "c"):
        sqs.send_message(QueueUrl=ctx.stack.queue_url, MessageBody=group, MessageGroupId=group)
    sqs.receive_message(QueueUrl=ctx.stack.queue_url, MaxNumberOfMessages=1)
    run = run_flow(health_check)
    assert run.state.is_completed(), run.state.message
    mark, detail = run.findings()["queue depth"]
    assert (mark, detail) == ("OK", f"{ctx.settings.queue_name}: 2 waiting, 1 in flight")


@replaces("R14", says=("health-check", '"alarms"', "ALARM"))
def an_alarm_in_alarm_fails_the_health_check(ctx: Ctx) -> None:
    inbox = subscribe_alarm_inbox(ctx.stack.topic_arn)
    client("cloudwatch").set_alarm_state(
        AlarmName="cv-analytics-processor-errors", StateValue="ALARM", StateReason="test"
    )
    run = run_flow(health_check)
    assert run.state.is_failed()
    mark, detail = run.findings()["alarms"]
    assert (mark, detail) == ("FAILED", "1 in ALARM: cv-analytics-processor-errors")
    [alert] = alerts_received(inbox)
    assert alert["Subject"] == "cv-analytics health-check FAILED: 1 check(s)"


@replaces("R16", says=("health-check", "dead-letter queue", "DLQ depth before"))
def a_full_dlq_fails_the_health_check(ctx: Ctx) -> None:
    for i in range(11):
        put_dead_letter(ctx, "{not json", f"d{i}", reason="invalid_json")
    run = run_flow(health_check)
    assert run.state.is_failed()
    mark, detail = run.findings()["dead-letter queue"]
    assert (mark, detail) == ("FAILED", f"{ctx.settings.dlq_name} holds 11 messages (more than 10)")
    dry = run_flow(dlq_triage, dry_run=True)
    assert dry.state.is_completed(), dry.state.message
    assert "DLQ depth before: 11;" in dry.markdown("summary")


@replaces("R17", says=("health-check", "awaiting response", "request id"))
def unanswered_requests_are_shown_without_their_questions(ctx: Ctx) -> None:
    store(ctx, fresh_events(2, answered=False))
    run = run_flow(health_check)
    assert run.state.is_completed(), run.state.message
    mark, detail = run.findings()["awaiting response"]
    assert (mark, detail) == ("OK", "2 requests without a response after 1h 0m")
    assert "fresh-000" in run.markdown("findings")  # request ids, shown
    assert "Rust?" not in json.dumps(run.artifacts)  # the question, never


@replaces("R18", says=("health-check", "processor activity"))
def processor_invocations_and_errors_are_shown(ctx: Ctx) -> None:
    cloudwatch = client("cloudwatch")
    for metric, value in (("Invocations", 42.0), ("Errors", 2.0)):
        cloudwatch.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": "cv-analytics-processor"}],
                    "Value": value,
                    "Unit": "Count",
                    # an hour ago: moto leaves out a datapoint of the current, partial period
                    "Timestamp": datetime.now(UTC) - timedelta(hours=1),
                }
            ],
        )
    run = run_flow(health_check)
    assert run.state.is_completed(), run.state.message
    mark, detail = run.findings()["processor activity"]
    assert mark == "OK"
    assert detail == "cv-analytics-processor: 42 invocations, 2 errors in the last 24 h"


# --- alarms in the stack ---


def alarms_notify_the_topic(ctx: Ctx, expected: dict[str, tuple[float, int, int]]) -> None:
    """Each alarm exists with (threshold, period, evaluation periods) and notifies the topic
    on ALARM and OK."""
    found = {
        alarm["AlarmName"]: alarm
        for alarm in client("cloudwatch").describe_alarms(AlarmNamePrefix="cv-analytics-")[
            "MetricAlarms"
        ]
    }
    for name, (threshold, period, evaluations) in expected.items():
        alarm = found[name]
        assert (alarm["Threshold"], alarm["Period"], alarm["EvaluationPeriods"]) == (
            threshold,
            period,
            evaluations,
        ), name
        assert ctx.stack.topic_arn in alarm["AlarmActions"], name
        assert ctx.stack.topic_arn in alarm["OKActions"], name


@replaces("R62", says=("cv-analytics-dlq-depth", "DLQ alarm"))
def the_dlq_alarm(ctx: Ctx) -> None:
    alarms_notify_the_topic(ctx, {"cv-analytics-dlq-depth": (10.0, 300, 1)})


@replaces("R63", says=("cv-analytics-processor-errors", "cv-analytics-processor-throttles"))
def the_processor_alarms(ctx: Ctx) -> None:
    alarms_notify_the_topic(
        ctx,
        {
            "cv-analytics-processor-errors": (5.0, 300, 1),
            "cv-analytics-processor-throttles": (0.0, 300, 1),
        },
    )


@replaces("R29", says=("cv-analytics-processor-errors", "health-check", "processor activity"))
def the_errors_alarm_and_the_errors_of_the_day(ctx: Ctx) -> None:
    alarms_notify_the_topic(ctx, {"cv-analytics-processor-errors": (5.0, 300, 1)})
    processor_invocations_and_errors_are_shown(ctx)


@replaces("R43", says=("cv-analytics-queue-age", "15 minutes for two 5-minute periods"))
def the_queue_age_alarm(ctx: Ctx) -> None:
    alarms_notify_the_topic(ctx, {"cv-analytics-queue-age": (900.0, 300, 2)})


# --- the stack itself ---


@replaces("R02", says=("deployments/template.yaml", "make serve", "four alarms"))
def the_template_provisions_the_stack(ctx: Ctx) -> None:
    s = ctx.settings
    sqs = client("sqs")
    for queue in (s.queue_name, s.dlq_name):
        assert sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for table in (s.query_events_table, s.analytics_table, s.summaries_table):
        assert client("dynamodb").describe_table(TableName=table)["Table"]["TableStatus"]
    topics = [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
    assert ctx.stack.topic_arn in topics and ctx.stack.topic_arn.endswith(s.alarms_topic)
    client("s3").head_bucket(Bucket=s.archive_bucket)
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix="cv-analytics-")["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(template_figures().alarm_names)
    assert len(alarms) == 4
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/cv-analytics-")
    assert [g["logGroupName"] for g in groups["logGroups"]] == [PROCESSOR_LOGS]


@replaces("R03", says=("describe-stacks", "QueueUrl", "FlowsPolicyArn"))
def the_stack_outputs_and_the_flows_defaults(ctx: Ctx) -> None:
    outputs = load_document()["Outputs"]
    for name in ("QueueUrl", "DeadLetterQueueUrl", "AlarmTopicArn", "ArchiveBucketName"):
        assert name in outputs, name
    assert {"ProcessorFunctionArn", "FlowsPolicyArn"} <= set(outputs)
    # the flows need no output: their default settings name the template's resources
    defaults = Settings()
    assert client("sqs").get_queue_url(QueueName=defaults.queue_name)["QueueUrl"]
    assert client("sqs").get_queue_url(QueueName=defaults.dlq_name)["QueueUrl"]
    client("s3").head_bucket(Bucket=defaults.archive_bucket)


@replaces("R22", says=("/aws/lambda/cv-analytics-processor", "14 days"))
def the_processors_log_group(ctx: Ctx) -> None:
    groups = client("logs").describe_log_groups(
        logGroupNamePrefix="/aws/lambda/cv-analytics-processor"
    )["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [
        ("/aws/lambda/cv-analytics-processor", 14)
    ]


@replaces("R38", says=("ContentBasedDeduplication", "512 MB", "on-demand"))
def duplicates_cost_nothing(ctx: Ctx) -> None:
    sqs = client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=ctx.stack.queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["ContentBasedDeduplication"] == "true"
    body = json.dumps(
        {"eventType": "query", "requestId": "dup-1", "timestamp": int(time.time() * 1000)}
        | {"query": "Kotlin?"}
    )
    for _ in range(2):  # the same event twice within 5 minutes: one message
        sqs.send_message(QueueUrl=ctx.stack.queue_url, MessageBody=body, MessageGroupId="g")
    assert queue_counts(ctx.settings.queue_name)["visible"] == 1
    sqs.send_message(  # and again, as another message: still one stored request
        QueueUrl=ctx.stack.queue_url,
        MessageBody=body,
        MessageGroupId="g",
        MessageDeduplicationId="x",
    )
    drain_main_queue()
    stored = client("dynamodb").scan(TableName=ctx.settings.analytics_table)["Items"]
    assert [item["requestId"]["S"] for item in stored] == ["dup-1"]
    for table in (ctx.settings.query_events_table, ctx.settings.analytics_table):
        described = client("dynamodb").describe_table(TableName=table)["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert Template().function("ProcessorFunction").memory_size == 512


# --- the Worker's traffic and the processor's poller ---


@replaces("R07", says=("deployments/worker.py", "samples/worker-events.jsonl"))
def the_worker_replay_is_stored(ctx: Ctx) -> None:
    sends = load_sample()
    first = json.loads(next(s.body for s in sends if s.kind == "query"))
    request = [
        s
        for s in sends
        if s.kind in ("query", "response") and json.loads(s.body)["requestId"] == first["requestId"]
    ]
    assert len(request) == 2, request  # the query and the response of one question
    for send in request:
        client("sqs").send_message(**send.as_send_kwargs(ctx.stack.queue_url))
    drain_main_queue()
    item = client("dynamodb").get_item(
        TableName=ctx.settings.analytics_table, Key={"requestId": {"S": first["requestId"]}}
    )["Item"]
    assert "queryTs" in item and "responseTs" in item


@replaces("R42", says=("aws sqs send-message", "--message-group-id analytics"))
def a_test_message_is_stored(ctx: Ctx) -> None:
    event = {
        "eventType": "query",
        "requestId": "cli-test-1",
        "timestamp": int(time.time() * 1000),
        "query": "Test deployment verification",
    }
    client("sqs").send_message(
        QueueUrl=ctx.stack.queue_url, MessageGroupId="analytics", MessageBody=json.dumps(event)
    )
    drain_main_queue()
    key = {"requestId": {"S": "cli-test-1"}}
    assert client("dynamodb").get_item(TableName=ctx.settings.analytics_table, Key=key)["Item"]


@replaces("R12", says=("ProcessorFunction", "deployments/local_stack/poller.py", "up to 10"))
def the_poller_invokes_the_handler_in_batches_of_ten(ctx: Ctx) -> None:
    assert Template().function("ProcessorFunction").timeout == 30
    for event in fresh_events(6):  # 12 events
        client("sqs").send_message(
            QueueUrl=ctx.stack.queue_url,
            MessageGroupId="analytics",
            MessageBody=json.dumps(event.model_dump(mode="json", exclude_none=True)),
        )
    poller = EventSourceMapping(handler)
    first = poller.poll_once()
    assert (first.invocations, first.processed, first.failed) == (1, 10, 0)
    assert queue_total(ctx.settings.queue_name) == 2  # processed ones are deleted
    drain_main_queue()
    assert (
        client("dynamodb").scan(TableName=ctx.settings.analytics_table, Select="COUNT")["Count"]
        == 6
    )


@replaces("R40", says=("ProcessorEventSourceMapping", "batches of 10", "ReportBatchItemFailures"))
def a_message_the_processor_fails_stays_on_the_queue(ctx: Ctx) -> None:
    mapping = Template().event_source_mapping()
    assert mapping.batch_size == 10 and mapping.reports_batch_item_failures
    [event, _] = fresh_events(1)
    client("sqs").send_message(
        QueueUrl=ctx.stack.queue_url,
        MessageGroupId="analytics",
        MessageBody=json.dumps(event.model_dump(mode="json", exclude_none=True)),
    )

    def outage(*_: Any, **__: Any) -> int:
        raise client_error("ServiceUnavailable", "BatchWriteItem", status=503)

    with patch("lambdas.processor.storage.write_items", side_effect=outage):
        result = EventSourceMapping(handler, fast_retry=False).poll_once()
    assert (result.processed, result.failed) == (0, 1)
    assert queue_total(ctx.settings.queue_name) == 1  # left for SQS to deliver again


# --- DLQ triage ---


VALID_DEAD = {
    "eventType": "query",
    "requestId": "dead-valid-1",
    "query": "Reach me at jane.doe@example.org about Go",
}


def strand_dead_letters(ctx: Ctx) -> str:
    """A valid event whose processing failed, and two the processor refused; returns the
    valid one's body."""
    valid = json.dumps(VALID_DEAD | {"timestamp": int(time.time() * 1000) - 60_000})
    put_dead_letter(ctx, valid, "v1")
    put_dead_letter(ctx, '{"eventType": "query", "requestId": ', "j1", reason="invalid_json")
    put_dead_letter(
        ctx, json.dumps({"eventType": "query", "requestId": "no-ts"}), "e1", reason="invalid_event"
    )
    return valid


def counts(run: Run) -> dict[str, int]:
    return {row["class"]: int(row["messages"]) for row in run.table("counts")}


@replaces("R25", says=("dlq-triage", "Quick run", "dry_run", "-3-summary", "masked"))
def a_dry_run_shows_masked_samples_and_changes_nothing(ctx: Ctx) -> None:
    valid = json.loads(strand_dead_letters(ctx))
    week = Week.of_ms(valid["timestamp"])
    client("dynamodb").put_item(  # its week's report was e-mailed already
        TableName=ctx.settings.summaries_table,
        Item={"week": {"S": week.id}, "send_state": {"S": "sent"}},
    )
    run = run_flow(dlq_triage, dry_run=True)
    assert run.state.is_completed(), run.state.message
    summary = run.markdown("summary")
    assert "dry run" in summary and "DLQ depth before: 3;" in summary
    assert "a real run would make these stale" in summary
    assert f"- {week}: report already sent; a real run would redrive its events" in summary
    assert "**redrivable**" in summary and "**invalid_json**" in summary
    assert "jane.doe@example.org" not in json.dumps(run.artifacts)
    assert queue_counts(ctx.settings.dlq_name)["visible"] == 3  # all visible again
    assert queue_total(ctx.settings.queue_name) == 0


@replaces("R23", says=("dlq-triage", "invalid_json", "invalid_event", "reason"))
def the_processors_refusals_are_counted_by_class(ctx: Ctx) -> None:
    sqs = client("sqs")
    for i, body in enumerate(("{oops", json.dumps({"eventType": "query", "requestId": "x"}))):
        sqs.send_message(
            QueueUrl=ctx.stack.queue_url,
            MessageBody=body,
            MessageGroupId="analytics",
            MessageDeduplicationId=f"bad-{i}",
        )
    drain_main_queue()  # the processor sends both to the DLQ at once, with a reason
    [message, *_] = sqs.receive_message(
        QueueUrl=ctx.stack.dlq_url, MessageAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    assert message["MessageAttributes"]["reason"]["StringValue"] == "invalid_json"
    run = run_flow(dlq_triage, dry_run=True)
    assert run.state.is_completed(), run.state.message
    seen = counts(run)
    assert (seen["invalid_json"], seen["invalid_event"], seen["total seen"]) == (1, 1, 2)


@dataclass
class Triaged:
    run: Run
    valid_body: str


def triage_for_real(ctx: Ctx) -> Triaged:
    valid = strand_dead_letters(ctx)
    run = run_flow(dlq_triage, dry_run=False)
    assert run.state.is_completed(), run.state.message
    return Triaged(run, valid)


def archived_records(ctx: Ctx) -> list[dict[str, Any]]:
    bucket = ctx.settings.archive_bucket
    return [
        record
        for key in s3.list_keys(bucket, "dlq/")
        for record in decode_records(s3.get_bytes(bucket, key) or b"")
    ]


@replaces("R26", says=("dlq-triage", "invalid_json", "archived with their reason", "on-demand"))
def poison_is_archived_with_its_reason(ctx: Ctx) -> None:
    triage_for_real(ctx)
    records = archived_records(ctx)
    assert sorted(r["classification"] for r in records) == ["invalid_event", "invalid_json"]
    assert all(r["reason"] and r["detail"] for r in records), records


@replaces("R27", says=("dlq-triage", "dry_run", "redriveCount", "StartMessageMoveTask"))
def valid_dead_letters_go_back_with_a_count(ctx: Ctx) -> None:
    triaged = triage_for_real(ctx)
    [message] = client("sqs").receive_message(
        QueueUrl=ctx.stack.queue_url, MessageAttributeNames=["All"]
    )["Messages"]
    assert message["Body"] == triaged.valid_body
    assert message["MessageAttributes"]["redriveCount"]["StringValue"] == "1"
    assert "reason" not in message["MessageAttributes"]
    assert queue_total(ctx.settings.dlq_name) == 0


@replaces("R28", says=("-2-counts", "left on DLQ", "seen …, redriven …"))
def the_counts_say_what_moved(ctx: Ctx) -> None:
    run = triage_for_real(ctx).run
    seen = counts(run)
    assert (seen["redriven"], seen["archived"], seen["left on DLQ"]) == (1, 2, 0)
    assert any(line.startswith("seen 3, redriven 1, archived 2, left 0") for line in run.logs()), (
        run.logs()
    )


@replaces("R50", says=("dlq-triage", "archived", "sent back"))
def nothing_is_deleted_unarchived_or_unsent(ctx: Ctx) -> None:
    triaged = triage_for_real(ctx)
    bodies = {r["body"] for r in archived_records(ctx)}
    redriven = [
        m["Body"] for m in client("sqs").receive_message(QueueUrl=ctx.stack.queue_url)["Messages"]
    ]
    assert redriven == [triaged.valid_body]
    assert len(bodies) + len(redriven) == counts(triaged.run)["total seen"] == 3


# --- the weekly report ---


def report_week() -> Week:
    return Week.last_complete()


def sent_count() -> int:
    """E-mails SES accepted (moto's backend lives in this process, beside its server)."""
    return len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@replaces("R19", says=("report-regeneration", "week", "resend"))
def a_week_is_regenerated_and_resent(ctx: Ctx) -> None:
    week = report_week()
    seed_week(ctx.stack, week, 4)
    before = sent_count()
    run = run_flow(report_regeneration, week=week.id)
    assert run.state.is_completed(), run.state.message
    assert run.state.result().total_queries == 4
    assert run.artifact("html") and run.artifact("top-queries") and run.artifact("themes")
    assert "| total queries | 4 |" in run.markdown("figures")
    assert sent_count() == before + 1
    assert run_flow(report_regeneration, week=week.id).state.is_completed()
    assert sent_count() == before + 1  # e-mailed once
    assert run_flow(report_regeneration, week=week.id, resend=True).state.is_completed()
    assert sent_count() == before + 2


@replaces("R20", says=("Logs tab", "E-mail of <week>: sent"))
def the_report_runs_logs_say_where_it_went(ctx: Ctx) -> None:
    week = report_week()
    seed_week(ctx.stack, week, 2)
    run = run_flow(report_regeneration, week=week.id)
    assert run.state.is_completed(), run.state.message
    lines = run.logs()
    assert f"E-mail of {week}: sent" in lines, lines
    assert any(line.startswith(f"Report of {week} written to ") for line in lines), lines
    archived = f"Report of {week} archived to s3://{ctx.settings.archive_bucket}/reports/{week}/"
    assert any(line.startswith(archived) for line in lines), lines


@replaces("R21", "R64", says=("alerts the alarms topic", "Failed flow run"))
def a_failed_run_alerts_the_topic_and_points_here(ctx: Ctx) -> None:
    week = report_week()
    inbox = subscribe_alarm_inbox(ctx.stack.topic_arn)
    ctx.monkeypatch.setenv("CV_ANALYTICS_ARCHIVE_BUCKET", "no-such-bucket-here")
    run = run_flow(weekly_report, week=week.id)
    assert run.state.is_failed()
    [alert] = alerts_received(inbox)
    assert alert["Subject"] == f"cv-analytics flow failed: weekly-report-{week}"
    assert "State: Failed" in alert["Message"] and "docs/runbook.md" in alert["Message"]


@replaces("R24", says=("weekly-report", "has not ended"))
def a_failed_report_run_says_why(ctx: Ctx) -> None:
    current = Week.of_ms(int(time.time() * 1000))
    run = run_flow(weekly_report, week=current.id)
    assert run.state.is_failed()
    assert f"week {current} has not ended" in (run.state.message or ""), run.state.message


@replaces("R31", says=("weekly-report", "was not sent", "recorded as failed"))
def a_refused_send_fails_the_run_and_the_next_run_sends(ctx: Ctx) -> None:
    week = report_week()
    seed_week(ctx.stack, week, 1)
    ctx.monkeypatch.setenv("CV_ANALYTICS_REPORT_SENDER", "not-verified@example.net")
    refused = run_flow(weekly_report, week=week.id)
    assert refused.state.is_failed()
    assert f"weekly report {week} was not sent" in (refused.state.message or "")
    assert ledger_state(ctx.settings.summaries_table, week)[0] == "failed"
    ctx.monkeypatch.delenv("CV_ANALYTICS_REPORT_SENDER")
    assert run_flow(weekly_report, week=week.id).state.is_completed()
    assert ledger_state(ctx.settings.summaries_table, week)[0] == "sent"
    assert client("ses").get_send_quota()["Max24HourSend"] > 0


@replaces("R32", "R33", says=("SenderIdentity", "CV_ANALYTICS_REPORT_SENDER"))
def the_sender_is_verified(ctx: Ctx) -> None:
    ses = client("ses")
    sender = ctx.settings.report_sender
    assert sender in ses.list_identities()["Identities"]
    verified = ses.get_identity_verification_attributes(Identities=[sender])
    assert verified["VerificationAttributes"][sender]["VerificationStatus"] == "Success"


def weekly_report_deployment() -> dict[str, Any]:
    document = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    [found] = [d for d in document["deployments"] if d["name"] == "weekly-report"]
    return dict(found)


@replaces("R34", says=("weekly-report", "Monday 07:00 UTC", "prefect.yaml"))
def the_weekly_schedule(ctx: Ctx) -> None:
    [schedule] = weekly_report_deployment()["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == ("0 7 * * 1", "UTC")
    assert schedule.get("active", True) is True


@replaces("R35", says=("prefect deployment schedule resume weekly-report/weekly-report",))
def a_paused_schedule_is_resumed(ctx: Ctx) -> None:
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule

    [schedule] = weekly_report_deployment()["schedules"]
    with get_client(sync_client=True) as prefect:
        flow_id = prefect.create_flow_from_name("weekly-report")
        deployment_id = prefect.create_deployment(
            flow_id,
            "weekly-report",
            schedules=[
                DeploymentScheduleCreate(
                    schedule=CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"]),
                    active=False,
                )
            ],
        )
        [paused] = prefect.read_deployment_schedules(deployment_id)
        assert paused.active is False
    env = {"PREFECT_API_URL": ctx.api_url}
    done = subprocess.run(  # the row's command, as an operator types it
        [
            str(Path(sys.executable).parent / "prefect"),
            "deployment",
            "schedule",
            "resume",
            "weekly-report/weekly-report",
            str(paused.id),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as prefect:
        [resumed] = prefect.read_deployment_schedules(deployment_id)
        prefect.delete_deployment(deployment_id)
    assert resumed.active is True


# --- TTL verification ---


@replaces("R55", says=("ttl-verification", "TTL status", "fix"))
def a_disabled_ttl_fails_and_fix_enables_it(ctx: Ctx) -> None:
    table = ctx.settings.query_events_table
    client("dynamodb").update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    failed = run_flow(ttl_verification)
    assert failed.state.is_failed()
    mark, detail = failed.findings()[f"{table}: TTL status"]
    assert (mark, detail) == ("FAILED", "TTL is DISABLED, expected ENABLED on 'ttl'")
    fixed = run_flow(ttl_verification, fix=True)
    assert fixed.state.is_completed(), fixed.state.message
    mark, detail = fixed.findings()[f"{table}: TTL status"]
    assert mark == "OK" and detail.endswith("fixed: TTL enabled on 'ttl'"), detail


@replaces("R56", says=("ttl-verification", "TTL overdue"))
def overdue_items_fail_the_ttl_check(ctx: Ctx) -> None:
    seed_week(ctx.stack, Week.last_complete().previous.previous, 1)  # TTL past > 48 h
    run = run_flow(ttl_verification)
    assert run.state.is_failed()
    table = ctx.settings.query_events_table
    mark, detail = run.findings()[f"{table}: TTL overdue"]
    assert mark == "FAILED" and detail.startswith("2 items expired longer than the grace")


@replaces("R61", says=("ttl-verification", "TTL scan", "monthly-maintenance"))
def the_scan_counts_the_raw_events(ctx: Ctx) -> None:
    store(ctx, fresh_events(3))  # 6 raw events
    run = run_flow(ttl_verification)
    assert run.state.is_completed(), run.state.message
    table = ctx.settings.query_events_table
    mark, detail = run.findings()[f"{table}: TTL scan"]
    assert mark == "OK" and detail.startswith("6 items checked"), detail


# --- monthly maintenance ---


def maintain(**parameters: Any) -> Run:
    run = run_flow(monthly_maintenance, **parameters)
    assert run.state.is_completed(), run.state.message
    return run


@replaces("R51", says=("monthly-maintenance", "log group", "stored bytes", "retention"))
@replaces("R52", says=("monthly-maintenance", "14 days", "dry_run"))
def log_retention_is_set_and_sizes_shown(ctx: Ctx) -> None:
    logs = client("logs")
    logs.put_retention_policy(logGroupName=PROCESSOR_LOGS, retentionInDays=30)
    preview = maintain(dry_run=True, test_alarms=False)
    mark, detail = preview.findings()[f"log group {PROCESSOR_LOGS}"]
    assert (mark, detail) == ("OK", "would set retention to 14 days (now 30)")
    run = maintain(dry_run=False, test_alarms=False)
    mark, detail = run.findings()[f"log group {PROCESSOR_LOGS}"]
    assert (mark, detail) == ("OK", "retention set to 14 days (was 30)")
    assert "**stored bytes**" in run.markdown("findings")
    [group] = logs.describe_log_groups(logGroupNamePrefix=PROCESSOR_LOGS)["logGroups"]
    assert group["retentionInDays"] == 14


@replaces("R53", "R54", says=("monthly-maintenance", "table <name>", "billing mode"))
def table_figures_are_shown(ctx: Ctx) -> None:
    store(ctx, fresh_events(2))
    findings = maintain(dry_run=True, test_alarms=False).findings()
    s = ctx.settings
    for table in (s.query_events_table, s.analytics_table, s.summaries_table):
        mark, detail = findings[f"table {table}"]
        assert mark == "OK" and detail.endswith(" bytes, PAY_PER_REQUEST"), detail
    assert findings[f"table {s.analytics_table}"][1].startswith("2 items, ")


@replaces("R49", says=("monthly-maintenance", "Point-in-time recovery", "backup"))
def pitr_is_enabled_and_a_backup_taken(ctx: Ctx) -> None:
    table = ctx.settings.analytics_table
    dynamodb = client("dynamodb")
    dynamodb.update_continuous_backups(
        TableName=table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False},
    )
    findings = maintain(dry_run=False, test_alarms=False).findings()
    assert findings[f"PITR {table}"] == ("OK", "was DISABLED, now ENABLED")
    mark, detail = findings["backup"]
    assert mark == "OK" and detail.startswith(f"created {table}-monthly-"), detail
    assert len(dynamodb.list_backups(TableName=table)["BackupSummaries"]) == 1


@replaces("R10", "R57", says=("monthly-maintenance", "test_alarms", "alarm notification test"))
def the_alarm_test_goes_to_alarm_and_back(ctx: Ctx) -> None:
    cloudwatch = client("cloudwatch")
    alarm = "cv-analytics-dlq-depth"
    before = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    run = maintain(dry_run=False, test_alarms=True)
    mark, detail = run.findings()["alarm notification test"]
    assert mark == "OK"
    assert detail.startswith(f"{alarm} set to ALARM (read back ALARM) and back to {before}")
    assert ctx.stack.topic_arn in run.markdown("findings")  # the topic
    after = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    assert after == before
    # a real alarm is never cleared by the test
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="real")
    real = run_flow(monthly_maintenance, dry_run=True, test_alarms=True)
    findings = real.findings()
    assert findings["alarm notification test"][1].startswith(f"skipped: {alarm} is already")
    assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == (
        "ALARM"
    )


@replaces("R60", says=("monthly-maintenance", "analytics/<week>/", "from the archive"))
def old_weeks_are_archived_and_still_reported(ctx: Ctx) -> None:
    old = Week.last_complete().shift(-15)  # ended more than 90 days ago
    seed_week(ctx.stack, old, 3)
    findings = maintain(dry_run=False, test_alarms=False).findings()
    mark, detail = findings[f"archive {old}"]
    assert mark == "OK" and "3 records, 3 deleted" in detail, detail
    assert query_week_records(ctx.settings.analytics_table, old) == []
    keys = s3.list_keys(ctx.settings.archive_bucket, f"analytics/{old}/")
    assert any("/manifest-" in key for key in keys), keys
    report = run_flow(report_regeneration, week=old.id)
    assert report.state.is_completed(), report.state.message
    assert report.state.result().total_queries == 3  # its records are only in S3 now


# --- the test that runs them ---------------------------------------------------------------


@pytest.fixture
def ctx(
    stack: StackInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_server: str,
) -> Iterator[Ctx]:
    monkeypatch.setenv("CV_ANALYTICS_REPORT_OUTPUT_DIR", str(tmp_path / "reports"))
    yield Ctx(stack, tmp_path, monkeypatch, prefect_server)


@pytest.mark.parametrize("row_id", sorted(CHECKS))
def test_the_replacement_does_what_its_row_says(row_id: str, ctx: Ctx) -> None:
    CHECKS[row_id].run(ctx)
