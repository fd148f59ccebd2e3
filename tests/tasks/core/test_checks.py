"""The findings model and its renderings (pure)."""

from __future__ import annotations

from tasks.core.checks import (
    Check,
    Findings,
    alert_subject,
    failure_message,
    log_line,
    render_html,
    render_markdown,
    render_text,
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
