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


def test_the_models_are_built_on_first_use_with_the_same_outcomes() -> None:
    """Importing the contract costs no pydantic; the first parse builds the same models."""
    import subprocess
    import sys

    from lambdas.processor import event_models

    # the names the contract serves are the models themselves
    assert QueryEvent is event_models.QueryEvent and ResponseEvent is event_models.ResponseEvent
    bodies = [body for body, _ in INVALID.values()]
    bodies += [_fixture("query_event.json"), _fixture("response_event.json")]
    script = (
        "import json, sys\n"
        "from lambdas.processor.contract import Invalid, parse_event\n"
        "cold = 'pydantic' not in sys.modules\n"
        "out = []\n"
        "for body in json.loads(sys.stdin.read()):\n"
        f"    o = parse_event(body, now_ms={NOW_MS})\n"
        "    out.append([o.reason, o.detail] if isinstance(o, Invalid)"
        " else o.model_dump(mode='json', exclude_unset=True))\n"
        "print(json.dumps({'cold': cold, 'outcomes': out}))\n"
    )
    # Given a fresh interpreter, where the first parse builds the models
    completed = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(bodies),
        capture_output=True,
        text=True,
        check=True,
        cwd=str(EVENTS_DIR.parents[1]),
    )
    fresh = json.loads(completed.stdout)
    # Then importing the contract did not import pydantic
    assert fresh["cold"] is True
    # And every outcome is the one this (warm) process gets
    warm = []
    for body in bodies:
        outcome = parse_event(body, now_ms=NOW_MS)
        warm.append(
            [outcome.reason, outcome.detail]
            if isinstance(outcome, Invalid)
            else outcome.model_dump(mode="json", exclude_unset=True)
        )
    assert fresh["outcomes"] == warm
