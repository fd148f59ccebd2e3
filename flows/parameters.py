"""Flow parameters, parsed at the edge: what the Prefect UI's Run form shows and enforces.

A week parameter carries its pattern in the JSON schema, so with
``enforce_parameter_schema`` the server refuses a malformed week before a run exists;
at run time the same check (:meth:`Week.parse`) also refuses a well-formed week that does
not exist (``2021-W53``), with a message naming the week and the expected form, on every
path (UI, CLI, a direct Python call). A flow turns its week parameter into a
:class:`~lambdas.processor.weeks.Week` once, with :func:`resolve_week`, and passes that on.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt

from lambdas.processor.weeks import WEEK_SCHEMA_PATTERN, Week


def _existing_week(value: str | None) -> str | None:
    if value is not None:
        Week.parse(value)  # InvalidWeekError (a ValueError): "week '2025-45' is malformed: ..."
    return value


_WEEK_SCHEMA = {"pattern": WEEK_SCHEMA_PATTERN, "examples": ["2025-W45"]}

#: A required ISO week (``YYYY-Www``).
WeekParameter = Annotated[
    str, AfterValidator(_existing_week), Field(json_schema_extra=_WEEK_SCHEMA)
]
#: An optional ISO week; ``None`` means "the last complete week".
OptionalWeekParameter = Annotated[
    str | None, AfterValidator(_existing_week), Field(json_schema_extra=_WEEK_SCHEMA)
]


def resolve_week(week: str | None) -> Week:
    """The week a run is about: ``None`` is the last complete ISO week (UTC).

    Raises :class:`~lambdas.processor.weeks.InvalidWeekError` naming the expected form.
    """
    return Week.last_complete() if week is None else Week.parse(week)


#: A whole count of at least 1, strictly an integer: ``True`` (a bool is an int in Python,
#: and pydantic's lax mode would read it as 1) and ``"3"`` are refused before a run starts.
PositiveCount = Annotated[StrictInt, Field(ge=1)]
#: A segment count for parallel scans: 1 to 64 (DynamoDB allows up to 1,000,000; more
#: than a few dozen only costs requests on a table this size).
SegmentCount = Annotated[StrictInt, Field(ge=1, le=64)]
