"""The wire contract of the chatbot Worker's events (``docs/spec/events.md``), as code.

One parser, :func:`parse_event`, decides for the processor and for DLQ triage alike, so
the two can never disagree about what is valid. The event models (pydantic, strict,
unknown keys kept) are in :mod:`lambdas.shared.event_models`; import them from there.
``parse_event`` imports them in its body (a plain function-level import), so importing
this module, and with it the Lambda handler, loads no pydantic: the first event pays
for it instead (``docs/performance.md``, the handler import).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdas.shared.event_models import Event, ValidationError

__all__ = [
    "DUPLICATE_CONFLICT",
    "EPOCH_MS_MIN",
    "FUTURE_TOLERANCE_MS",
    "INVALID_EVENT",
    "INVALID_JSON",
    "MAX_NESTING_DEPTH",
    "MAX_REQUEST_ID_LENGTH",
    "PROCESSING_ERROR",
    "SECONDS_RANGE",
    "STORE_REFUSED",
    "Invalid",
    "parse_event",
]

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
#: How deep arrays and objects may nest, the event object itself being level 1. The
#: Worker's events nest 3 deep; past ~1,000 levels ``json.loads`` raises RecursionError and
#: past ~255 pydantic cannot serialise the event, so an absurd body is refused up front.
MAX_NESTING_DEPTH = 64

INVALID_JSON = "invalid_json"
INVALID_EVENT = "invalid_event"
#: Not a contract breach: the DLQ reason of a valid event DynamoDB refuses to store (a
#: correlated record over the 400 KB item limit). Kept here with the other reason codes.
STORE_REFUSED = "store_refused"
#: Not a contract breach either: a valid event whose ``requestId`` and ``eventType`` are
#: already stored with other content. The first stored copy stands; this one is kept on
#: the DLQ with its reason instead of silently replacing or being folded into it.
DUPLICATE_CONFLICT = "duplicate_conflict"
#: Not a contract breach: handling this one record raised something unexpected (a bug, or
#: a body no rule foresaw). The detail names the exception type, never its message (which
#: could quote the body); the record's neighbours are handled as usual.
PROCESSING_ERROR = "processing_error"

#: A JSON string literal, escapes included (what the depth scan skips).
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
#: A UTF-16 surrogate on its own: not a Unicode character, so not UTF-8, not storable.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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


def nesting_depth(body: str) -> int:
    """How deep arrays and objects nest in a JSON text, brackets inside strings not counted.

    Linear and without recursion, so it can bound a body before ``json.loads`` (which
    recurses once per level) ever sees it. For text that is not JSON the figure is only an
    estimate, which is enough: such a body is refused either way.
    """
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", body))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _has_surrogate(body: str, data: Any) -> bool:
    if _SURROGATE.search(body):  # raw: only a hand-made invoke can carry one
        return True
    # escaped (``\ud800``): JSON allows the escape, so look at the decoded strings
    return "\\u" in body and _SURROGATE.search(json.dumps(data, ensure_ascii=False)) is not None


def parse_event(body: str, now_ms: int | None = None) -> Event | Invalid:
    """Parse one SQS body into a contract event, or say why it is invalid.

    Besides the contract's own rules, a body must be text that can be stored and re-sent:
    nested at most :data:`MAX_NESTING_DEPTH` deep and free of lone surrogates (JSON's
    ``\\ud800`` escape decodes to one, which no UTF-8 encoder accepts). Both are refused
    as ``invalid_json`` rather than left to raise further on.
    """
    if not isinstance(body, str):
        return Invalid(INVALID_JSON, f"body is not valid JSON: {type(body).__name__}, not text")
    openings = body.count("[") + body.count("{")  # a fast bound for the common body
    if openings > MAX_NESTING_DEPTH and nesting_depth(body) > MAX_NESTING_DEPTH:
        return Invalid(INVALID_JSON, f"nesting deeper than {MAX_NESTING_DEPTH} levels")
    try:
        data: Any = json.loads(body)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return Invalid(INVALID_JSON, f"body is not valid JSON: {type(exc).__name__}")
    if _has_surrogate(body, data):
        return Invalid(INVALID_JSON, "body is not Unicode text: a lone surrogate")
    if not isinstance(data, dict):
        return Invalid(INVALID_EVENT, f"body is a JSON {type(data).__name__}, expected an object")
    # Here, not at the top: pydantic and the models' build are most of a cold start's own
    # time, so the handler's import leaves them to the first event (then it is a lookup).
    from lambdas.shared.event_models import QueryEvent, ResponseEvent, ValidationError

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
