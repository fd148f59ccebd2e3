"""SQS I/O of the flows: queue depth, batch receive, batch redrive, batch delete, visibility.

Every call moves up to 10 messages (SQS's batch limit), which is what keeps DLQ triage
at about 0.3 requests per message: one ReceiveMessage, one SendMessageBatch and one
DeleteMessageBatch per page of 10. Plain functions do the work (the triage loop calls
them page by page without paying a Prefect task run each time); the ``*_task`` wrappers
carry ``TASK_OPTIONS`` for the single calls a flow makes directly. Clients are made
inside each call, never passed in; queues are named by the caller (the flow's settings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from prefect import task

from lambdas.shared.sqs_limits import batches, message_bytes
from tasks.aws import TASK_OPTIONS, aws_client

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

BATCH_LIMIT = 10
#: A page is settled within seconds; 5 minutes leaves room for a slow archive write.
PAGE_VISIBILITY_SECONDS = 300
#: SQS's ceiling for a message's total visibility timeout.
MAX_VISIBILITY_SECONDS = 43_200


def queue_url(queue_name: str) -> str:
    return str(aws_client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"])


#: The queue attributes the flows read, by the label they show them under.
COUNT_ATTRIBUTES: dict[str, QueueAttributeNameType] = {
    "visible": "ApproximateNumberOfMessages",
    "in flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}


def queue_counts(queue_name: str) -> dict[str, int]:
    """Approximate visible, in-flight and delayed message counts of a queue, by name.

    Reads attributes only: receiving a message to look at it would count as a receive
    and push it towards the dead-letter queue.
    """
    attributes = aws_client("sqs").get_queue_attributes(
        QueueUrl=queue_url(queue_name), AttributeNames=list(COUNT_ATTRIBUTES.values())
    )["Attributes"]
    return {label: int(attributes.get(name, 0)) for label, name in COUNT_ATTRIBUTES.items()}


def queue_depth(queue_name: str) -> int:
    """Visible messages (ApproximateNumberOfMessages): what the DLQ alarm watches."""
    return queue_counts(queue_name)["visible"]


def queue_total(queue_name: str) -> int:
    """Visible plus in-flight messages: what is still on the queue, seen or not."""
    counts = queue_counts(queue_name)
    return counts["visible"] + counts["in flight"]


def receive_page(
    url: str,
    *,
    max_messages: int = BATCH_LIMIT,
    visibility_timeout: int = PAGE_VISIBILITY_SECONDS,
    wait_seconds: int = 1,
) -> list[dict[str, Any]]:
    """One ReceiveMessage of up to 10, with every attribute and message attribute.

    A short long-poll (1 s) rather than 0: short polling samples a subset of SQS's
    servers and may answer empty while messages exist, which would end triage early.
    """
    if not 1 <= max_messages <= BATCH_LIMIT:
        raise ValueError(f"max_messages must be 1 to {BATCH_LIMIT}, got {max_messages}")
    response = aws_client("sqs").receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max_messages,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        VisibilityTimeout=visibility_timeout,
        WaitTimeSeconds=wait_seconds,
    )
    # boto3's messages are plain dicts at runtime; the triage loop reads them as such
    return cast("list[dict[str, Any]]", list(response.get("Messages", [])))


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), BATCH_LIMIT):
        yield items[start : start + BATCH_LIMIT]


@dataclass(frozen=True, slots=True)
class SendFailure:
    """An entry SQS did not accept: its ``Id``, SQS's code, and whether SQS blames the
    request (``sender_fault``: sending it again would be refused again)."""

    entry_id: str
    code: str
    sender_fault: bool


@dataclass
class SendOutcome:
    """The ``Id`` of every entry SQS accepted, and every one it did not."""

    sent: list[str] = field(default_factory=list)
    failed: list[SendFailure] = field(default_factory=list)


def send_batch(url: str, entries: Sequence[Mapping[str, Any]]) -> SendOutcome:
    """SendMessageBatch in requests of at most 10 entries and 1 MiB; what SQS accepted."""
    client = aws_client("sqs")
    outcome = SendOutcome()
    for chunk in batches(entries, message_bytes):
        # entries come from tasks.core.triage (pure, so without boto3's types)
        batch = cast("list[SendMessageBatchRequestEntryTypeDef]", chunk)
        response = client.send_message_batch(QueueUrl=url, Entries=batch)
        outcome.sent.extend(str(ok["Id"]) for ok in response.get("Successful", []))
        outcome.failed.extend(
            SendFailure(str(bad["Id"]), str(bad.get("Code", "")), bool(bad.get("SenderFault")))
            for bad in response.get("Failed", [])
        )
    return outcome


def delete_batch(url: str, messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """DeleteMessageBatch in chunks of 10; returns the ``MessageId`` of every deleted message."""
    client = aws_client("sqs")
    deleted: list[str] = []
    for chunk in _chunks(messages):
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
        ]
        response = client.delete_message_batch(QueueUrl=url, Entries=entries)
        deleted.extend(chunk[int(ok["Id"])]["MessageId"] for ok in response.get("Successful", []))
    return deleted


def change_visibility(url: str, messages: Sequence[Mapping[str, Any]], seconds: int) -> int:
    """ChangeMessageVisibilityBatch in chunks of 10 (0 = visible again); returns how many."""
    if not 0 <= seconds <= MAX_VISIBILITY_SECONDS:
        raise ValueError(f"visibility must be 0 to {MAX_VISIBILITY_SECONDS} s, got {seconds}")
    client = aws_client("sqs")
    changed = 0
    for chunk in _chunks(messages):
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
            for i, m in enumerate(chunk)
        ]
        response = client.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        changed += len(response.get("Successful", []))
    return changed


@dataclass
class RedriveOutcome:
    """Which DLQ messages went back to the main queue, and which left the DLQ.

    ``refused``: messages whose send SQS refused as the sender's fault, with its code (a
    new try would be refused again); ``failed``: sends that failed on SQS's side (worth
    another try). Neither is deleted.
    """

    sent: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: list[tuple[Mapping[str, Any], str]] = field(default_factory=list)
    failed: list[tuple[Mapping[str, Any], str]] = field(default_factory=list)


def redrive(
    dlq_url: str,
    main_url: str,
    messages: Sequence[Mapping[str, Any]],
    entries: Sequence[Mapping[str, Any]],
    also_delete: Sequence[Mapping[str, Any]] = (),
) -> RedriveOutcome:
    """Send ``entries`` (one per message) to the main queue, then delete from the DLQ.

    Deleted are only the messages whose send succeeded, plus ``also_delete`` (poison the
    caller has already archived and verified), in the same DeleteMessageBatch so a page
    costs one delete request. A crash between the send and the delete leaves a message on
    both queues: duplicated, never lost (the processor is idempotent, and the re-send of
    the next run reuses the same deduplication id).
    """
    if len(messages) != len(entries):
        raise ValueError("one redrive entry per message is expected")
    by_entry = {str(e["Id"]): m for e, m in zip(entries, messages, strict=True)}
    sending = send_batch(main_url, entries) if entries else SendOutcome()
    sent = [by_entry[i] for i in sending.sent]
    to_delete = [*also_delete, *sent]
    deleted = delete_batch(dlq_url, to_delete) if to_delete else []
    return RedriveOutcome(
        sent=[str(m["MessageId"]) for m in sent],
        deleted=deleted,
        refused=[(by_entry[f.entry_id], f.code) for f in sending.failed if f.sender_fault],
        failed=[(by_entry[f.entry_id], f.code) for f in sending.failed if not f.sender_fault],
    )


@task(name="queue-counts", **TASK_OPTIONS)
def queue_counts_task(queue_name: str) -> dict[str, int]:
    return queue_counts(queue_name)


@task(name="queue-depth", **TASK_OPTIONS)
def queue_depth_task(queue_name: str) -> int:
    return queue_depth(queue_name)


@task(name="queue-total", **TASK_OPTIONS)
def queue_total_task(queue_name: str) -> int:
    return queue_total(queue_name)


@task(name="release-messages", **TASK_OPTIONS)
def release_messages_task(queue_name: str, messages: list[dict[str, Any]]) -> int:
    """Make received messages visible again at once (a dry run leaves the queue as found)."""
    return change_visibility(queue_url(queue_name), messages, 0)


@task(name="extend-visibility", **TASK_OPTIONS)
def extend_visibility_task(queue_name: str, messages: list[dict[str, Any]], seconds: int) -> int:
    """Keep held messages invisible for ``seconds`` more (long dry runs)."""
    return change_visibility(queue_url(queue_name), messages, seconds)


#: How long to wait for the processor to consume redriven events before regenerating.
DRAIN_WAIT_SECONDS = 300


DRAIN_POLL_SECONDS = 5
