"""The flows' settings read ``CV_ANALYTICS_*`` with pydantic-settings, and say what they
expected when a value is wrong."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError

from tasks.settings import Settings, SettingsError

#: Every field, its default, and a value to set it to from the environment (as text).
FIELDS: dict[str, tuple[Any, str, Any]] = {
    "region": ("us-east-1", "eu-west-2", "eu-west-2"),
    "queue_name": ("cv-analytics-queue.fifo", "q.fifo", "q.fifo"),
    "dlq_name": ("cv-analytics-dlq.fifo", "d.fifo", "d.fifo"),
    "query_events_table": ("cv-analytics-query-events", "events", "events"),
    "analytics_table": ("cv-analytics-analytics", "analytics", "analytics"),
    "summaries_table": ("cv-analytics-weekly-summaries", "summaries", "summaries"),
    "alarms_topic": ("cv-analytics-alarms", "alarms", "alarms"),
    "archive_bucket": ("cv-analytics-archive", "bucket", "bucket"),
    "processor_function": ("cv-analytics-processor", "fn", "fn"),
    "log_group_prefix": ("/aws/lambda/cv-analytics-", "/aws/lambda/x-", "/aws/lambda/x-"),
    "aws_credentials_block": ("", "cv-analytics", "cv-analytics"),
    "report_output_dir": ("out/reports", "elsewhere/reports", "elsewhere/reports"),
    "report_sender": ("contact@example.dev", "me@example.org", "me@example.org"),
    "report_recipients": (
        ["contact@example.dev"],
        '["a@example.org", "b@example.org"]',
        ["a@example.org", "b@example.org"],
    ),
    "query_events_ttl_days": (7, "8", 8),
    "ttl_attribute": ("ttl", "expiresAt", "expiresAt"),
    "ttl_grace_hours": (48, "24", 24),
    "dlq_alarm_threshold": (10, "5", 5),
    "max_queue_age_seconds": (900, "600", 600),
    "awaiting_response_after_seconds": (3600, "60", 60),
    "max_redrives": (3, "4", 4),
    "archive_after_days": (90, "30", 30),
    "backups_to_keep": (4, "2", 2),
    "log_retention_days": (14, "30", 30),
    "candidate_name": ("", "Sam Lee", "Sam Lee"),
    "candidate_aliases": ([], '["Sam", "Mr Lee"]', ["Sam", "Mr Lee"]),
    "feedback_table": ("cv-analytics-feedback", "feedback", "feedback"),
    "leads_enabled": (True, "false", False),
    "leads_retention_days": (30, "7", 7),
    "leads_table": ("cv-analytics-leads", "leads", "leads"),
    "leads_key": ("alias/cv-analytics-leads", "alias/other", "alias/other"),
}


@pytest.fixture(autouse=True)
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("CV_ANALYTICS_"):
            monkeypatch.delenv(name)


def test_the_table_names_every_field() -> None:
    assert set(FIELDS) == set(Settings.model_fields)


def test_a_bare_environment_gives_the_defaults() -> None:
    settings = Settings()
    for name, (default, _, _) in FIELDS.items():
        assert getattr(settings, name) == default, name
        assert type(getattr(settings, name)) is type(default), name


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_every_field_is_read_from_its_variable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, text, expected = FIELDS[name]
    monkeypatch.setenv(f"CV_ANALYTICS_{name.upper()}", text)
    value = getattr(Settings(), name)
    assert value == expected and type(value) is type(expected)
    # and the other fields keep their defaults
    others = {other: getattr(Settings(), other) for other in FIELDS if other != name}
    assert others == {other: FIELDS[other][0] for other in others}


def test_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("cv_analytics_region", "eu-central-1")
    assert Settings().region == "eu-central-1"


def test_a_keyword_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CV_ANALYTICS_REGION", "from-env")
    monkeypatch.setenv("CV_ANALYTICS_MAX_REDRIVES", "9")
    settings = Settings(region="from-keyword")
    assert settings.region == "from-keyword" and settings.max_redrives == 9


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5", 5), (" 5 ", 5), ("+5", 5), ("-3", -3), ("05", 5), ("1_000", 1000), ("5.0", 5)],
)
def test_integers_are_read_as_pydantic_settings_read_them(
    text: str, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CV_ANALYTICS_MAX_REDRIVES", text)
    assert Settings().max_redrives == expected


@pytest.mark.parametrize("text", ["", "three", "5.5", "1e3", "0x10", "true", "١٢"])
def test_a_bad_integer_is_refused_saying_what_was_expected(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CV_ANALYTICS_MAX_REDRIVES", text)
    with pytest.raises(SettingsError, match=r"^CV_ANALYTICS_MAX_REDRIVES: expected an integer"):
        Settings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a@example.org", r"^CV_ANALYTICS_REPORT_RECIPIENTS: expected a JSON array of strings"),
        ("", r"^CV_ANALYTICS_REPORT_RECIPIENTS: expected a JSON array of strings"),
        ('"a@example.org"', r"^CV_ANALYTICS_REPORT_RECIPIENTS: expected a list of strings"),
        ('{"to": "a"}', r"^CV_ANALYTICS_REPORT_RECIPIENTS: expected a list of strings"),
        ('["a@example.org", 1]', r"^CV_ANALYTICS_REPORT_RECIPIENTS\[1\]: expected a string"),
    ],
)
def test_bad_recipients_are_refused_saying_what_was_expected(
    text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CV_ANALYTICS_REPORT_RECIPIENTS", text)
    with pytest.raises(SettingsError, match=message):
        Settings()


def test_an_empty_recipient_list_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # the flows refuse to send to nobody themselves (tasks/ses.py), with their own message
    monkeypatch.setenv("CV_ANALYTICS_REPORT_RECIPIENTS", "[]")
    assert Settings().report_recipients == []


def test_keywords_are_checked_too() -> None:
    assert Settings(max_redrives="7").max_redrives == 7
    assert Settings(report_recipients=("a@example.org",)).report_recipients == ["a@example.org"]
    with pytest.raises(SettingsError, match=r"^region: expected a string"):
        Settings(region=5)
    with pytest.raises(SettingsError, match=r"^max_redrives: expected an integer"):
        Settings(max_redrives=2.5)
    with pytest.raises(SettingsError, match=r"unknown settings: max_redrive$"):
        Settings(max_redrive=3)
    assert isinstance(SettingsError("x"), ValueError)


def test_settings_are_frozen_and_compare_by_value() -> None:
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.region = "eu-west-1"
    assert settings == Settings()
    assert "region='us-east-1'" in repr(settings)


def test_a_copy_replaces_fields_without_reading_the_environment_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    monkeypatch.setenv("CV_ANALYTICS_ARCHIVE_BUCKET", "changed-since")
    copy = settings.model_copy(update={"queue_name": "other.fifo"})
    assert copy.queue_name == "other.fifo"
    assert copy.archive_bucket == "cv-analytics-archive"
    assert settings.model_copy(update={"max_redrives": 5}).max_redrives == 5
    with pytest.raises(SettingsError, match="expected an integer"):
        settings.model_copy(update={"max_redrives": "many"})


def test_each_resolution_reads_the_environment_as_it_is_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nothing is cached: a flow resolves its settings once, at its start
    first = Settings()
    monkeypatch.setenv("CV_ANALYTICS_REGION", "eu-west-3")
    assert first.region == "us-east-1" and Settings().region == "eu-west-3"


ENV_VALUES = [" 5 ", "5.0", "5.5", "1_000", "0x10", "", "+5", "-3", "abc", "1e3", "05"]
LIST_VALUES = ['["a", "b"]', "[]", "a", '"a"', "[1]", '["a", null]', ' ["a"] ', '{"a": 1}', ""]


def test_the_environment_is_read_as_pydantic_settings_read_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The object this one replaced, rebuilt from the same fields, accepts and refuses alike."""
    pydantic_settings = pytest.importorskip("pydantic_settings")
    from pydantic import Field

    namespace: dict[str, Any] = {
        "model_config": pydantic_settings.SettingsConfigDict(env_prefix="CV_ANALYTICS_"),
        "__annotations__": {},
    }
    for name, (default, _, _) in FIELDS.items():
        namespace["__annotations__"][name] = (
            type(default) if name != "report_recipients" else list[str]
        )
        namespace[name] = Field(default=default)
    before = type("Before", (pydantic_settings.BaseSettings,), namespace)

    def outcome(factory: Any, name: str) -> Any:
        try:
            return getattr(factory(), name)
        except ValueError:  # pydantic's ValidationError and SettingsError are ValueErrors
            return "refused"

    cases = [("max_redrives", text) for text in ENV_VALUES]
    cases += [("report_recipients", text) for text in LIST_VALUES]
    cases += [("region", text) for text in ["", " eu-west-1 "]]
    for name, text in cases:
        monkeypatch.setenv(f"CV_ANALYTICS_{name.upper()}", text)
        assert outcome(Settings, name) == outcome(before, name), (name, text)
        monkeypatch.delenv(f"CV_ANALYTICS_{name.upper()}")


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        ("LEADS_RETENTION_DAYS", "0", "expected a number of at least 1, got str '0'"),
        ("LEADS_RETENTION_DAYS", "366", "expected a number of at most 365, got str '366'"),
        ("LEADS_RETENTION_DAYS", "a month", "expected an integer"),
        ("LEADS_ENABLED", "maybe", "expected true or false, got str 'maybe'"),
    ],
)
def test_the_leads_settings_are_refused_out_of_their_range(
    variable: str, text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"CV_ANALYTICS_{variable}", text)
    with pytest.raises(SettingsError, match=f"^CV_ANALYTICS_{variable}: {message}"):
        Settings()
