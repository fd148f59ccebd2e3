"""The S3 archive format: one codec and one verification for weeks and DLQ poison. Pure.

Layout (bucket ``archive_bucket``); no object is ever replaced:
``analytics/<week>/records-<sha256 prefix>.jsonl.gz``: one analytics record (plain JSON)
per line, gzip, named by the SHA-256 of its uncompressed JSON lines (the same records give
the same name and bytes, so a retried write is harmless);
``analytics/<week>/manifest-<seq>.json``: ``{"week", "record_count", "sha256", "key",
"seq"}``. The manifest with the highest ``seq`` is the week's archive; it is written
last, so its presence means that archive is complete and verified. A record that arrives
after its week was archived is merged into a new records object and a new manifest
(``seq`` + 1); the older ones stay as they were.
``dlq/<yyyy>/<mm>/<dd>/...jsonl.gz``: DLQ poison, the same gzip JSON lines.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lambdas.shared.weeks import Week

ARCHIVE_PREFIX = "analytics"


def records_key(week: Week, sha256_hex: str) -> str:
    return f"{ARCHIVE_PREFIX}/{week.id}/records-{sha256_hex[:16]}.jsonl.gz"


def manifest_prefix(week: Week) -> str:
    return f"{ARCHIVE_PREFIX}/{week.id}/manifest-"


def manifest_key(week: Week, seq: int) -> str:
    return f"{manifest_prefix(week)}{seq:04d}.json"


def latest_manifest_key(week: Week, keys: Iterable[str]) -> str | None:
    """The key of the week's newest manifest among ``keys`` (a listing of its prefix)."""
    prefix = manifest_prefix(week)
    seqs = [
        int(key[len(prefix) : -len(".json")])
        for key in keys
        if key.startswith(prefix) and key.endswith(".json") and key[len(prefix) : -5].isdigit()
    ]
    return manifest_key(week, max(seqs)) if seqs else None


@dataclass(frozen=True)
class Manifest:
    week: str
    record_count: int
    sha256: str
    key: str
    seq: int = 1

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        return cls(**json.loads(data))


class ArchiveMismatchError(ValueError):
    """An archived object does not match what it was made from: never delete on its strength."""


def _jsonl(records: Iterable[Mapping[str, Any]]) -> bytes:
    return "".join(
        json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records
    ).encode()


def encode_records(records: Iterable[Mapping[str, Any]]) -> bytes:
    """Gzip JSON lines (mtime 0, sorted keys: equal records give equal bytes)."""
    return gzip.compress(_jsonl(records), mtime=0)


def decode_records(blob: bytes) -> list[dict[str, Any]]:
    """The records of an archive object (inverse of :func:`encode_records`).

    Lines end at ``\n`` only: JSON escapes it inside strings, but leaves U+0085, U+2028
    and U+2029 raw, where ``str.splitlines`` would cut a visitor's text in two.
    """
    return [json.loads(line) for line in gzip.decompress(blob).decode().split("\n") if line]


def verify_encoded(blob: bytes, records: Sequence[Mapping[str, Any]], id_field: str) -> None:
    """Refuse a blob that does not decode to exactly these records' ids, in order.

    Checked in memory before an archive is written, so an encoder fault deletes nothing.
    """
    found = [r.get(id_field) for r in decode_records(blob)]
    expected = [r[id_field] for r in records]
    if found != expected:
        raise ArchiveMismatchError(
            f"the archive would hold {len(found)} record(s), expected {len(expected)}: "
            "nothing written or deleted"
        )


def encode_week(
    week: Week, records: Sequence[Mapping[str, Any]], seq: int = 1
) -> tuple[bytes, Manifest]:
    """The week's archive object (records sorted by request id) and its ``seq``-th manifest."""
    ordered = sorted(records, key=lambda r: r["requestId"])
    raw = _jsonl(ordered)
    digest = hashlib.sha256(raw).hexdigest()
    manifest = Manifest(week.id, len(ordered), digest, records_key(week, digest), seq)
    blob = gzip.compress(raw, mtime=0)
    verify_encoded(blob, ordered, "requestId")
    return blob, manifest


def decode_week(blob: bytes, manifest: Manifest) -> list[dict[str, Any]]:
    """Decode an archived week, refusing it unless count and checksum match the manifest."""
    raw = gzip.decompress(blob)
    if hashlib.sha256(raw).hexdigest() != manifest.sha256:
        raise ArchiveMismatchError(f"checksum of {manifest.key} does not match its manifest")
    records = [json.loads(line) for line in raw.decode().split("\n") if line]
    if len(records) != manifest.record_count:
        raise ArchiveMismatchError(
            f"{manifest.key} holds {len(records)} records, manifest says {manifest.record_count}"
        )
    return records
