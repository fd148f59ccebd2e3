"""The contract's pydantic models (``docs/spec/events.md``).

Models are strict (no coercion: a string timestamp is a wrong type, not a number) and
keep unknown keys, because the Worker's TypeScript types have index signatures and newer
Workers may add fields. The bounds are :mod:`lambdas.shared.contract`'s;
:func:`~lambdas.shared.contract.parse_event` imports this module on the first event it
parses, so that importing the Lambda handler loads no pydantic.
"""

from __future__ import annotations

import math
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

from lambdas.shared.contract import EPOCH_MS_MIN, MAX_REQUEST_ID_LENGTH, SECONDS_RANGE

__all__ = [
    "Event",
    "Performance",
    "QueryEvent",
    "QueryMetadata",
    "ResponseEvent",
    "ResponseMetadata",
    "ValidationError",
]

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
    # which :func:`contract.parse_event` applies so that tests can pin the clock.
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
