"""What the processor Lambda reads from its environment: five values, plain code.

The same ``CV_ANALYTICS_<FIELD>`` variables (case-insensitive) and defaults as the flows'
settings (``tasks/settings.py``), without pydantic: the Lambda's cold start matters. An
integer may carry a sign, underscores, surrounding blanks or a ``.0`` tail (as
pydantic-settings reads one); anything else is refused with a :class:`ConfigError`
naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

ENV_PREFIX = "CV_ANALYTICS_"

#: An integer as pydantic's lax mode takes one from text (``" +1_000 "``, ``"5.0"``).
_INTEGER = re.compile(r"\s*([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0*)?\s*", re.ASCII)


class ConfigError(ValueError):
    """A variable with a value of the wrong kind; the message says what was expected."""


@dataclass(frozen=True)
class ProcessorConfig:
    """The region, the DLQ, the two tables the processor writes, the raw events' TTL."""

    region: str = "us-east-1"
    dlq_name: str = "cv-analytics-dlq.fifo"
    query_events_table: str = "cv-analytics-query-events"
    analytics_table: str = "cv-analytics-analytics"
    query_events_ttl_days: int = 7

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProcessorConfig:
        """The config from ``environ`` (default ``os.environ``); unset variables keep defaults."""
        upper = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}
        default = cls()

        def text(name: str) -> str:
            return upper.get(ENV_PREFIX + name.upper(), str(getattr(default, name)))

        return cls(
            region=text("region"),
            dlq_name=text("dlq_name"),
            query_events_table=text("query_events_table"),
            analytics_table=text("analytics_table"),
            query_events_ttl_days=_integer(upper, "query_events_ttl_days", 7),
        )


def _integer(upper: Mapping[str, str], name: str, default: int) -> int:
    variable = ENV_PREFIX + name.upper()
    if variable not in upper:
        return default
    if match := _INTEGER.fullmatch(upper[variable]):
        return int(match.group(1))
    raise ConfigError(f"{variable}: expected an integer, got {upper[variable][:60]!r}")
