"""Display queries and personal-data masking (report-metrics.md, "Display query"). Pure.

Used by the weekly report (grouping), DLQ triage (samples in artifacts) and anywhere a
visitor's text is shown, so no e-mail address or phone number leaves the pipeline.
"""

from __future__ import annotations

import re
import unicodedata

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE_PATTERN = re.compile(r"\+?\(?\d(?:[ .\-()]{0,2}\d){8,}")
_WHITESPACE = re.compile(r"\s+")


def mask_personal_data(text: str) -> str:
    """Replace e-mail addresses with ``[email]``, then phone numbers with ``[phone]``."""
    return PHONE_PATTERN.sub("[phone]", EMAIL_PATTERN.sub("[email]", text))


def display_query(text: str) -> str:
    """NFKC, casefold, strip, collapse whitespace, then mask: the report's grouping key."""
    normalised = unicodedata.normalize("NFKC", text).casefold().strip()
    return mask_personal_data(_WHITESPACE.sub(" ", normalised))


def mask_sample(text: str, limit: int = 200) -> str:
    """A masked, truncated excerpt of untrusted text for artifacts and logs."""
    masked = mask_personal_data(text)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"
