"""The pure triage core: classes, redrive entries, archive records, weeks, samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.contract import INVALID_EVENT, INVALID_JSON
from lambdas.shared.sqs_limits import PAYLOAD_LIMIT, message_bytes
from lambdas.shared.weeks import Week
from tasks.core.archive import decode_records, encode_records
from tasks.core.masking import mask_sample
from tasks.core.triage import (
    CLASSES,
    EXHAUSTED,
    REDRIVABLE,
    SAMPLE_INPUT_LIMIT,
    UNREADABLE,
    UNSENDABLE,
    Classification,
    EventWeek,
    TriageSummary,
    affected_weeks,
    alert_needed,
    archive_key,
    archive_record,
    classify_dead_letter,
    counts_table,
    error_text,
    event_week,
    not_drained_message,
    redrive_entry,
    redrive_or_refusal,
    sample_line,
    stale_week_advice,
    stop_message,
    summary_markdown,
    wait_for_drain,
)
from tests.tasks.sqs.conftest import WORST_BODY

NOW_MS = 1_763_000_000_000  # 2025-11-13
QUERY = {
    "eventType": "query",
    "requestId": "req-1",
    "timestamp": 1_762_769_279_371,  # 2025-11-10, ISO week 2025-W46
    "query": "Reach me at jane.doe@example.com or +44 7700 900123",
}
RESPONSE = {
    "eventType": "response",
    "requestId": "req-1",
    "timestamp": 1_762_769_282_907,
    "matchType": "full",
    "matchScore": 100,
    "reasoning": "ok",
}


def count_attr(n: int) -> dict[str, Any]:
    return {"redriveCount": {"StringValue": str(n), "DataType": "Number"}}


def dlq_message(body: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "MessageId": "dlq-msg-42",
        "ReceiptHandle": "rh",
        "Body": body,
        "Attributes": {"MessageGroupId": "analytics", "MessageDeduplicationId": "orig-dedup"},
        "MessageAttributes": attributes or {},
    }


def classify(body: str, attributes: dict[str, Any] | None = None) -> Classification:
    return classify_dead_letter(body, attributes or {}, max_redrives=3, now_ms=NOW_MS)


def test_given_a_valid_event_dynamodb_refused_then_store_refused_poison_not_redrivable() -> None:
    # given a valid body the processor dead-lettered because DynamoDB refused its record
    attributes = {
        "reason": {"StringValue": "store_refused", "DataType": "String"},
        "detail": {
            "StringValue": "DynamoDB refused to store the event: Item size has exceeded",
            "DataType": "String",
        },
    }
    # when classified, with no redrive yet
    result = classify(json.dumps(QUERY), attributes)
    # then it is archived (a redrive would be refused again), with the processor's cause
    assert (result.cls, result.reason, result.poison) == ("store_refused", "store_refused", True)
    assert "Item size has exceeded" in result.detail


def test_given_a_body_that_is_not_json_then_invalid_json() -> None:
    result = classify("{not json")
    assert (result.cls, result.poison) == ("invalid_json", True)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({**QUERY, "requestId": ""}),
        json.dumps({**QUERY, "timestamp": 1_762_769_279}),  # seconds, not milliseconds
        json.dumps([QUERY]),
        json.dumps({**QUERY, "timestamp": NOW_MS + 2 * 86_400_000}),  # future
    ],
)
def test_given_a_contract_violation_then_invalid_event_with_the_processors_detail(
    body: str,
) -> None:
    result = classify(body)
    assert result.cls == "invalid_event" and result.poison
    assert result.detail  # the processor's own explanation


def test_given_a_valid_event_never_redriven_then_redrivable() -> None:
    result = classify(json.dumps(QUERY))
    assert (result.cls, result.poison) == (REDRIVABLE, False)


def test_given_redrives_below_the_limit_then_redrivable_and_at_the_limit_exhausted() -> None:
    assert classify(json.dumps(RESPONSE), count_attr(2)).cls == REDRIVABLE
    at_limit = classify(json.dumps(RESPONSE), count_attr(3))
    assert (at_limit.cls, at_limit.poison) == (EXHAUSTED, True)
    assert classify(json.dumps(RESPONSE), count_attr(7)).cls == EXHAUSTED


def test_given_an_unreadable_redrive_count_then_exhausted_rather_than_looping() -> None:
    attrs = {"redriveCount": {"StringValue": "lots", "DataType": "Number"}}
    assert classify(json.dumps(QUERY), attrs).cls == EXHAUSTED


def test_given_a_message_dead_lettered_as_invalid_but_valid_today_then_redrivable() -> None:
    attrs = {"reason": {"StringValue": "invalid_event", "DataType": "String"}}
    result = classify(json.dumps(QUERY), attrs)
    assert result.cls == REDRIVABLE and "invalid_event" in result.detail


def test_a_negative_redrive_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_redrives"):
        classify_dead_letter("{}", {}, max_redrives=-1)


def test_redrive_entry_keeps_the_group_uses_a_fresh_dedup_id_and_counts_the_redrive() -> None:
    attributes = {
        **count_attr(1),
        "reason": {"StringValue": "invalid_event", "DataType": "String"},
        "detail": {"StringValue": "x", "DataType": "String"},
        "sourceMessageId": {"StringValue": "src-1", "DataType": "String"},
    }
    message = dlq_message(json.dumps(QUERY), attributes)
    message["Attributes"]["MessageGroupId"] = "group-7"
    entry = redrive_entry(message, "r0")
    assert entry["MessageGroupId"] == "group-7"
    assert entry["MessageDeduplicationId"] == "redrive-dlq-msg-42"
    assert entry["MessageDeduplicationId"] != "orig-dedup"
    assert entry["MessageBody"] == message["Body"]
    assert entry["MessageAttributes"]["redriveCount"] == {"DataType": "Number", "StringValue": "2"}
    assert "reason" not in entry["MessageAttributes"]
    assert "detail" not in entry["MessageAttributes"]
    assert entry["MessageAttributes"]["sourceMessageId"]["StringValue"] == "src-1"


def test_first_redrive_adds_the_count_and_two_dlq_messages_get_different_dedup_ids() -> None:
    first = redrive_entry(dlq_message(json.dumps(QUERY)), "r0")
    other = dlq_message(json.dumps(QUERY))
    other["MessageId"] = "dlq-msg-43"
    assert first["MessageAttributes"]["redriveCount"]["StringValue"] == "1"
    assert first["MessageDeduplicationId"] != redrive_entry(other, "r1")["MessageDeduplicationId"]


def test_archive_record_round_trips_through_the_gzip_jsonl_object() -> None:
    at = datetime(2025, 11, 20, 8, 30, tzinfo=UTC)
    message = dlq_message("{bad", {"reason": {"StringValue": "invalid_json", "DataType": "String"}})
    record = archive_record(message, classify("{bad"), at)
    assert record["classification"] == "invalid_json"
    assert record["body"] == "{bad"
    assert record["attributes"]["MessageGroupId"] == "analytics"
    assert record["messageAttributes"]["reason"]["StringValue"] == "invalid_json"
    assert record["archivedAt"] == "2025-11-20T08:30:00+00:00"
    assert decode_records(encode_records([record, record])) == [record, record]
    assert archive_key("run-1", 3, at, "w1") == "dlq/2025/11/20/run-1-00003-w1.jsonl.gz"
    # a retry of the same run and page writes under another id, never over the first
    assert archive_key("run-1", 3, at, "w2") != archive_key("run-1", 3, at, "w1")
    with pytest.raises(ValueError, match="write id"):
        archive_key("run-1", 3, at, "")


def test_week_of_a_query_is_its_own_and_of_a_response_the_stored_querys() -> None:
    query = event_week(json.dumps(QUERY))
    assert query == EventWeek("req-1", "query", "2025-W46")
    late = {**RESPONSE, "requestId": "req-2"}
    response = event_week(json.dumps(late))
    assert response is not None
    # The stored record says the query was in W45: the response changes W45's report.
    assert affected_weeks([response], {"req-2": "2025-W45"}) == [Week(2025, 45)]
    # No stored query yet: the response's own week is the best guess.
    assert affected_weeks([response], {}) == [Week(2025, 46)]
    assert event_week("{bad") is None


def test_samples_are_masked_and_truncated_and_the_artifacts_count_every_class() -> None:
    summary = TriageSummary(run_id="r", dry_run=False, dlq_depth_before=12)
    long_query = {**QUERY, "query": str(QUERY["query"]) + " padding" * 100}
    for _ in range(5):
        summary.add_sample(classify(json.dumps(long_query)), json.dumps(long_query))
    summary.counts[REDRIVABLE] = 5
    summary.stale_weeks = ["2025-W46"]
    text = summary_markdown(summary)
    assert len(summary.samples[REDRIVABLE]) == 3
    assert "jane.doe@example.com" not in text and "7700 900123" not in text
    assert "[email]" in text and "[phone]" in text
    assert all(len(s) < 400 for s in summary.samples[REDRIVABLE])
    assert "2025-W46" in text
    rows = {row["class"]: row for row in counts_table(summary)}
    assert rows[REDRIVABLE]["messages"] == 5
    assert rows["invalid_json"]["messages"] == 0


def test_alert_when_the_dlq_held_more_than_the_threshold_or_poison_was_archived() -> None:
    quiet = TriageSummary(run_id="r", dry_run=False, dlq_depth_before=10)
    assert not alert_needed(quiet, 10)
    assert alert_needed(quiet.model_copy(update={"dlq_depth_before": 11}), 10)
    assert alert_needed(quiet.model_copy(update={"archived": 1}), 10)


# --- Triage always moves on: every dead letter gets a class, every record can be archived ---

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
any_text = st.lists(st.one_of(st.characters(), surrogates), max_size=40).map("".join)
attribute_values = st.one_of(
    st.builds(lambda v: {"DataType": "String", "StringValue": v}, any_text),
    st.builds(lambda v: {"DataType": "Number", "StringValue": v}, any_text),
    st.builds(lambda v: {"DataType": "Binary", "BinaryValue": v}, st.binary(max_size=20)),
    st.none(),
    any_text,
    st.integers(),
)
attribute_maps = st.dictionaries(
    st.sampled_from(["reason", "detail", "redriveCount", "sourceMessageId"]) | any_text,
    attribute_values,
    max_size=4,
)


def test_given_the_worst_body_then_poison_naming_no_visitor_text() -> None:
    result = classify(WORST_BODY)
    assert result.poison and result.cls in (INVALID_JSON, INVALID_EVENT, UNREADABLE)
    assert "jane" not in result.detail and "7700" not in result.detail


def test_given_a_body_the_contract_check_cannot_judge_then_unreadable_poison() -> None:
    # parse_event raising (json.loads did, past ~1,000 nesting levels) is not a stopped run
    failure = RecursionError("maximum recursion depth exceeded: jane.doe@example.com")
    with patch("tasks.core.triage.parse_event", side_effect=failure):
        result = classify(json.dumps(QUERY))
    assert (result.cls, result.reason, result.poison) == (UNREADABLE, UNREADABLE, True)
    assert "RecursionError" in result.detail and "jane" not in result.detail
    assert classify_dead_letter(None, {}, max_redrives=3).cls == UNREADABLE  # type: ignore[arg-type]


@given(body=any_text | st.sampled_from([WORST_BODY, "[" * 50_000]), attributes=attribute_maps)
def test_any_dead_letter_gets_a_class_and_an_archivable_record(
    body: str, attributes: dict[str, Any]
) -> None:
    result = classify(body, attributes)
    assert result.cls in CLASSES
    record = archive_record(dlq_message(body, attributes), result, datetime.now(UTC))
    (decoded,) = decode_records(encode_records([record]))
    assert decoded["messageId"] == "dlq-msg-42" and decoded["reason"] == result.reason


def test_a_record_that_cannot_be_utf8_encoded_is_archived_escaped_not_refused() -> None:
    body = "jane \ud800 doe"
    message = dlq_message(body, {"note": {"DataType": "String", "StringValue": "a\udc00b"}})
    record = archive_record(message, classify(body), datetime(2025, 11, 20, tzinfo=UTC))
    (decoded,) = decode_records(encode_records([record]))
    assert decoded["escaped"] is True and decoded["body"] == "jane \\ud800 doe"
    assert decoded["messageAttributes"]["note"]["StringValue"] == "a\\udc00b"


@pytest.mark.parametrize("reason", ["store_refused", "duplicate_conflict"])
def test_given_a_permanent_processor_reason_then_poison_of_that_class(reason: str) -> None:
    attributes = {"reason": {"StringValue": reason, "DataType": "String"}}
    result = classify(json.dumps(QUERY), attributes)
    assert (result.cls, result.poison) == (reason, True)


def test_a_redrive_sqs_would_refuse_for_its_size_is_unsendable_poison() -> None:
    fits = dlq_message("x" * (PAYLOAD_LIMIT - 100))
    assert isinstance(redrive_or_refusal(fits, "r0"), dict)
    # The DLQ copy fits; the redriven one adds redriveCount (name, type and value count).
    at_limit = dlq_message("x" * (PAYLOAD_LIMIT - 5))
    refused = redrive_or_refusal(at_limit, "r0")
    assert isinstance(refused, Classification)
    assert (refused.cls, refused.poison) == (UNSENDABLE, True)
    assert str(PAYLOAD_LIMIT) in refused.detail
    assert message_bytes({"MessageBody": "é", "MessageAttributes": {}}) == 2


def test_samples_are_cut_before_they_are_masked() -> None:
    huge = json.dumps({**QUERY, "query": "jane.doe@example.com " + "x" * 1_048_000})
    with patch("tasks.core.triage.mask_sample", wraps=mask_sample) as spy:
        line = sample_line(huge, classify(huge))
    assert spy.call_count == 2
    assert all(len(call.args[0]) <= SAMPLE_INPUT_LIMIT for call in spy.call_args_list)
    assert "jane.doe" not in line and len(line) < 400


def test_samples_are_printable_one_line_code_spans() -> None:
    body = json.dumps({**QUERY, "query": "\ud800 x`![t](https://evil.example/p.png)\n# h"})
    summary = TriageSummary(run_id="r", dry_run=False, dlq_depth_before=1)
    summary.add_sample(classify(body), body)
    (line,) = [line for lines in summary.samples.values() for line in lines]
    line.encode("utf-8")  # no lone surrogate reaches an artifact
    assert line.count("`") == 2 and "\n" not in line
    summary_markdown(summary).encode("utf-8")


def test_an_error_is_masked_and_cut_before_it_is_shown() -> None:
    exc = ValueError("refused jane.doe@example.com " + "y" * 100_000)
    text = error_text(7, exc)
    assert text.startswith("page 7: ValueError: ") and "jane.doe" not in text
    assert len(text) < 400


# --- Stale reports: the advice matches what the run did ---------------------------------


def stale_summary(**update: Any) -> TriageSummary:
    summary = TriageSummary(run_id="r", dry_run=False, dlq_depth_before=3, seen=3)
    summary.stale_weeks = ["2025-W45", "2025-W46"]
    return summary.model_copy(update=update)


def test_a_dry_run_lists_the_weeks_a_real_run_would_regenerate() -> None:
    for regenerate in (False, True):
        text = summary_markdown(stale_summary(dry_run=True, regenerate_reports=regenerate))
        assert "## Stale reports (a real run would make these stale)" in text
        assert "- 2025-W45: report already sent; a real run" in text and "2025-W46" in text
        assert "regenerated and re-sent" not in text
    partial = summary_markdown(stale_summary(dry_run=True, dlq_depth_before=30, seen=10))
    assert "a real run, which sees every page, may find more" in partial


def test_the_advice_never_tells_to_do_what_the_run_just_did() -> None:
    done = stale_summary(regenerate_reports=True, regenerated_weeks=["2025-W45", "2025-W46"])
    timed_out = stale_summary(
        regenerate_reports=True, unregenerated=dict.fromkeys(["2025-W45", "2025-W46"], "late")
    )
    not_asked = stale_summary(regenerate_reports=False)
    for summary in (done, timed_out, not_asked):
        text = summary_markdown(summary)
        # after a real run the redriven events are off the DLQ: another triage finds nothing
        assert "regenerate_reports=True" not in text and "run with `regenerate_reports" not in text
    assert stale_week_advice(done, "2025-W45").endswith("regenerated and re-sent")
    late = stale_week_advice(timed_out, "2025-W46")
    assert late.startswith("NOT regenerated: late") and "week=2025-W46, resend=true" in late
    assert "docs/runbook.md#report-regeneration" in late
    manual = stale_week_advice(not_asked, "2025-W45")
    assert "not regenerated (regenerate_reports=false)" in manual
    assert "report-regeneration, week=2025-W45, resend=true" in manual


def test_failure_messages_name_their_runbook_section() -> None:
    stopped = stale_summary(stopped="page 2: ClientError: S3 is down", left=4)
    assert stop_message(stopped).endswith("(docs/runbook.md#dlq-alarm).")
    message = not_drained_message("cv-analytics-queue.fifo", 7, 300.4, ["2025-W45"])
    assert "still held 7 message(s) after 300 s" in message
    assert "NOT regenerated" in message and "docs/runbook.md#dlq-alarm" in message
    assert "docs/runbook.md#queue-age-alarm" in message


class Clock:
    """A clock that moves only when the code sleeps: the wait's logic without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_a_queue_that_never_drains_is_waited_for_reporting_at_a_steady_interval() -> None:
    clock = Clock()
    reports: list[tuple[int, float]] = []
    waited = wait_for_drain(
        lambda: 5,
        timeout_seconds=300,
        poll_seconds=5,
        report_seconds=30,
        clock=clock,
        sleep=clock.sleep,
        report=lambda depth, at: reports.append((depth, at)),
    )
    assert (waited.drained, waited.depth, waited.waited_seconds) == (False, 5, 300)
    assert [at for _, at in reports] == [0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300]
    assert {depth for depth, _ in reports} == {5}


def test_a_queue_that_drains_ends_the_wait_at_once_and_says_so() -> None:
    clock = Clock()
    depths = iter([3, 2, 0])
    reports: list[tuple[int, float]] = []
    waited = wait_for_drain(
        lambda: next(depths),
        timeout_seconds=300,
        poll_seconds=5,
        report_seconds=30,
        clock=clock,
        sleep=clock.sleep,
        report=lambda depth, at: reports.append((depth, at)),
    )
    assert waited.drained and waited.waited_seconds == 10
    assert reports == [(3, 0), (0, 10)]
