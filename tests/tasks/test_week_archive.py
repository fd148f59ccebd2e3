"""A week's records into the S3 archive and back, against in-process moto.

Archival is shown to lose nothing when an upload or a read-back fails, to resume an
interrupted deletion, and to leave the reader of every report on the archive.
"""

from __future__ import annotations

import gzip
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.exceptions import ClientError

from deployments.local_stack import StackInfo
from lambdas.processor.storage import write_items
from lambdas.shared.weeks import Week
from tasks import week_archive
from tasks.core.archive import ArchiveMismatchError, manifest_prefix
from tasks.dynamodb.week_index import query_week_records
from tasks.s3 import objects
from tasks.s3.objects import get_bytes, list_keys
from tasks.settings import Settings
from tasks.week_archive import read_archived_week, read_week
from tests.conftest import client_error, seed_week

OLD_WEEK = Week(2025, 10)  # ended 2025-03-10: long past any 90-day cutoff


def archive_keys(week: Week) -> list[str]:
    return sorted(list_keys(Settings().archive_bucket, f"analytics/{week.id}/"))


def manifests(week: Week) -> list[str]:
    return sorted(list_keys(Settings().archive_bucket, manifest_prefix(week)))


def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def test_find_archivable_weeks_lists_only_weeks_with_records(aws: StackInfo) -> None:
    seed_week(aws, OLD_WEEK, 3)
    seed_week(aws, Week(2025, 12), 1)
    found = week_archive.find_archivable_weeks.fn(
        [Week(2025, 9), OLD_WEEK, Week(2025, 11), Week(2025, 12)], aws.settings
    )
    assert found == {OLD_WEEK: 3, Week(2025, 12): 1}


def test_archive_round_trips_and_the_reader_switches_to_the_archive(aws: StackInfo) -> None:
    seed_week(aws, OLD_WEEK, 30)
    before = sorted(
        query_week_records(aws.settings.analytics_table, OLD_WEEK), key=lambda r: r["requestId"]
    )
    summaries_before = dynamodb().scan(TableName=aws.settings.summaries_table)["Items"]

    outcome = week_archive.archive_week(OLD_WEEK, aws.settings)

    assert (outcome.found, outcome.archived, outcome.deleted, outcome.action) == (
        30,
        30,
        30,
        "archived",
    )
    assert query_week_records(aws.settings.analytics_table, OLD_WEEK) == []
    assert read_week(OLD_WEEK, aws.settings).source == "archive"
    archived = read_archived_week(OLD_WEEK, aws.settings) or []
    assert sorted(archived, key=lambda r: r["requestId"]) == before
    assert dynamodb().scan(TableName=aws.settings.summaries_table)["Items"] == summaries_before


def test_an_archived_week_regenerates_the_same_report_figures(aws: StackInfo) -> None:
    from tasks.core.aggregate import weekly_figures

    seed_week(aws, OLD_WEEK, 12)
    seed_week(aws, Week(2025, 11), 2, answered=False)
    before = weekly_figures(OLD_WEEK, read_week(OLD_WEEK, aws.settings).table, 7).model_dump()
    week_archive.archive_week(OLD_WEEK, aws.settings)
    week = read_week(OLD_WEEK, aws.settings)
    assert week.source == "archive"
    assert weekly_figures(OLD_WEEK, week.table, 7).model_dump() == before
    assert (
        read_week(Week(2025, 11), aws.settings).source == "dynamodb"
    )  # only the archived week moved


def test_dry_run_archives_and_deletes_nothing(aws: StackInfo) -> None:
    seed_week(aws, OLD_WEEK, 3)
    outcome = week_archive.archive_week(OLD_WEEK, aws.settings, dry_run=True)
    assert outcome.action == "would archive 3 records" and outcome.deleted == 0
    assert archive_keys(OLD_WEEK) == []
    assert len(query_week_records(aws.settings.analytics_table, OLD_WEEK)) == 3


def test_failed_upload_deletes_nothing(aws: StackInfo) -> None:
    seed_week(aws, OLD_WEEK, 5)
    denied = client_error("AccessDenied", "PutObject", status=403, message="Access Denied")
    with patch("tasks.week_archive.put_bytes", side_effect=denied), pytest.raises(ClientError):
        week_archive.archive_week(OLD_WEEK, aws.settings)
    assert len(query_week_records(aws.settings.analytics_table, OLD_WEEK)) == 5
    assert manifests(OLD_WEEK) == []
    assert read_week(OLD_WEEK, aws.settings).source == "dynamodb"


def test_corrupt_read_back_deletes_nothing_and_writes_no_manifest(aws: StackInfo) -> None:
    seed_week(aws, OLD_WEEK, 5)

    def corrupt_records(bucket: str, key: str) -> bytes | None:
        # the week's records object reads back as something else; the manifest as stored
        if "/records-" in key:
            return gzip.compress(b'{"requestId":"x"}\n')
        return get_bytes(bucket, key)

    with (
        patch("tasks.week_archive.get_bytes", side_effect=corrupt_records),
        pytest.raises(ArchiveMismatchError),
    ):
        week_archive.archive_week(OLD_WEEK, aws.settings)
    assert len(query_week_records(aws.settings.analytics_table, OLD_WEEK)) == 5
    assert manifests(OLD_WEEK) == []


def test_interrupted_deletion_resumes(aws: StackInfo) -> None:
    seed_week(aws, OLD_WEEK, 4)
    records = sorted(
        query_week_records(aws.settings.analytics_table, OLD_WEEK), key=lambda r: r["requestId"]
    )
    week_archive.archive_week(OLD_WEEK, aws.settings)
    # Given a deletion that stopped half-way (archived records still in DynamoDB, unchanged),
    write_items(dynamodb(), [(aws.settings.analytics_table, r) for r in records[:2]])
    # when maintenance runs again, it deletes them and writes no new archive.
    outcome = week_archive.archive_week(OLD_WEEK, aws.settings)
    assert (outcome.action, outcome.deleted, outcome.kept) == ("resumed deletion", 2, 0)
    assert query_week_records(aws.settings.analytics_table, OLD_WEEK) == []
    assert len(manifests(OLD_WEEK)) == 1


def test_a_record_arriving_after_its_week_was_archived_is_merged(aws: StackInfo) -> None:
    from tasks.core.aggregate import weekly_figures

    seed_week(aws, OLD_WEEK, 4)
    week_archive.archive_week(OLD_WEEK, aws.settings)
    first_archive = {
        key: get_bytes(aws.settings.archive_bucket, key) for key in archive_keys(OLD_WEEK)
    }
    # Given a late request stored after the archival (a query redriven from the DLQ),
    late = seed_week(aws, OLD_WEEK, 5)[-1]
    # when maintenance runs again, the archive is rewritten with it as a new object,
    outcome = week_archive.archive_week(OLD_WEEK, aws.settings)
    assert outcome.action == "merged 1 late records into the archive"
    assert (outcome.archived, outcome.deleted, outcome.kept) == (5, 5, 0)  # 4 replays + 1
    assert query_week_records(aws.settings.analytics_table, OLD_WEEK) == []
    assert len(manifests(OLD_WEEK)) == 2
    # the first archive's objects are untouched,
    assert all(
        get_bytes(aws.settings.archive_bucket, key) == blob for key, blob in first_archive.items()
    )
    # and the week's report counts the late request.
    archived_ids = [r["requestId"] for r in read_archived_week(OLD_WEEK, aws.settings) or []]
    assert late in archived_ids and len(archived_ids) == 5
    assert weekly_figures(OLD_WEEK, read_week(OLD_WEEK, aws.settings).table, 0).total_queries == 5


def test_a_late_event_of_an_archived_request_is_joined_with_it(aws: StackInfo) -> None:
    seed_week(aws, OLD_WEEK, 2, answered=False)
    week_archive.archive_week(OLD_WEEK, aws.settings)
    # the response of an archived query comes in late: the processor, finding no record,
    # stores the request again with both events (a replayed query and the response)
    seed_week(aws, OLD_WEEK, 2, answered=True)
    outcome = week_archive.archive_week(OLD_WEEK, aws.settings)
    assert outcome.archived == 2
    archived = {r["requestId"]: r for r in read_archived_week(OLD_WEEK, aws.settings) or []}
    assert all(r.get("matchType") == "partial" and "queryEvent" in r for r in archived.values())


def test_a_record_changed_between_read_and_delete_stays_for_the_next_run(
    aws: StackInfo,
) -> None:
    from tasks.aws import aws_client

    seed_week(aws, OLD_WEEK, 3, answered=False)
    changed = seed_week(aws, Week(2025, 11), 1)  # a record to write over one of the week's
    victim = sorted(
        query_week_records(aws.settings.analytics_table, OLD_WEEK), key=lambda r: r["requestId"]
    )[0]
    updated = {
        **victim,
        **{
            k: v
            for k, v in query_week_records(aws.settings.analytics_table, Week(2025, 11))[0].items()
            if k in ("responseEvent", "matchType", "matchScore", "responseTs")
        },
    }
    assert changed

    def processor_updates_first(**_: Any) -> None:
        # the processor stores the request's response just before our first delete lands
        events.unregister("before-call.dynamodb.DeleteItem", processor_updates_first)
        write_items(dynamodb(), [(aws.settings.analytics_table, updated)])

    events = aws_client("dynamodb").meta.events
    events.register("before-call.dynamodb.DeleteItem", processor_updates_first)
    outcome = week_archive.archive_week(OLD_WEEK, aws.settings)
    assert (outcome.deleted, outcome.kept) == (2, 1)
    # the changed record is still in DynamoDB, and the next run merges it into the archive
    assert [r["requestId"] for r in query_week_records(aws.settings.analytics_table, OLD_WEEK)] == [
        victim["requestId"]
    ]
    again = week_archive.archive_week(OLD_WEEK, aws.settings)
    assert again.deleted == 1 and query_week_records(aws.settings.analytics_table, OLD_WEEK) == []
    merged = {r["requestId"]: r for r in read_archived_week(OLD_WEEK, aws.settings) or []}
    assert merged[victim["requestId"]]["responseEvent"] == updated["responseEvent"]


def test_a_retried_archival_after_a_crash_before_the_manifest_completes_it(
    aws: StackInfo,
) -> None:
    seed_week(aws, OLD_WEEK, 3)
    real_put = objects.put_bytes

    def crash_on_manifest(bucket: str, key: str, data: bytes, content_type: str) -> None:
        if "/manifest-" in key:
            raise ConnectionError("injected crash after the records object was written")
        real_put(bucket, key, data, content_type)

    with patch.object(week_archive, "put_bytes", crash_on_manifest), pytest.raises(ConnectionError):
        week_archive.archive_week(OLD_WEEK, aws.settings)
    assert (
        len(query_week_records(aws.settings.analytics_table, OLD_WEEK)) == 3
        and manifests(OLD_WEEK) == []
    )
    # the retry writes the same records object again (same name, same bytes: accepted)
    outcome = week_archive.archive_week(OLD_WEEK, aws.settings)
    assert (outcome.action, outcome.deleted) == ("archived", 3)
    assert len(manifests(OLD_WEEK)) == 1
