"""One place where the flows get AWS clients and decide what is worth retrying.

Clients are made inside tasks (never passed as task arguments: Prefect hashes inputs).
botocore's adaptive retry mode already backs off with jitter on throttling, 5xx and
connection errors; ``retry_on_transient`` gives Prefect's task retries the same rule, so
a validation or access error fails at once instead of being retried into the ground.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from prefect import get_run_logger
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from tasks.settings import ENV_PREFIX, Settings

if TYPE_CHECKING:  # boto3-stubs (dev only): the client class of each service we call
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# botocore's warnings reach the run log (PREFECT_LOGGING_EXTRA_LOGGERS=botocore,boto3);
# its DEBUG output (request bodies, signing details) must never, whatever the root level.
for _name in ("botocore", "boto3"):
    logging.getLogger(_name).setLevel(logging.WARNING)

BOTO_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5)
#: For a call whose retry could repeat a side effect nobody can undo (an SES send, an SNS
#: alert): one attempt, no botocore retry. ``max_attempts=1`` would still allow one retry
#: (botocore counts retries there); ``total_max_attempts`` counts the first attempt too.
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5)

#: Error codes AWS documents as throttling or temporary unavailability.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "LimitExceededException",
    }
)
CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


# One overload per service the project calls, so callers get boto3-stubs' typed client
# (methods, parameters, TypedDict responses). A service added here needs its extra in
# pyproject's boto3-stubs[...]; any other name still works, typed as a plain BaseClient.
@overload
def aws_client(
    service: Literal["cloudwatch"], config: Config | None = None
) -> CloudWatchClient: ...
@overload
def aws_client(service: Literal["dynamodb"], config: Config | None = None) -> DynamoDBClient: ...
@overload
def aws_client(service: Literal["kms"], config: Config | None = None) -> KMSClient: ...
@overload
def aws_client(service: Literal["logs"], config: Config | None = None) -> CloudWatchLogsClient: ...
@overload
def aws_client(service: Literal["s3"], config: Config | None = None) -> S3Client: ...
@overload
def aws_client(service: Literal["ses"], config: Config | None = None) -> SESClient: ...
@overload
def aws_client(service: Literal["sns"], config: Config | None = None) -> SNSClient: ...
@overload
def aws_client(service: Literal["sqs"], config: Config | None = None) -> SQSClient: ...
@overload
def aws_client(service: str, config: Config | None = None) -> BaseClient: ...
def aws_client(service: str, config: Config | None = None) -> Any:
    """A boto3 client for ``service``: the credentials block if configured, else the chain.

    ``config`` replaces the default retry policy (e.g. SES sends with retries off). With
    a block, its own client parameters (endpoint, TLS, config) are applied on top, as
    prefect-aws's ``get_client`` would, which ``get_boto3_session().client()`` alone
    would silently skip.

    Clients are made once per process and reused (botocore clients are thread-safe):
    making one costs ~15 ms, more than most requests it sends. The cache key holds
    everything a client is built from (service, config, region, block, endpoint), so a
    changed environment gets a new client; :func:`reset_aws_clients` forgets them all.

    The region and the credentials block are AWS access, read here as boto3's own chain
    reads ``AWS_ENDPOINT_URL``: ``CV_ANALYTICS_REGION`` and
    ``CV_ANALYTICS_AWS_CREDENTIALS_BLOCK`` (the settings' fields, as plain text), so
    tasks get clients without carrying the access through every call.
    """
    region, block = _access()
    config = config or BOTO_CONFIG
    key = (
        service,
        config,
        region,
        block,
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}"),
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(service, config, region, block)
    return client


def _access() -> tuple[str, str]:
    """The region and credentials block the environment names (the settings' defaults)."""
    names = {f"{ENV_PREFIX}REGION": "region", f"{ENV_PREFIX}AWS_CREDENTIALS_BLOCK": "block"}
    found = {names[k.upper()]: v for k, v in os.environ.items() if k.upper() in names}
    fields = Settings.model_fields
    return (
        found.get("region", fields["region"].default),
        found.get("block", fields["aws_credentials_block"].default),
    )


def reset_aws_clients() -> None:
    """Forget every cached client (tests and the local stack, after moving the endpoint)."""
    with _clients_lock:
        _clients.clear()


def _new_client(service: str, config: Config, region: str, block_name: str) -> Any:
    if block_name:
        from prefect_aws import AwsCredentials

        credentials: Any = AwsCredentials.load(block_name)
        params = credentials.aws_client_parameters.get_params_override()
        # ours merged over the block's: the block may add options (proxies, TLS) but never
        # loosen our limits (ONE_ATTEMPT under the send ledger)
        params["config"] = params["config"].merge(config) if "config" in params else config
        if credentials.region_name:
            params["region_name"] = credentials.region_name
        return credentials.get_boto3_session().client(service, **params)
    # boto3-stubs types client() per service literal; here the service is a runtime str
    make_client: Callable[..., BaseClient] = boto3.client
    return make_client(service, region_name=region, config=config)


def is_transient(exc: BaseException | None) -> bool:
    """True for throttling, 5xx and connection errors; False for everything else."""
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in TRANSIENT_CODES or int(status or 0) >= 500
    return False


def failure_of(state: Any) -> BaseException | None:
    """The exception a failed task state holds (in its data, or raised by its result)."""
    if isinstance(state.data, BaseException):
        return state.data
    try:
        state.result(raise_on_failure=True)
    except BaseException as raised:
        return raised
    return None


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry a failed task only for a transient AWS error."""
    return is_transient(failure_of(state))


#: The one cache rule of every task in the project: no result is reused from its inputs.
#: Tasks read or change current AWS state, so a Prefect retry (same flow run), a re-run or
#: an overlapping run must do the work again and see AWS as it is now; Prefect's default
#: policy would hand a retried run the first attempt's DLQ depth or ledger state.
CACHE_RULE: dict[str, Any] = {"cache_policy": NO_CACHE}

#: Options of every task that talks to AWS: the cache rule, and 3 retries with exponential
#: backoff and jitter for transient errors only.
TASK_OPTIONS: dict[str, Any] = {
    **CACHE_RULE,
    "retries": 3,
    "retry_delay_seconds": [1, 4, 16],
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_on_transient,
}


def never_delivered(exc: BaseException | None) -> bool:
    """True when the failed call provably took no effect and a retry may send it again.

    AWS answered with a transient refusal (throttling, 5xx), or the connection never
    opened. A read timeout or a dropped connection may have been accepted: not retried.
    """
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return True
    return isinstance(exc, ClientError) and is_transient(exc)


def retry_when_never_delivered(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` of tasks with a side effect: see :func:`never_delivered`."""
    return never_delivered(failure_of(state))


#: Options of a task whose call is a side effect (an alert, a notice e-mail): its client
#: makes ONE_ATTEMPT, and Prefect retries only what was never delivered.
SIDE_EFFECT_TASK_OPTIONS: dict[str, Any] = {
    **TASK_OPTIONS,
    "retry_condition_fn": retry_when_never_delivered,
}


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The Prefect run logger inside a run, the module logger outside (plain calls, tests)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)
