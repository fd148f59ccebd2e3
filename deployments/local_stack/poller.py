"""The poller: a stand-in for Lambda's SQS event source mapping, which moto cannot run
without Docker. It receives a batch, calls the handler in-process with a Lambda-shaped event
and context, and deletes what the handler did not report as failed.

Two ways to run it: ``drain()`` until the queue is empty (the demo, the tests: failed
messages made visible again at once), or ``step()`` in a ``BackgroundLoop`` for as long as
a stack runs (``make serve``: failed messages wait out the queue's visibility timeout, as
on AWS, so they come back after it and reach the DLQ after ``maxReceiveCount`` receives).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployments.local_stack.provision import client, template_figures
from tasks.settings import Settings

logger = logging.getLogger("deployments.local_stack")


def _function_name() -> str:
    return template_figures().function_name


def _memory_mb() -> int:
    return template_figures().function_memory_mb


def _function_arn() -> str:
    return template_figures().function_arn


def _deadline() -> float:
    return time.time() + template_figures().function_timeout_seconds


@dataclass
class LocalContext:
    """The parts of a Lambda context object that Powertools reads (the template's function)."""

    function_name: str = field(default_factory=_function_name)
    memory_limit_in_mb: int = field(default_factory=_memory_mb)
    invoked_function_arn: str = field(default_factory=_function_arn)
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = field(default_factory=_deadline)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "dataType": value["DataType"],
            "stringListValues": [],
            "binaryListValues": [],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def processor_handler() -> Handler:
    """The processor's handler as the local stand-in invokes it, its metrics cleared after
    each invocation.

    With ``POWERTOOLS_METRICS_DISABLED`` (the demo and serve set it: EMF lines would drown
    their output) Powertools never flushes, so never clears, and once 100 values have
    piled up it prints the whole set as EMF JSON anyway; a flush clears them on Lambda.
    """
    from lambdas.processor.handler import handler, metrics

    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = handler(event, context)
        finally:
            metrics.clear_metrics()
        return response

    return invoke


@dataclass
class DrainResult:
    invocations: int = 0
    processed: int = 0
    failed: int = 0


class EventSourceMapping:
    """Local stand-in for Lambda's SQS FIFO poller (the template's batch size, partial batch
    responses).

    One invocation at a time, each with at most ``batch_size`` messages. SQS hides a FIFO
    message group while any of its messages is in flight, so there is never more than one
    batch of a group in flight, as with Lambda's FIFO poller (which would also run other
    groups' batches side by side; the Worker sends one group).

    Failed messages are left on the queue for SQS's redrive policy. ``fast_retry`` (the
    default, for drains) makes them visible again at once, which is what the passage of
    the visibility timeout would do; without it they wait the timeout out, as on AWS.
    """

    def __init__(
        self,
        handler: Handler,
        settings: Settings | None = None,
        *,
        batch_size: int | None = None,
        fast_retry: bool = True,
    ) -> None:
        self.handler = handler
        self.settings = settings or Settings()
        self.batch_size = template_figures().batch_size if batch_size is None else batch_size
        self.fast_retry = fast_retry
        self.sqs = client("sqs", self.settings)
        self.queue_url = self.sqs.get_queue_url(QueueName=self.settings.queue_name)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        #: What ``step()`` has done since the mapping was made.
        self.totals = DrainResult()

    def step(self) -> bool:
        """One poll for a background loop; whether the handler was invoked (logged)."""
        result = self.poll_once()
        if not result.invocations:
            return False
        self.totals.invocations += result.invocations
        self.totals.processed += result.processed
        self.totals.failed += result.failed
        retry = (
            "" if not result.failed or self.fast_retry else " (back after the visibility timeout)"
        )
        logger.info(
            "processor invoked with %d message(s) from %s: %d done, %d failed%s",
            result.processed + result.failed,
            self.settings.queue_name,
            result.processed,
            result.failed,
            retry,
        )
        return True

    def poll_once(self, result: DrainResult | None = None) -> DrainResult:
        """One receive and (if anything came) one invocation."""
        result = result or DrainResult()
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return result
        records = [lambda_record(m, self.queue_arn, self.settings.region) for m in messages]
        result.invocations += 1
        try:
            response = self.handler({"Records": records}, LocalContext())
            failed_ids = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:  # a function error: Lambda retries the whole batch
            # (Powertools raises BatchProcessingError when every record of a batch failed)
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        if failed and self.fast_retry:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(failed)
                ],
            )
        result.processed += len(done)
        result.failed += len(failed)
        return result

    def drain(self, max_invocations: int = 100_000, settle_seconds: float = 2.0) -> DrainResult:
        """Poll until the queue is empty (or the invocation budget is spent).

        An empty receive alone does not mean empty: a failed FIFO message made visible
        again can still count as in flight for an instant (moto compares microsecond
        clocks), and while it does SQS hides its whole message group. With
        ``fast_retry`` the drain looks at the queue's counts and polls again for up to
        ``settle_seconds`` of no progress; without it, in-flight messages wait out their
        visibility timeout, as on AWS, and the drain stops.
        """
        result = DrainResult()
        idle_since: float | None = None
        while result.invocations < max_invocations:
            before = result.invocations
            self.poll_once(result)
            if result.invocations != before:
                idle_since = None
                continue
            if not self.fast_retry or self._remaining() == 0:
                break
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > settle_seconds:
                break
            time.sleep(0.005)
        return result

    def _remaining(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())
