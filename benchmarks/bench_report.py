"""Benchmark of the weekly report against the local stack; prints one JSON object.

Measured (setup, i.e. writing the synthetic records, is timed separately):

- ``query_read``: the week read with DynamoDB ``Query`` on its GSI partition, pages,
  items and bytes returned vs the bytes of the week's records (other weeks are in the
  table too, so a ratio near 1.0 proves they are not read);
- ``scan_baseline``: the naive alternative, ``Scan`` with a filter on the week;
- ``report_flow``: the ``weekly-report`` flow end to end (read, aggregate, render,
  archive, artifacts, SES send) after a warm-up run that starts Prefect's server, in a
  process of its own (``report_child``) whose peak RSS (``VmHWM``) is the report's; its seconds are
  split into waiting on AWS HTTP responses (here: moto working) and everything else;
- ``aggregate_1m``: ``tasks.core.aggregate.weekly_figures`` alone on a 1,000,000-row table;
- ``bench_process_peak_rss_mb_with_moto``: this process, which hosts moto's server and
  every item it stores: the emulator's memory, not the report's.

Goals: report < 60 s at 100,000 requests, aggregation < 2 s for 1,000,000
records, peak memory < 1.5 GB, bytes read <= 1.1x the week's records.

Usage: ``python -m benchmarks.bench_report [--requests 100000] [--aggregate-records N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess  # nosec B404
import sys
import time
import uuid
from typing import Any

from lambdas.shared.weeks import Week

WEEK = "2025-W45"
OTHER_WEEKS = ("2025-W44", "2025-W46")
QUERIES = [
    "Does he know Python?",
    "does he have experience with GraphQL?",
    "What was his last role?",
    "Where is he based?",
    "Is he available for contract work?",
    "What is his salary expectation?",
    "Has he worked with COBOL?",
    "Can he lead a team?",
    "Kubernetes experience?",
    "why should we hire him?",
    "Email me at recruiter{n}@example.com about a role",
    "call +44 20 7946 {n:04d} if he is free",
    "<script>alert('x')</script> does he know React?",
    "Does he speak Japanese?",
    "  DOES HE KNOW   fortran? ",
]
SOURCES = ["Python", "Go", "Kafka", "Docker", "AWS Lambda", "Terraform", "DynamoDB", "C#", ".NET"]


def synthetic_records(
    week: str, count: int, rng: random.Random, *, payloads: bool = True
) -> list[dict[str, Any]]:
    """Analytics records shaped like the processor's, sorted by request id like a Query page.

    ``payloads=False`` shares one event-JSON string between records (aggregation never
    reads them) so a million records fit in memory.
    """
    parsed = Week.parse(week)
    start, end = parsed.start_ms, parsed.end_ms
    shared_query = json.dumps({"eventType": "query", "query": "x" * 120})
    shared_response = json.dumps({"eventType": "response", "reasoning": "y" * 200})
    # Ids sorted first, records built in that order: like a deserialized Query result,
    # whose records sit in memory in the order they are iterated.
    ids = sorted(str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(count))
    records = []
    for rid in ids:
        ts = rng.randrange(start, end)
        text = rng.choice(QUERIES).format(n=rng.randrange(10_000))
        roll = rng.random()
        session = None if roll < 0.1 else "anonymous" if roll < 0.3 else f"s-{rng.randrange(3000)}"
        record: dict[str, Any] = {
            "requestId": rid,
            "week": week,
            "weekKey": week,
            "queryTs": ts,
            "query": text,
        }
        if session is not None:
            record["sessionId"] = session
        query_event = {"eventType": "query", "requestId": rid, "timestamp": ts, "query": text}
        record["queryEvent"] = json.dumps(query_event) if payloads else shared_query
        if rng.random() < 0.95:
            score = rng.randrange(101)
            match = "full" if score > 80 else "partial" if score > 50 else "none"
            sources = sorted(set(rng.sample(SOURCES, rng.randrange(1, 4))))
            response = {
                "eventType": "response",
                "requestId": rid,
                "timestamp": ts + 1500,
                "matchType": match,
                "matchScore": score,
                "reasoning": f"Match: {sources[0]} with {score / 100:.2f} similarity",
                "metadata": {"sourcesUsed": sources},
            }
            record.update(
                responseTs=ts + 1500,
                matchType=match,
                matchScore=score,
                sourcesUsed=sources,
                responseEvent=json.dumps(response) if payloads else shared_response,
            )
            if rng.random() < 0.6:
                record.update(
                    hasPerformance=True,
                    totalTime=round(rng.uniform(200, 3000), 1),
                    llmTime=round(rng.uniform(100, 2500), 1),
                    retrievalTime=round(rng.uniform(20, 300), 1),
                    cacheHit=rng.random() < 0.2,
                )
        records.append(record)
    return records


def item_bytes(item: dict[str, Any]) -> int:
    """A stable size measure of one item, the same for what is written and what is read."""
    return len(json.dumps(item, sort_keys=True, separators=(",", ":")).encode())


def peak_rss_mb() -> float:
    """This process's own peak RSS: ``VmHWM``, the high-water mark of its address space.

    Not ``ru_maxrss`` where ``/proc`` exists: Linux carries that across ``execve`` (the
    spawning process's peak is folded in), so ``report_child``, started by this process
    while it hosts moto and every stored item, would report our peak, not its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_setup(records: list[dict[str, Any]]) -> float:
    import boto3

    from lambdas.processor.storage import write_items
    from tasks.settings import Settings

    client = boto3.client("dynamodb")
    table = Settings().analytics_table
    started = time.perf_counter()
    for start in range(0, len(records), 1000):
        write_items(client, [(table, item) for item in records[start : start + 1000]])
    return time.perf_counter() - started


def measure_query(week: str, week_bytes: int) -> dict[str, Any]:
    from lambdas.shared.dynamodb import deserialize
    from tasks.dynamodb.week_index import week_key_pages
    from tasks.settings import Settings

    started = time.perf_counter()
    items: list[dict[str, Any]] = []
    capacity = 0.0
    table = Settings().analytics_table  # the benchmark stands where a flow would
    for page in week_key_pages(table, week, ReturnConsumedCapacity="TOTAL"):
        items.extend(deserialize(raw) for raw in page.get("Items", []))
        capacity += float(page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))
    seconds = time.perf_counter() - started
    read_bytes = sum(map(item_bytes, items))
    return {
        "seconds": round(seconds, 2),
        "items": len(items),
        "bytes_read": read_bytes,
        "week_bytes": week_bytes,
        "bytes_ratio": round(read_bytes / week_bytes, 4) if week_bytes else None,
        "consumed_capacity_units": capacity,
    }


def measure_scan(week: str, table_bytes: int) -> dict[str, Any]:
    import boto3

    from tasks.settings import Settings

    client = boto3.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": Settings().analytics_table,
        "FilterExpression": "weekKey = :week",
        "ExpressionAttributeValues": {":week": {"S": week}},
        "ReturnConsumedCapacity": "TOTAL",
    }
    scanned = returned = 0
    capacity = 0.0
    started = time.perf_counter()
    while True:
        page = client.scan(**kwargs)
        scanned += page.get("ScannedCount", 0)
        returned += page.get("Count", 0)
        capacity += float(page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "items_scanned": scanned,
        "items_returned": returned,
        "bytes_read": table_bytes,  # a Scan reads every item of the table
        "consumed_capacity_units": capacity,
    }


def measure_flow(week: str, previous_total: int) -> dict[str, Any]:
    """The flow end to end in a child process (``report_child``), so its RSS is its own."""
    import boto3

    from tasks.settings import Settings

    # The week before has a summary, as after last week's report: nothing else is read.
    boto3.client("dynamodb").update_item(
        TableName=Settings().summaries_table,
        Key={"week": {"S": OTHER_WEEKS[0]}},
        UpdateExpression="SET total_queries = :t",
        ExpressionAttributeValues={":t": {"N": str(previous_total)}},
    )
    completed = subprocess.run(  # nosec B603
        [sys.executable, "-m", "benchmarks.report_child", week],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"report run failed: {completed.stderr.strip()[-2000:]}")
    figures: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    sent = boto3.client("ses").get_send_statistics()["SendDataPoints"][0]["DeliveryAttempts"]
    figures["ses_delivery_attempts_total"] = int(sent)  # moto counts To header + Destinations
    return figures


def measure_aggregation(count: int, rng: random.Random) -> dict[str, Any]:
    """``weekly_figures`` on a million-row table, as the week's reader hands it over.

    The reader (``tasks.dynamodb.query_week_table``) builds the table from Query pages
    without a dict per record; building it from dicts instead is timed beside it, for
    the callers that hold dicts (the archive path, tests).
    """
    from tasks.core.aggregate import records_frame, weekly_figures

    records = synthetic_records(WEEK, count, rng, payloads=False)
    started = time.perf_counter()
    table = records_frame(records)
    from_dicts = time.perf_counter() - started
    del records
    started = time.perf_counter()
    figures = weekly_figures(Week.parse(WEEK), table, count)
    seconds = time.perf_counter() - started
    return {
        "records": count,
        "seconds": round(seconds, 3),
        "table_from_dicts_seconds": round(from_dicts, 3),
        "total": figures.total_queries,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests in the week")
    parser.add_argument("--aggregate-records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=45)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.aggregate_records < 1:
        parser.error("--requests and --aggregate-records must be positive")

    import os
    import tempfile

    os.environ.setdefault(
        "CV_ANALYTICS_REPORT_OUTPUT_DIR", tempfile.mkdtemp(prefix="bench-reports-")
    )
    from deployments.local_stack import local_stack

    rng = random.Random(args.seed)
    result: dict[str, Any] = {"requests": args.requests}
    with local_stack():
        week_records = synthetic_records(WEEK, args.requests, rng)
        others = [r for w in OTHER_WEEKS for r in synthetic_records(w, args.requests // 2, rng)]
        week_bytes = sum(map(item_bytes, week_records))
        table_bytes = week_bytes + sum(map(item_bytes, others))
        result["setup"] = {
            "week_items": len(week_records),
            "other_week_items": len(others),
            "write_seconds": round(write_setup(week_records + others), 1),
        }
        del others
        result["query_read"] = measure_query(WEEK, week_bytes)
        result["scan_baseline"] = measure_scan(WEEK, table_bytes)
        del week_records
        result["report_flow"] = measure_flow(WEEK, args.requests // 2)
        result["bench_process_peak_rss_mb_with_moto"] = peak_rss_mb()
    result["aggregate_1m"] = measure_aggregation(args.aggregate_records, rng)
    result["goals"] = {
        "report_under_60s": result["report_flow"]["seconds"] < 60,
        # The same goal for our own work alone: on moto the rest is the emulator's cost.
        "report_own_work_under_60s": result["report_flow"]["outside_aws_calls_seconds"] < 60,
        "aggregation_under_2s": result["aggregate_1m"]["seconds"] < 2,
        "bytes_ratio_at_most_1_1": (result["query_read"]["bytes_ratio"] or 0) <= 1.1,
        "report_peak_rss_under_1_5_gb": result["report_flow"]["peak_rss_mb"] < 1536,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
