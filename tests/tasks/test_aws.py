"""What the flows retry: throttling, 5xx and connection errors; never validation or access."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, ParamValidationError, ReadTimeoutError
from pydantic import SecretStr

from tasks.aws import BOTO_CONFIG, is_transient
from tests.conftest import client_error


def options(config: Config) -> dict[str, Any]:
    """A botocore Config's options: set as attributes from its keyword arguments at run
    time, which botocore-stubs declares as parameters only."""
    return vars(config)


@pytest.mark.parametrize(
    "exc",
    [
        client_error("ThrottlingException", "Query"),
        client_error("ProvisionedThroughputExceededException", "BatchWriteItem"),
        client_error("SlowDown", "PutObject", status=503),
        client_error("InternalError", "SendRawEmail", status=500),
        client_error("SomethingNew", "Publish", status=502),  # any 5xx
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_transient_errors_are_retried(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        client_error("ValidationException", "Query"),
        client_error("AccessDeniedException", "Query", status=403),
        client_error("AccessDenied", "PutObject", status=403),
        client_error("MessageRejected", "SendRawEmail"),
        client_error("ResourceNotFoundException", "Query"),
        ParamValidationError(report="bad parameter"),
        ValueError("week '2025-W60' does not exist"),
        None,
    ],
)
def test_permanent_errors_are_not_retried(exc: BaseException | None) -> None:
    assert not is_transient(exc)


def test_botocore_itself_backs_off_adaptively() -> None:
    retries = options(BOTO_CONFIG)["retries"]
    assert retries["mode"] == "adaptive"
    # botocore rewrites max_attempts=5 (retries) as total_max_attempts=6 once a client exists
    assert retries.get("total_max_attempts", retries.get("max_attempts", 0) + 1) == 6


def test_a_credentials_block_keeps_its_endpoint_and_our_retry_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_aws import AwsClientParameters, AwsCredentials

    from tasks.aws import aws_client

    block = AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key=SecretStr("testing"),
        region_name="eu-west-1",
        aws_client_parameters=AwsClientParameters(endpoint_url="http://127.0.0.1:1"),
    )
    monkeypatch.setenv("CV_ANALYTICS_AWS_CREDENTIALS_BLOCK", "cv-analytics")
    # the block as the server would return it (loading needs no server for this check)
    monkeypatch.setattr(AwsCredentials, "load", classmethod(lambda cls, name: block))

    client = aws_client("sqs")
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.region_name == "eu-west-1"
    assert options(client.meta.config)["retries"]["mode"] == "adaptive"
    from tasks.ses import SEND_CONFIG

    # the report e-mail is sent once by botocore too: no hidden retry under the ledger
    assert options(aws_client("ses", SEND_CONFIG).meta.config)["retries"]["total_max_attempts"] == 1


def test_a_credentials_block_asking_for_retries_cannot_loosen_one_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_aws import AwsClientParameters, AwsCredentials

    from tasks.aws import ONE_ATTEMPT, aws_client

    block = AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key=SecretStr("testing"),
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(
            config={"retries": {"max_attempts": 5}, "read_timeout": 7}
        ),
    )
    monkeypatch.setenv("CV_ANALYTICS_AWS_CREDENTIALS_BLOCK", "cv-analytics")
    monkeypatch.setattr(AwsCredentials, "load", classmethod(lambda cls, name: block))

    for service in ("ses", "sns"):
        config = aws_client(service, ONE_ATTEMPT).meta.config
        assert options(config)["retries"]["total_max_attempts"] == 1, (
            service
        )  # ours, not the block's 5
        assert options(config)["read_timeout"] == 7  # the block's other options still apply
