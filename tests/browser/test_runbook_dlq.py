"""docs/runbook.md#dlq-alarm, followed end to end through the UI of ``make serve`` in Chromium.

Given the sample's dead letters triaged away (the daily schedule's real run) and the report
of 2025-W46 (a week ``make serve`` loads as it is) sent, dead letters reach the DLQ: valid
queries of 2025-W46 whose processing failed (SQS moves them there as they were sent, with
no reason) and two events the processor refused (with its reason). Then, as the runbook
says, in the UI:

1. ``dlq-triage`` > Run > Quick run: a dry run. Its counts artifact shows the classes, its
   summary the week whose sent report a real run would make stale; nothing changes.
2. ``dlq-triage`` > Run > Custom run, ``dry_run`` off, ``regenerate_reports`` on: the valid
   events are redriven and the others archived; serve's event source mapping processes
   the redriven ones (the main queue drains, the records are stored), and the run
   regenerates and re-sends the stale week's report.
3. The regenerated report counts them: its key figures artifact (and the report archived
   to S3) show the week's total plus the redriven queries; serve printed the run's alert.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from playwright.sync_api import Locator, Page, expect

from deployments.demo import expected_figures
from lambdas.shared.weeks import Week
from tests.browser.pages import follow_view_run, wait_completed
from tests.browser.test_ui import open_custom_run, parameter

if TYPE_CHECKING:
    from tests.browser.conftest import ServeStack

pytestmark = pytest.mark.browser

#: A week make serve loads as it is (the docs' weeks), with its expected figures.
WEEK = Week(2025, 46)
#: Valid queries of WEEK whose processing failed: what the redrive adds to the report.
VALID = 4
REQUEST_IDS = [f"runbook-dlq-{i}" for i in range(VALID)]
RUN_TIMEOUT_S = 240.0
DLQ = "cv-analytics-dlq.fifo"
QUEUE = "cv-analytics-queue.fifo"


# --- the embedded AWS and the Prefect API ----------------------------------------------------


def aws(stack: ServeStack, service: str) -> Any:
    """A client of serve's embedded AWS, from its printed connection info."""
    assert stack.aws_endpoint, f"serve printed no AWS endpoint:\n{stack.log_tail()}"
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def queue_total(stack: ServeStack, name: str) -> int:
    sqs = aws(stack, "sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(
        int(attributes[key])
        for key in (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
    )


def api_call(stack: ServeStack, method: str, path: str, body: Any = None) -> Any:
    """``stack.api``, asked again while the server answers 503 (a fresh server's SQLite
    database can be busy for a while after start-up)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return stack.api(method, path, body)
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(1)


def run_by_api(stack: ServeStack, deployment: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A run of the deployment created through the API, waited for until it ends."""
    deployment_id = stack.deployment(deployment)["id"]
    body = {"parameters": parameters, "idempotency_key": str(uuid.uuid4())}  # asked again: one run
    created = api_call(stack, "POST", f"/deployments/{deployment_id}/create_flow_run", body)
    return wait_ended(stack, created["id"])


def wait_ended(stack: ServeStack, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run: dict[str, Any] = api_call(stack, "GET", f"/flow_runs/{run_id}")
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not end in {RUN_TIMEOUT_S:.0f} s\n{stack.log_tail()}")


def artifacts_of(stack: ServeStack, run_id: str) -> dict[str, dict[str, Any]]:
    body = {"artifacts": {"flow_run_id": {"any_": [run_id]}}}
    found = api_call(stack, "POST", "/artifacts/filter", body)
    return {a["key"]: a for a in found if a["key"]}


def artifact_named(artifacts: dict[str, dict[str, Any]], what: str) -> dict[str, Any]:
    """The one artifact whose key ends in ``-<what>`` (``dlq-triage-try01-2-counts``)."""
    [key] = [key for key in artifacts if key.endswith(f"-{what}")]
    return artifacts[key]


def counts_of(artifacts: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The counts artifact's table: class -> messages."""
    rows = json.loads(artifact_named(artifacts, "counts")["data"])
    return {str(row["class"]): int(row["messages"]) for row in rows}


def total_queries(markdown: str) -> int:
    found = re.search(r"\|\s*total queries\s*\|\s*([\d,]+)\s*\|", markdown)
    assert found, markdown[:2000]
    return int(found.group(1).replace(",", ""))


def report_runs(stack: ServeStack) -> list[dict[str, Any]]:
    """The runs named ``weekly-report-<WEEK>``, oldest first."""
    body = {"flow_runs": {"name": {"any_": [f"weekly-report-{WEEK}"]}}, "limit": 50}
    runs = list(api_call(stack, "POST", "/flow_runs/filter", body))
    return sorted(runs, key=lambda r: r["start_time"] or r["created"])


def sent_ledger(stack: ServeStack) -> dict[str, Any]:
    item = aws(stack, "dynamodb").get_item(
        TableName="cv-analytics-weekly-summaries", Key={"week": {"S": WEEK.id}}, ConsistentRead=True
    )
    return dict(item.get("Item", {}))


def put_dead_letters(stack: ServeStack) -> None:
    """What the DLQ holds after a failed processing: valid queries of WEEK (moved there by
    SQS after 3 receives, as sent), then two events the processor refused at once."""
    sqs = aws(stack, "sqs")
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    start = WEEK.start_ms + 3 * 86_400_000  # Thursday of WEEK
    for i, rid in enumerate(REQUEST_IDS):
        body = {
            "eventType": "query",
            "requestId": rid,
            "timestamp": start + i * 60_000,
            "query": f"Does he know Elixir ({i})?",
            "sessionId": "runbook-session",
        }
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(body),
            MessageGroupId="analytics",
            MessageDeduplicationId=f"{rid}-query",
        )
    refused = (
        ('{"eventType": "query", "requestId": ', "invalid_json"),
        (json.dumps({"eventType": "query", "timestamp": start, "query": "?"}), "invalid_event"),
    )
    for i, (text, reason) in enumerate(refused):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=text,
            MessageGroupId="analytics",
            MessageDeduplicationId=f"runbook-refused-{i}",
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason},
                "detail": {"DataType": "String", "StringValue": "refused by the contract"},
            },
        )


# --- the UI ----------------------------------------------------------------------------------


def quick_run(page: Page, stack: ServeStack, deployment: str) -> str:
    """Deployments > <deployment> > Run > Quick run; returns the run's id."""
    page.goto(f"{stack.ui_url}/deployments")
    page.locator("a.deployment-list__name", has_text=re.compile(f"^{deployment}$")).click()
    expect(page.locator(".page-heading")).to_contain_text(deployment)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("button", name="Quick run").click()
    return follow_view_run(page)


def set_switch(form: Locator, name: str, on: bool) -> None:
    switch = parameter(form, name).get_by_role("switch")
    if (switch.get_attribute("aria-checked") == "true") != on:
        switch.click()
    expect(switch).to_have_attribute("aria-checked", "true" if on else "false")


def open_artifact(page: Page, stack: ServeStack, run_id: str, key: str) -> None:
    """The run page's Artifacts tab, then the artifact ``key``."""
    page.goto(f"{stack.ui_url}/runs/flow-run/{run_id}")
    page.locator(".p-tab", has_text=re.compile("^Artifacts$")).click()
    titles = page.locator(".artifact-card .artifact-card__title")
    expect(titles.first).to_be_visible()
    titles.filter(has_text=re.compile(f"^{re.escape(key)}$")).click()
    page.wait_for_url(re.compile(r"/artifacts/artifact/"))
    expect(page.locator(".page-heading")).to_contain_text(key)


def table_cell(page: Page, first: str) -> str:
    """The second cell of the artifact table's row whose first cell is ``first``."""
    row = page.locator("tr").filter(has=page.locator("td", has_text=re.compile(f"^{first}$")))
    expect(row).to_have_count(1)
    return str(row.locator("td").nth(1).inner_text()).strip()


def markdown_shown(page: Page) -> Locator:
    shown = page.locator(".markdown-renderer").last
    expect(shown).to_be_visible()
    return shown


# --- the procedure -----------------------------------------------------------------------------


def test_the_runbooks_dlq_procedure_through_the_ui(page: Page, serve_stack: ServeStack) -> None:
    stack = serve_stack
    # Given the DLQ emptied of the sample's invalid events (the daily schedule's real run)
    cleared = run_by_api(stack, "dlq-triage", {"dry_run": False})
    assert cleared["state_type"] == "COMPLETED", cleared["state"]
    assert queue_total(stack, DLQ) == 0
    # and the report of WEEK e-mailed
    sent = run_by_api(stack, "report-regeneration", {"week": WEEK.id})
    assert sent["state_type"] == "COMPLETED", sent["state"]
    before = total_queries(artifact_named(artifacts_of(stack, sent["id"]), "figures")["data"])
    assert before == expected_figures(0, WEEK)["total_queries"]  # 298: the sample as it is
    first_send = sent_ledger(stack)
    assert first_send["send_state"]["S"] == "sent", first_send
    # when dead letters arrive: valid queries of WEEK whose processing failed, and refusals
    put_dead_letters(stack)
    assert queue_total(stack, DLQ) == VALID + 2

    # 1. Look without changing anything: a Quick run of dlq-triage is a dry run
    dry_id = quick_run(page, stack, "dlq-triage")
    dry = wait_completed(page, stack, dry_id, int(RUN_TIMEOUT_S * 1000))
    assert dry["parameters"]["dry_run"] is True, dry["parameters"]
    assert dry["name"].startswith("dlq-triage-dry-run-"), dry["name"]
    artifacts = artifacts_of(stack, dry_id)
    counts = {
        r["class"]: r["messages"] for r in json.loads(artifact_named(artifacts, "counts")["data"])
    }
    assert (counts["redrivable"], counts["invalid_json"], counts["invalid_event"]) == (VALID, 1, 1)
    assert (counts["redriven"], counts["archived"], counts["left on DLQ"]) == (0, 0, VALID + 2)
    open_artifact(page, stack, dry_id, artifact_named(artifacts, "counts")["key"])
    assert table_cell(page, "redrivable") == str(VALID)
    open_artifact(page, stack, dry_id, artifact_named(artifacts, "summary")["key"])
    summary = markdown_shown(page)
    expect(summary).to_contain_text("dry run")
    expect(summary).to_contain_text(f"DLQ depth before: {VALID + 2}")
    expect(summary).to_contain_text(f"{WEEK}: report already sent")  # the stale week
    assert queue_total(stack, DLQ) == VALID + 2  # nothing changed

    # 2. Triage for real, regenerating the stale report
    form = open_custom_run(page, stack, "dlq-triage")
    set_switch(form, "dry_run", False)
    set_switch(form, "regenerate_reports", True)
    page.get_by_role("button", name="Submit").click()
    real_id = follow_view_run(page)
    real = wait_completed(page, stack, real_id, int(RUN_TIMEOUT_S * 1000))
    assert real["parameters"]["dry_run"] is False and real["parameters"]["regenerate_reports"]
    artifacts = artifacts_of(stack, real_id)
    counts = {
        r["class"]: r["messages"] for r in json.loads(artifact_named(artifacts, "counts")["data"])
    }
    assert (counts["redriven"], counts["archived"], counts["left on DLQ"]) == (VALID, 2, 0)
    open_artifact(page, stack, real_id, artifact_named(artifacts, "summary")["key"])
    expect(markdown_shown(page)).to_contain_text(f"{WEEK}: report already sent")
    expect(markdown_shown(page)).to_contain_text("regenerated and re-sent")

    # 3. serve's event source mapping processed the redrive: the main queue drained, the
    # records are stored in WEEK
    assert queue_total(stack, QUEUE) == 0 and queue_total(stack, DLQ) == 0
    dynamodb = aws(stack, "dynamodb")
    for rid in REQUEST_IDS:
        item = dynamodb.get_item(
            TableName="cv-analytics-analytics", Key={"requestId": {"S": rid}}, ConsistentRead=True
        ).get("Item")
        assert item and item["weekKey"]["S"] == WEEK.id, (rid, item)

    # 4. the regenerated report counts them: its key figures, the archived report, a new send
    regenerated = [r for r in report_runs(stack) if r["id"] != sent["id"]]
    assert regenerated, "no regenerated report run"
    latest = regenerated[-1]
    assert latest["state_type"] == "COMPLETED", latest["state"]
    figures = artifact_named(artifacts_of(stack, latest["id"]), "figures")
    assert total_queries(figures["data"]) == before + VALID
    open_artifact(page, stack, latest["id"], figures["key"])
    row = page.locator("tr").filter(has=page.locator("td", has_text=re.compile("^total queries$")))
    expect(row.locator("td").nth(1)).to_have_text(
        re.compile(f"^{before + VALID:,}$|^{before + VALID}$")
    )
    s3 = aws(stack, "s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket="cv-analytics-archive", Prefix=f"reports/{WEEK}/").get(
            "Contents", []
        )
        if o["Key"].endswith("/report.json")
    ]
    newest = sorted(keys)[-1]
    archived = json.loads(s3.get_object(Bucket="cv-analytics-archive", Key=newest)["Body"].read())
    assert archived["total_queries"] == before + VALID, newest
    resent = sent_ledger(stack)
    assert resent["send_state"]["S"] == "sent" and resent != first_send
    # and the alert the real run published reached serve's alarm inbox
    deadline = time.monotonic() + 30
    while "DLQ triage:" not in stack.log_tail(200_000) and time.monotonic() < deadline:
        time.sleep(1)
    assert re.search(
        rf"ALERT .*DLQ triage: {VALID + 2} on DLQ, 2 archived, {VALID} redriven",
        stack.log_tail(200_000),
    ), stack.log_tail()
