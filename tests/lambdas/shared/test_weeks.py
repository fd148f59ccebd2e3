"""ISO weeks: parsed from the canonical id only, valid by construction, keyed and bounded."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from lambdas.shared.weeks import (
    WEEK_FORM,
    InvalidWeekError,
    Week,
    iso_week_of_ms,
    week_schema_pattern,
    weeks_in_year,
)

ARABIC_INDIC = "\u0662\u0660\u0662\u0665"  # 2025 in Arabic-Indic digits
FULL_WIDTH = "\uff12\uff10\uff12\uff15"  # 2025 in full-width digits


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_the_canonical_id_parses_and_prints_back() -> None:
    week = Week.parse("2025-W45")
    assert (week.year, week.number) == (2025, 45)
    assert week.id == str(week) == week.index_key == "2025-W45"
    assert Week(2025, 1).id == "2025-W01"


@pytest.mark.parametrize(
    "text",
    [
        " 2025-W45",
        "2025-W45 ",
        "2025-W45\n",
        "\t2025-W45",
        f"{FULL_WIDTH}-W45",
        f"{ARABIC_INDIC}-W45",
        "2025-W\u0664\u0665",  # Arabic-Indic 45
        "2025-W\uff14\uff15",  # full-width 45
        "2025-w45",
        "2025W45",
        "2025-45",
        "2025-W5",
        "2025-W045",
        "25-W45",
        "",
    ],
)
def test_anything_but_the_canonical_ascii_id_is_refused_naming_the_form(text: str) -> None:
    with pytest.raises(InvalidWeekError) as refused:
        Week.parse(text)
    assert WEEK_FORM in str(refused.value) and repr(text) in str(refused.value)


@pytest.mark.parametrize("value", [None, 202545, b"2025-W45", ["2025-W45"]])
def test_a_value_that_is_not_text_is_refused(value: object) -> None:
    with pytest.raises(InvalidWeekError, match="malformed"):
        Week.parse(value)


def test_week_53_exists_only_in_long_years() -> None:
    assert Week.parse("2020-W53") == Week(2020, 53)
    assert Week.parse("2026-W53") == Week(2026, 53)
    assert (weeks_in_year(2020), weeks_in_year(2021), weeks_in_year(2025)) == (53, 52, 52)
    for text in ("2021-W53", "2025-W53", "2025-W00", "2025-W54"):
        with pytest.raises(InvalidWeekError, match="does not exist"):
            Week.parse(text)
    with pytest.raises(InvalidWeekError, match="out of range"):
        Week(0, 1)


def test_bounds_are_monday_midnight_utc_to_the_next_monday() -> None:
    week = Week(2025, 45)
    assert week.start == datetime(2025, 11, 3, tzinfo=UTC)
    assert week.end == datetime(2025, 11, 10, tzinfo=UTC)
    assert week.start_ms == epoch_ms(week.start) and week.end_ms == epoch_ms(week.end)
    assert week.end_ms - week.start_ms == 7 * 86_400_000
    # ISO week 1 of 2025 starts in 2024; week 53 of 2020 ends in 2021
    assert Week(2025, 1).start == datetime(2024, 12, 30, tzinfo=UTC)
    assert Week(2020, 53).end == datetime(2021, 1, 4, tzinfo=UTC)


def test_of_ms_at_the_monday_midnight_boundary() -> None:
    monday = epoch_ms(datetime(2025, 11, 10, tzinfo=UTC))
    assert Week.of_ms(monday - 1) == Week(2025, 45)  # Sunday 23:59:59.999
    assert Week.of_ms(monday) == Week(2025, 46)
    assert iso_week_of_ms(monday - 1) == "2025-W45" and iso_week_of_ms(monday) == "2025-W46"
    assert Week(2025, 45).contains_ms(monday - 1) and not Week(2025, 45).contains_ms(monday)
    assert Week(2025, 46).contains_ms(monday)
    # across the year end: 2021-01-03 is still 2020-W53
    assert Week.of_ms(epoch_ms(datetime(2021, 1, 3, 23, 59, 59, tzinfo=UTC))) == Week(2020, 53)
    assert Week.of_ms(epoch_ms(datetime(2021, 1, 4, tzinfo=UTC))) == Week(2021, 1)


def test_of_takes_any_aware_instant_in_utc() -> None:
    # Monday 01:00 at UTC+02:00 is Sunday 23:00 UTC: still the week before
    monday_at_plus_two = datetime(2025, 11, 10, 1, tzinfo=timezone(timedelta(hours=2)))
    assert Week.of(monday_at_plus_two) == Week(2025, 45)
    assert Week.of(datetime(2025, 11, 10, tzinfo=UTC)) == Week(2025, 46)


def test_shift_crosses_year_ends_both_ways() -> None:
    assert Week(2020, 52).shift(1) == Week(2020, 53)
    assert Week(2020, 53).shift(1) == Week(2021, 1)
    assert Week(2021, 1).previous == Week(2020, 53)
    assert Week(2025, 1).previous == Week(2024, 52)
    assert Week(2024, 52).shift(1) == Week(2025, 1)
    assert Week(2025, 45).shift(-52) == Week(2024, 45)
    assert Week(2025, 45).shift(0) == Week(2025, 45)


@pytest.mark.parametrize(
    ("now", "week"),
    [
        (datetime(2025, 11, 10, tzinfo=UTC), Week(2025, 45)),  # W45 ended this instant
        (datetime(2025, 11, 16, 23, 59, 59, tzinfo=UTC), Week(2025, 45)),  # W46 still open
        (datetime(2025, 11, 17, tzinfo=UTC), Week(2025, 46)),
        (datetime(2021, 1, 4, 12, tzinfo=UTC), Week(2020, 53)),
        (datetime(2025, 1, 1, tzinfo=UTC), Week(2024, 52)),
    ],
)
def test_last_complete_is_the_latest_week_that_has_ended(now: datetime, week: Week) -> None:
    assert Week.last_complete(now) == week
    assert Week.last_complete(now).end <= now < Week.last_complete(now).shift(1).end


def test_weeks_order_by_time_and_hash_as_values() -> None:
    weeks = [Week(2025, 1), Week(2020, 53), Week(2024, 52), Week(2025, 45)]
    assert sorted(weeks) == [Week(2020, 53), Week(2024, 52), Week(2025, 1), Week(2025, 45)]
    assert Week(2024, 52) < Week(2025, 1) < Week(2025, 2)
    assert {Week.parse("2025-W45"): 1}[Week(2025, 45)] == 1
    with pytest.raises(AttributeError):
        Week(2025, 45).number = 46  # type: ignore[misc]


def test_keys_name_the_weeks_partitions() -> None:
    assert Week(2025, 45).index_key == "2025-W45"
    assert Week(2025, 45).orphan_key == "orphan#2025-W45"


@pytest.mark.parametrize(
    ("week", "now", "ended"),
    [
        (Week(2025, 45), datetime(2025, 11, 10, tzinfo=UTC), True),  # ends this instant
        (Week(2025, 45), datetime(2025, 11, 9, 23, 59, 59, 999_999, tzinfo=UTC), False),
        (Week(2025, 46), datetime(2025, 11, 10, tzinfo=UTC), False),  # began this instant
        (Week(2026, 1), datetime(2025, 11, 10, tzinfo=UTC), False),  # a future week
        (Week(2020, 53), datetime(2021, 1, 4, tzinfo=UTC), True),
    ],
)
def test_a_week_has_ended_once_its_next_monday_began(
    week: Week, now: datetime, ended: bool
) -> None:
    assert week.has_ended(now) is ended


def test_a_week_without_a_clock_has_ended_by_the_current_time() -> None:
    current = Week.of(datetime.now(UTC))
    assert current.previous.has_ended() and not current.has_ended()


def test_the_schema_pattern_matches_exactly_the_weeks_of_its_years() -> None:
    # every id shaped like a week, in and around 2020..2027 (2020 and 2026 have a W53)
    pattern = re.compile(week_schema_pattern(2020, 2027))
    for year in range(2017, 2031):
        for number in range(0, 56):
            text = f"{year:04d}-W{number:02d}"
            exists = 2020 <= year <= 2027 and 1 <= number <= weeks_in_year(year)
            assert bool(pattern.search(text)) is exists, text
    for text in ("2025-45", "2025-w45", " 2025-W45", "2025-W45 ", "12025-W45", "0001-W01"):
        assert not pattern.search(text), text


def test_a_schema_pattern_needs_at_least_one_year() -> None:
    with pytest.raises(ValueError, match="2027 to 2020"):
        week_schema_pattern(2027, 2020)
