"""The one settings object of the project, shared by the processor Lambda and the flows.

It lives beside the processor because the Lambda zip must carry it and the processor may
not import from ``flows/`` or ``tasks/``; the flows import it from here. Defaults are the
deployed system's resource names and policies; every field can be overridden with
``CV_ANALYTICS_<FIELD>``. AWS access itself uses the standard boto3 chain, so
``AWS_ENDPOINT_URL`` points everything at an emulator.

A plain frozen dataclass, not a pydantic-settings model: that and python-dotenv would cost
the Lambda's cold start ~30 ms for no behaviour it needs. Names are case-insensitive, a
keyword argument wins over the environment, integers may carry a sign, underscores,
surrounding blanks or a ``.0`` tail, lists are JSON arrays of strings
(``CV_ANALYTICS_REPORT_RECIPIENTS='["a@example.org"]'``), and a bad value is refused with
a :class:`SettingsError` naming the variable and what was expected.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

ENV_PREFIX = "CV_ANALYTICS_"

#: What pydantic's lax mode took as an integer from a string (``" +1_000 "``, ``"5.0"``).
_INTEGER = re.compile(r"\s*([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0*)?\s*", re.ASCII)


class SettingsError(ValueError):
    """A setting with a value of the wrong kind; the message says what was expected."""


@dataclass(frozen=True, init=False)
class Settings:
    """Names, thresholds and policies. Read once per process through :func:`get_settings`.

    ``Settings()`` reads ``CV_ANALYTICS_*`` from the environment; ``Settings(region=...)``
    sets a field directly (it wins over the environment).
    """

    region: str = "us-east-1"
    queue_name: str = "cv-analytics-queue.fifo"
    dlq_name: str = "cv-analytics-dlq.fifo"
    query_events_table: str = "cv-analytics-query-events"
    analytics_table: str = "cv-analytics-analytics"
    summaries_table: str = "cv-analytics-weekly-summaries"
    alarms_topic: str = "cv-analytics-alarms"
    archive_bucket: str = "cv-analytics-archive"
    processor_function: str = "cv-analytics-processor"
    log_group_prefix: str = "/aws/lambda/cv-analytics-"

    # Optional prefect-aws AwsCredentials block name; empty means the default boto3 chain.
    aws_credentials_block: str = ""

    # Where `make demo`/`make report` write rendered reports for a person to open.
    report_output_dir: str = "out/reports"

    report_sender: str = "contact@example.dev"
    report_recipients: list[str] = field(default_factory=lambda: ["contact@example.dev"])

    # TTL policy of the raw events table: event time + this many days, in epoch seconds.
    query_events_ttl_days: int = 7
    ttl_attribute: str = "ttl"
    ttl_grace_hours: int = 48

    # Alarm/health thresholds (DLQ depth and queue age match deployments/template.yaml).
    dlq_alarm_threshold: int = 10
    max_queue_age_seconds: int = 900
    awaiting_response_after_seconds: int = 3600

    # DLQ triage: how many redrives before a valid message counts as exhausted.
    max_redrives: int = 3

    # Monthly maintenance: archive analytics weeks that ended longer ago than this.
    archive_after_days: int = 90
    backups_to_keep: int = 4
    log_retention_days: int = 14

    #: The fields by name (as pydantic's ``model_fields``, which callers already use).
    model_fields: ClassVar[Mapping[str, dataclasses.Field[Any]]]

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(self.model_fields))
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(unknown)}")
        environ = {name.upper(): value for name, value in os.environ.items()}
        for name, spec in self.model_fields.items():
            if name in values:
                value = _checked(name, spec.type, values[name], name)
            elif (variable := ENV_PREFIX + name.upper()) in environ:
                value = _from_env(name, spec.type, environ[variable], variable)
            elif spec.default_factory is not dataclasses.MISSING:
                value = spec.default_factory()
            else:
                value = spec.default
            object.__setattr__(self, name, value)

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Settings:
        """A copy with some fields replaced (checked, the environment not read again)."""
        return dataclasses.replace(self, **(update or {}))


Settings.model_fields = {spec.name: spec for spec in dataclasses.fields(Settings)}
#: The field types the environment can set (annotations are strings here).
_KINDS = frozenset({"str", "int", "list[str]"})
if not {spec.type for spec in Settings.model_fields.values()} <= _KINDS:
    raise TypeError(f"a Settings field needs a parser: only {sorted(_KINDS)} are read")


def _from_env(name: str, kind: object, text: str, variable: str) -> Any:
    """One environment value as its field's type: ``int``, ``list[str]`` (JSON) or ``str``."""
    if kind == "list[str]":
        try:
            value = json.loads(text)
        except ValueError:
            raise SettingsError(
                f"{variable}: expected a JSON array of strings, e.g. '[\"a@example.org\"]'"
            ) from None
        return _checked(name, kind, value, variable)
    return _checked(name, kind, text, variable)


def _checked(name: str, kind: object, value: Any, where: str) -> Any:
    """``value`` as the field's type, or a :class:`SettingsError` saying what was expected."""
    if kind == "int":
        return _as_int(value, where)
    if kind == "list[str]":
        return _as_strings(value, where)
    if not isinstance(value, str):
        raise SettingsError(f"{where}: expected a string, got {_shown(value)}")
    return value


def _as_int(value: Any, where: str) -> int:
    """An integer as pydantic's lax mode took one: a bool, a whole float, ``" +1_000 "``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and (match := _INTEGER.fullmatch(value)):
        return int(match.group(1))
    raise SettingsError(f"{where}: expected an integer, got {_shown(value)}")


def _as_strings(value: Any, where: str) -> list[str]:
    """A list or tuple of strings as a list; the error names the first item that is not."""
    if not isinstance(value, list | tuple):
        raise SettingsError(f"{where}: expected a list of strings, got {_shown(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise SettingsError(f"{where}[{index}]: expected a string, got {_shown(item)}")
    return list(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
