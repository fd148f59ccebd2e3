"""``make serve``'s embedded AWS behaves like AWS for as long as it runs (no Prefect here).

One ``embedded_aws`` for the module (the sample loaded as serve loads it, ~15 s): the
event source mapping consumes what is sent and redriven after start, the TTL sweeper
removes expired raw events, the alarms topic's alerts are printed and logged (masked),
the printed connection details work from a clean process, and the weeks serve loads are
the docs' weeks with their expected figures. Waits are for a condition, never a duration.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployments.demo import OUTPUTS, SAMPLE_LAST_WEEK, expected_figures, outputs_of, parse_args
from deployments.local_stack import TTL_SWEEP_SECONDS, BackgroundLoop, inbox_name
from deployments.serve import (
    EmbeddedAws,
    ServeOptions,
    connection_text,
    embedded_aws,
    how_to,
    refusal,
)
from deployments.serve import parse_args as serve_args
from deployments.worker import weeks_between
from lambdas.shared.weeks import Week

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs" / "local-stack.md"
#: Generous: on two busy cores a poll or a sweep can take seconds; a pass takes far less.
WAIT = 60.0


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """No client resets here: the background loops keep the clients they were made with,
    and the processor's cached clients belong to the poller's thread."""
    yield


@pytest.fixture(scope="module")
def serve_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedAws, list[str]]]:
    shown: list[str] = []
    options = ServeOptions(aws_port=0, out=tmp_path_factory.mktemp("serve"))
    with embedded_aws(options, shown.append) as aws:
        yield aws, shown
    assert not any(loop.running for loop in aws.loops), "a background loop outlived serve"


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"not within {WAIT:.0f} s: {what}")


def loop_named(aws: EmbeddedAws, prefix: str) -> BackgroundLoop:
    (loop,) = [loop for loop in aws.loops if loop.name.startswith(prefix)]
    return loop


def worker_events(rid: str, at_ms: int) -> list[dict[str, Any]]:
    query = {"eventType": "query", "requestId": rid, "timestamp": at_ms, "query": "Go?"}
    answer = {
        "eventType": "response",
        "requestId": rid,
        "timestamp": at_ms + 1500,
        "matchType": "full",
        "matchScore": 90,
        "reasoning": "test",
    }
    return [query, answer]


def analytics_record(aws: EmbeddedAws, rid: str) -> dict[str, Any] | None:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=aws.stack.settings.analytics_table, Key={"requestId": {"S": rid}}
    )
    found: dict[str, Any] | None = item.get("Item")
    return found


def test_events_sent_after_start_are_processed(serve_aws: tuple[EmbeddedAws, list[str]]) -> None:
    # given serve running, its start-up replay long done
    aws, _ = serve_aws
    rid = str(uuid.uuid4())
    sqs = boto3.client("sqs", region_name="us-east-1")
    # when the Worker sends a question and its answer
    for event in worker_events(rid, int(time.time() * 1000) - 60_000):
        sqs.send_message(
            QueueUrl=aws.stack.queue_url,
            MessageBody=json.dumps(event),
            MessageGroupId="analytics",
            MessageDeduplicationId=f"{rid}-{event['eventType']}",
        )
    # then the processor stores the request, answered, and the queue is empty again
    wait_until(lambda: "matchType" in (analytics_record(aws, rid) or {}), "the request stored")
    counts = sqs.get_queue_attributes(
        QueueUrl=aws.stack.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert counts == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def dlq_message(aws: EmbeddedAws, rid: str) -> dict[str, Any] | None:
    """The DLQ message with ``rid`` (received; any other received is released at once)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    received: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=aws.stack.dlq_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=60,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])  # type: ignore[assignment]
    mine = [m for m in received if rid in m["Body"]]
    others = [m for m in received if rid not in m["Body"]]
    if others and mine:  # (while it is not found, the others' group stays hidden)
        sqs.change_message_visibility_batch(
            QueueUrl=aws.stack.dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(others)
            ],
        )
    return mine[0] if mine else None


def test_redriven_events_are_processed(serve_aws: tuple[EmbeddedAws, list[str]]) -> None:
    from tasks.core.triage import redrive_entry
    from tasks.sqs.queues import redrive

    # given a valid event waiting in the DLQ (as after an outage), behind the sample's
    aws, _ = serve_aws
    rid = str(uuid.uuid4())
    sqs = boto3.client("sqs", region_name="us-east-1")
    (query, _) = worker_events(rid, int(time.time() * 1000) - 120_000)
    sqs.send_message(
        QueueUrl=aws.stack.dlq_url,
        MessageBody=json.dumps(query),
        MessageGroupId=f"redrive-test-{rid}",
        MessageDeduplicationId=f"{rid}-query",
    )
    message = wait_until(lambda: dlq_message(aws, rid), "the event received from the DLQ")
    # when DLQ triage's redrive sends it back to the main queue
    outcome = redrive(
        aws.stack.dlq_url, aws.stack.queue_url, [message], [redrive_entry(message, "0")]
    )
    assert outcome.sent == [message["MessageId"]]
    # then the processor consumes it
    wait_until(lambda: analytics_record(aws, rid), "the redriven request stored")


def test_expired_raw_events_vanish_and_unexpired_stay(
    serve_aws: tuple[EmbeddedAws, list[str]],
) -> None:
    # given raw events past their TTL and one not yet
    aws, _ = serve_aws
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    table = aws.stack.settings.query_events_table
    now = int(time.time())
    rows = {"expired": now - 5, "expired-long-ago": now - 30 * 86_400, "alive": now + 3600}
    for name, ttl in rows.items():
        dynamodb.put_item(
            TableName=table,
            Item={
                "requestId": {"S": f"ttl-{name}"},
                "eventKey": {"S": "q"},
                "ttl": {"N": str(ttl)},
            },
        )
    # when the TTL sweeper has run a sweep that began after they were written
    sweeper = loop_named(aws, "DynamoDB TTL")
    assert sweeper.wait_for_fresh_pass(WAIT)

    # then the expired ones are gone, the other stays
    def present(name: str) -> bool:
        key = {"requestId": {"S": f"ttl-{name}"}, "eventKey": {"S": "q"}}
        return "Item" in dynamodb.get_item(TableName=table, Key=key)

    assert [name for name in rows if present(name)] == ["alive"]
    # and the bound the docs state is the sweeper's own
    assert sweeper.interval == TTL_SWEEP_SECONDS
    assert f"within {TTL_SWEEP_SECONDS:.0f} s" in DOCS.read_text(encoding="utf-8")


def test_no_raw_event_of_the_loaded_sample_is_left_past_its_ttl(
    serve_aws: tuple[EmbeddedAws, list[str]],
) -> None:
    # (what made ttl-verification fail under serve: moto never expires items)
    aws, _ = serve_aws
    overdue = boto3.client("dynamodb", region_name="us-east-1").scan(
        TableName=aws.stack.settings.query_events_table,
        Select="COUNT",
        FilterExpression="#ttl < :now",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues={":now": {"N": str(int(time.time()) - 60)}},
    )
    assert overdue["Count"] == 0


def test_an_alert_published_to_the_alarms_topic_is_shown_and_logged_masked(
    serve_aws: tuple[EmbeddedAws, list[str]],
) -> None:
    from tasks.sns import publish_alert

    # given serve running
    aws, shown = serve_aws
    subject = f"CV Analytics: test alert {uuid.uuid4().hex[:8]}"
    # when a flow publishes an alert (an address slipped into its text)
    publish_alert(aws.stack.settings.alarms_topic, subject, "dlq depth 12; from jane@example.org")

    # then serve shows it, and its log has it, both masked
    def printed() -> list[str]:
        return [text for text in list(shown) if subject in text]

    (text,) = wait_until(printed, "the alert printed")
    assert text.startswith("ALERT ") and "dlq depth 12" in text
    assert "jane@example.org" not in text and "[email]" in text
    log = aws.alarms_log.read_text(encoding="utf-8")
    assert subject in log and "jane@example.org" not in log
    # and the docs name where to look
    docs = DOCS.read_text(encoding="utf-8")
    assert inbox_name(aws.stack.settings) in docs and "out/serve/alarms.log" in docs


def printed_exports(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*export (\w+)=(\S+)$", text, flags=re.MULTILINE))


LIST_QUEUES = (
    "import boto3, json; print(json.dumps(boto3.client('sqs').list_queues()['QueueUrls']))"
)


def clean_env() -> dict[str, str]:
    """This machine's environment without any AWS setting (as a fresh terminal might be)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def test_the_printed_connection_details_reach_the_embedded_aws(
    serve_aws: tuple[EmbeddedAws, list[str]],
) -> None:
    # given what serve prints for another terminal
    aws, _ = serve_aws
    text = connection_text(aws)
    exports = printed_exports(text)
    assert set(exports) == {
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
    }
    # when another process uses exactly those (and nothing else of AWS) to list the queues
    done = subprocess.run(
        [sys.executable, "-c", LIST_QUEUES],
        env=clean_env() | exports,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then it sees serve's queues, which the text names
    assert done.returncode == 0, done.stderr
    names = {url.rsplit("/", 1)[-1] for url in json.loads(done.stdout)}
    settings = aws.stack.settings
    expected = {settings.queue_name, settings.dlq_name, aws.inbox.name}
    assert expected <= names
    assert all(name in text for name in expected)
    for name in (settings.analytics_table, settings.archive_bucket, aws.stack.topic_arn):
        assert name in text
    assert f"aws --endpoint-url {exports['AWS_ENDPOINT_URL']} sqs get-queue-attributes" in text


def test_the_env_file_serve_writes_reaches_the_embedded_aws(
    serve_aws: tuple[EmbeddedAws, list[str]],
) -> None:
    aws, _ = serve_aws
    assert str(aws.env_file.relative_to(aws.env_file.parents[1])) in connection_text(aws)
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'source "$1" && "{sys.executable}" -c "$2"',
            "-",
            str(aws.env_file),
            LIST_QUEUES,
        ],
        env=clean_env() | {"AWS_PROFILE": "an-operator-profile"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert aws.stack.queue_url in json.loads(done.stdout)


def test_serve_loads_the_docs_weeks_and_the_last_complete_weeks_with_their_figures(
    serve_aws: tuple[EmbeddedAws, list[str]],
) -> None:
    from tasks.core.aggregate import metric_figures, weekly_figures
    from tasks.week_archive import read_week
    from tasks.weekly_summaries import previous_week_total

    # given serve started today
    aws, shown = serve_aws
    last = Week.last_complete()
    # then it loaded the sample as it is (the docs' weeks) and moved to the last two weeks
    assert aws.sample_weeks == (Week(2025, 45), Week(2025, 46))
    assert aws.recent_weeks == (last.previous, last)
    printed = "\n".join(shown)
    assert all(week.id in printed for week in aws.weeks)
    # and each week's figures are the sample's expected ones (relabelled when moved)
    settings = aws.stack.settings
    offset = weeks_between(SAMPLE_LAST_WEEK, last)
    for week, moved in [
        *((w, 0) for w in aws.sample_weeks),
        *((w, offset) for w in aws.recent_weeks),
    ]:
        records = read_week(week, settings)
        figures = weekly_figures(week, records.table, previous_week_total(week, settings))
        assert metric_figures(figures) == expected_figures(moved, week.shift(-moved)), week
    # and the docs say so
    docs = DOCS.read_text(encoding="utf-8")
    assert "2025-W45" in docs and "2025-W46" in docs


def test_the_how_to_names_every_week_with_traffic(serve_aws: tuple[EmbeddedAws, list[str]]) -> None:
    aws, _ = serve_aws
    reports = aws.alarms_log.parent / "reports"
    text = how_to(aws, "http://127.0.0.1:4200", "http://127.0.0.1:4200/api", reports)
    assert all(week.id in text for week in aws.weeks)
    # the browser fixture reads where reports go from this sentence
    written = re.search(r"written to\s+(\S+)/<week>/report\.html", text)
    assert written and Path(written.group(1)) == reports


# --- separate state, refused options (no stack needed) ------------------------------------


def test_make_report_and_make_serve_keep_separate_prefect_homes_and_reports() -> None:
    report = outputs_of(parse_args(["--report-only", "--week", "2025-W45"]))
    demo = outputs_of(parse_args([]))
    serve = ServeOptions().outputs()
    assert report == OUTPUTS["report"] and demo == OUTPUTS["demo"] and serve == OUTPUTS["serve"]
    folders = [o.prefect_home for o in (report, demo, serve)] + [
        o.reports for o in (report, demo, serve)
    ]
    assert len(set(folders)) == len(folders)
    # no command's folder holds another's
    for one in folders:
        assert not any(other != one and other.is_relative_to(one) for other in folders)
    assert serve.root == REPO_ROOT / "out" / "serve" and report.root == REPO_ROOT / "out" / "report"


def test_serve_options_from_the_command_line(tmp_path: Path) -> None:
    assert serve_args([]) == ServeOptions()
    options = serve_args(["--port", "0", "--aws-port", "0", "--out", str(tmp_path)])
    assert options.outputs().root == tmp_path and (options.port, options.aws_port) == (0, 0)


def test_serve_refuses_a_taken_or_shared_port() -> None:
    import socket

    assert "different ports" in (refusal(ServeOptions(port=4300, aws_port=4300)) or "")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = refusal(ServeOptions(port=0, aws_port=port)) or ""
    assert f"port {port}" in refused and "--aws-port" in refused


def test_an_alarm_state_change_notifies_the_topic_as_on_aws(
    serve_aws: tuple[EmbeddedAws, list[str]],
) -> None:
    # given serve running and the DLQ depth alarm OK
    _, shown = serve_aws
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    name = "cv-analytics-dlq-depth"
    # when it goes to ALARM and back (as monthly maintenance's notification test does)
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test of serve")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test done")

    # then both notifications reach the topic's subscriber and are shown
    def printed() -> list[str]:
        return [text for text in list(shown) if f'"{name}"' in text]

    wait_until(lambda: len(printed()) == 2, "both alarm notifications printed")
    alarm, ok = sorted(printed(), key=lambda text: "OK -> ALARM" not in text)
    assert f'ALARM: "{name}" in us-east-1' in alarm and "OK -> ALARM: test of serve" in alarm
    assert f'OK: "{name}" in us-east-1' in ok and "ALARM -> OK: test done" in ok
