"""Splitting a benchmark's wall time into waiting on AWS and everything else."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch


class HttpWait:
    """Wall time spent waiting on AWS HTTP responses (here: the emulator doing the work).

    Wraps botocore's ``Endpoint._send`` (the one HTTP round trip per attempt) for the
    duration of a measurement; what is left of the flow's time is our own: decoding,
    aggregating, rendering, Prefect. On moto the waits are the emulator's cost model, so
    that split says how much of a local figure would carry over to AWS.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.requests = 0
        self.by_service: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def measuring(self) -> Iterator[HttpWait]:
        from botocore.endpoint import Endpoint

        original = Endpoint._send  # type: ignore[attr-defined]

        def timed(endpoint: Any, request: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(endpoint, request)
            finally:
                service = endpoint._endpoint_prefix  # "sqs", "s3", "dynamodb", ...
                with self._lock:
                    self.seconds += time.perf_counter() - started
                    self.requests += 1
                    self.by_service[service] = self.by_service.get(service, 0) + 1

        with patch.object(Endpoint, "_send", timed):
            yield self

    def split(self, seconds: float) -> dict[str, Any]:
        """``seconds`` of wall time as requests, time waiting on them, and the rest.

        Requests per service are what an estimate for AWS multiplies by its latencies.
        """
        return {
            "aws_http_requests": self.requests,
            "aws_http_requests_by_service": dict(sorted(self.by_service.items())),
            "aws_http_wait_seconds": round(self.seconds, 2),
            "outside_aws_calls_seconds": round(seconds - self.seconds, 2),
        }
