"""Correlating query and response events into one analytics record per request (pure).

The state of a request is just "the query event we keep" and "the response event we
keep". Merging picks, per event type, the smallest candidate by (timestamp, canonical
JSON). That choice is idempotent, commutative and associative, so any replay, in any
order, in one batch or across many, gives the same record: redelivery is harmless.

A redelivered copy is identical to the event it repeats. A copy of the same request and
event type with *other* content is not a redelivery but a conflict
(:func:`split_conflicts`): the first copy stored (or first in queue order) stands, and the
other is set aside for the DLQ instead of being merged in silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdas.shared.weeks import ORPHAN_PREFIX, iso_week_of_ms

if TYPE_CHECKING:
    from lambdas.shared.event_models import Event

SECONDS_PER_DAY = 86_400
_ABSENT = object()


def canonical_json(event: Event) -> str:
    """A stable text form of an event, unknown keys included, for storage and tie-breaks."""
    payload = event.model_dump(mode="json", exclude_unset=True)
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class RequestState:
    """What we know of one request: the chosen query and response, as canonical JSON."""

    request_id: str
    query_json: str | None = None
    response_json: str | None = None


def _pick(current: str | None, candidate: str | None) -> str | None:
    if current is None:
        return candidate
    if candidate is None:
        return current
    return min(current, candidate, key=lambda text: (json.loads(text)["timestamp"], text))


def merge(a: RequestState, b: RequestState) -> RequestState:
    """Join two states of the same request (a semilattice join: order never matters)."""
    if a.request_id != b.request_id:
        raise ValueError("cannot merge states of different requests")
    return RequestState(
        a.request_id, _pick(a.query_json, b.query_json), _pick(a.response_json, b.response_json)
    )


def state_of(event: Event) -> RequestState:
    text = canonical_json(event)
    if event.eventType == "query":  # a QueryEvent: its eventType is the literal "query"
        return RequestState(event.requestId, query_json=text)
    return RequestState(event.requestId, response_json=text)


def differing_fields(kept: str, other: str, declared: Iterable[str]) -> list[str]:
    """Which top-level fields two canonical JSON texts of one event disagree on, by name.

    Only ``declared`` (contract) fields are named; keys beyond the contract are only
    counted, since their names come from the sender. Values are never shown.
    """
    a, b = json.loads(kept), json.loads(other)
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k, _ABSENT) != b.get(k, _ABSENT))
    names = set(declared)
    named = [k for k in differ if k in names]
    if beyond := len(differ) - len(named):
        named.append(f"{beyond} key{'s' if beyond > 1 else ''} beyond the contract")
    return named


def split_conflicts(
    events: Sequence[Event], known: dict[str, RequestState] | None = None
) -> tuple[list[Event], dict[int, list[str]]]:
    """The events that agree with the copy kept, and the others (index -> fields differing).

    Per request and event type the first copy stands: the stored one, else the first in
    ``events`` order (queue order). A copy equal to it is a redelivery and goes on to the
    fold, where it changes nothing; a copy that differs is a conflict.
    """
    known = known or {}
    first: dict[tuple[str, str], str] = {}
    for rid, state in known.items():
        if state.query_json is not None:
            first[(rid, "query")] = state.query_json
        if state.response_json is not None:
            first[(rid, "response")] = state.response_json
    accepted: list[Event] = []
    conflicts: dict[int, list[str]] = {}
    for index, event in enumerate(events):
        text = canonical_json(event)
        kept = first.setdefault((event.requestId, event.eventType), text)
        if kept == text:
            accepted.append(event)
        else:
            conflicts[index] = differing_fields(kept, text, type(event).model_fields)
    return accepted, conflicts


def fold_events(
    events: Iterable[Event], known: dict[str, RequestState] | None = None
) -> dict[str, RequestState]:
    """Merge events into the known states, returning the new state of every touched request."""
    known = known or {}
    result: dict[str, RequestState] = {}
    for event in events:
        rid = event.requestId
        base = result.get(rid) or known.get(rid) or RequestState(rid)
        result[rid] = merge(base, state_of(event))
    return result


def raw_event_item(event: Event, ttl_days: int) -> dict[str, Any]:
    """The raw-event row: keyed so a redelivered copy overwrites itself, with TTL in seconds."""
    return {
        "requestId": event.requestId,
        "eventKey": f"{event.eventType}#{event.timestamp:013d}",
        "eventType": event.eventType,
        "timestamp": event.timestamp,
        "body": canonical_json(event),
        "ttl": event.timestamp // 1000 + ttl_days * SECONDS_PER_DAY,
    }


def analytics_item(state: RequestState) -> dict[str, Any]:
    """The correlated row of one request, flattened for the weekly aggregation.

    ``weekKey`` is the ISO week of the query (the GSI partition a week is read from);
    a response whose query has not arrived is filed under ``orphan#<week of response>``
    so it stays out of every population but can still be counted and found.
    """
    item: dict[str, Any] = {"requestId": state.request_id}
    if state.query_json is not None:
        query = json.loads(state.query_json)
        item.update(
            week=iso_week_of_ms(query["timestamp"]),
            queryTs=query["timestamp"],
            query=query["query"],
            queryEvent=state.query_json,
        )
        if query.get("sessionId") is not None:
            item["sessionId"] = query["sessionId"]
        item["weekKey"] = item["week"]
    if state.response_json is not None:
        response = json.loads(state.response_json)
        item.update(
            responseTs=response["timestamp"],
            matchType=response["matchType"],
            matchScore=response["matchScore"],
            responseEvent=state.response_json,
        )
        sources = (response.get("metadata") or {}).get("sourcesUsed")
        if sources:
            item["sourcesUsed"] = sorted(set(sources))
        performance = response.get("performance")
        if performance is not None:
            item["hasPerformance"] = True
            for key in ("totalTime", "llmTime", "retrievalTime", "cacheHit"):
                if performance.get(key) is not None:
                    item[key] = performance[key]
        if state.query_json is None:
            item["weekKey"] = ORPHAN_PREFIX + iso_week_of_ms(response["timestamp"])
    return item


def state_from_item(item: dict[str, Any]) -> RequestState:
    """Rebuild a request's state from its stored analytics row."""
    return RequestState(item["requestId"], item.get("queryEvent"), item.get("responseEvent"))
