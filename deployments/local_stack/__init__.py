"""The embedded local AWS: moto's server, provisioned from ``deployments/template.yaml``.

One module per job:

* ``provision``: create what the template declares on the configured endpoint
  (``provision()``, ``StackInfo``, ``local_template()``, the per-type decisions), and the
  template's figures the rest holds to (``template_figures()``);
* ``server``: run moto's server on 127.0.0.1 around a block (``local_stack()``), with a
  cheaper SQS clock for moto while it runs;
* ``poller``: ``EventSourceMapping``, the stand-in for Lambda's SQS poller;
* ``ttl``: ``expire_ttl_items()`` and ``ttl_sweeper()``, the stand-in for DynamoDB's TTL
  process;
* ``alarms``: ``AlarmInbox``, an SQS subscriber of the alarms topic, and its printer;
  ``alarm_actions()``, CloudWatch's alarm actions (a state change notifies the topic);
* ``background``: ``BackgroundLoop``, the thread that runs a stand-in for as long as a
  stack runs (``make serve``), surviving its failures, stopped cleanly.

Importing does nothing else: the template is read on first use, moto is imported and
patched only by ``local_stack()``. The template's figures are also here under their
constant names (``MAX_RECEIVE_COUNT``...), computed when first asked for.
"""

from __future__ import annotations

from typing import Any

from deployments.local_stack.alarms import (
    AlarmInbox,
    Alert,
    alarm_actions,
    alarm_printer,
    inbox_name,
)
from deployments.local_stack.background import BackgroundLoop
from deployments.local_stack.poller import (
    DrainResult,
    EventSourceMapping,
    Handler,
    LocalContext,
    lambda_record,
    processor_handler,
)
from deployments.local_stack.provision import (
    API_PROPERTIES,
    API_TYPES,
    CLOUDFORMATION_TYPES,
    NOT_EMULATED,
    OMITTED_PROPERTIES,
    SETTINGS_NAMES,
    SETTINGS_PARAMETERS,
    StackInfo,
    TemplateFigures,
    cloudformation_template,
    local_template,
    provision,
    template_figures,
)
from deployments.local_stack.server import LOCAL_ENV, fast_sqs_clock, free_port, local_stack
from deployments.local_stack.ttl import TTL_SWEEP_SECONDS, expire_ttl_items, ttl_sweeper

#: The constant names of the template's figures (name -> TemplateFigures field).
_FIGURES = {
    "FUNCTION_TIMEOUT_SECONDS": "function_timeout_seconds",
    "VISIBILITY_TIMEOUT_SECONDS": "visibility_timeout_seconds",
    "MAX_RECEIVE_COUNT": "max_receive_count",
    "DLQ_RETENTION_SECONDS": "dlq_retention_seconds",
    "BATCH_SIZE": "batch_size",
    "ALARM_NAMES": "alarm_names",
}


def __getattr__(name: str) -> Any:
    """The template's figures by their constant names, read from the template when asked."""
    if name in _FIGURES:
        return getattr(template_figures(), _FIGURES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "API_PROPERTIES",
    "API_TYPES",
    "CLOUDFORMATION_TYPES",
    "LOCAL_ENV",
    "NOT_EMULATED",
    "OMITTED_PROPERTIES",
    "SETTINGS_NAMES",
    "SETTINGS_PARAMETERS",
    "TTL_SWEEP_SECONDS",
    "AlarmInbox",
    "Alert",
    "BackgroundLoop",
    "DrainResult",
    "EventSourceMapping",
    "Handler",
    "LocalContext",
    "StackInfo",
    "TemplateFigures",
    "alarm_actions",
    "alarm_printer",
    "cloudformation_template",
    "expire_ttl_items",
    "fast_sqs_clock",
    "free_port",
    "inbox_name",
    "lambda_record",
    "local_stack",
    "local_template",
    "processor_handler",
    "provision",
    "template_figures",
    "ttl_sweeper",
    *_FIGURES,
]
