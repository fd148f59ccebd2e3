"""Correlation: either order, within or across batches, and idempotent under any replay."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.shared.contract import parse_event
from lambdas.shared.correlation import (
    RequestState,
    analytics_item,
    canonical_json,
    fold_events,
    merge,
    raw_event_item,
    split_conflicts,
)
from lambdas.shared.event_models import Event, QueryEvent, ResponseEvent
from tests.conftest import EVENTS_DIR

NOW_MS = 1764547200000  # 2025-12-01, pinned so "the future" is stable


def _event(name: str, **changes: object) -> Event:
    data = json.loads((EVENTS_DIR / name).read_text())
    data.update(changes)
    parsed = parse_event(json.dumps(data), now_ms=NOW_MS)
    assert isinstance(parsed, QueryEvent | ResponseEvent)
    return parsed


QUERY = _event("query_event.json")
RESPONSE = _event("response_event.json")


def test_query_then_response_gives_one_answered_record() -> None:
    states = fold_events([QUERY, RESPONSE])
    item = analytics_item(states[QUERY.requestId])
    assert item["week"] == item["weekKey"] == "2025-W46"
    assert item["matchType"] == "full" and item["matchScore"] == 91
    assert item["sourcesUsed"] == ["Django", "Python"]  # distinct, sorted
    assert item["hasPerformance"] is True and item["cacheHit"] is False
    assert json.loads(item["queryEvent"])["worker"] == {"version": "2.1"}  # unknown keys kept


def test_response_before_query_is_filed_as_orphan_then_joined() -> None:
    first = fold_events([RESPONSE])
    assert analytics_item(first[RESPONSE.requestId])["weekKey"] == "orphan#2025-W46"
    assert "week" not in analytics_item(first[RESPONSE.requestId])
    joined = fold_events([QUERY], known=first)
    assert joined == fold_events([QUERY, RESPONSE])
    assert analytics_item(joined[QUERY.requestId])["weekKey"] == "2025-W46"


def test_query_alone_is_kept_as_unanswered() -> None:
    item = analytics_item(fold_events([QUERY])[QUERY.requestId])
    assert item["week"] == "2025-W46" and "matchType" not in item


def test_week_belongs_to_the_query_even_when_the_response_crosses_midnight_sunday() -> None:
    sunday_last_ms = 1763337599999  # 2025-11-16T23:59:59.999Z, end of 2025-W46
    query = _event("query_event.json", timestamp=sunday_last_ms)
    response = _event("response_event.json", timestamp=sunday_last_ms + 2)
    item = analytics_item(fold_events([response, query])[query.requestId])
    assert item["week"] == "2025-W46"


def test_raw_event_ttl_is_epoch_seconds_seven_days_after_the_event() -> None:
    item = raw_event_item(QUERY, ttl_days=7)
    assert item["ttl"] == QUERY.timestamp // 1000 + 7 * 86400
    assert item["ttl"] < 10**11  # seconds, not milliseconds
    assert item["eventKey"] == f"query#{QUERY.timestamp:013d}"


def test_merge_refuses_states_of_different_requests() -> None:
    import pytest

    with pytest.raises(ValueError, match="different requests"):
        merge(RequestState("a"), RequestState("b"))


# --- idempotency under replay (hypothesis) ---------------------------------------------

_request_ids = st.sampled_from(["r1", "r2", "r3"])
_times = st.integers(min_value=1762819200000, max_value=1762819200000 + 10**9)


@st.composite
def _events(draw: st.DrawFn) -> Event:
    rid, ts = draw(_request_ids), draw(_times)
    if draw(st.booleans()):
        body = {"eventType": "query", "requestId": rid, "timestamp": ts, "query": draw(st.text())}
    else:
        body = {
            "eventType": "response",
            "requestId": rid,
            "timestamp": ts,
            "matchType": draw(st.sampled_from(["full", "partial", "none"])),
            "matchScore": draw(st.integers(0, 100)),
            "reasoning": "r",
        }
    parsed = parse_event(json.dumps(body), now_ms=NOW_MS)
    assert not hasattr(parsed, "reason")
    return parsed


def _in_batches(events: list[Event], cuts: list[int]) -> dict[str, RequestState]:
    """Process events batch by batch, each batch merging into what earlier ones stored."""
    stored: dict[str, RequestState] = {}
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        stored.update(fold_events(events[start:end], stored))
    return stored


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(_events(), min_size=1, max_size=12),
    data=st.data(),
)
def test_any_replay_in_any_order_and_batching_gives_the_same_records(
    events: list[Event], data: st.DataObject
) -> None:
    reference = fold_events(events)
    replayed = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events)))))
    cuts = data.draw(st.lists(st.integers(0, 40), max_size=5))
    assert _in_batches(list(replayed), cuts) == reference
    items = {rid: analytics_item(s) for rid, s in _in_batches(list(replayed), cuts).items()}
    assert items == {rid: analytics_item(s) for rid, s in reference.items()}


# --- conflicting copies: the first copy stands -------------------------------------------

_COPIES = [
    _event("query_event.json"),
    _event("query_event.json", query="Another question"),
    _event("query_event.json", timestamp=QUERY.timestamp + 1, sessionId="s-2"),
    _event("query_event.json", shadow="a key beyond the contract"),
    _event("response_event.json"),
    _event("response_event.json", matchScore=12),
]


@given(st.lists(st.sampled_from(_COPIES), min_size=1, max_size=8), st.booleans())
def test_the_first_copy_of_each_request_and_type_stands_and_replays_never_conflict(
    events: list[Event], stored_first: bool
) -> None:
    known = fold_events(events[:1]) if stored_first else {}
    accepted, conflicts = split_conflicts(events, known)
    first: dict[str, str] = {}
    for event in events:
        first.setdefault(event.eventType, canonical_json(event))
    # exactly the copies equal to the first of their type are accepted, in order
    assert accepted == [e for e in events if canonical_json(e) == first[e.eventType]]
    assert sorted(conflicts) == [
        i for i, e in enumerate(events) if canonical_json(e) != first[e.eventType]
    ]
    # what is kept then takes every accepted copy as a pure replay
    kept = fold_events(accepted, known)
    assert split_conflicts(accepted, kept) == (accepted, {})
    assert fold_events(accepted, kept) == kept


def test_a_conflict_names_the_fields_that_differ_never_their_values() -> None:
    _, conflicts = split_conflicts(_COPIES[:4])
    assert conflicts == {
        1: ["query"],
        2: ["sessionId", "timestamp"],
        3: ["1 key beyond the contract"],
    }
    assert "Another" not in json.dumps(conflicts)
