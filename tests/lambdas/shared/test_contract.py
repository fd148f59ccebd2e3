"""The contract accepts exactly what the Worker sends (events.md) and names what it refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.contract import (
    EPOCH_MS_MIN,
    INVALID_EVENT,
    INVALID_JSON,
    MAX_NESTING_DEPTH,
    Invalid,
    parse_event,
)
from lambdas.shared.event_models import QueryEvent, ResponseEvent
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

    from lambdas.shared import event_models

    # the names the contract serves are the models themselves
    assert QueryEvent is event_models.QueryEvent and ResponseEvent is event_models.ResponseEvent
    bodies = [body for body, _ in INVALID.values()]
    bodies += [_fixture("query_event.json"), _fixture("response_event.json")]
    script = (
        "import json, sys\n"
        "from lambdas.shared.contract import Invalid, parse_event\n"
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


# --- hostile bodies: refused with a reason, never raised ---------------------------------

_QUERY_HEAD = '{"eventType":"query","requestId":"x","timestamp":1762819200000,"query":"q","x":'


def _nested(depth: int) -> str:
    """A valid query event whose extra key ``x`` nests ``depth`` arrays (the event is 1)."""
    return _QUERY_HEAD + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [10_000, 1_000, 300, MAX_NESTING_DEPTH])
def test_absurd_nesting_is_refused_as_invalid_json_before_it_is_parsed(depth: int) -> None:
    outcome = parse_event(_nested(depth), now_ms=NOW_MS)
    assert outcome == Invalid(INVALID_JSON, f"nesting deeper than {MAX_NESTING_DEPTH} levels")


def test_nesting_up_to_the_limit_is_accepted_and_brackets_in_strings_do_not_count() -> None:
    # the event object is level 1, so the extra key may nest one level less than the limit
    assert isinstance(parse_event(_nested(MAX_NESTING_DEPTH - 1), now_ms=NOW_MS), QueryEvent)
    text = '[{\\"[' * 500  # brackets, quotes and escapes inside one string are just text
    body = json.dumps({**json.loads(_nested(1)), "query": text})
    event = parse_event(body, now_ms=NOW_MS)
    assert isinstance(event, QueryEvent) and event.query == text


@given(
    depth=st.integers(min_value=1, max_value=3 * MAX_NESTING_DEPTH),
    brackets=st.lists(st.sampled_from("[]{}"), max_size=200),
)
def test_the_depth_scan_agrees_with_the_parsed_value(depth: int, brackets: list[str]) -> None:
    """Whatever brackets a string holds, the limit applies to the value's real depth."""
    nested: object = "".join(brackets)
    for level in range(depth - 1):
        nested = [nested] if level % 2 else {"k": nested}
    outcome = parse_event(json.dumps({**json.loads(_nested(1)), "x": nested}), now_ms=NOW_MS)
    # the event object is level 1 and ``x`` adds ``depth - 1`` containers to it
    assert isinstance(outcome, Invalid) == (depth > MAX_NESTING_DEPTH)


@pytest.mark.parametrize(
    "body",
    [
        '{"eventType":"query","requestId":"x","timestamp":1762819200000,"query":"\\ud800"}',
        '{"eventType":"query","requestId":"x","timestamp":1762819200000,"query":"a\\uDFFFb"}',
        '{"eventType":"query","requestId":"x","timestamp":1762819200000,"query":"q","\\ud83d":1}',
        '{"eventType":"query","requestId":"x","timestamp":1762819200000,"query":"\ud800"}',
    ],
    ids=["escaped", "escaped-low-upper-case", "escaped-in-a-key", "raw"],
)
def test_a_lone_surrogate_is_refused_as_invalid_json(body: str) -> None:
    outcome = parse_event(body, now_ms=NOW_MS)
    assert outcome == Invalid(INVALID_JSON, "body is not Unicode text: a lone surrogate")


def test_a_surrogate_pair_and_an_escaped_backslash_are_ordinary_text() -> None:
    body = _QUERY_HEAD.replace(',"x":', "").replace('"q"', '"\\ud83d\\ude00 \\\\ud800"') + "}"
    event = parse_event(body, now_ms=NOW_MS)
    assert isinstance(event, QueryEvent) and event.query == "\U0001f600 \\ud800"
