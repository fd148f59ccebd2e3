"""The one settings object of the project, shared by the processor Lambda and the flows.

It lives beside the processor because the Lambda zip must carry it and the processor may
not import from ``flows/`` or ``tasks/``; the flows import it from here. Defaults are the
original system's resource names, so a bare environment talks to the real deployment's
names; every field can be overridden with ``CV_ANALYTICS_<FIELD>``. AWS access itself
uses the standard boto3 chain, so ``AWS_ENDPOINT_URL`` points everything at an emulator.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Names, thresholds and policies. Read once per process through :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="CV_ANALYTICS_", frozen=True)

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
    report_recipients: list[str] = Field(default_factory=lambda: ["contact@example.dev"])

    # TTL policy of the raw events table: event time + this many days, in epoch seconds.
    query_events_ttl_days: int = 7
    ttl_attribute: str = "ttl"
    ttl_grace_hours: int = 48

    # Alarm/health thresholds (the original runbook's figures).
    dlq_alarm_threshold: int = 10
    max_queue_age_seconds: int = 900
    awaiting_response_after_seconds: int = 3600

    # DLQ triage: how many redrives before a valid message counts as exhausted.
    max_redrives: int = 3

    # Monthly maintenance: archive analytics weeks that ended longer ago than this.
    archive_after_days: int = 90
    backups_to_keep: int = 4
    log_retention_days: int = 14


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
