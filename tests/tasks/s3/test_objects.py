"""The archive bucket helpers: a write counts only when S3 confirms our checksum."""

from __future__ import annotations

import pytest

from deployments.local_stack import StackInfo
from tasks.aws import aws_client
from tasks.s3 import objects as s3
from tests.conftest import s3_confirms_another_checksum


def test_given_bytes_when_put_then_s3_stores_and_confirms_their_sha256(aws: StackInfo) -> None:
    data = b'{"messageId": "m-1"}\n' * 50
    s3.put_bytes(aws.settings.archive_bucket, "dlq/x.jsonl.gz", data, "application/gzip")
    stored = aws_client("s3").get_object(
        Bucket=aws.settings.archive_bucket, Key="dlq/x.jsonl.gz", ChecksumMode="ENABLED"
    )
    assert stored["ChecksumSHA256"] == s3.sha256_base64(data)
    assert stored["ServerSideEncryption"] == "AES256"
    assert s3.get_bytes(aws.settings.archive_bucket, "dlq/x.jsonl.gz") == data


def test_given_an_unconfirmed_checksum_when_put_then_it_raises(aws: StackInfo) -> None:
    with s3_confirms_another_checksum(), pytest.raises(s3.ArchiveWriteError, match="expected"):
        s3.put_bytes(aws.settings.archive_bucket, "dlq/y.jsonl.gz", b"payload")


def test_the_checksum_is_s3s_form_base64_of_the_raw_digest() -> None:
    # Known vector: SHA-256 of the empty string.
    assert s3.sha256_base64(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_the_report_link_needs_the_readers_own_aws_login_and_carries_no_credential(
    aws: StackInfo,
) -> None:
    key = "reports/2025-W45/20251110T070000000000Z-0a1b2c3d/report.html"
    bucket = aws.settings.archive_bucket
    link = s3.console_url(bucket, key, aws.settings.region)
    assert link == (
        f"https://us-east-1.console.aws.amazon.com/s3/object/{bucket}"
        f"?region=us-east-1&bucketType=general&prefix={key}"
    )
    # a bearer link (a presigned URL) would let anyone holding it read the report
    for credential in ("Signature", "Credential", "AWSAccessKeyId", "Security-Token", "Expires"):
        assert credential not in link
    assert s3.s3_uri(aws.settings.archive_bucket, key) == f"s3://{bucket}/{key}"
