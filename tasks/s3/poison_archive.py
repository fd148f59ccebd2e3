"""DLQ poison into the archive bucket: encoded, checked in memory, then confirmed by S3.

Triage deletes a poison message from the DLQ only after this returned: the blob decodes
to exactly the records it was made from (``verify_encoded``), and S3 confirms the
SHA-256 of what it stored (``objects.put_bytes``), so no GET is spent reading it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tasks.core.archive import encode_records, verify_encoded
from tasks.s3 import objects


def archive_poison(bucket: str, key: str, records: Sequence[Mapping[str, Any]]) -> None:
    """Write poison records under ``key`` of ``bucket``, or raise having written nothing usable."""
    blob = encode_records(records)
    verify_encoded(blob, records, "messageId")
    objects.put_bytes(bucket, key, blob, content_type="application/gzip")
