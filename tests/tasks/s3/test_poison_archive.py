"""DLQ poison into the archive bucket: checked in memory, confirmed by S3, one PUT, no GET."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest

from deployments.local_stack import StackInfo
from tasks.aws import aws_client
from tasks.core.archive import ArchiveMismatchError, decode_records, encode_records
from tasks.s3 import objects
from tasks.s3.poison_archive import archive_poison
from tests.conftest import s3_confirms_another_checksum

RECORDS = [
    {"messageId": "m-1", "body": "{not json", "classification": "invalid_json"},
    {"messageId": "m-2", "body": '{"eventType": "query"}', "classification": "invalid_event"},
]
KEY = "dlq/2025/11/20/run-1-00001.jsonl.gz"


def s3_calls() -> tuple[list[str], Any]:
    calls: list[str] = []
    events = aws_client("s3").meta.events
    events.register("before-call.s3", lambda model, **_: calls.append(model.name), "count-s3")
    return calls, events


def test_poison_is_written_once_and_decodes_to_the_records(aws: StackInfo) -> None:
    calls, events = s3_calls()
    try:
        archive_poison(aws.settings.archive_bucket, KEY, RECORDS)
    finally:
        events.unregister("before-call.s3", unique_id="count-s3")
    assert calls == ["PutObject"]  # S3's checksum confirmation stands in for a read-back
    assert decode_records(objects.get_bytes(aws.settings.archive_bucket, KEY) or b"") == RECORDS


def test_an_encoder_that_loses_a_record_writes_nothing(aws: StackInfo) -> None:
    with (
        patch("tasks.s3.poison_archive.encode_records", return_value=encode_records(RECORDS[:1])),
        pytest.raises(ArchiveMismatchError, match="expected 2"),
    ):
        archive_poison(aws.settings.archive_bucket, KEY, RECORDS)
    assert objects.get_bytes(aws.settings.archive_bucket, KEY) is None


def test_an_unconfirmed_checksum_raises(aws: StackInfo) -> None:
    with s3_confirms_another_checksum(), pytest.raises(objects.ArchiveWriteError):
        archive_poison(aws.settings.archive_bucket, KEY, RECORDS)


def test_a_body_holding_a_unicode_line_separator_is_archived(aws: StackInfo) -> None:
    # JSON leaves U+2028 and U+0085 raw: the in-memory check must not read them as line ends
    records = [{"messageId": "m-1", "body": '{"query": "a\u2028b\x85c"}'}, *RECORDS]
    archive_poison(aws.settings.archive_bucket, KEY, records)
    assert decode_records(objects.get_bytes(aws.settings.archive_bucket, KEY) or b"") == records
