"""The archive bucket: small byte-level helpers every archiving path shares.

Every write makes a new object (``IfNoneMatch="*"``): an archive object, once written, is
never replaced. Writing the very same bytes again (a retry whose first attempt landed) is
a success; different bytes under an existing key are refused (:class:`ArchiveExistsError`).
The bucket is named by the caller (the flow's settings, ``archive_bucket``): this module
reads no settings.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

from botocore.exceptions import ClientError

from tasks.aws import aws_client


class ArchiveWriteError(RuntimeError):
    """S3 did not confirm the SHA-256 of the bytes we sent: the write is not trusted."""


class ArchiveExistsError(ArchiveWriteError):
    """The key already holds other bytes: archives are never overwritten."""


def sha256_base64(data: bytes) -> str:
    """The checksum form S3 uses (``ChecksumSHA256``): base64 of the raw SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def put_bytes(
    bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
) -> None:
    """Write one new object to the archive bucket (server-side encrypted), integrity-checked.

    We send the SHA-256 of ``data``; S3 hashes what it received and refuses a mismatch
    (``BadDigest``), then returns the checksum it stored. A success that confirms our
    checksum therefore means exactly these bytes are durably stored, which is what
    callers that delete the originals afterwards rely on, without reading them back.
    """
    checksum = sha256_base64(data)
    try:
        response = aws_client("s3").put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ServerSideEncryption="AES256",
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum,
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("PreconditionFailed", "412"):
            raise
        stored = stored_checksum(bucket, key)
        if stored == checksum:
            return  # these very bytes are there already (a retry after a lost response)
        raise ArchiveExistsError(
            f"s3://{bucket}/{key} already holds other bytes (SHA-256 {stored!r}): not replaced"
        ) from exc
    if response.get("ChecksumSHA256") != checksum:
        raise ArchiveWriteError(
            f"s3://{bucket}/{key}: S3 confirmed checksum "
            f"{response.get('ChecksumSHA256')!r}, expected {checksum!r}"
        )


def stored_checksum(bucket: str, key: str) -> str | None:
    """The SHA-256 S3 keeps for an object (base64), read now; None if it has none."""
    response = aws_client("s3").head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    value = response.get("ChecksumSHA256")
    return str(value) if value else None


def get_bytes(bucket: str, key: str) -> bytes | None:
    """Read one object from the archive bucket; None when it does not exist."""
    try:
        response = aws_client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return bytes(response["Body"].read())


def list_keys(bucket: str, prefix: str) -> list[str]:
    """Every key under a prefix of the archive bucket."""
    paginator = aws_client("s3").get_paginator("list_objects_v2")
    keys: list[str] = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def s3_uri(bucket: str, key: str) -> str:
    """``s3://<archive bucket>/<key>``: where an object is, for the AWS CLI and the logs."""
    return f"s3://{bucket}/{key}"


def console_url(bucket: str, key: str, region: str) -> str:
    """The AWS console page of one archived object: opening it needs the reader's own AWS
    sign-in and read access to the bucket.

    Not a presigned URL: that is a bearer link (whoever holds it reads the report, and
    Prefect keeps artifact links in its database), and one signed with a task role's
    temporary credentials stops working when that session ends, within hours, whatever
    expiry it was given.
    """
    region = quote(region, safe="")
    return (
        f"https://{region}.console.aws.amazon.com/s3/object/"
        f"{quote(bucket, safe='')}"
        f"?region={region}&bucketType=general&prefix={quote(key, safe='/')}"
    )
