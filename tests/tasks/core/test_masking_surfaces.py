"""Every surface masks what the report masks: one rule (``mask``) behind all of them."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tasks.core.checks import Check, Findings, log_line, render_markdown
from tasks.core.masking import display_query, mask, mask_sample

LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._", min_size=1, max_size=12)
DOMAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10)
EMAILS = st.builds(lambda a, b, c: f"{a}@{b}.{c}", LOCAL, DOMAIN, st.sampled_from(["com", "org"]))
SEPARATORS = st.sampled_from(["", " ", "  ", "-", ".", " - ", "\t"])
PHONES = st.builds(
    lambda groups, seps, plus: (
        ("+" if plus else "") + "".join(g + s for g, s in zip(groups, seps, strict=False))
    ),
    st.lists(st.text(alphabet="0123456789", min_size=3, max_size=4), min_size=3, max_size=4),
    st.lists(SEPARATORS, min_size=4, max_size=4),
    st.booleans(),
)
TIMESTAMP = 1731000000000
FILLER = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


def full_width(text: str) -> str:
    """The same text in full-width forms, as a visitor on a CJK keyboard may type it."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def digits(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c.isdigit())


def shown_everywhere(text: str) -> list[str]:
    """Every surface a visitor's text can reach a person by."""
    check = Check("archive", False, f"could not store {text}", {"sample": text})
    findings = Findings("dlq-triage", (check,))
    return [
        mask(text),
        mask_sample(text, 10_000),
        mask_sample(json.dumps({"query": text, "timestamp": TIMESTAMP}), 10_000),
        mask_sample(json.dumps({"query": text}, ensure_ascii=True), 10_000),
        log_line(check),
        render_markdown(findings),
    ]


@given(FILLER, EMAILS, FILLER, st.booleans())
def test_no_address_the_report_masks_survives_any_surface(
    before: str, email: str, after: str, wide: bool
) -> None:
    typed = full_width(email) if wide else email
    text = f"{before} {typed} {after}"
    if email.casefold() in display_query(text):
        return  # the report itself would not mask it (it ran into the filler): no claim
    for shown in shown_everywhere(text):
        assert email.casefold() not in unicodedata.normalize("NFKC", shown).casefold()


@given(st.sampled_from(["call", "ring me on", "tel:"]), PHONES, st.booleans())
def test_no_phone_number_the_report_masks_survives_any_surface(
    prefix: str, phone: str, wide: bool
) -> None:
    text = f"{prefix} {full_width(phone) if wide else phone} thanks"
    if "[phone]" not in display_query(text):
        return
    for shown in shown_everywhere(text):
        # the body's own timestamp is a number, not text: it stays, and is not the phone
        assert digits(phone) not in digits(shown.replace(str(TIMESTAMP), ""))


def test_the_reviewed_cases_are_masked_on_every_surface() -> None:
    cases = {
        "mail " + full_width("john@example.com"): "john@example.com",
        "call +1 (555)  123-4567": "15551234567",
    }
    for text, secret in cases.items():
        for shown in shown_everywhere(text):
            assert secret not in unicodedata.normalize("NFKC", shown).replace(" ", "")
    escaped = '{"eventType": "query", "query": "write to john\\u0040example.com"'  # not JSON
    assert "john" not in mask_sample(escaped)
    assert "[email]" in mask_sample(escaped)


def test_numbers_that_are_not_text_stay_as_they_are() -> None:
    body = json.dumps({"timestamp": 1731000000000, "query": "hi", "matchScore": 88.5})
    assert "1731000000000" in mask_sample(body)
    assert "[phone]" not in mask_sample(body)
    # a phone number inside a text value is still masked
    assert "[phone]" in mask_sample(json.dumps({"query": "call 555 123 4567"}))
