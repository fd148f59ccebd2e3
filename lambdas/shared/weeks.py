"""ISO-8601 weeks in UTC: the unit of partitioning, reporting and archiving.

A week is parsed once, where it enters (a flow parameter, a CLI flag, a stored key),
into a :class:`Week`; every room after that passes the value on. It knows its id, its
bounds and the keys it is stored under, so nothing downstream re-parses a string or
meets a non-canonical one (a leading space, full-width digits): those are refused here.
The processor files records by :func:`iso_week_of_ms`, which gives the same id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

#: ASCII digits only: ``\d`` would also take Unicode digits, which look alike and are not
#: the id the processor writes.
WEEK_PATTERN = re.compile(r"([0-9]{4})-W([0-9]{2})", re.ASCII)
WEEK_FORM = "YYYY-Www (an ISO-8601 week such as 2025-W45)"
#: GSI partition of responses whose query has not arrived: ``orphan#<week of response>``.
ORPHAN_PREFIX = "orphan#"
MS_PER_WEEK = 7 * 86_400_000


class InvalidWeekError(ValueError):
    """A week id that is malformed or does not exist in the ISO calendar."""


def iso_week_of_ms(epoch_ms: int) -> str:
    """The ISO week id of an epoch-milliseconds instant in UTC (the processor's hot path)."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_in_year(year: int) -> int:
    """52 or 53: 28 December is always in the last ISO week of its year."""
    return date(year, 12, 28).isocalendar()[1]


def week_schema_pattern(first_year: int, last_year: int) -> str:
    """A JSON-schema pattern matching exactly the ids of the weeks of ``first_year`` to
    ``last_year``, W53 only in the years that have one.

    Prefect's Run form shows it and, with ``enforce_parameter_schema``, the server refuses
    a week outside it before a run exists. ASCII digits only, anchored both ends (JSON
    schema patterns are searched, not matched).
    """
    if first_year > last_year:
        raise ValueError(f"no years from {first_year} to {last_year}: expected first <= last")
    years = range(first_year, last_year + 1)
    alternatives = [
        "(" + "|".join(f"{y:04d}" for y in years) + ")-W(0[1-9]|[1-4][0-9]|5[0-2])",
    ]
    long_years = [f"{y:04d}" for y in years if weeks_in_year(y) == 53]
    if long_years:
        alternatives.append("(" + "|".join(long_years) + ")-W53")
    return "^(" + "|".join(alternatives) + ")$"


@dataclass(frozen=True, order=True, slots=True)
class Week:
    """One ISO week (Monday 00:00 UTC to the next Monday), valid by construction."""

    year: int
    number: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9998:
            raise InvalidWeekError(f"week year {self.year} is out of range: expected {WEEK_FORM}")
        last = weeks_in_year(self.year)
        if not 1 <= self.number <= last:
            raise InvalidWeekError(
                f"week {self.year:04d}-W{self.number:02d} does not exist: {self.year} has "
                f"weeks W01 to W{last:02d} (expected {WEEK_FORM})"
            )

    @classmethod
    def parse(cls, text: object) -> Week:
        """The week an id names; refused, with the expected form, unless it is canonical."""
        match = WEEK_PATTERN.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidWeekError(f"week {text!r} is malformed: expected {WEEK_FORM}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, moment: datetime) -> Week:
        """The week an aware instant falls in, in UTC."""
        year, number, _ = moment.astimezone(UTC).isocalendar()
        return cls(year, number)

    @classmethod
    def of_ms(cls, epoch_ms: int) -> Week:
        """The week of an epoch-milliseconds instant (the same as :func:`iso_week_of_ms`)."""
        return cls.of(datetime.fromtimestamp(epoch_ms // 1000, tz=UTC))

    @classmethod
    def last_complete(cls, now: datetime | None = None) -> Week:
        """The most recent week that has fully ended, in UTC."""
        return cls.of((now or datetime.now(UTC)) - timedelta(days=7))

    def has_ended(self, now: datetime | None = None) -> bool:
        """True once the week's next Monday 00:00 UTC has come (``now``: the current time).

        Only an ended week has its final figures: its report can be sent, its summary kept.
        """
        return self.end <= (now or datetime.now(UTC))

    @property
    def id(self) -> str:
        """``YYYY-Www``: the id records, summaries and archives are keyed by."""
        return f"{self.year:04d}-W{self.number:02d}"

    def __str__(self) -> str:
        return self.id

    @property
    def start(self) -> datetime:
        """Monday 00:00:00 UTC (inclusive)."""
        return datetime.combine(
            date.fromisocalendar(self.year, self.number, 1), datetime.min.time(), UTC
        )

    @property
    def end(self) -> datetime:
        """The next Monday 00:00:00 UTC (exclusive)."""
        return self.start + timedelta(days=7)

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return self.start_ms + MS_PER_WEEK

    def contains_ms(self, epoch_ms: int) -> bool:
        return self.start_ms <= epoch_ms < self.end_ms

    def shift(self, weeks: int) -> Week:
        """The week ``weeks`` weeks after (negative: before) this one."""
        return Week.of(self.start + timedelta(weeks=weeks))

    @property
    def previous(self) -> Week:
        return self.shift(-1)

    @property
    def index_key(self) -> str:
        """The analytics table's GSI partition of the week's records (``weekKey``)."""
        return self.id

    @property
    def orphan_key(self) -> str:
        """The GSI partition of the week's orphan responses."""
        return ORPHAN_PREFIX + self.id
