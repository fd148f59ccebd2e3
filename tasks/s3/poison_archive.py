"""TODO docstring: tasks.s3.poison_archive."""

from __future__ import annotations

from typing import Any

from tasks.core.triage import (
    decode_archive,
    encode_archive,
)
from tasks.s3 import objects as s3


class ArchiveVerificationError(RuntimeError):
    """The archive blob does not decode to the records it was made from."""


def archive_poison(key: str, records: list[dict[str, Any]]) -> None:
    """Write poison records to the archive bucket, checksum-confirmed: or raise.

    The blob is decoded before it is sent (our encoder is checked, in memory), and S3
    confirms the SHA-256 of what it stored (``s3.put_bytes``): together they say the
    object holds these records, so no GET is spent reading it back.
    """
    blob = encode_archive(records)
    found = [r.get("messageId") for r in decode_archive(blob)]
    if found != [r["messageId"] for r in records]:
        raise ArchiveVerificationError(
            f"archive {key} would hold {len(found)} record(s), expected {len(records)}: "
            "nothing written or deleted"
        )
    s3.put_bytes(key, blob, content_type="application/gzip")
