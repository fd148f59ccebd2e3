"""The feedback table: the owner's word on the report, one item per theme key.

An item holds the key's current word (``action``, ``into``, ``note``, ``at``, ``word_id``)
and, in ``history``, the words it replaced, newest first (at most :data:`HISTORY_LIMIT`):
report-insights.md section 9's "its history kept as the item's previous versions in the
item". An ``undo`` is stored as the current word too, so the history says what was taken
back; :func:`current_feedback` leaves an undone key out of what is in force.

Writes are conditional on the ``version`` that was read (``attribute_not_exists`` for a
new key), so two words given at once cannot lose one another: the later re-reads and
goes on top. A word carries its ``word_id`` (the flow run that gives it): a retried write
whose first try was stored finds its own id and stores nothing again.

The table is small (one item per key the owner spoke of) and read whole, once per report,
with one consistent paginated Scan. The table is named by the caller (the settings'
``feedback_table``): this module reads no settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from prefect import task

from tasks.aws import TASK_OPTIONS, aws_client, run_logger
from tasks.core.feedback import Feedback, OwnerWord
from tasks.dynamodb.summaries import now_text

#: Earlier words an item keeps (newest first); older ones are dropped.
HISTORY_LIMIT = 20
#: Times a write re-reads and tries again when another word went in between.
WRITE_ATTEMPTS = 5
_WORD_FIELDS = ("action", "into", "note", "at")


class FeedbackConflictError(RuntimeError):
    """Other words on the same key kept going in between this one's read and write."""


@dataclass(frozen=True)
class Recorded:
    """What :func:`record_word` did: stored the word (``True``) or found it stored by an
    earlier try of the same run (``False``), and the item's version now."""

    stored: bool
    version: int


def _key(theme: str) -> dict[str, Any]:
    return {"theme": {"S": theme}}


def _word_of(theme: str, values: dict[str, Any]) -> OwnerWord:
    """An :class:`OwnerWord` from an item (or a history entry) in DynamoDB's JSON."""
    text = {field: values.get(field, {}).get("S", "") for field in _WORD_FIELDS}
    return OwnerWord(theme=theme, **text)


def _entry(word: OwnerWord, word_id: str) -> dict[str, Any]:
    """A word as a history entry (a map)."""
    return {
        "M": {
            "action": {"S": word.action},
            "into": {"S": word.into},
            "note": {"S": word.note},
            "at": {"S": word.at},
            "word_id": {"S": word_id},
        }
    }


def feedback_item(table: str, theme: str) -> dict[str, Any] | None:
    """The raw item of a theme key (strongly consistent), or None."""
    response = aws_client("dynamodb").get_item(
        TableName=table, Key=_key(theme), ConsistentRead=True
    )
    item = response.get("Item")
    return dict(item) if item else None


def word_history(table: str, theme: str) -> list[OwnerWord]:
    """A key's words, newest first: the current one, then the history it keeps."""
    item = feedback_item(table, theme)
    if item is None:
        return []
    earlier = [_word_of(theme, entry["M"]) for entry in item.get("history", {}).get("L", [])]
    return [_word_of(theme, item), *earlier]


def _write(table: str, word: OwnerWord, word_id: str, item: dict[str, Any] | None) -> int:
    """Put ``word`` on top of ``item`` (as read), conditional on its version; the new one."""
    version = int(item["version"]["N"]) if item else 0
    history: list[dict[str, Any]] = []
    if item is not None:
        previous = item.get("word_id", {}).get("S", "")
        history = [_entry(_word_of(word.theme, item), previous)]
        history += item.get("history", {}).get("L", [])
    if item is None:
        condition, observed = "attribute_not_exists(#theme)", {}
    else:
        condition, observed = "#version = :observed", {":observed": {"N": str(version)}}
    names = {f"#{name}": name for name in (*_WORD_FIELDS, "word_id", "version", "history")}
    aws_client("dynamodb").update_item(
        TableName=table,
        Key=_key(word.theme),
        UpdateExpression="SET #action = :action, #into = :into, #note = :note, #at = :at, "
        "#word_id = :word_id, #version = :version, #history = :history",
        ConditionExpression=condition,
        ExpressionAttributeNames={**names, "#theme": "theme"} if item is None else names,
        ExpressionAttributeValues={
            ":action": {"S": word.action},
            ":into": {"S": word.into},
            ":note": {"S": word.note},
            ":at": {"S": word.at},
            ":word_id": {"S": word_id},
            ":version": {"N": str(version + 1)},
            ":history": {"L": history[:HISTORY_LIMIT]},
            **observed,
        },
    )
    return version + 1


def record_word(table: str, word: OwnerWord, word_id: str) -> Recorded:
    """Store ``word`` as its key's current word, the previous one going into the history.

    Retry-safe: an item whose current word already has ``word_id`` (this run's earlier
    try got through) is left as it is. A word written by someone else in between is
    re-read and this one goes on top, at most :data:`WRITE_ATTEMPTS` times.
    """
    if not word.at:
        word = word.model_copy(update={"at": now_text()})
    for _ in range(WRITE_ATTEMPTS):
        item = feedback_item(table, word.theme)
        if item is not None and item.get("word_id", {}).get("S") == word_id:
            return Recorded(stored=False, version=int(item["version"]["N"]))
        try:
            return Recorded(stored=True, version=_write(table, word, word_id, item))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
    raise FeedbackConflictError(
        f"other words on this theme were stored {WRITE_ATTEMPTS} times while this one was "
        "being written; run the owner-feedback flow again"
    )


def current_feedback(table: str) -> Feedback:
    """The owner's words in force: every key's current word but the undone ones (one
    consistent, paginated Scan of the small feedback table)."""
    paginator = aws_client("dynamodb").get_paginator("scan")
    words: list[OwnerWord] = []
    for page in paginator.paginate(
        TableName=table,
        ConsistentRead=True,
        ProjectionExpression="#theme, " + ", ".join(f"#{name}" for name in _WORD_FIELDS),
        ExpressionAttributeNames={f"#{name}": name for name in ("theme", *_WORD_FIELDS)},
    ):
        for item in page.get("Items", []):
            words.append(_word_of(item["theme"]["S"], item))
    return Feedback.of(sorted(words, key=lambda word: word.theme))


@task(name="read-owner-feedback", persist_result=False, **TASK_OPTIONS)  # the owner's notes
def current_feedback_task(table: str) -> Feedback:
    """The owner's words in force, read once per report run (fresh on every attempt)."""
    feedback = current_feedback(table)
    joins = sum(word.action == "join" for word in feedback.words.values())
    run_logger().info(
        "Owner's words in force: %d dismissal(s), %d join(s)",
        len(feedback.words) - joins,
        joins,
    )
    return feedback


@task(name="record-owner-word", persist_result=False, **TASK_OPTIONS)
def record_word_task(table: str, word: OwnerWord, word_id: str) -> Recorded:
    """:func:`record_word` as a task: retried on transient errors, safely (``word_id``)."""
    return record_word(table, word, word_id)
