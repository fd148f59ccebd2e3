"""Readers of the surfaces a person sees, for tests that hunt for what must not be there:
the e-mails SES accepted (every decoded part), and the artifacts, log lines and names of
the flow runs Prefect recorded; and the UI's Retry of a failed run."""

from __future__ import annotations

import email
import json
from datetime import datetime
from email.message import Message
from typing import Any, cast

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from prefect import Flow, State
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterStartTime,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.flow_engine import run_flow
from prefect.states import AwaitingRetry


def texts_of_mail(raw: str) -> list[str]:
    """The subject and every decoded part of one raw MIME message."""
    message: Message = email.message_from_string(raw)
    parts = [str(message["Subject"])]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return parts


def sent_mail_texts(region: str = "us-east-1") -> list[str]:
    """The texts of every e-mail the emulated SES accepted."""
    sent = ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages
    return [text for message in sent for text in texts_of_mail(message.raw_data)]


def run_ids_since(started: datetime) -> list[Any]:
    """The ids of the flow runs that started after ``started``."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                start_time=FlowRunFilterStartTime(after_=cast(Any, started))
            )
        )
    return [run.id for run in runs]


def artifacts_and_logs(run_ids: list[Any]) -> list[str]:
    """Every artifact's data (as JSON, characters unescaped) and log line of those runs."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids))
        )
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)))
    return [json.dumps(a.data, ensure_ascii=False) for a in artifacts] + [
        log.message for log in logs
    ]


def run_logs(run_id: Any) -> list[str]:
    """The log lines of one flow run, in order, once the run's logs have reached the API."""
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    return [log.message for log in sorted(logs, key=lambda log: log.timestamp)]


def run_artifacts(run_id: Any) -> list[dict[str, Any]]:
    """The keyed artifacts of one flow run (key, type, data, created), oldest first.

    A raw filter request: the client sends ``null`` for filters it is not given, which the
    server refuses, and an empty task-run filter would drop flow-level artifacts.
    """
    body = {
        "flow_runs": {"id": {"any_": [str(run_id)]}},
        "sort": "CREATED_DESC",
        "limit": 200,
        "offset": 0,
    }
    with get_client(sync_client=True) as client:
        artifacts = client.request("POST", "/artifacts/filter", json=body).json()
    return [a for a in reversed(artifacts) if a.get("key")]


def run_name(run_id: Any) -> str:
    with get_client(sync_client=True) as client:
        return str(client.read_flow_run(run_id).name)


def retry_from_ui(flow: Flow[..., Any], state: State[Any]) -> State[Any]:
    """What the Prefect UI's Retry does to a failed run: AwaitingRetry, then run it again."""
    run_id = state.state_details.flow_run_id
    assert run_id is not None and state.is_failed()
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, AwaitingRetry(), force=True)
        flow_run = client.read_flow_run(run_id)
    retried = run_flow(flow, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")
    assert isinstance(retried, State)
    assert retried.state_details.flow_run_id == run_id  # the same run, as the UI retries it
    return retried
