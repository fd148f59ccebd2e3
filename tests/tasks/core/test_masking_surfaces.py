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


# --- issue 18: disguised details, on every surface -----------------------------------------

#: Look-alikes a visitor can swap in (Cyrillic and Greek letters).
LOOK_ALIKES = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "p": "\u0440"}
HIDDEN = st.sampled_from(["\u200b", "\u00ad", "\u200d", "\u2060", "\ufeff", "\u200e"])
AT_FORMS = st.sampled_from(
    ["@", "%40", "&#64;", "&commat;", "\\u0040", " [at] ", "(at)", " (at) ", " @ ", " at "]
)
DOT_FORMS = st.sampled_from([".", "%2e", "&#46;", " [dot] ", "(dot)", " dot "])
SPELLED_DOTS = st.sampled_from([" [dot] ", "(dot)", " dot "])
#: A local part no filler or token can contain by chance.
SECRET_LOCAL = st.text(alphabet="bdfhkmnrtv", min_size=4, max_size=8).map(lambda s: "qz" + s)


@st.composite
def disguised_emails(draw: st.DrawFn) -> tuple[str, str]:
    """(how the visitor wrote it, the local part that must not be shown)."""
    local = draw(SECRET_LOCAL)
    domain = draw(DOMAIN)
    at = draw(AT_FORMS)
    dot = draw(SPELLED_DOTS if at == " at " else DOT_FORMS)  # "x at y.com" is a sentence
    address = f"{local}{at}{domain}{dot}{draw(st.sampled_from(['com', 'org', 'io']))}"
    if draw(st.booleans()):
        address = "".join(LOOK_ALIKES.get(c, c) if draw(st.booleans()) else c for c in address)
    for _ in range(draw(st.integers(0, 3))):
        cut = draw(st.integers(0, len(address)))
        address = address[:cut] + draw(HIDDEN) + address[cut:]
    if draw(st.booleans()):
        address = "\u202e" + address[::-1] + "\u202c"  # typed backwards, shown forwards
    return address, local


DASHES = st.sampled_from(["-", "\u2010", "\u2011", "\u2013", "\u2014", "\u2212", "/", "."])
ARABIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


@st.composite
def disguised_phones(draw: st.DrawFn) -> tuple[str, str]:
    """(how the visitor wrote it, its digits)."""
    groups = draw(
        st.lists(st.text(alphabet="0123456789", min_size=3, max_size=4), min_size=3, max_size=4)
    )
    number = groups[0]
    for group in groups[1:]:
        gap = draw(st.one_of(DASHES, st.sampled_from(["", " ", "  ", "(", ") "])))
        number += gap + draw(st.sampled_from(["", *HIDDEN_CHARS])) + group
    if draw(st.booleans()):
        number = number.translate(ARABIC)
    if draw(st.booleans()):
        number = "\u202e" + number[::-1] + "\u202c"
    return number, "".join(groups)


HIDDEN_CHARS = ["\u200b", "\u00ad", "\u2060"]


def visible(text: str) -> str:
    """What a reader of the surface sees, undone of every disguise a naive check misses."""
    shown = unicodedata.normalize("NFKC", text).casefold()
    shown = "".join(c for c in shown if unicodedata.category(c) != "Cf")
    return shown.translate({ord(v): k for k, v in LOOK_ALIKES.items()})


@given(FILLER, disguised_emails(), FILLER)
def test_no_disguised_address_survives_any_surface(
    before: str, disguised: tuple[str, str], after: str
) -> None:
    address, local = disguised
    text = f"{before} {address} {after}"
    for shown in [display_query(text), *shown_everywhere(text)]:
        assert local not in visible(shown), (text, shown)
        assert local[::-1] not in visible(shown), (text, shown)


@given(st.sampled_from(["call", "ring me on", "tel:"]), disguised_phones())
def test_no_disguised_phone_number_survives_any_surface(
    prefix: str, disguised: tuple[str, str]
) -> None:
    number, secret = disguised
    text = f"{prefix} {number} thanks"
    for shown in [display_query(text), *shown_everywhere(text)]:
        seen = digits(shown.replace(str(TIMESTAMP), ""))
        assert secret not in seen and secret[::-1] not in seen, (text, shown)


def test_the_reviewed_disguises_are_masked_on_every_surface() -> None:
    cases = {
        "mail qzjane [at] example [dot] com": "qzjane",
        "mail qzjane at example dot com": "qzjane",
        "mail qzjane%40example.com": "qzjane",
        "mail qzjane&#64;example.com": "qzjane",
        "mail qzj\u0430ne@ex\u0430mple.com": "qzj",
        "mail \u202emoc.elpmaxe@enajzq\u202c": "enajzq",
        "see linkedin.com/in/qzjane-doe": "qzjane",
        "call 555\u2013123\u20134567": "5551234567",
        "call 555/123/4567": "5551234567",
    }
    for text, secret in cases.items():
        for shown in [display_query(text), *shown_everywhere(text)]:
            assert secret not in visible(shown).replace(" ", "") or secret.isdigit()
            assert secret not in digits(shown.replace(str(TIMESTAMP), ""))


def test_dates_ids_and_arns_are_kept_on_every_surface() -> None:
    text = "run 04e1a2b3-a01e-4c4f at 2026-11-09 12:30 on arn:aws:sqs:eu-west-1:123456789012:q"
    for shown in shown_everywhere(text):
        assert "04e1a2b3-a01e-4c4f" in shown and "2026-11-09 12:30" in shown
        assert "123456789012" in shown and "[phone]" not in shown
