"""The S3 archive of analytics weeks: one format, one writer's encoder, one reader's decoder.

Layout (bucket ``archive_bucket``):
``analytics/<week>/records.jsonl.gz``: one analytics record (plain JSON) per line, gzip;
``analytics/<week>/manifest.json``: ``{"week", "record_count", "sha256", "key"}`` where
``sha256`` is of the uncompressed JSON-lines bytes. The manifest is written last: its
presence means the week's archive is complete and verified. Pure.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

ARCHIVE_PREFIX = "analytics"


def records_key(week: str) -> str:
    return f"{ARCHIVE_PREFIX}/{week}/records.jsonl.gz"


def manifest_key(week: str) -> str:
    return f"{ARCHIVE_PREFIX}/{week}/manifest.json"


@dataclass(frozen=True)
class Manifest:
    week: str
    record_count: int
    sha256: str
    key: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        return cls(**json.loads(data))


class ArchiveMismatchError(ValueError):
    """An archived object does not match its manifest: never delete on its strength."""


def _jsonl(records: Iterable[dict[str, Any]]) -> bytes:
    lines = (json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records)
    return ("\n".join(lines) + "\n").encode()


def encode_week(week: str, records: list[dict[str, Any]]) -> tuple[bytes, Manifest]:
    """Gzip JSON lines of the records (sorted by request id) and their manifest."""
    ordered = sorted(records, key=lambda r: r["requestId"])
    raw = _jsonl(ordered) if ordered else b""
    manifest = Manifest(week, len(ordered), hashlib.sha256(raw).hexdigest(), records_key(week))
    return gzip.compress(raw, mtime=0), manifest


def decode_week(blob: bytes, manifest: Manifest) -> list[dict[str, Any]]:
    """Decode an archived week, refusing it unless count and checksum match the manifest."""
    raw = gzip.decompress(blob)
    if hashlib.sha256(raw).hexdigest() != manifest.sha256:
        raise ArchiveMismatchError(f"checksum of {manifest.key} does not match its manifest")
    records = [json.loads(line) for line in raw.decode().splitlines() if line]
    if len(records) != manifest.record_count:
        raise ArchiveMismatchError(
            f"{manifest.key} holds {len(records)} records, manifest says {manifest.record_count}"
        )
    return records
