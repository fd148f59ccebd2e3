"""Findings of the operational flows (TTL verification, maintenance, health check). Pure.

Every operational flow gathers one :class:`Check` per runbook step into :class:`Findings`,
then renders them three ways from this one model: a markdown artifact for the Prefect UI,
one log line per check, and the failure message (which is also the alert's text), so what
the operator reads in the UI, the logs and the alarm e-mail never disagrees. All text is
masked on the way out: a detail may quote something a visitor typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from tasks.core.masking import mask

OK_MARK = "OK"
FAILED_MARK = "FAILED"


@dataclass(frozen=True)
class Check:
    """One verified fact: what was checked, whether it is healthy, why, and its figures."""

    name: str
    ok: bool
    detail: str
    figures: Mapping[str, Any] = field(default_factory=dict)

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


def failure_message(findings: Findings) -> str:
    """The failure (and alert) text: the headline, the failed checks first, then the rest."""
    lines = [findings.headline, "", "Failed checks:"]
    lines += [f"- {log_line(check)}" for check in findings.failed] or ["- none"]
    passed = [check for check in findings.checks if check.ok]
    if passed:
        lines += ["", "Passed checks:"]
        lines += [f"- {log_line(check)}" for check in passed]
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
