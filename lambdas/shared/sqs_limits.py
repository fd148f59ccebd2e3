"""SQS's limits on what one request carries, shared by every sender of batches (the
processor's dead letters, triage's redrives): at most :data:`BATCH_ENTRIES` entries, and at
most :data:`PAYLOAD_LIMIT` bytes for a message and for a whole ``SendMessageBatch``, counted
as SQS counts them (the body and each attribute's name, data type and value, in UTF-8).
Pure: no boto3."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

BATCH_ENTRIES = 10
PAYLOAD_LIMIT = 1_048_576


def _bytes(value: Any) -> int:
    if isinstance(value, bytes):
        return len(value)
    # a lone surrogate counts as SQS would receive its escape: never a crash here
    return len(str(value).encode("utf-8", "surrogatepass"))


def message_bytes(entry: Mapping[str, Any]) -> int:
    """The size SQS counts for one ``SendMessage``/``SendMessageBatch`` entry."""
    total = _bytes(entry["MessageBody"])
    for name, value in entry.get("MessageAttributes", {}).items():
        total += _bytes(name) + _bytes(value.get("DataType", ""))
        total += _bytes(value.get("StringValue", value.get("BinaryValue", "")))
    return total


def batches[T](items: Sequence[T], size_of: Callable[[T], int]) -> Iterator[list[T]]:
    """Consecutive runs of ``items`` that SQS accepts as one request: at most
    :data:`BATCH_ENTRIES`, together at most :data:`PAYLOAD_LIMIT` bytes. An item over the
    limit on its own still gets a request of its own, so SQS refuses that entry alone, not
    its neighbours."""
    batch: list[T] = []
    size = 0
    for item in items:
        item_size = size_of(item)
        if batch and (len(batch) == BATCH_ENTRIES or size + item_size > PAYLOAD_LIMIT):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch
