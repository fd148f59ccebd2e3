"""The leads table: one item per lead, its secrets as KMS ciphertext, its delivery ledger.

docs/spec/report-insights.md, section 7. An item (key ``requestId``) holds ``week`` (the
``week-index`` GSI's partition), ``at`` (query time, epoch ms), ``ttl`` (epoch seconds:
DynamoDB deletes the item after the retention), ``details`` and ``asked`` (binary: KMS
ciphertext only, never the plain text) and the ledger: ``send_state`` ``pending`` ->
``sending`` (``claim`` names the flow run and its try) -> ``sent`` (``message_id``). A
send SES refused goes back to ``pending``; ``sending`` left behind means the outcome is
unknown, and the next run sends the lead again, saying so. ``session`` is the SHA-256 of
the lead's named session (none when anonymous).

A *repeat* (the same details its session left before) is an item of its own with
``send_state`` ``repeat``, ``repeat_of`` (its first lead's request id) and ``first_week``
(that lead's week), and no ``details`` or ``asked``: it is never claimed nor sent, and
the first lead's e-mail counts it (:func:`undelivered` reads the repeats with the leads).

Every write is conditional: a lead is recorded once (``attribute_not_exists``), claimed
only from the state that was read (two runs cannot both claim it), and no update ever
creates an item (``attribute_exists``): an item TTL deleted meanwhile stays deleted.
Reads are ``Query`` on ``week-index``, one ISO week per partition, never a Scan.

The tables are named by the caller (the flow's settings, ``leads_table`` and
``analytics_table``): this module reads no settings. :func:`delivered_count` is what the
weekly report counts as the week's ``leads_delivered``: its ``sent`` leads and its
repeats whose first lead is ``sent``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from prefect import task

from lambdas.shared.dynamodb import deserialize_value
from lambdas.shared.weeks import Week
from tasks.aws import TASK_OPTIONS, aws_client
from tasks.dynamodb.week_index import query_pages, week_key_pages

LEADS_WEEK_INDEX = "week-index"
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
REPEAT = "repeat"
#: What the leads read of an analytics record (never the stored events).
RECORD_ATTRIBUTES = ("requestId", "queryTs", "query", "sessionId", "matchType")


@dataclass(frozen=True)
class StoredLead:
    """A lead as the table holds it: ciphertext and ledger, nothing in plain text."""

    request_id: str
    week: str
    at_ms: int
    ttl: int
    state: str
    claim: str | None
    details: bytes
    asked: bytes
    #: An earlier claim was taken over from ``sending``: a mail may have gone out already.
    maybe_sent: bool = False
    #: Its repeats recorded so far: their query times (the e-mail's count and span).
    repeats: tuple[int, ...] = ()


@dataclass(frozen=True)
class RecordedLead:
    """A lead as recording sees the table: its id and, for a first lead (not a repeat),
    what a new lead of its session is compared with (``details`` is ciphertext)."""

    request_id: str
    week: str
    at_ms: int
    ttl: int
    session: str | None
    #: The first lead it repeats; None for a first lead.
    repeat_of: str | None
    details: bytes | None


def now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditional(call: Any, **kwargs: Any) -> bool:
    """Make a conditional write; False when its condition did not hold."""
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- reading ------------------------------------------------------------------------------


def window_records(analytics_table: str, weeks: Iterable[Week]) -> list[dict[str, Any]]:
    """The analytics records of ``weeks`` (the report's ``week-index`` Query), with only
    the attributes the leads read (:data:`RECORD_ATTRIBUTES`)."""
    names = {f"#a{i}": name for i, name in enumerate(RECORD_ATTRIBUTES)}
    records = []
    for week in weeks:
        pages = week_key_pages(
            analytics_table,
            week.index_key,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        )
        for page in pages:
            records += [
                {key: deserialize_value(value) for key, value in item.items()}
                for item in page.get("Items", [])
            ]
    return records


def _week_pages(table: str, week: Week, **extra: Any) -> Iterator[Any]:
    """Every page of a ``Query`` on one ``week-index`` partition of the leads table."""
    names = {"#week": "week", **extra.pop("ExpressionAttributeNames", {})}
    return query_pages(
        {
            "TableName": table,
            "IndexName": LEADS_WEEK_INDEX,
            "KeyConditionExpression": "#week = :week",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":week": {"S": week.id},
                **extra.pop("ExpressionAttributeValues", {}),
            },
            **extra,
        }
    )


def recorded(table: str, weeks: Iterable[Week]) -> list[RecordedLead]:
    """Every lead recorded in ``weeks``, first leads and repeats: what recording needs to
    skip the known ones and compare new ones with their session's first leads (the
    details as ciphertext; never the questions)."""
    names = {"#at": "at", "#ttl": "ttl", "#session": "session", "#details": "details"}
    projection = "requestId, #week, #at, #ttl, #session, repeat_of, #details"
    found = []
    for week in weeks:
        pages = _week_pages(
            table, week, ProjectionExpression=projection, ExpressionAttributeNames=names
        )
        for item in (item for page in pages for item in page.get("Items", [])):
            found.append(
                RecordedLead(
                    request_id=item["requestId"]["S"],
                    week=item["week"]["S"],
                    at_ms=int(item["at"]["N"]),
                    ttl=int(item["ttl"]["N"]),
                    session=item.get("session", {}).get("S"),
                    repeat_of=item.get("repeat_of", {}).get("S"),
                    details=bytes(item["details"]["B"]) if "details" in item else None,
                )
            )
    return found


def _stored(item: Mapping[str, Any]) -> StoredLead:
    return StoredLead(
        request_id=item["requestId"]["S"],
        week=item["week"]["S"],
        at_ms=int(item["at"]["N"]),
        ttl=int(item["ttl"]["N"]),
        state=item["send_state"]["S"],
        claim=item.get("claim", {}).get("S"),
        details=bytes(item["details"]["B"]),
        asked=bytes(item["asked"]["B"]),
        maybe_sent=bool(item.get("maybe_sent", {}).get("BOOL", False)),
    )


def undelivered(table: str, weeks: Iterable[Week], now_s: int) -> list[StoredLead]:
    """The leads of ``weeks`` not yet ``sent`` and not past their TTL at ``now_s`` (an
    item DynamoDB has not swept yet is expired all the same), oldest first, each with
    the query times of its repeats recorded in ``weeks`` (read in the same Query)."""
    items = [
        item
        for week in weeks
        for page in _week_pages(
            table,
            week,
            FilterExpression="send_state IN (:pending, :sending, :repeat) AND #ttl > :now",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":pending": {"S": PENDING},
                ":sending": {"S": SENDING},
                ":repeat": {"S": REPEAT},
                ":now": {"N": str(now_s)},
            },
        )
        for item in page.get("Items", [])
    ]
    repeats: dict[str, list[int]] = {}
    for item in items:
        if item["send_state"]["S"] == REPEAT:
            repeats.setdefault(item["repeat_of"]["S"], []).append(int(item["at"]["N"]))
    leads = [
        replace(lead, repeats=tuple(sorted(repeats.get(lead.request_id, []))))
        for lead in (_stored(item) for item in items if item["send_state"]["S"] != REPEAT)
    ]
    return sorted(leads, key=lambda lead: (lead.at_ms, lead.request_id))


def _sent_ids(table: str, week: Week) -> set[str]:
    """The request ids of ``week``'s leads the ledger says were ``sent``."""
    pages = _week_pages(
        table,
        week,
        ProjectionExpression="requestId",
        FilterExpression="send_state = :sent",
        ExpressionAttributeValues={":sent": {"S": SENT}},
    )
    return {item["requestId"]["S"] for page in pages for item in page.get("Items", [])}


def delivered_count(table: str, week: Week) -> int:
    """How many leads of ``week`` (their question's ISO week) reached the owner: those the
    ledger says were ``sent``, and the week's repeats whose first lead is ``sent`` (its
    e-mail counted them): the weekly report's ``leads_delivered``. A lead already deleted
    by its TTL is no longer counted, nor is a repeat of one. One Query of ``week``, and
    one of each other week a repeat's first lead is in."""
    pages = _week_pages(
        table,
        week,
        ProjectionExpression="requestId, send_state, repeat_of, first_week",
        FilterExpression="send_state IN (:sent, :repeat)",
        ExpressionAttributeValues={":sent": {"S": SENT}, ":repeat": {"S": REPEAT}},
    )
    items = [item for page in pages for item in page.get("Items", [])]
    sent = {item["requestId"]["S"] for item in items if item["send_state"]["S"] == SENT}
    firsts = {
        (item["first_week"]["S"], item["repeat_of"]["S"])
        for item in items
        if item["send_state"]["S"] == REPEAT
    }
    for other in sorted({first_week for first_week, _ in firsts} - {week.id}):
        sent |= _sent_ids(table, Week.parse(other))
    repeats_sent = sum(
        item["repeat_of"]["S"] in sent for item in items if item["send_state"]["S"] == REPEAT
    )
    return len([i for i in items if i["send_state"]["S"] == SENT]) + repeats_sent


@task(name="count-delivered-leads", **TASK_OPTIONS)
def delivered_count_task(table: str, week: Week) -> int:
    """:func:`delivered_count` as a task (a count: safe to persist)."""
    return delivered_count(table, week)


# --- writing ------------------------------------------------------------------------------


def put_lead(
    table: str,
    *,
    request_id: str,
    week: str,
    at_ms: int,
    ttl: int,
    details: bytes,
    asked: bytes,
    session: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Record a lead as ``pending`` unless it is recorded already (then False).

    ``details`` and ``asked`` are ciphertext: this module never sees the plain text.
    ``session`` is the digest of its named session (none when anonymous).
    """
    item = {
        "requestId": {"S": request_id},
        "week": {"S": week},
        "at": {"N": str(at_ms)},
        "ttl": {"N": str(ttl)},
        "details": {"B": details},
        "asked": {"B": asked},
        "send_state": {"S": PENDING},
        "recorded_at": {"S": now_text(now)},
    }
    if session is not None:
        item["session"] = {"S": session}
    return _put_new(table, item)


def put_repeat(
    table: str,
    *,
    request_id: str,
    week: str,
    at_ms: int,
    ttl: int,
    session: str,
    first: str,
    first_week: str,
    now: datetime | None = None,
) -> bool:
    """Record a lead as a ``repeat`` of ``first`` (in ``first_week``) unless it is
    recorded already (then False): no details, no questions, never sent."""
    item = {
        "requestId": {"S": request_id},
        "week": {"S": week},
        "at": {"N": str(at_ms)},
        "ttl": {"N": str(ttl)},
        "session": {"S": session},
        "send_state": {"S": REPEAT},
        "repeat_of": {"S": first},
        "first_week": {"S": first_week},
        "recorded_at": {"S": now_text(now)},
    }
    return _put_new(table, item)


def _put_new(table: str, item: dict[str, Any]) -> bool:
    return _conditional(
        aws_client("dynamodb").put_item,
        TableName=table,
        Item=item,
        ConditionExpression="attribute_not_exists(requestId)",
    )


def claim(table: str, lead: StoredLead, claim_id: str) -> bool:
    """Move a lead to ``sending`` under ``claim_id`` (the flow run and its try), if it is
    still in the state it was read in (and, if ``sending``, under the same claim); False
    when another run got there first or the item is gone. Taking over a ``sending``
    claim marks the lead ``maybe_sent`` for good: its e-mail then says it may be a
    duplicate, even if this attempt is refused and a later one sends it."""
    condition = "attribute_exists(requestId) AND send_state = :observed"
    values: dict[str, Any] = {":observed": {"S": lead.state}}
    update = "SET send_state = :sending, claim = :claim, claimed_at = :now"
    if lead.state == SENDING:  # an attempt that never recorded its outcome
        condition += " AND claim = :previous"
        values |= {":previous": {"S": lead.claim or ""}, ":maybe": {"BOOL": True}}
        update += ", maybe_sent = :maybe"
    return _conditional(
        aws_client("dynamodb").update_item,
        TableName=table,
        Key={"requestId": {"S": lead.request_id}},
        UpdateExpression=f"{update} ADD attempts :one",
        ConditionExpression=condition,
        ExpressionAttributeValues={
            ":sending": {"S": SENDING},
            ":claim": {"S": claim_id},
            ":now": {"S": now_text()},
            ":one": {"N": "1"},
            **values,
        },
    )


def record_sent(table: str, request_id: str, message_id: str) -> bool:
    """``sent``, with SES's message id: no run sends the lead again. False when the item
    is gone (its TTL passed meanwhile)."""
    return _conditional(
        aws_client("dynamodb").update_item,
        TableName=table,
        Key={"requestId": {"S": request_id}},
        UpdateExpression="SET send_state = :sent, message_id = :id, sent_at = :now "
        "REMOVE claim, last_error",
        ConditionExpression="attribute_exists(requestId)",
        ExpressionAttributeValues={
            ":sent": {"S": SENT},
            ":id": {"S": message_id},
            ":now": {"S": now_text()},
        },
    )


def release(table: str, request_id: str, claim_id: str, error_code: str) -> bool:
    """Back to ``pending`` (SES refused the send, so nothing was delivered), if the claim
    is still ``claim_id``'s; ``error_code`` is the error's code only."""
    return _conditional(
        aws_client("dynamodb").update_item,
        TableName=table,
        Key={"requestId": {"S": request_id}},
        UpdateExpression="SET send_state = :pending, last_error = :error REMOVE claim",
        ConditionExpression="attribute_exists(requestId) AND send_state = :sending "
        "AND claim = :claim",
        ExpressionAttributeValues={
            ":pending": {"S": PENDING},
            ":sending": {"S": SENDING},
            ":claim": {"S": claim_id},
            ":error": {"S": error_code[:100]},
        },
    )
