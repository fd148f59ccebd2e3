"""The flows' settings: resource names, thresholds and policies, one frozen object.

A flow resolves it once at its start (``Settings()``) and hands it, or the values a task
needs, to its tasks; no task reads the environment or a global. The processor Lambda has
its own small config of what it reads (``lambdas/processor/config.py``), from the same
variables.

pydantic-settings: every field is read from ``CV_ANALYTICS_<FIELD>`` (case-insensitive),
a keyword argument wins over the environment, lists are JSON arrays of strings
(``CV_ANALYTICS_REPORT_RECIPIENTS='["a@example.org"]'``), and a bad value is refused with a
:class:`SettingsError` naming the variable and what was expected. AWS access itself uses
the standard boto3 chain, so ``AWS_ENDPOINT_URL`` points everything at an emulator.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, Self

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from tasks.core.candidate import MAX_ALIASES, MAX_NAME, Candidate

ENV_PREFIX = "CV_ANALYTICS_"


class SettingsError(ValueError):
    """A setting with a value of the wrong kind; the message says what was expected."""


class Settings(BaseSettings):
    """Names, thresholds and policies; ``Settings(region=...)`` sets a field directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, frozen=True, extra="forbid"
    )

    region: str = "us-east-1"
    queue_name: str = "cv-analytics-queue.fifo"
    dlq_name: str = "cv-analytics-dlq.fifo"
    query_events_table: str = "cv-analytics-query-events"
    analytics_table: str = "cv-analytics-analytics"
    summaries_table: str = "cv-analytics-weekly-summaries"
    # The owner's word on the report (report-insights.md section 9): one item per theme key.
    feedback_table: str = "cv-analytics-feedback"
    alarms_topic: str = "cv-analytics-alarms"
    archive_bucket: str = "cv-analytics-archive"
    processor_function: str = "cv-analytics-processor"
    log_group_prefix: str = "/aws/lambda/cv-analytics-"

    # Optional prefect-aws AwsCredentials block name; empty means the default boto3 chain.
    aws_credentials_block: str = ""

    # Where `make demo`/`make report` write rendered reports for a person to open.
    report_output_dir: str = "out/reports"

    report_sender: str = "contact@example.dev"
    report_recipients: list[str] = Field(default_factory=lambda: ["contact@example.dev"])

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

    # Who the chatbot speaks for: "your", "his" and these names are one person in the
    # report's themes (tasks/core/candidate.py). Empty: only pronouns fold.
    candidate_name: str = Field(default="", max_length=MAX_NAME)
    candidate_aliases: list[str] = Field(default_factory=list, max_length=MAX_ALIASES)

    # Leads (docs/spec/report-insights.md, section 7): visitors' contact details e-mailed
    # once to the report recipients, kept encrypted with the KMS key (an id, ARN or alias)
    # in the leads table for this many days after the question, then deleted by TTL.
    leads_enabled: bool = True
    leads_retention_days: int = Field(default=30, ge=1, le=365)
    leads_table: str = "cv-analytics-leads"
    leads_key: str = "alias/cv-analytics-leads"

    # Monthly maintenance: archive analytics weeks that ended longer ago than this.
    archive_after_days: int = 90
    backups_to_keep: int = 4
    log_retention_days: int = 14

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _refusal(exc, values) from None
        except SourceError as exc:  # a list variable that is not JSON
            field = re.search(r'field "(\w+)"', str(exc))
            variable = ENV_PREFIX + (field.group(1) if field else "?").upper()
            raise SettingsError(
                f"{variable}: expected a JSON array of strings, e.g. '[\"a@example.org\"]'"
            ) from None

    @property
    def candidate(self) -> Candidate:
        """The candidate as the insights read it."""
        return Candidate(self.candidate_name, tuple(self.candidate_aliases))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with some fields replaced: checked (every field given, so the environment
        is not read again)."""
        return type(self)(**{**dict(self), **(update or {})})


#: What each kind of pydantic error means for a setting.
_EXPECTED = {
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "int_type": "an integer",
    "string_type": "a string",
    "list_type": "a list of strings",
    "string_too_long": "at most 100 characters",
    "too_long": "at most 20 entries",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "greater_than_equal": "a number of at least {ge}",
    "less_than_equal": "a number of at most {le}",
}


def _refusal(exc: ValidationError, given: Collection[str]) -> SettingsError:
    """The first error as ``<variable or keyword>[index]: expected <kind>, got <value>``."""
    errors = exc.errors()
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return SettingsError(f"unknown settings: {', '.join(unknown)}")
    error = errors[0]
    name, *index = error["loc"]
    where = str(name) if name in given else ENV_PREFIX + str(name).upper()
    where += "".join(f"[{i}]" for i in index)
    kind = error["type"]
    expected = _EXPECTED[kind].format(**error.get("ctx", {})) if kind in _EXPECTED else error["msg"]
    return SettingsError(f"{where}: expected {expected}, got {_shown(error['input'])}")


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"
