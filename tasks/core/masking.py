"""The one masking of visitor text, for every surface a person sees. Pure.

:func:`mask` is the rule: NFKC first (so an address typed in full-width letters
is an address), then every e-mail address becomes ``[email]`` and every phone number
``[phone]`` (two blanks count as one separator, so ``+1 (555)  123-4567`` is a
number). Every surface goes through it:

- :func:`display_query`: the report's grouping key (report-metrics.md, "Display query"):
  NFKC, casefold, strip, whitespace collapsed, then :func:`mask`;
- :func:`mask_sample`: an excerpt of untrusted text (a DLQ body, an exception message) for
  artifacts, alerts and logs. A body that is JSON is masked value by value: escapes such as
  ``\\u0040`` are decoded first, and numbers (timestamps) are not text, so they stay;
- alerts, e-mails and findings call :func:`mask` on what they show.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
#: Nine or more digits, at most two separators (space, dot, dash, parentheses) between two
#: digits; one or two blanks in a row count as one separator (``(555)  123``), a longer
#: run does not (the columns of a text table are not a phone number).
PHONE_PATTERN = re.compile(r"\+?\(?\d(?:(?:[^\S\r\n]{1,2}|[.\-()]){0,2}\d){8,}")
_WHITESPACE = re.compile(r"\s+")
#: JSON string escapes, for text that is JSON-ish but does not parse.
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\"\\/bfnrt]))")
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def mask(text: str) -> str:
    """NFKC, then e-mail addresses -> ``[email]``, then phone numbers -> ``[phone]``."""
    normalised = unicodedata.normalize("NFKC", text)
    return PHONE_PATTERN.sub("[phone]", EMAIL_PATTERN.sub("[email]", normalised))


def display_query(text: str) -> str:
    """NFKC, casefold, strip, collapse whitespace, then mask: the report's grouping key."""
    normalised = unicodedata.normalize("NFKC", text).casefold().strip()
    return mask(_WHITESPACE.sub(" ", normalised))


def _decode_escapes(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return chr(int(match.group(1), 16))
        char = match.group(2)
        return _SIMPLE_ESCAPES.get(char, char)

    return _JSON_ESCAPE.sub(one, text)


def _mask_values(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [_mask_values(v) for v in value]
    if isinstance(value, dict):
        return {mask(str(k)): _mask_values(v) for k, v in value.items()}
    return value  # numbers, booleans, null: not text


def mask_untrusted(text: str) -> str:
    """Untrusted text masked for display: JSON value by value, anything else whole."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return mask(_decode_escapes(text))
    if isinstance(parsed, dict | list):
        return json.dumps(_mask_values(parsed), ensure_ascii=False)
    return mask(_decode_escapes(text))


def mask_sample(text: str, limit: int = 200) -> str:
    """A masked, truncated excerpt of untrusted text for artifacts, alerts and logs."""
    masked = mask_untrusted(text)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"
