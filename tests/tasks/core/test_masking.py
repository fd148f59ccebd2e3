"""The personal-data patterns of report-metrics.md ("Display query"), case by case."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.bench_masking import SHAPES
from tasks.core.masking import DISPLAY_QUERY_LIMIT, display_query, mask, mask_sample


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


# --- issue 18: disguises a visitor can write, what masking must keep, time ------------------

RLO, PDF = "\u202e", "\u202c"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("mail jo\u200bhn.doe@example.com", "doe"),  # zero-width space
        ("mail john.d\u00adoe@exam\u00adple.com", "oe@"),  # soft hyphen
        ("mail john.doe@ex\u2060ample.com\ufeff", "ample"),  # word joiner, BOM
        (f"mail {RLO}moc.elpmaxe@eod.nhoj{PDF} thanks", "elpmaxe"),  # typed backwards
        ("mail \u2067moc.elpmaxe@eod.nhoj\u2069", "elpmaxe"),  # inside an isolate
        ("call 555\u2013123\u20134567", "4567"),  # en dashes
        ("call 555\u2014123\u20144567", "4567"),  # em dashes
        ("call 555/123/4567", "4567"),
        ("call 020.7946.0958", "0958"),
        ("call 555\u200b123\u200b4567", "4567"),
        ("call \u0665\u0665\u0665\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "\u0667"),
        ("call +1 (555) 123 - 4567", "4567"),  # wider gaps, with a country code
        ("mail john.doe [at] example [dot] com", "doe"),
        ("mail john.doe(at)example.com", "doe"),
        ("mail john.doe at example dot com", "doe"),
        ("mail john.doe {at} example (dot) co (dot) uk", "doe"),
        ("mail john.doe @ example . com", "doe"),
        ("mail john.doe%40example.com", "doe"),
        ("mail john.doe%2540example.com", "doe"),  # encoded twice
        ("mail john.doe&#64;example.com", "doe"),
        ("mail john.doe&#x40;example&period;com", "doe"),
        ("mail john.doe&amp;#64;example.com", "doe"),  # an escaped entity, as in HTML
        ("mail john.doe&commat;example.com", "doe"),
        ("mail john.doe\\u0040example.com", "doe"),
        ("mail j\u043ehn.d\u043ee@ex\u0430mple.com", "mple"),  # Cyrillic o and a
        ("mail \u0458ohn.doe@example.com", "doe"),  # Cyrillic je
        ("mail jo\u0301hn.doe@exa\u0301mple.com", "doe"),  # combining marks
        ("see linkedin.com/in/jane-doe-123", "jane"),
        ("see https://www.linkedin.com/in/jane-doe", "jane"),
        ("see uk.linkedin.com/in/jane-doe", "jane"),
        ("see github.com/janedoe and x.com/janedoe", "janedoe"),
        ("see linkedin[.]com/in/jane-doe", "jane"),
        ('mail "john doe"@example.com', "doe"),  # a quoted local part (RFC 5321)
        ("mail john.doe@[192.0.2.1]", "doe"),  # an address literal for the domain
        ("mail john.doe@[IPv6:2001:db8::1]", "2001"),
    ],
)
def test_disguised_contact_details_are_masked(text: str, secret: str) -> None:
    for shown in (mask(text), display_query(text), mask_sample(text, 500)):
        assert secret not in shown, shown
        assert "[email]" in shown or "[phone]" in shown, shown


@pytest.mark.parametrize(
    "text",
    [
        "a date-time 2026-11-09 12:30",
        "on 09/11/2026 at 12:30",
        "on 11.09.2026 12:30:59",
        "at 2026-11-09T12:30:00.123Z and 2026-11-09T12:30:00+01:00",
        "request 04e1a2b3-a01e-4c4f-9d6b-123456789012 failed",
        "request 04e12345-6789-4c4f-9d6b-1234567890ab",
        "request 04e12345-6789-",
        "arn:aws:sqs:us-east-1:123456789012:cv-analytics-dlq.fifo",
        "arn:aws:iam::123456789012:role/cv-analytics",
        "https://sqs.us-east-1.amazonaws.com/123456789012/cv-analytics.fifo",
        "python 3.13.1 and v10.0.19041.1234",
        "a day rate of $1,234,567.89 or €1.234.567,89 or £1234567.89",
        "he worked at amazon.com",
        "look at me. then",
        "(email) and (phone)",
    ],
)
def test_what_only_looks_like_a_detail_is_kept(text: str) -> None:
    assert mask(text) == text
    assert display_query(text) == display_query(text.casefold())  # no crash, grouping key
    assert "[phone]" not in display_query(text) and "[email]" not in display_query(text)


@pytest.mark.parametrize(
    "text",
    [
        "a price of $555 123 4567",  # a number behind a currency sign is still a number
        "on 2026-11-09 call 555 123 4567",
        "request 55512345-6789 is a phone number",  # UUID-shaped, but without a letter
    ],
)
def test_a_kept_shape_does_not_shelter_a_number(text: str) -> None:
    assert "[phone]" in mask(text)


def test_a_typed_placeholder_is_neutralised_so_only_real_details_count() -> None:
    typed = "I typed [email], [ PHONE ], \uff3bemail\uff3d and [E-Mail]"
    assert display_query(typed) == "i typed (email), (phone), (email) and (email)"
    assert display_query(typed + " and a@b.io").endswith("and [email]")
    # the mask keeps its own tokens: masking masked text again changes nothing
    assert mask("call [phone] or mail [email]") == "call [phone] or mail [email]"


def test_format_characters_do_not_reach_the_output() -> None:
    assert mask(f"hi {RLO}olleh{PDF} there\u200b") == "hi olleh there"


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from("ab.@ 1-+/(%4&#;x\u200b\u202e\u202c"), max_size=60))
def test_masking_masked_text_changes_nothing(text: str) -> None:
    once = mask(text)
    assert mask(once) == once


def test_the_display_query_is_capped_before_masking_without_cutting_a_detail() -> None:
    paste = "word " * 10_000
    assert len(display_query(paste)) <= DISPLAY_QUERY_LIMIT + 1
    for at in range(DISPLAY_QUERY_LIMIT - 30, DISPLAY_QUERY_LIMIT + 3):
        text = "x" * at + " jane.doe@example.com call +44 20 7946 0958 " + "y " * 1000
        shown = display_query(text)
        assert shown.endswith("…")
        assert "jane" not in shown and "doe" not in shown and "@" not in shown, shown
        assert "7946" not in shown and "0958" not in shown


def test_a_sample_is_capped_before_masking_without_cutting_a_detail() -> None:
    for at in range(30, 45):
        text = "x" * at + " jane.doe@example.com +44 20 7946 0958 " + "y" * 2_000_000
        shown = mask_sample(text, 40)
        assert len(shown) <= 40 and "doe" not in shown and "7946" not in shown, shown
    body = json.dumps({"query": "x" * 150 + " jane.doe@example.com", "timestamp": 1731000000000})
    assert "doe" not in mask_sample(body, 160) and "jane" not in mask_sample(body, 160)


def _best_time(texts: list[str]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for text in texts:
            mask(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_masking_time_grows_linearly_with_hostile_text(shape: str) -> None:
    """One text sixteen times as long costs about what sixteen short ones cost; quadratic
    time would make it sixteen times as much. The bound (6) leaves room for cache effects
    and a busy machine; ``make bench`` gives the figures."""
    small, large = SHAPES[shape](8_192), SHAPES[shape](16 * 8_192)
    mask(small)  # warm the caches
    ratio = _best_time([large]) / _best_time([small] * 16)
    assert ratio < 6, f"{shape}: x{ratio:.1f}"


# --- red team, round 2: disguises and shapes the first table did not have -------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("mail john.doe\n@example.com", "doe"),  # split by line breaks
        ("mail john.doe@\nexample.com", "doe"),
        ("mail john.doe@example\n.com", "doe"),
        ("mail john.doe\r\n@example.com", "doe"),
        ("mail john.doe<b>@</b>example.com", "doe"),  # split by markup
        ("mail john.doe<span class='x'>@example.com</span>", "doe"),
        ("mail john.doe at example.com", "doe"),  # plain "at", an address-shaped local part
        ("mail john_doe77 at example.com", "doe"),
        ("mail john.doe&#000000064;example.com", "doe"),  # zero-padded entity
        ("mail john.doe\\x40example.com", "doe"),  # escapes of other languages
        ("mail john.doe\\u{40}example.com", "doe"),
        ("mail john.doe\\U00000040example.com", "doe"),
        ("mail john.doe%u0040example.com", "doe"),
        ("mail john.doe@192.0.2.1", "doe"),  # an IPv4 domain without brackets
        ("see g\u00edthub.com/janedoe", "janedoe"),  # an accented look-alike
        ("see lnkd.in/janedoe", "janedoe"),
        ("see linkedin.com/comm/in/jane-doe", "jane"),
        ("see https://www.linkedin.com/mwlite/in/jane-doe", "jane"),
        ("see instagr.am/janedoe", "janedoe"),
        ("see fb.me/janedoe", "janedoe"),
        ("see youtube.com/c/janedoe", "janedoe"),
        ("see reddit.com/user/janedoe and reddit.com/u/janedoe", "janedoe"),
        ("see stackoverflow.com/users/123/jane-doe", "jane"),
        ("see mastodon.social/@janedoe", "janedoe"),  # any host's /@handle
        ("see janedoe.github.io", "janedoe"),
        ("see janedoe.medium.com and janedoe.substack.com", "janedoe"),
        ("see linktr.ee/janedoe", "janedoe"),
        ("see about.me/janedoe", "janedoe"),
        ("see skype:janedoe?call", "janedoe"),
        ("call 555\n123\n4567", "4567"),  # phone groups split by line breaks
        ("call 555\r\n123 4567", "4567"),
        ("call 555<b>123</b>4567", "4567"),  # split by markup
        ("call 555<br>123<br>4567", "4567"),
        ("call 555_123_4567", "4567"),  # other separators
        ("call 555~123~4567", "4567"),
        ("call 555*123*4567", "4567"),
        ("call 555|123|4567", "4567"),
        ("call 555\u00b7123\u00b74567", "4567"),
        ("call 555\u2022123\u20224567", "4567"),
        ("call [555] 123 4567", "4567"),
        ("call tel:5551234", "5551234"),  # a tel: URI, however short
        ("call sms:+15551234", "5551234"),
    ],
)
def test_more_disguised_contact_details_are_masked(text: str, secret: str) -> None:
    for shown in (mask(text), display_query(text), mask_sample(text, 500)):
        assert secret not in shown, shown
        assert "[email]" in shown or "[phone]" in shown, shown


@pytest.mark.parametrize(
    "text",
    [
        "ip 192.168.100.200 and 10.0.0.1",
        "isbn 978-3-16-148410-0",
        "ISBN-13: 9783161484100",
        "pi is 3.14159265358 and uptime 99.9999999%",
        "a share of 0.123456789",
        "doi 10.1000/182 and doi:10.1109/5.771073",
        "arxiv 2101.12345 and arXiv:2101.12345v2",
        "worked 2019-2024 at acme",
        "he worked at amazon.com",
        "look at me. then",
    ],
)
def test_more_shapes_that_only_look_like_a_detail_are_kept(text: str) -> None:
    assert mask(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "ip-shaped 079.111.23.45",  # a leading zero: not how an address is written
        "pi-shaped 555.1234567",  # three digits before the point: a number
        "isbn-less 978-3-16-148410-0",
    ],
)
def test_kept_shapes_stay_narrow(text: str) -> None:
    assert "[phone]" in mask(text)
