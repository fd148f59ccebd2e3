"""The findings model and its renderings (pure)."""

from __future__ import annotations

import re

import pytest

from tasks.core.checks import (
    RUNBOOK_SECTIONS,
    Check,
    Findings,
    alert_subject,
    artifact_key,
    failed_state_message,
    failure_message,
    flow_runbook,
    log_line,
    render_html,
    render_markdown,
    render_text,
    runbook,
)

HEALTHY = Check("dead-letter queue", True, "holds 0 messages", {"depth": 0})
BROKEN = Check("alarms", False, "1 in ALARM: cv-analytics-dlq-depth | x", {"dlq": "ALARM"})


def test_findings_pass_only_when_every_check_passes() -> None:
    assert Findings.of("f", [HEALTHY]).ok
    findings = Findings.of("f", [HEALTHY, BROKEN])
    assert not findings.ok
    assert findings.failed == (BROKEN,)
    assert findings.headline == "f: 1 of 2 checks failed (alarms)"


def test_log_line_has_mark_name_detail_and_figures() -> None:
    assert log_line(HEALTHY) == "[OK] dead-letter queue: holds 0 messages (depth=0)"
    assert log_line(BROKEN).startswith("[FAILED] alarms: 1 in ALARM")


def test_failure_message_lists_failed_checks_first_then_passed() -> None:
    message = failure_message(Findings.of("health-check", [HEALTHY, BROKEN]))
    assert message.index("[FAILED] alarms") < message.index("[OK] dead-letter queue")
    assert message.startswith("health-check: 1 of 2 checks failed")


def test_markdown_has_a_row_per_check_with_pipes_escaped_and_figures() -> None:
    markdown = render_markdown(Findings.of("health-check", [HEALTHY, BROKEN]))
    assert markdown.startswith("# health-check: FAILED")
    assert "| OK | dead-letter queue | holds 0 messages |" in markdown
    assert "cv-analytics-dlq-depth \\| x" in markdown
    assert "- **depth**: 0" in markdown


def test_personal_data_is_masked_in_every_rendering() -> None:
    leaky = Check("sample", False, "query was 'mail me at jane@example.org or +44 20 7946 0958'")
    findings = Findings.of("f", [leaky])
    for text in (
        log_line(leaky),
        render_markdown(findings),
        failure_message(findings),
        render_text(findings),
        render_html(findings),
    ):
        assert "jane@example.org" not in text
        assert "7946" not in text
        assert "[email]" in text


def test_html_escapes_and_subject_counts_failures() -> None:
    html = render_html(Findings.of("f", [Check("<b>", True, "a & b")]))
    assert "&lt;b&gt;" in html and "a &amp; b" in html
    assert alert_subject(Findings.of("f", [BROKEN, BROKEN])) == "cv-analytics f FAILED: 2 check(s)"


def test_figures_render_none_as_no_data_and_lists_joined() -> None:
    check = Check("c", True, "d", {"errors": None, "weeks": ["2025-W01", "2025-W02"], "x": []})
    assert log_line(check) == "[OK] c: d (errors=no data; weeks=2025-W01, 2025-W02; x=none)"


def test_a_failure_says_what_to_do_next() -> None:
    with_step = Check("dead-letter queue", False, "holds 11", next_step="run dlq-triage")
    findings = Findings.of("health-check", [HEALTHY, with_step])
    for text in (failure_message(findings), failed_state_message(findings)):
        assert "Next: run dlq-triage" in text
        assert text.rstrip().endswith("docs/runbook.md#failed-health-check") or (
            "What to do: docs/runbook.md#failed-health-check" in text
        )
    # the run's message is short: the passed checks are in the artifact and the log
    assert "[OK] dead-letter queue" not in failed_state_message(findings)
    markdown = render_markdown(findings)
    assert "## What to do" in markdown and "docs/runbook.md#failed-health-check" in markdown
    assert "What to do" not in render_markdown(Findings.of("health-check", [HEALTHY]))


def test_each_flow_is_sent_to_its_runbook_section() -> None:
    expected = {
        "health-check": "failed-health-check",
        "ttl-verification": "ttl-findings",
        "monthly-maintenance": "monthly-maintenance",
        "any-other-flow": "failed-flow-run",
    }
    for flow_name, anchor in expected.items():
        assert flow_runbook(flow_name) == f"docs/runbook.md#{anchor}"
    with pytest.raises(KeyError, match="no runbook section"):
        runbook("dlq-investigation")
    assert set(RUNBOOK_SECTIONS) == set(RUNBOOK_ANCHORS)


#: docs/runbook.md's sections, as fixed for the whole project (heading -> anchor).
RUNBOOK_ANCHORS = {
    "DLQ alarm": "dlq-alarm",
    "Report regeneration": "report-regeneration",
    "Failed health check": "failed-health-check",
    "TTL findings": "ttl-findings",
    "Monthly maintenance": "monthly-maintenance",
    "Failed flow run": "failed-flow-run",
    "Unfinished report send": "unfinished-report-send",
    "Processor alarms": "processor-alarms",
    "Queue age alarm": "queue-age-alarm",
    "Old runbook, mapped": "old-runbook-mapped",
}.values()


def test_artifact_keys_are_distinct_per_try_and_sort_in_creation_order() -> None:
    made = [
        artifact_key("dlq-triage", attempt, step, what)
        for attempt in (1, 2, 10)
        for step, what in ((1, "progress"), (2, "counts"), (3, "summary"))
    ]
    assert len(set(made)) == len(made) and sorted(made) == made
    assert made[0] == "dlq-triage-try01-1-progress"
    assert all(re.fullmatch(r"[a-z0-9-]+", key) for key in made)  # Prefect's key rule
    for bad in ((0, 1, "x"), (1, 10, "x"), (1, 1, "Summary"), (1, 1, "a_b")):
        with pytest.raises(ValueError):
            artifact_key("flow", *bad)
