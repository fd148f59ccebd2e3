"""Flow parameters, parsed at the edge: what the Prefect UI's Run form shows and enforces.

A week parameter is reportable when it is a canonical ISO week (``YYYY-Www``) that exists,
of a year from :data:`FIRST_REPORT_YEAR` to next year (UTC), and has ended: only an ended
week has final figures, and a report sent early would use up the week's one e-mail.

Two checks, one rule. The JSON schema's pattern (:data:`WEEK_SCHEMA_PATTERN`) holds the
weeks that exist in those years, computed when ``prefect deploy`` loads this module (so
deploy again at least once a year); with ``enforce_parameter_schema`` the server refuses
any other week before a run exists. At run time :func:`reportable_week` applies the whole
rule with today's date, "has ended" included: a refused week ends the run Failed before
its body runs (``ParameterTypeError``, which the failure hook does not alert on), on every
path (UI, CLI, a direct call). A flow turns its week parameter into a
:class:`~lambdas.shared.weeks.Week` once, with :func:`resolve_week`.

No parameter is ``Optional``: Prefect's Run form shows an ``anyOf`` with ``null`` as a
second, confusing "Property is type None" field. A parameter that may be left out has a
typed default instead: an empty week means the last complete one, a message budget of 0
means every message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, StrictStr

from lambdas.shared.weeks import WEEK_FORM, InvalidWeekError, Week, week_schema_pattern

#: The first year a report can be asked for (the project's first traffic is later).
FIRST_REPORT_YEAR = 2020


class UnreportableWeekError(InvalidWeekError):
    """A week that exists but has no report: outside the reportable years, or not ended."""


def reportable_years(now: datetime | None = None) -> tuple[int, int]:
    """The first and last year a week parameter may name: 2020 to next year (UTC)."""
    return FIRST_REPORT_YEAR, (now or datetime.now(UTC)).astimezone(UTC).year + 1


def reportable_week(text: object, now: datetime | None = None) -> Week:
    """The week ``text`` names, if it can be reported at ``now`` (default: the current time).

    Raises :class:`~lambdas.shared.weeks.InvalidWeekError` (a ``ValueError``) naming the
    week and the expected form: malformed, not in the ISO calendar, outside the reportable
    years, or not ended yet.
    """
    moment = now or datetime.now(UTC)
    week = Week.parse(text)
    first, last = reportable_years(moment)
    if not first <= week.year <= last:
        raise UnreportableWeekError(
            f"week {week} is outside the reportable years {first} to {last}: expected "
            f"{WEEK_FORM} from {first}-W01 on"
        )
    if not week.has_ended(moment):
        latest = Week.last_complete(moment)
        raise UnreportableWeekError(
            f"week {week} has not ended (it ends {week.end:%Y-%m-%d %H:%M} UTC) and only "
            f"finished weeks are reported: expected {WEEK_FORM} up to {latest}, the last "
            "complete week"
        )
    return week


def _reportable(value: str) -> str:
    reportable_week(value)  # InvalidWeekError (a ValueError): "week '2025-45' is ..."
    return value


def _reportable_or_empty(value: str) -> str:
    return value if value == "" else _reportable(value)


#: The weeks the Run form and the server accept, as of the deploy (see the module docstring).
WEEK_SCHEMA_PATTERN = week_schema_pattern(*reportable_years())
_WEEK_SCHEMA = {"pattern": WEEK_SCHEMA_PATTERN, "examples": ["2025-W45"]}

#: The same weeks, or nothing (empty: the last complete week).
OPTIONAL_WEEK_SCHEMA_PATTERN = f"^$|{WEEK_SCHEMA_PATTERN}"

#: A required reportable ISO week (``YYYY-Www``).
WeekParameter = Annotated[
    StrictStr, AfterValidator(_reportable), Field(json_schema_extra=_WEEK_SCHEMA)
]
#: A reportable ISO week or ``""``, which means "the last complete week".
OptionalWeekParameter = Annotated[
    StrictStr,
    AfterValidator(_reportable_or_empty),
    Field(json_schema_extra={**_WEEK_SCHEMA, "pattern": OPTIONAL_WEEK_SCHEMA_PATTERN}),
]


def resolve_week(week: str | None, now: datetime | None = None) -> Week:
    """The week a run is about: empty (or ``None``) is the last complete ISO week (UTC).

    Any other week must be reportable (:func:`reportable_week`); raises
    :class:`~lambdas.shared.weeks.InvalidWeekError` naming what was expected.
    """
    return Week.last_complete(now) if not week else reportable_week(week, now)


#: A whole count of at least 1, strictly an integer: ``True`` (a bool is an int in Python,
#: and pydantic's lax mode would read it as 1) and ``"3"`` are refused before a run starts.
PositiveCount = Annotated[StrictInt, Field(ge=1)]
#: How many messages a run may handle: a whole number, 0 for "no bound" (strictly an
#: integer, as :data:`PositiveCount`).
MessageBudget = Annotated[StrictInt, Field(ge=0)]
#: A segment count for parallel scans: 1 to 64 (DynamoDB allows up to 1,000,000; more
#: than a few dozen only costs requests on a table this size).
SegmentCount = Annotated[StrictInt, Field(ge=1, le=64)]
