"""ISO-8601 weeks in UTC: the unit of partitioning, reporting and archiving.

Both the processor (which week a record belongs to) and the flows (which week to report,
validating a week typed into the Prefect UI) use these, so a week means one thing.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")
#: The same shape as a JSON-schema pattern for Prefect's Run form (weeks 01..53; whether
#: week 53 exists in that year is checked by :func:`parse_week` when the run starts).
WEEK_SCHEMA_PATTERN = r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$"
WEEK_FORM = "YYYY-Www (an ISO-8601 week such as 2025-W45)"


class InvalidWeekError(ValueError):
    """A week id that is malformed or does not exist in the ISO calendar."""


def iso_week_of_ms(epoch_ms: int) -> str:
    """The ISO week id of an epoch-milliseconds instant in UTC."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_in_year(year: int) -> int:
    """52 or 53: 28 December is always in the last ISO week of its year."""
    return date(year, 12, 28).isocalendar()[1]


def parse_week(week: str) -> tuple[int, int]:
    """Validate a week id and return (year, week); refuse it with a message naming the form."""
    match = WEEK_PATTERN.fullmatch(week.strip()) if isinstance(week, str) else None
    if match is None:
        raise InvalidWeekError(f"week {week!r} is malformed: expected {WEEK_FORM}")
    year, number = int(match.group(1)), int(match.group(2))
    if not 1 <= year <= 9998:
        raise InvalidWeekError(f"week {week!r} is out of range: expected {WEEK_FORM}")
    last = weeks_in_year(year)
    if not 1 <= number <= last:
        raise InvalidWeekError(
            f"week {week!r} does not exist: {year} has weeks W01 to W{last:02d} "
            f"(expected {WEEK_FORM})"
        )
    return year, number


def week_start(week: str) -> datetime:
    """Monday 00:00:00 UTC of the week (inclusive start)."""
    year, number = parse_week(week)
    return datetime.combine(date.fromisocalendar(year, number, 1), datetime.min.time(), UTC)


def week_bounds_ms(week: str) -> tuple[int, int]:
    """[start, end) of the week in epoch milliseconds."""
    start = week_start(week)
    end = start + timedelta(days=7)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def shift_week(week: str, weeks: int) -> str:
    """The week ``weeks`` weeks after (negative: before) ``week``."""
    moment = week_start(week) + timedelta(weeks=weeks)
    year, number, _ = moment.isocalendar()
    return f"{year}-W{number:02d}"


def last_complete_week(now: datetime | None = None) -> str:
    """The most recent ISO week that has fully ended, in UTC."""
    moment = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=7)
    year, number, _ = moment.isocalendar()
    return f"{year}-W{number:02d}"
