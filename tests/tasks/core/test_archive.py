"""The archive codec: gzip JSON lines, verified in memory and against a week's manifest."""

from __future__ import annotations

import gzip

import pytest

from lambdas.shared.weeks import Week
from tasks.core.archive import (
    ArchiveMismatchError,
    Manifest,
    decode_records,
    decode_week,
    encode_records,
    encode_week,
    manifest_key,
    records_key,
    verify_encoded,
)

WEEK = Week(2025, 10)
RECORDS = [
    {"requestId": "b", "queryTs": 2, "query": "café ☕", "score": 61.5},
    {"requestId": "a", "queryTs": 1, "sourcesUsed": ["Go"]},
]


def test_records_round_trip_and_equal_records_give_equal_bytes() -> None:
    blob = encode_records(RECORDS)
    assert decode_records(blob) == RECORDS
    reordered = [{k: r[k] for k in reversed(list(r))} for r in RECORDS]
    assert encode_records(reordered) == blob  # sorted keys, mtime 0
    assert decode_records(encode_records([])) == []


def test_verify_refuses_a_blob_without_exactly_these_ids_in_order() -> None:
    blob = encode_records(RECORDS)
    verify_encoded(blob, RECORDS, "requestId")
    with pytest.raises(ArchiveMismatchError, match="nothing written or deleted"):
        verify_encoded(blob, RECORDS[::-1], "requestId")
    with pytest.raises(ArchiveMismatchError, match="1 record"):
        verify_encoded(encode_records(RECORDS[:1]), RECORDS, "requestId")


def test_a_week_is_keyed_by_its_id_and_sorted_by_request_id() -> None:
    assert records_key(WEEK, "ab" * 32) == f"analytics/2025-W10/records-{'ab' * 8}.jsonl.gz"
    assert manifest_key(WEEK, 2) == "analytics/2025-W10/manifest-0002.json"
    blob, manifest = encode_week(WEEK, RECORDS)
    assert (manifest.week, manifest.record_count, manifest.key) == (
        "2025-W10",
        2,
        records_key(WEEK, manifest.sha256),
    )
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert [r["requestId"] for r in decode_week(blob, manifest)] == ["a", "b"]


def test_a_week_that_does_not_match_its_manifest_is_refused() -> None:
    blob, manifest = encode_week(WEEK, RECORDS)
    other = gzip.compress(gzip.decompress(blob).replace(b'"a"', b'"z"'), mtime=0)
    with pytest.raises(ArchiveMismatchError, match="checksum"):
        decode_week(other, manifest)
    miscounted = Manifest(manifest.week, 3, manifest.sha256, manifest.key)
    with pytest.raises(ArchiveMismatchError, match="manifest says 3"):
        decode_week(blob, miscounted)


@pytest.mark.parametrize("separator", ["\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\r"])
def test_text_holding_a_unicode_line_separator_round_trips(separator: str) -> None:
    # JSON escapes only \n and \r among these: the others stay raw inside a line
    records = [{"requestId": "a", "query": f"one{separator}two"}, {"requestId": "b"}]
    assert decode_records(encode_records(records)) == records
    blob, manifest = encode_week(WEEK, records)
    assert decode_week(blob, manifest) == records
