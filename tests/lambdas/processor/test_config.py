"""The processor's config reads the five values it needs from ``CV_ANALYTICS_*``, with the
flows' settings' defaults, and refuses a bad TTL naming the variable."""

from __future__ import annotations

import pytest

from lambdas.processor.config import ConfigError, ProcessorConfig
from tasks.settings import Settings


def test_defaults_are_the_flows_settings_defaults() -> None:
    config, settings = ProcessorConfig.from_environ({}), Settings()
    for name in ("region", "dlq_name", "query_events_table", "analytics_table"):
        assert getattr(config, name) == getattr(settings, name), name
    assert config.query_events_ttl_days == settings.query_events_ttl_days


def test_variables_are_read_case_insensitively() -> None:
    config = ProcessorConfig.from_environ(
        {"cv_analytics_region": "eu-west-2", "CV_ANALYTICS_QUERY_EVENTS_TTL_DAYS": " +1_0 "}
    )
    assert config.region == "eu-west-2" and config.query_events_ttl_days == 10


@pytest.mark.parametrize("text", ["", "three", "5.5", "1e3", "0x10", "true", "١٢"])
def test_a_bad_ttl_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^CV_ANALYTICS_QUERY_EVENTS_TTL_DAYS: expected an int"):
        ProcessorConfig.from_environ({"CV_ANALYTICS_QUERY_EVENTS_TTL_DAYS": text})
