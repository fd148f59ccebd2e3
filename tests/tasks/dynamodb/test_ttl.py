"""TTL tasks: the table's TTL status, its repair, and the scanned items' TTLs (in-process moto)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import boto3

from deployments.local_stack import StackInfo
from lambdas.shared.weeks import Week
from tasks.core.ttl import TtlPolicy, item_checks, merge_all, status_check
from tasks.dynamodb import ttl as ttl_tasks
from tests.conftest import seed_week

POLICY = TtlPolicy()


def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def scan_summary(stack: StackInfo, segments: int = 3) -> Any:
    now_s = int(time.time())
    table = stack.settings.query_events_table
    return merge_all(
        ttl_tasks.scan_ttl_segment.fn(table, POLICY, s, segments, now_s) for s in range(segments)
    )


def put_raw_event(stack: StackInfo, rid: str, ttl: dict[str, str], ts_ms: int) -> None:
    dynamodb().put_item(
        TableName=stack.settings.query_events_table,
        Item={
            "requestId": {"S": rid},
            "eventKey": {"S": f"query#{ts_ms:013d}"},
            "timestamp": {"N": str(ts_ms)},
            "ttl": ttl,
        },
    )


def test_ttl_healthy_stack_passes_every_check(aws: StackInfo) -> None:
    now_ms = int(time.time() * 1000)
    recent = Week.of(datetime.fromtimestamp(now_ms / 1000 - 3600, UTC))
    seed_week(aws, recent, 4)
    table = aws.settings.query_events_table
    status, attribute = ttl_tasks.ttl_status.fn(table)
    assert status_check(table, status, attribute, POLICY).ok
    summary = scan_summary(aws)
    assert summary.items_checked == 8  # a query and a response per request
    assert all(check.ok for check in item_checks(table, summary, POLICY))


def test_ttl_disabled_fails_and_fix_enables_it(aws: StackInfo) -> None:
    table = aws.settings.query_events_table
    dynamodb().update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    status, attribute = ttl_tasks.ttl_status.fn(table)
    assert not status_check(table, status, attribute, POLICY).ok

    ttl_tasks.enable_ttl.fn(table, "ttl")
    assert ttl_tasks.ttl_status.fn(table) == ("ENABLED", "ttl")


def test_one_item_in_milliseconds_fails_the_milliseconds_check(aws: StackInfo) -> None:
    now_ms = int(time.time() * 1000)
    put_raw_event(aws, "fine", {"N": str(now_ms // 1000 + 7 * 86_400)}, now_ms)
    put_raw_event(aws, "bug-ms", {"N": str(now_ms + 7 * 86_400_000)}, now_ms)
    summary = scan_summary(aws)
    assert summary.items_checked == 2
    failed = [c for c in item_checks("t", summary, POLICY) if not c.ok]
    assert [c.name for c in failed] == ["t: TTL milliseconds"]
    when = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    shown = f"bug-ms/query@{when:%Y-%m-%dT%H:%M:%S}.{now_ms % 1000:03d}Z"
    assert failed[0].figures["examples"] == [shown]  # a time, not a bare 13-digit number


def test_one_overdue_item_fails_with_its_age(aws: StackInfo) -> None:
    # moto never deletes expired items, exactly like a table whose TTL is not working.
    now_s = int(time.time())
    ts_ms = (now_s - 10 * 86_400) * 1000
    put_raw_event(aws, "stale", {"N": str(ts_ms // 1000 + 7 * 86_400)}, ts_ms)
    summary = scan_summary(aws)
    assert summary.counts["overdue"] == 1
    assert 3 * 86_400 - 60 <= summary.oldest_overdue_seconds <= 3 * 86_400 + 60
    assert [c.name for c in item_checks("t", summary, POLICY) if not c.ok] == ["t: TTL overdue"]
