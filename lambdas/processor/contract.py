"""The wire contract of the chatbot Worker's events (``docs/spec/events.md``), as code.

One parser, :func:`parse_event`, decides for the processor and for DLQ triage alike, so
the two can never disagree about what is valid. Models are strict (no coercion: a string
timestamp is a wrong type, not a number) and keep unknown keys, because the Worker's
TypeScript types have index signatures and newer Workers may add fields.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

#: Lower bound of a plausible event time (a decision of this project, events.md).
EPOCH_MS_MIN = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
#: Epoch *seconds* of a plausible event time (2020-01-01 to 2286-11-20): a value in this
#: range is named as seconds; a millisecond value before 2020 is not.
SECONDS_RANGE = range(EPOCH_MS_MIN // 1000, 10_000_000_000)
#: Events may carry a clock up to this far ahead of the processor's clock.
FUTURE_TOLERANCE_MS = 24 * 3600 * 1000
#: DynamoDB keys are at most 2048 bytes; a UUID is 36. Bounding the id keeps an absurd
#: value from becoming a write that fails forever and blocks the FIFO group.
MAX_REQUEST_ID_LENGTH = 256

INVALID_JSON = "invalid_json"
INVALID_EVENT = "invalid_event"
#: Not a contract breach: the DLQ reason of a valid event DynamoDB refuses to store (a
#: correlated record over the 400 KB item limit). Kept here with the other reason codes.
STORE_REFUSED = "store_refused"

Number = StrictInt | StrictFloat


def _number(value: Any) -> Any:
    # One clear message for a wrong type instead of one per member of ``int | float``.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a JSON number, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _request_id(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _epoch_ms(value: float) -> int:
    # Only the bounds here: the "not in the future" check needs the processing time,
    # which :func:`parse_event` applies so that tests can pin the clock.
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number of milliseconds")
    millis = int(value)
    if millis < EPOCH_MS_MIN:
        hint = " (looks like seconds, expected milliseconds)" if millis in SECONDS_RANGE else ""
        raise ValueError(f"must be epoch milliseconds after 2020-01-01{hint}")
    return millis


FiniteNumber = Annotated[Number, BeforeValidator(_number)]
NonNegative = Annotated[FiniteNumber, Field(ge=0)]
RequestId = Annotated[
    StrictStr, Field(max_length=MAX_REQUEST_ID_LENGTH), AfterValidator(_request_id)
]
EpochMillis = Annotated[FiniteNumber, AfterValidator(_epoch_ms)]


class _Open(BaseModel):
    """Strict and open: wrong types are refused, unknown keys are kept."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class QueryMetadata(_Open):
    userAgent: StrictStr | None = None
    referer: StrictStr | None = None


class Performance(_Open):
    totalTime: NonNegative | None = None
    llmTime: NonNegative | None = None
    retrievalTime: NonNegative | None = None
    cacheHit: StrictBool | None = None


class ResponseMetadata(_Open):
    matchQuality: Annotated[FiniteNumber, Field(ge=0, le=1)] | None = None
    sourcesUsed: list[StrictStr] | None = None


class QueryEvent(_Open):
    eventType: Literal["query"]
    requestId: RequestId
    timestamp: EpochMillis
    query: StrictStr
    sessionId: StrictStr | None = None
    metadata: QueryMetadata | None = None


class ResponseEvent(_Open):
    eventType: Literal["response"]
    requestId: RequestId
    timestamp: EpochMillis
    matchType: Literal["full", "partial", "none"]
    matchScore: Annotated[FiniteNumber, Field(ge=0, le=100)]
    reasoning: StrictStr
    vectorMatches: Annotated[StrictInt, Field(ge=0)] | None = None
    sessionId: StrictStr | None = None
    performance: Performance | None = None
    metadata: ResponseMetadata | None = None


Event = QueryEvent | ResponseEvent


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a body breaks the contract: a short ``reason`` code and a readable ``detail``.

    ``detail`` names fields and rules, never the offending values, so it can travel in
    message attributes and logs without carrying a visitor's personal data.
    """

    reason: str
    detail: str


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)[:900]


def parse_event(body: str, now_ms: int | None = None) -> Event | Invalid:
    """Parse one SQS body into a contract event, or say why it is invalid."""
    try:
        data: Any = json.loads(body)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return Invalid(INVALID_JSON, f"body is not valid JSON: {type(exc).__name__}")
    if not isinstance(data, dict):
        return Invalid(INVALID_EVENT, f"body is a JSON {type(data).__name__}, expected an object")
    event_type = data.get("eventType")
    model: type[QueryEvent] | type[ResponseEvent]
    if event_type == "query":
        model = QueryEvent
    elif event_type == "response":
        model = ResponseEvent
    else:
        return Invalid(INVALID_EVENT, "eventType: expected 'query' or 'response'")
    try:
        event = model.model_validate(data)
    except ValidationError as exc:
        return Invalid(INVALID_EVENT, _describe(exc))
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if event.timestamp > now + FUTURE_TOLERANCE_MS:
        return Invalid(INVALID_EVENT, "timestamp: more than 24 hours after processing time")
    return event
