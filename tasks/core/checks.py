"""Findings of the operational flows (TTL verification, maintenance, health check). Pure.

Every operational flow gathers one :class:`Check` per runbook step into :class:`Findings`,
then renders them three ways from this one model: a markdown artifact for the Prefect UI,
one log line per check, and the failure message (which is also the alert's text), so what
the operator reads in the UI, the logs and the alarm e-mail never disagrees. All text is
masked on the way out: a detail may quote something a visitor typed.

A failure always says what to do next: a failed check may carry its own ``next_step``,
and the findings of a flow end with the section of ``docs/runbook.md`` for that flow
(:data:`RUNBOOK_SECTIONS`, :func:`runbook`). The artifact keys of every flow come from
:func:`artifact_key`, so the artifacts of a retried run stay distinct and in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from tasks.core.masking import mask

OK_MARK = "OK"
FAILED_MARK = "FAILED"

RUNBOOK_PATH = "docs/runbook.md"
#: The sections of ``docs/runbook.md`` the flows send a person to, by anchor.
RUNBOOK_SECTIONS: Mapping[str, str] = {
    "dlq-alarm": "DLQ alarm",
    "report-regeneration": "Report regeneration",
    "failed-health-check": "Failed health check",
    "ttl-findings": "TTL findings",
    "monthly-maintenance": "Monthly maintenance",
    "failed-flow-run": "Failed flow run",
    "unfinished-report-send": "Unfinished report send",
    "processor-alarms": "Processor alarms",
    "queue-age-alarm": "Queue age alarm",
    "old-runbook-mapped": "Old runbook, mapped",
}
#: The runbook section for a flow's failed findings (any other flow: a failed run).
FLOW_RUNBOOK: Mapping[str, str] = {
    "health-check": "failed-health-check",
    "ttl-verification": "ttl-findings",
    "monthly-maintenance": "monthly-maintenance",
    "dlq-triage": "dlq-alarm",
    "weekly-report": "report-regeneration",
}
_KEY_PART = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def runbook(anchor: str) -> str:
    """The link to the runbook section ``anchor`` (one that exists; a typo raises ``KeyError``)."""
    if anchor not in RUNBOOK_SECTIONS:
        raise KeyError(f"no runbook section {anchor!r}: expected one of {sorted(RUNBOOK_SECTIONS)}")
    return f"{RUNBOOK_PATH}#{anchor}"


def flow_runbook(flow_name: str) -> str:
    """Where a person reads what to do about a failed run of ``flow_name``."""
    return runbook(FLOW_RUNBOOK.get(flow_name, "failed-flow-run"))


def artifact_key(prefix: str, attempt: int, step: int, what: str) -> str:
    """``<prefix>-try<NN>-<step>-<what>``: the key of a run's ``step``-th artifact in its
    ``attempt``-th try (Prefect's run count: a Retry runs the same flow run again).

    A retried run keeps each try's artifacts apart, and sorting a run's keys gives the
    order they were made in: tries zero-padded to two digits, steps 1 to 9. Prefect allows
    lowercase letters, digits and dashes only, which is checked here rather than when
    Prefect refuses the artifact at the end of a run.
    """
    if not 1 <= attempt <= 99 or not 1 <= step <= 9:
        raise ValueError(f"attempt 1..99 and step 1..9 expected, got {attempt} and {step}")
    key = f"{prefix}-try{attempt:02d}-{step}-{what}"
    if not _KEY_PART.fullmatch(key):
        raise ValueError(f"artifact key {key!r}: lowercase letters, digits and dashes only")
    return key


@dataclass(frozen=True)
class Check:
    """One verified fact: what was checked, whether it is healthy, why, and its figures;
    ``next_step``, for a check that can fail, what a person does about it."""

    name: str
    ok: bool
    detail: str
    figures: Mapping[str, Any] = field(default_factory=dict)
    next_step: str = ""

    @property
    def mark(self) -> str:
        return OK_MARK if self.ok else FAILED_MARK


@dataclass(frozen=True)
class Findings:
    """The checks of one flow run, in the order the runbook performs them."""

    flow_name: str
    checks: tuple[Check, ...] = ()

    @classmethod
    def of(cls, flow_name: str, checks: Iterable[Check]) -> Findings:
        return cls(flow_name, tuple(checks))

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def headline(self) -> str:
        """``<flow>: all N checks passed`` or ``<flow>: F of N checks failed (names)``."""
        total = len(self.checks)
        if self.ok:
            return f"{self.flow_name}: all {total} checks passed"
        names = ", ".join(check.name for check in self.failed)
        return f"{self.flow_name}: {len(self.failed)} of {total} checks failed ({names})"

    @property
    def next_step(self) -> str:
        """What to do about failed findings: read the flow's runbook section."""
        return f"What to do: {flow_runbook(self.flow_name)}"


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return "no data"
    if isinstance(value, list | tuple):
        return ", ".join(_format_value(v) for v in value) if value else "none"
    return str(value)


def _figures_text(figures: Mapping[str, Any]) -> str:
    return "; ".join(f"{key}={_format_value(value)}" for key, value in figures.items())


def _cell(text: str) -> str:
    """Markdown table cell: masked, one line, pipes escaped."""
    return mask(text).replace("\n", " ").replace("|", "\\|")


def log_line(check: Check) -> str:
    """The one log line of a check: ``[OK] name: detail (figures)``, masked."""
    figures = _figures_text(check.figures)
    suffix = f" ({figures})" if figures else ""
    return mask(f"[{check.mark}] {check.name}: {check.detail}{suffix}")


def render_markdown(findings: Findings) -> str:
    """The findings artifact: verdict, a table of checks, then each check's figures."""
    verdict = "PASSED" if findings.ok else "FAILED"
    lines = [
        f"# {findings.flow_name}: {verdict}",
        "",
        mask(findings.headline),
        "",
        "| Status | Check | Detail |",
        "|---|---|---|",
    ]
    lines += [
        f"| {check.mark} | {_cell(check.name)} | {_cell(check.detail)} |"
        for check in findings.checks
    ]
    if not findings.ok:
        lines += ["", "## What to do", ""]
        lines += [
            f"- **{_cell(check.name)}**: {_cell(check.next_step)}"
            for check in findings.failed
            if check.next_step
        ]
        lines.append(f"- {_cell(findings.next_step)}")
    with_figures = [check for check in findings.checks if check.figures]
    if with_figures:
        lines += ["", "## Figures", ""]
        for check in with_figures:
            lines.append(f"### {_cell(check.name)}")
            lines.append("")
            lines += [
                f"- **{_cell(str(key))}**: {_cell(_format_value(value))}"
                for key, value in check.figures.items()
            ]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _failed_lines(findings: Findings) -> list[str]:
    lines = []
    for check in findings.failed:
        lines.append(f"- {log_line(check)}")
        if check.next_step:
            lines.append(f"  Next: {check.next_step}")
    return lines or ["- none"]


def failure_message(findings: Findings) -> str:
    """The alert text: the headline, the failed checks first (each with its next step),
    what to do (the runbook section), then the checks that passed."""
    lines = [findings.headline, "", "Failed checks:", *_failed_lines(findings)]
    lines += ["", findings.next_step]
    passed = [check for check in findings.checks if check.ok]
    if passed:
        lines += ["", "Passed checks:"]
        lines += [f"- {log_line(check)}" for check in passed]
    return mask("\n".join(lines))


def failed_state_message(findings: Findings) -> str:
    """The run's failure message (the red state in the UI): the headline, the failed
    checks with their next steps and what to do; the passed checks are in the artifact
    and the log, not repeated here."""
    lines = [findings.headline, "", *_failed_lines(findings), "", findings.next_step]
    return mask("\n".join(lines))


def alert_subject(findings: Findings) -> str:
    """A short subject for the alarms topic (SNS trims to 100 characters anyway)."""
    return f"cv-analytics {findings.flow_name} FAILED: {len(findings.failed)} check(s)"


def render_text(findings: Findings) -> str:
    """Plain-text summary (e-mail body): the headline and every check's log line."""
    lines = [findings.headline, ""] + [log_line(check) for check in findings.checks]
    return mask("\n".join(lines)) + "\n"


def render_html(findings: Findings) -> str:
    """A minimal HTML summary (e-mail body): the headline and a table of the checks."""
    rows = "".join(
        f"<tr><td>{escape(check.mark)}</td><td>{escape(mask(check.name))}</td><td>{escape(mask(check.detail))}</td><td>{escape(mask(_figures_text(check.figures)))}</td></tr>"
        for check in findings.checks
    )
    return (
        f"<html><body><h2>{escape(mask(findings.headline))}</h2>"
        '<table border="1" cellpadding="4" cellspacing="0">'
        "<tr><th>Status</th><th>Check</th><th>Detail</th><th>Figures</th></tr>"
        f"{rows}</table></body></html>"
    )
