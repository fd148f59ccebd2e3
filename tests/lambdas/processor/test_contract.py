"""The contract accepts exactly what the Worker sends (events.md) and names what it refuses."""

from __future__ import annotations

import json

import pytest

from lambdas.processor.contract import (
    EPOCH_MS_MIN,
    INVALID_EVENT,
    Invalid,
    QueryEvent,
    ResponseEvent,
    parse_event,
)
from tests.conftest import EVENTS_DIR

NOW_MS = 1764547200000  # 2025-12-01, pinned so "the future" is stable
INVALID = json.loads((EVENTS_DIR / "invalid_bodies.json").read_text())


def _fixture(name: str) -> str:
    return (EVENTS_DIR / name).read_text()


def test_query_event_is_accepted_with_unknown_keys_kept() -> None:
    event = parse_event(_fixture("query_event.json"), now_ms=NOW_MS)
    assert isinstance(event, QueryEvent)
    assert event.model_extra == {"worker": {"version": "2.1"}}
    assert event.metadata is not None
    assert event.metadata.model_extra == {"locale": "en-GB"}


def test_response_event_is_accepted_with_its_optional_parts() -> None:
    event = parse_event(_fixture("response_event.json"), now_ms=NOW_MS)
    assert isinstance(event, ResponseEvent)
    assert event.matchType == "full" and event.matchScore == 91
    assert event.performance is not None and event.performance.totalTime == 2500.5


def test_minimal_events_need_only_the_required_fields() -> None:
    query = '{"eventType":"query","requestId":"r","timestamp":1762819200000,"query":""}'
    response = (
        '{"eventType":"response","requestId":"r","timestamp":1762819200000,'
        '"matchType":"none","matchScore":0,"reasoning":""}'
    )
    assert isinstance(parse_event(query, now_ms=NOW_MS), QueryEvent)
    assert isinstance(parse_event(response, now_ms=NOW_MS), ResponseEvent)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_every_invalid_class_is_refused_with_its_reason(case: str) -> None:
    body, reason = INVALID[case]
    outcome = parse_event(body, now_ms=NOW_MS)
    assert isinstance(outcome, Invalid), case
    assert outcome.reason == reason
    assert outcome.detail


def test_detail_names_the_field_but_never_echoes_the_value() -> None:
    body = (
        '{"eventType":"query","requestId":"x","timestamp":"call me on +44 7700 900123","query":"q"}'
    )
    outcome = parse_event(body, now_ms=NOW_MS)
    assert isinstance(outcome, Invalid)
    assert outcome.detail.startswith("timestamp")
    assert "7700" not in outcome.detail


def test_seconds_timestamp_is_explained_as_such() -> None:
    outcome = parse_event(
        '{"eventType":"query","requestId":"x","timestamp":1762732800,"query":"q"}', now_ms=NOW_MS
    )
    assert isinstance(outcome, Invalid) and "seconds" in outcome.detail


@pytest.mark.parametrize(
    ("timestamp", "valid"),
    [
        (EPOCH_MS_MIN, True),
        (EPOCH_MS_MIN - 1, False),
        (NOW_MS + 24 * 3600 * 1000, True),
        (NOW_MS + 24 * 3600 * 1000 + 1, False),
        (1762819200000.0, True),  # a whole number written as a float is still whole
    ],
)
def test_plausibility_window_is_inclusive_at_both_ends(timestamp: float, valid: bool) -> None:
    body = json.dumps(
        {"eventType": "query", "requestId": "x", "timestamp": timestamp, "query": "q"}
    )
    assert isinstance(parse_event(body, now_ms=NOW_MS), QueryEvent) is valid


def test_overlong_request_id_is_refused_before_it_can_reach_dynamodb() -> None:
    body = json.dumps(
        {"eventType": "query", "requestId": "r" * 300, "timestamp": 1762819200000, "query": "q"}
    )
    outcome = parse_event(body, now_ms=NOW_MS)
    assert isinstance(outcome, Invalid) and outcome.reason == INVALID_EVENT


def test_every_invalid_line_of_the_sample_is_refused_and_every_other_accepted() -> None:
    from deployments.worker import load_sample

    for send in load_sample():
        outcome = parse_event(send.body, now_ms=NOW_MS)
        assert isinstance(outcome, Invalid) == send.kind.startswith("invalid"), send.kind
