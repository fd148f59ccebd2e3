"""Typed flow parameters: what the Prefect UI's Run form shows and what the server enforces.

A week carries its pattern in the JSON schema, so with ``enforce_parameter_schema`` the
server refuses a malformed week before a run exists; at run time ``parse_week`` also
refuses a well-formed week that does not exist (``2021-W53``), with a message naming
the week and the expected form, on every path (UI, CLI, a direct Python call).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from lambdas.processor.weeks import WEEK_SCHEMA_PATTERN, parse_week


def _existing_week(value: str | None) -> str | None:
    if value is not None:
        parse_week(value)  # InvalidWeekError (a ValueError): "week '2025-45' is malformed: ..."
    return value


_WEEK_SCHEMA = {"pattern": WEEK_SCHEMA_PATTERN, "examples": ["2025-W45"]}

#: A required ISO week (``YYYY-Www``).
Week = Annotated[str, AfterValidator(_existing_week), Field(json_schema_extra=_WEEK_SCHEMA)]
#: An optional ISO week; ``None`` means "the last complete week".
OptionalWeek = Annotated[
    str | None, AfterValidator(_existing_week), Field(json_schema_extra=_WEEK_SCHEMA)
]
