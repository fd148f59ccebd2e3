"""The personal-data patterns of report-metrics.md ("Display query"), case by case."""

from __future__ import annotations

import pytest

from tasks.core.masking import display_query, mask, mask_sample


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mail jane.doe+cv@example.co.uk now", "mail [email] now"),
        ("A@B.COM", "[email]"),
        ("x_y%z@sub-domain.example.org.", "[email]."),
        ("two: a@b.io, c@d.io", "two: [email], [email]"),
        ("not an address: a@b", "not an address: a@b"),
        ("tld too short: a@b.c", "tld too short: a@b.c"),
    ],
)
def test_email_pattern(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call +44 20 7946 0958", "call [phone]"),
        ("call +1 (555) 123-4567", "call [phone]"),
        ("call (555) 123.4567 x", "call [phone] x"),
        ("nine digits 123456789", "nine digits [phone]"),
        ("eight digits 12345678", "eight digits 12345678"),  # fewer than 9 digits
        ("dashed 020-7946-0958", "dashed [phone]"),
        ("spaced 1 2 3 4 5 6 7 8 9", "spaced [phone]"),
        ("three separators 1234 - 56789", "three separators 1234 - 56789"),
        ("a date 2025-11-03", "a date 2025-11-03"),
    ],
)
def test_phone_pattern(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_email_is_masked_before_phone_so_digits_in_an_address_do_not_leak() -> None:
    assert mask("reach 0123456789@example.com") == "reach [email]"


def test_display_query_normalises_then_masks() -> None:
    assert display_query("  Email me at A@B.COM ") == "email me at [email]"
    assert display_query("email me at c@d.org") == "email me at [email]"
    assert (
        display_query("\uff23\uff21\uff2c\uff2c\u3000+44 20 7946 0958") == "call [phone]"
    )  # NFKC digits too
    assert display_query("Straße\n\tKöln") == "strasse köln"


def test_mask_sample_masks_and_truncates() -> None:
    sample = mask_sample("write to a@b.com " + "x" * 300, limit=40)
    assert sample.startswith("write to [email] ")
    assert len(sample) == 40 and sample.endswith("…")
