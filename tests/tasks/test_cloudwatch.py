"""CloudWatch tasks: alarms, metric statistics and log groups (in-process moto, ``.fn()``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from deployments.local_stack import StackInfo
from tasks import cloudwatch
from tasks.core.health import alarms_check


def test_alarm_in_alarm_fails_and_all_ok_passes(aws: StackInfo) -> None:
    alarms = cloudwatch.describe_alarms.fn("cv-analytics-")
    assert len(alarms) == 4 and alarms_check(alarms).ok
    cloudwatch.set_alarm_state.fn("cv-analytics-queue-age", "ALARM", "test")
    check = alarms_check(cloudwatch.describe_alarms.fn("cv-analytics-"))
    assert not check.ok and "cv-analytics-queue-age" in check.detail
    with pytest.raises(ValueError, match="not one of"):
        cloudwatch.set_alarm_state.fn("cv-analytics-queue-age", "RED", "test")


def test_metric_statistic_is_none_without_data_and_sums_datapoints(aws: StackInfo) -> None:
    function = aws.settings.processor_function
    dims = {"FunctionName": function}

    def total() -> float | None:
        return cloudwatch.metric_statistic.fn("CVTest", "Invocations", dims, window_seconds=86_400)

    assert total() is None
    minutes_ago = datetime.now(UTC) - timedelta(minutes=5)
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="CVTest",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": name}],
                "Value": value,
                "Timestamp": minutes_ago - timedelta(hours=hours),
            }
            for name, value, hours in ((function, 3.0, 0), (function, 4.0, 5), ("other", 100.0, 0))
        ],
    )
    assert total() == 7.0


def test_log_groups_report_bytes_and_retention(aws: StackInfo) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/aws/lambda/cv-analytics-reporter")
    logs.create_log_group(logGroupName="/aws/lambda/other-function")
    groups = {g.name: g for g in cloudwatch.describe_log_groups.fn("/aws/lambda/cv-analytics-")}
    assert set(groups) == {
        "/aws/lambda/cv-analytics-processor",
        "/aws/lambda/cv-analytics-reporter",
    }
    assert groups["/aws/lambda/cv-analytics-processor"].retention_days == 14
    assert groups["/aws/lambda/cv-analytics-reporter"].retention_days is None
    assert groups["/aws/lambda/cv-analytics-reporter"].stored_bytes == 0
    cloudwatch.put_retention_policy.fn("/aws/lambda/cv-analytics-reporter", 14)
    after = {g.name: g for g in cloudwatch.describe_log_groups.fn("/aws/lambda/cv-analytics-")}
    assert after["/aws/lambda/cv-analytics-reporter"].retention_days == 14
