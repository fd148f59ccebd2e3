"""``make soak``: Worker traffic through queue and processor with a DynamoDB outage mid-run.

Traffic has duplicates, reversed pairs, orphans, unanswered queries and 1% invalid
events; it is sent in chunks while the poller drains (moto's SQS slows as a queue
grows). For a stretch in the middle (``--outage-share``, 5% of the traffic, rounded up
to whole chunks: ~5,000 events at the default size, one chunk in a small run), every
DynamoDB call of the processor fails (HTTP 503), long enough that every message sent in
it exhausts its 3 receives and lands on the DLQ. Then
DLQ triage redrives the valid ones and archives the invalid ones, the processor drains
again, and a ledger checks: every valid event stored, every week's figures equal to the
figures computed from the traffic itself, every invalid event archived with its reason,
nothing left anywhere, nothing lost.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import boto3
from botocore.exceptions import ClientError

from benchmarks.temporary_prefect import temporary_prefect_env

# before anything below imports Prefect
os.environ.update(temporary_prefect_env("soak-prefect-"))

from benchmarks.bench_processor import synthetic_bodies
from deployments.local_stack import EventSourceMapping, StackInfo, local_stack
from deployments.worker import WorkerSend, send_all
from lambdas.processor import handler as processor
from lambdas.shared.contract import Invalid, parse_event
from lambdas.shared.correlation import analytics_item, fold_events
from tasks.core.aggregate import weekly_figures
from tasks.dynamodb.week_index import query_week_table
from tasks.s3.objects import get_bytes, list_keys
from tasks.sqs.queues import queue_total


def worker_sends(bodies: list[str]) -> list[WorkerSend]:
    """Dedup ids as the Worker makes them; a re-sent copy gets a new one (dedup window passed)."""
    seen: Counter[str] = Counter()
    sends = []
    for number, body in enumerate(bodies):
        try:
            event = json.loads(body)
            base = f"{event['requestId']}-{event['eventType']}-{event['timestamp']}"
        except (KeyError, TypeError, ValueError):
            base = f"invalid-{number}"
        seen[base] += 1
        dedup = base if seen[base] == 1 else f"{base}-again{seen[base]}"
        sends.append(WorkerSend(body, "analytics", dedup[:128]))
    return sends


@contextmanager
def dynamodb_outage() -> Iterator[None]:
    """Every DynamoDB call of the processor fails as AWS fails in an outage (503)."""
    dynamodb = processor._clients()[0]
    response: Any = {
        "Error": {"Code": "ServiceUnavailable", "Message": "injected outage"},
        "ResponseMetadata": {"HTTPStatusCode": 503},
    }
    unavailable = ClientError(response, "BatchWriteItem")
    with (
        patch.object(dynamodb, "batch_get_item", side_effect=unavailable),
        patch.object(dynamodb, "batch_write_item", side_effect=unavailable),
    ):
        yield


def archived_poison(bucket: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for key in list_keys(bucket, "dlq/"):
        blob = get_bytes(bucket, key) or b""
        text = gzip.decompress(blob).decode() if key.endswith(".gz") else blob.decode()
        records += [json.loads(line) for line in text.splitlines() if line.strip()]
    return records


def ledger(stack: StackInfo, bodies: list[str], requests_made: Counter[str]) -> dict[str, Any]:
    outcomes = [parse_event(b) for b in bodies]
    valid = [o for o in outcomes if not isinstance(o, Invalid)]
    invalid_bodies = Counter(
        b for b, o in zip(bodies, outcomes, strict=True) if isinstance(o, Invalid)
    )

    truth = [analytics_item(s) for s in fold_events(valid).values()]
    weeks = sorted({r["week"] for r in truth if "week" in r})
    figures_match = {}
    for week in weeks:
        expected = weekly_figures(week, [r for r in truth if r.get("week") == week], None)
        stored = weekly_figures(week, query_week_table(stack.settings.analytics_table, week), None)
        figures_match[week] = expected == stored

    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    stored_keys = set()
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=stack.settings.query_events_table, ProjectionExpression="requestId, eventKey"
    ):
        stored_keys |= {(i["requestId"]["S"], i["eventKey"]["S"]) for i in page["Items"]}
    valid_keys = {(e.requestId, f"{e.eventType}#{e.timestamp:013d}") for e in valid}

    poison = archived_poison(stack.settings.archive_bucket)
    archived_invalid = Counter(
        p["body"] for p in poison if str(p.get("classification", "")).startswith("invalid")
    )
    with_reason = all(p.get("reason") for p in poison)
    lost_valid = len(valid_keys - stored_keys)
    lost_invalid = sum((invalid_bodies - archived_invalid).values())
    return {
        "events_sent": len(bodies),
        "valid_events": len(valid),
        "distinct_valid_events": len(valid_keys),
        "valid_events_stored": len(valid_keys & stored_keys),
        "invalid_events": sum(invalid_bodies.values()),
        "invalid_events_archived": sum(archived_invalid.values()),
        # an invalid message behind a failed one in its batch is dead-lettered twice: by
        # the processor (with its reason) and by SQS's redrive of the original
        "invalid_archived_twice": sum((archived_invalid - invalid_bodies).values()),
        "every_archived_record_has_a_reason": with_reason,
        "weeks": weeks,
        "weekly_figures_equal_to_truth": figures_match,
        "left_on_queue": queue_total(stack.settings.queue_name),
        "left_on_dlq": queue_total(stack.settings.dlq_name),
        "lost": lost_valid + lost_invalid,
        "processor_requests": dict(requests_made),
        "processor_dynamodb_requests_per_valid_event": round(
            requests_made["processor_dynamodb"] / max(len(valid), 1), 3
        ),
    }


def run(requests: int, chunk: int, outage_share: float) -> dict[str, Any]:
    from flows.dlq_triage import dlq_triage

    bodies = synthetic_bodies(requests, seed=11, invalid_share=0.01)
    sends = worker_sends(bodies)
    outage = range(int(len(sends) * 0.4), int(len(sends) * (0.4 + outage_share)))
    requests_made: Counter[str] = Counter()
    started = time.perf_counter()
    with local_stack() as stack:
        processor.reset_clients()
        dynamodb, sqs, _ = processor._clients()
        dynamodb.meta.events.register(
            "before-send.dynamodb", lambda **_: requests_made.update(["processor_dynamodb"])
        )
        sqs.meta.events.register(
            "before-send.sqs", lambda **_: requests_made.update(["processor_sqs_dlq_sends"])
        )
        # the outage makes the processor log one error per failed batch (thousands of
        # lines); the ledger counts what happened, so only its own output is printed
        processor.logger.setLevel(logging.CRITICAL)
        esm = EventSourceMapping(processor.handler)
        sent_in_outage = 0
        for start in range(0, len(sends), chunk):
            part = sends[start : start + chunk]
            # every chunk that overlaps the outage window (at least one, however small the
            # run) is sent and drained while DynamoDB fails: each message is received 3
            # times, then SQS dead-letters it
            failing = bool(outage) and start < outage.stop and start + chunk > outage.start
            with dynamodb_outage() if failing else contextlib.nullcontext():
                send_all(part, stack.queue_url, between_chunks=esm.drain, chunk=chunk, batched=True)
            sent_in_outage += len(part) if failing else 0
            if (start // chunk) % 50 == 0:
                print(f"sent {start + len(part)}/{len(sends)} events", file=sys.stderr)
        dead_after_outage = queue_total(stack.settings.dlq_name)
        triage_runs = []
        for _ in range(5):  # triage, reprocess, until the DLQ is empty
            if queue_total(stack.settings.dlq_name) == 0:
                break
            summary = dlq_triage()
            triage_runs.append(
                {k: getattr(summary, k) for k in ("seen", "counts", "redriven", "archived")}
            )
            esm.drain()
        result = ledger(stack, bodies, requests_made)
        result["events_sent_during_outage"] = sent_in_outage
        result["dlq_depth_after_outage"] = dead_after_outage
        result["triage_runs"] = triage_runs
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=49_000, help="questions (~100k events)")
    parser.add_argument("--chunk", type=int, default=200, help="sends between drains")
    parser.add_argument(
        "--outage-share",
        type=float,
        default=0.05,
        help="share of the traffic sent while DynamoDB fails",
    )
    args = parser.parse_args()
    if args.requests < 1 or args.chunk < 1 or not 0 <= args.outage_share <= 0.6:
        parser.error("--requests and --chunk must be >= 1, --outage-share within [0, 0.6]")
    # Powertools prints EMF metric blobs to stdout (even when disabled, once 100 datapoints
    # pile up); stdout is for the ledger alone.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        result = run(args.requests, args.chunk, args.outage_share)
    print(json.dumps(result, indent=2))
    ok = (
        result["lost"] == 0
        and all(result["weekly_figures_equal_to_truth"].values())
        and result["left_on_queue"] == 0
        and result["left_on_dlq"] == 0
        and result["every_archived_record_has_a_reason"]
    )
    print("LEDGER OK: zero lost" if ok else "LEDGER FAILED", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
