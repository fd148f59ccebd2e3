"""Readers of the surfaces a person sees, for tests that hunt for what must not be there:
the e-mails SES accepted (every decoded part), and the artifacts and log lines of the flow
runs Prefect recorded."""

from __future__ import annotations

import email
import json
from datetime import datetime
from email.message import Message
from typing import Any, cast

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterStartTime,
    LogFilter,
    LogFilterFlowRunId,
)


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
