"""Classifying the TTL attribute of scanned raw-event items (pure).

DynamoDB deletes an item some time (typically within a few days) after the epoch-*seconds*
instant in its TTL attribute. Items are scanned in their raw attribute-value form
(``{"ttl": {"N": "1731000000"}}``) because that is the only form in which "not a number"
can be told apart from a number. One item gets at most one anomaly, the first that applies:

``missing``
    no TTL attribute: the item is kept forever.
``not_a_number``
    the attribute is not of type ``N`` (or its text is not a number): DynamoDB ignores it.
``milliseconds``
    the value is above :data:`MILLISECONDS_BOUND` = 10^11. As epoch seconds 10^11 is the
    year 5138, far beyond anything a policy of days can produce; as epoch milliseconds it
    is 3 March 1973, before any event the contract accepts (2020 onwards). So every value
    above it is a millisecond timestamp, which would expire in tens of thousands of years:
    the classic "never expires" bug.
``too_far``
    expiry = ttl is later than ``reference + policy days + slack``, where ``reference`` is
    the item's own event time (``timestamp`` attribute, epoch ms, floored to seconds) when
    present and numeric, else the scan time. The processor writes exactly
    ``timestamp // 1000 + policy days``, so anything beyond the slack (default 1 h, for
    clock skew) keeps data longer than the retention policy promises.
``overdue``
    ttl < now - grace (default 48 h): expired long enough that AWS should have deleted it
    but it is still there (TTL disabled, on another attribute, or deletion backlog). Note
    AWS never deletes items whose TTL is more than five years in the past.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from tasks.core.checks import Check

MILLISECONDS_BOUND = 10**11
SECONDS_PER_DAY = 86_400
DEFAULT_SLACK_SECONDS = 3_600
SAMPLE_LIMIT = 5

Anomaly = Literal["missing", "not_a_number", "milliseconds", "too_far", "overdue"]
ANOMALIES: tuple[Anomaly, ...] = ("missing", "not_a_number", "milliseconds", "too_far", "overdue")


@dataclass(frozen=True)
class TtlPolicy:
    """The TTL rule of one table: attribute, retention in days, grace and slack."""

    attribute: str = "ttl"
    ttl_days: int = 7
    grace_hours: int = 48
    slack_seconds: int = DEFAULT_SLACK_SECONDS

    def __post_init__(self) -> None:
        if self.ttl_days <= 0 or self.grace_hours < 0 or self.slack_seconds < 0:
            raise ValueError(
                "TTL policy expects ttl_days > 0, grace_hours >= 0 and slack_seconds >= 0, got "
                f"{self.ttl_days}, {self.grace_hours}, {self.slack_seconds}"
            )

    @property
    def max_lifetime_seconds(self) -> int:
        return self.ttl_days * SECONDS_PER_DAY + self.slack_seconds

    @property
    def grace_seconds(self) -> int:
        return self.grace_hours * 3_600


def _number(value: Mapping[str, Any] | None) -> Decimal | None:
    """The number in a raw ``{"N": "..."}`` attribute value, else None."""
    if not isinstance(value, Mapping) or "N" not in value:
        return None
    try:
        number = Decimal(str(value["N"]))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def classify(
    item: Mapping[str, Any], now_s: int, policy: TtlPolicy
) -> tuple[Anomaly | None, int | None]:
    """The item's anomaly (or None) and, for an overdue item, how long it is overdue (s)."""
    raw = item.get(policy.attribute)
    if raw is None:
        return "missing", None
    ttl = _number(raw)
    if ttl is None:
        return "not_a_number", None
    if ttl > MILLISECONDS_BOUND:
        return "milliseconds", None
    event_ms = _number(item.get("timestamp"))
    reference = int(event_ms // 1000) if event_ms is not None else now_s
    if ttl > reference + policy.max_lifetime_seconds:
        return "too_far", None
    if ttl < now_s - policy.grace_seconds:
        return "overdue", int(now_s - ttl)
    return None, None


def _key_text(item: Mapping[str, Any]) -> str:
    """``requestId/eventType@<UTC time>`` of a raw item, for examples in the findings.

    The event key's epoch milliseconds are shown as a time: as a bare 13-digit number
    they would read (and be masked) as a phone number.
    """

    def text(name: str) -> str | None:
        value = item.get(name)
        return str(next(iter(value.values()))) if isinstance(value, Mapping) and value else None

    request_id, event_key = text("requestId"), text("eventKey")
    if event_key is not None:
        kind, _, stamp = event_key.partition("#")
        if stamp.isdigit():
            moment = datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
            event_key = f"{kind}@{moment:%Y-%m-%dT%H:%M:%S}.{int(stamp) % 1000:03d}Z"
    return "/".join(part for part in (request_id, event_key) if part) or "?"


@dataclass
class TtlSummary:
    """Counts over scanned items; summaries of parallel scan segments merge into one."""

    items_checked: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ANOMALIES, 0))
    oldest_overdue_seconds: int | None = None
    samples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def anomalies(self) -> int:
        return sum(self.counts.values())

    def add(self, item: Mapping[str, Any], now_s: int, policy: TtlPolicy) -> None:
        self.items_checked += 1
        anomaly, overdue = classify(item, now_s, policy)
        if anomaly is None:
            return
        self.counts[anomaly] += 1
        sample = self.samples.setdefault(anomaly, [])
        if len(sample) < SAMPLE_LIMIT:
            sample.append(_key_text(item))
        if overdue is not None and (
            self.oldest_overdue_seconds is None or overdue > self.oldest_overdue_seconds
        ):
            self.oldest_overdue_seconds = overdue

    def merge(self, other: TtlSummary) -> TtlSummary:
        oldest = [v for v in (self.oldest_overdue_seconds, other.oldest_overdue_seconds) if v]
        samples: dict[str, list[str]] = {
            kind: (self.samples.get(kind, []) + other.samples.get(kind, []))[:SAMPLE_LIMIT]
            for kind in ANOMALIES
            if self.samples.get(kind) or other.samples.get(kind)
        }
        return TtlSummary(
            self.items_checked + other.items_checked,
            {kind: self.counts[kind] + other.counts[kind] for kind in ANOMALIES},
            max(oldest) if oldest else None,
            samples,
        )


def merge_all(summaries: Iterable[TtlSummary]) -> TtlSummary:
    total = TtlSummary()
    for summary in summaries:
        total = total.merge(summary)
    return total


def format_age(seconds: int | None) -> str:
    """``3d 4h`` style age; ``none`` when there is none."""
    if seconds is None:
        return "none"
    days, rest = divmod(int(seconds), SECONDS_PER_DAY)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


ANOMALY_TEXT: dict[str, str] = {
    "missing": "items without a TTL attribute (kept forever)",
    "not_a_number": "items whose TTL is not a number (ignored by DynamoDB)",
    "milliseconds": "items with a TTL in milliseconds (would expire in millennia)",
    "too_far": "items expiring later than the retention policy allows",
    "overdue": "items expired longer than the grace period but still present",
}


def status_check(
    table: str, status: str, attribute: str | None, policy: TtlPolicy, action: str = ""
) -> Check:
    """TTL must be ENABLED (or ENABLING) on the policy's attribute."""
    figures = {"status": status, "attribute": attribute or "none"}
    right_attribute = attribute == policy.attribute
    ok = status in ("ENABLED", "ENABLING") and right_attribute
    if ok:
        detail = f"TTL {status} on {attribute!r}"
    elif status in ("ENABLED", "ENABLING"):
        detail = (
            f"TTL is {status} on {attribute!r}, expected {policy.attribute!r} "
            "(disable then enable: AWS allows one change per hour)"
        )
    else:
        detail = f"TTL is {status}, expected ENABLED on {policy.attribute!r}"
    if action:
        detail = f"{detail}; {action}"
    return Check(f"{table}: TTL status", ok, detail, figures)


def item_checks(table: str, summary: TtlSummary, policy: TtlPolicy) -> list[Check]:
    """One check per anomaly kind, after one informational check with the scan's size."""
    checks = [
        Check(
            f"{table}: TTL scan",
            True,
            f"{summary.items_checked} items checked against a {policy.ttl_days}-day policy "
            f"(grace {policy.grace_hours} h)",
            {
                "items checked": summary.items_checked,
                "anomalies": summary.anomalies,
                "oldest overdue age": format_age(summary.oldest_overdue_seconds),
            },
        )
    ]
    for kind in ANOMALIES:
        count = summary.counts[kind]
        figures: dict[str, Any] = {"count": count}
        if summary.samples.get(kind):
            figures["examples"] = summary.samples[kind]
        if kind == "overdue":
            figures["oldest overdue age"] = format_age(summary.oldest_overdue_seconds)
        detail = f"{count} {ANOMALY_TEXT[kind]}" if count else f"no {ANOMALY_TEXT[kind]}"
        checks.append(Check(f"{table}: TTL {kind.replace('_', ' ')}", count == 0, detail, figures))
    return checks
