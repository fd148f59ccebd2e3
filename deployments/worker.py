"""Replaying chatbot Worker traffic: one ``SendMessage`` per event, as the Worker sends it.

The sample (``samples/worker-events.jsonl``) is from November 2025. The demo
replays it as recent traffic by moving every valid event by whole weeks, which keeps
weekdays, ISO-week membership and every figure, so the expected figures still hold.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from lambdas.shared.weeks import Week

WEEK_MS = 7 * 24 * 3600 * 1000
#: SendMessageBatch takes at most 10 entries.
BATCH_LIMIT = 10
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
SAMPLE_FILE = SAMPLES_DIR / "worker-events.jsonl"


@dataclass(frozen=True)
class WorkerSend:
    """One SQS send of the Worker; ``kind`` is sample metadata, never sent."""

    body: str
    group_id: str
    dedup_id: str
    kind: str = ""

    def message(self) -> dict[str, Any]:
        """Body, group and dedup id: what ``SendMessage`` and a batch entry both carry."""
        return {
            "MessageBody": self.body,
            "MessageGroupId": self.group_id,
            "MessageDeduplicationId": self.dedup_id,
        }

    def as_send_kwargs(self, queue_url: str) -> dict[str, Any]:
        return {"QueueUrl": queue_url, **self.message()}


def load_sample(path: Path = SAMPLE_FILE) -> list[WorkerSend]:
    sends = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            sends.append(
                WorkerSend(
                    row["MessageBody"],
                    row["MessageGroupId"],
                    row["MessageDeduplicationId"],
                    row.get("kind", ""),
                )
            )
    return sends


def weeks_between(from_week: Week, to_week: Week) -> int:
    """How many whole weeks ``to_week`` is after ``from_week``."""
    return (to_week.start - from_week.start).days // 7


def shift_send(send: WorkerSend, weeks: int) -> WorkerSend:
    """Move a valid event by whole weeks, rebuilding the dedup id as the Worker would."""
    if weeks == 0 or send.kind.startswith("invalid"):
        return send  # invalid lines stay exactly as they are: they must stay invalid
    event = json.loads(send.body)
    original = f"{event['requestId']}-{event['eventType']}-{event['timestamp']}"
    event["timestamp"] += weeks * WEEK_MS
    dedup = f"{event['requestId']}-{event['eventType']}-{event['timestamp']}"
    # Keep whatever followed the Worker's id (the sample marks re-sends with "-again").
    suffix = send.dedup_id.removeprefix(original) if send.dedup_id.startswith(original) else ""
    return WorkerSend(json.dumps(event), send.group_id, dedup + suffix, send.kind)


def shifted(sends: Iterable[WorkerSend], weeks: int) -> Iterator[WorkerSend]:
    return (shift_send(s, weeks) for s in sends)


def send_all(
    sends: Iterable[WorkerSend],
    queue_url: str,
    *,
    between_chunks: Callable[[], object] | None = None,
    chunk: int = 50,
    region: str = "us-east-1",
    batched: bool = False,
) -> int:
    """Send like the Worker, calling ``between_chunks`` (e.g. a drain) every ``chunk`` sends.

    Feeding in chunks while the processor drains keeps the emulator's queue short, as in
    production; moto's per-call cost grows with queue depth. ``batched`` packs up to 10
    sends into one ``SendMessageBatch`` (each keeps its own group and dedup id): the same
    messages on the queue for a tenth of the requests, for load runs whose subject is the
    processor, not the Worker's send pattern.
    """
    sqs = boto3.client("sqs", region_name=region)
    sent = 0
    pending: list[WorkerSend] = []

    def flush() -> None:
        if not pending:
            return
        entries: list[Any] = [{"Id": str(i), **s.message()} for i, s in enumerate(pending)]
        failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        if failed:
            raise RuntimeError(f"SendMessageBatch refused {len(failed)} message(s): {failed[:3]}")
        pending.clear()

    for send in sends:
        if batched:
            pending.append(send)
            if len(pending) == BATCH_LIMIT:
                flush()
        else:
            sqs.send_message(**send.as_send_kwargs(queue_url))
        sent += 1
        if between_chunks is not None and sent % chunk == 0:
            flush()
            between_chunks()
    flush()
    if between_chunks is not None:
        between_chunks()
    return sent
