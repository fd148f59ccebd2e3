"""Leads, pure (docs/spec/report-insights.md, section 7): which requests are leads, what a
lead holds, its sealed parts and its e-mail; hostile raw text stays bounded and never
raises."""

from __future__ import annotations

import email
import email.policy
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.weeks import Week
from tasks.core import aggregate
from tasks.core.leads import (
    ANONYMOUS_SESSIONS,
    MAX_ASKED,
    SEALED_LIMIT,
    SENT_AGAIN,
    Asked,
    FirstLead,
    Lead,
    LeadCounts,
    LeadMail,
    Prior,
    SealedLeadError,
    Window,
    check_lookback,
    details_key,
    find_leads,
    first_leads,
    fit_asked,
    lead_message,
    lead_subject,
    listed_ids,
    open_asked,
    open_details,
    retention_weeks,
    seal_asked,
    seal_details,
    session_key,
)
from tasks.core.masking import (
    CONTACT_DETAIL_LENGTH,
    CONTACT_DETAILS_LIMIT,
    contact_details,
    display_query,
)

NOW = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # a Wednesday
HOUR = 3_600_000
NOW_MS = int(NOW.timestamp() * 1000)


def record(
    rid: str,
    hours_ago: float,
    text: str,
    session: str | None = None,
    answer: str | None = None,
) -> dict[str, Any]:
    """An analytics record as the week-index Query decodes it (the leads' projection)."""
    item: dict[str, Any] = {"requestId": rid, "queryTs": NOW_MS - int(hours_ago * HOUR)}
    item["query"] = text
    if session is not None:
        item["sessionId"] = session
    if answer is not None:
        item["matchType"] = answer
    return item


# --- contact_details: the details as written ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "details"),
    [
        ("Email me at Jane.Doe@Example.COM about a role", ["Jane.Doe@Example.COM"]),
        ("Call +44 7700 900123 if he is free", ["+44 7700 900123"]),
        ("jane\u200b@example.com or 07700-900-456", ["jane@example.com", "07700-900-456"]),
        ("write to jane [at] example [dot] com", ["jane [at] example [dot] com"]),
        ("my profile: linkedin.com/in/jane-doe", ["linkedin.com/in/jane-doe"]),
        ("\uff2a\uff41\uff4e\uff45@example.com", ["Jane@example.com"]),  # NFKC
        ("call\n+44 7700\n900123", ["+44 7700 900123"]),  # split over lines: one detail
        ("a@b.io and again a@b.io", ["a@b.io"]),
        ("I typed [email] and [phone] myself", []),
        ("on 2026-11-09 12:30, request 7f3c9a2e-1b4d-4c8e", []),
    ],
)
def test_contact_details_are_what_the_mask_hides_as_the_visitor_wrote_them(
    text: str, details: list[str]
) -> None:
    assert contact_details(text) == details


def test_contact_details_cover_what_the_display_query_shows_and_no_more() -> None:
    # a detail inside the display query's 300 characters is found, wherever the spaces were
    spaced = " " * 10_000 + "mail jane@example.org"
    assert display_query(spaced) == "mail [email]"
    assert contact_details(spaced) == ["jane@example.org"]
    # one beyond it is no lead's detail
    far = "x " * 400 + "jane@example.org"
    assert "[email]" not in display_query(far) and contact_details(far) == []


def test_contact_details_are_bounded() -> None:
    many = " ".join(f"person{i}@example.org" for i in range(30))
    assert contact_details(many) == [f"person{i}@example.org" for i in range(10)]
    long = "a" * 500 + "@example.org"
    (detail,) = contact_details(long)
    assert len(detail) == CONTACT_DETAIL_LENGTH and detail.endswith("…")


HOSTILE = st.one_of(
    st.text(max_size=400),
    st.lists(
        st.sampled_from(
            [
                "jane.doe@example.com",
                "+44 7700 900123",
                "07700-900-456",
                "\u200b",
                "\u202e",
                "\u202c",
                "[email]",
                "%40",
                "&#64;",
                "\n",
                " at ",
                " dot ",
                "linkedin.com/in/x",
                "\x00",
                "\u0301",
                "\uff2a",
                "٠١٢٣٤٥٦٧٨٩",
                "a" * 250,
                "1" * 30,
            ]
        ),
        max_size=40,
    ).map("".join),
)


@given(HOSTILE)
def test_hostile_text_gives_bounded_clean_details_and_never_raises(text: str) -> None:
    details = contact_details(text)
    assert len(details) <= CONTACT_DETAILS_LIMIT
    assert len(set(details)) == len(details)
    for detail in details:
        assert 0 < len(detail) <= CONTACT_DETAIL_LENGTH
        assert detail == detail.strip()
        assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in detail)


WORDS = st.sampled_from(["hi", "mail", "me", "call", "at", "please", "role", "ok", "2026"])
DETAILS = st.sampled_from(
    [
        "jo@example.org",
        "A.B+jobs@talent.co.uk",
        "+44 20 7946 0958",
        "07700 900123",
        "hr at corp dot io",
    ]
)


@given(st.lists(st.one_of(WORDS, DETAILS), max_size=12))
def test_a_request_is_a_lead_exactly_when_it_has_details(parts: list[str]) -> None:
    text = " ".join(parts)
    display = display_query(text)
    assert ("[email]" in display or "[phone]" in display) == bool(contact_details(text))


# --- leads from records ----------------------------------------------------------------------


def test_leads_hold_their_details_and_their_sessions_questions() -> None:
    window = Window.last(48, NOW)
    records = [
        record("a1", 3, "What is your notice period?", "s1", "full"),
        record("a2", 2, "Email me at Jane.Doe@Example.com about a role", "s1", "none"),
        record("a3", 1, "And your rate?", "s1"),  # never answered
        record("b1", 1.5, "Call +44 7700 900123 if he is free"),  # anonymous
        record("c1", 1, "Does he know Go?", "s2", "partial"),  # another session, no details
        record("old", 49, "old@example.org please", "s1"),  # before the window
    ]

    leads = find_leads(records, window, retention_days=30)

    assert [lead.request_id for lead in leads] == ["a2", "b1"]  # oldest first
    first, anonymous = leads
    assert first.details == ("Jane.Doe@Example.com",)
    assert [(a.query, a.answer, a.lead) for a in first.asked] == [
        ("what is your notice period?", "full", False),
        ("email me at [email] about a role", "none", True),
        ("and your rate?", None, False),
    ]
    assert anonymous.details == ("+44 7700 900123",)
    assert [a.query for a in anonymous.asked] == ["call [phone] if he is free"]
    assert first.at_ms == NOW_MS - 2 * HOUR
    assert first.week == Week.of(NOW).id
    assert first.ttl == first.at_ms // 1000 + 30 * 86_400


def test_a_session_named_anonymous_is_no_session() -> None:
    """The report's rule (missing, empty or "anonymous"): such leads share no questions and
    no session, so they never repeat each other."""
    assert ANONYMOUS_SESSIONS == aggregate.ANONYMOUS_SESSIONS
    records = [
        record("q", 3, "What is your notice period?", "anonymous", "full"),
        record("a", 2, "Call +44 7700 900123 if he is free", "anonymous"),
        record("b", 1, "Call +44 7700 900123 if he is free", ""),
        record("c", 1, "Call +44 7700 900123 if he is free", "s1"),
    ]
    a, b, c = find_leads(records, Window.last(48, NOW), 30)
    assert (a.session, b.session) == (None, None)
    assert [x.query for x in a.asked] == ["call [phone] if he is free"]
    assert c.session == session_key("s1") != "s1"
    assert len(c.session) == 64  # a SHA-256, never the header as written


def test_a_lead_past_its_retention_is_left_out() -> None:
    # retention 1 day, a lead 30 hours old: TTL deletes it, a 48 h lookback must not revive it
    records = [record("gone", 30, "jane@example.org"), record("kept", 20, "joe@example.org")]
    leads = find_leads(records, Window.last(48, NOW), retention_days=1)
    assert [lead.request_id for lead in leads] == ["kept"]


def test_the_window_and_its_weeks() -> None:
    monday = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    window = Window.last(48, monday)
    assert window.weeks() == [Week(2026, 47), Week(2026, 48)]
    assert window.contains(window.start_ms) and window.contains(window.end_ms)
    assert not window.contains(window.start_ms - 1)
    assert Window.last(1, NOW).weeks() == [Week.of(NOW)]
    assert retention_weeks(NOW, 30)[0] == Week.of(NOW - timedelta(days=30))
    assert retention_weeks(NOW, 30)[-1] == Week.of(NOW)


@pytest.mark.parametrize("hours", [0, -1, 337, 10_000, True, "48", 4.5, None])
def test_a_lookback_out_of_range_is_refused_with_its_range(hours: Any) -> None:
    with pytest.raises(ValueError, match=r"1 to 336"):
        check_lookback(hours)
    for good in (1, 48, 336):
        assert check_lookback(good) == good


@pytest.mark.parametrize("days", [0, 366])
def test_a_retention_out_of_range_is_refused(days: int) -> None:
    with pytest.raises(ValueError, match="retention"):
        find_leads([], Window.last(48, NOW), days)


def test_a_long_session_keeps_the_questions_nearest_to_the_lead() -> None:
    records = [record(f"q{i:02d}", 40 - i, f"question number {i}", "s") for i in range(30)]
    records.append(record("lead", 25.5, "mail me: me@example.org", "s"))
    (lead,) = find_leads(records, Window.last(48, NOW), 30)
    assert len(lead.asked) == MAX_ASKED
    lead_at = NOW_MS - int(25.5 * HOUR)
    near = sorted(records[:30], key=lambda r: (abs(r["queryTs"] - lead_at), r["queryTs"]))
    assert {a.at_ms for a in lead.asked if not a.lead} == {r["queryTs"] for r in near[:19]}
    assert [a.at_ms for a in lead.asked] == sorted(a.at_ms for a in lead.asked)


def test_questions_that_would_not_fit_kms_are_left_out_but_never_the_leads_own() -> None:
    wide = "\U0001d49c" * 400  # four bytes each; a display query is cut to 300 characters
    records = [record(f"q{i}", 10 + i, f"{wide} {i}", "s") for i in range(20)]
    records.append(record("lead", 5, f"me@example.org {wide}", "s"))
    (lead,) = find_leads(records, Window.last(48, NOW), 30)
    assert any(a.lead for a in lead.asked)
    assert len(seal_asked(lead.asked)) <= SEALED_LIMIT
    assert 1 < len(lead.asked) < 21


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "requestId": st.one_of(st.text(max_size=20), st.integers(), st.none()),
                "queryTs": st.one_of(
                    st.integers(NOW_MS - 100 * HOUR, NOW_MS + HOUR), st.floats(), st.text()
                ),
                "query": st.one_of(HOSTILE, st.none(), st.integers()),
                "sessionId": st.one_of(st.sampled_from(["s", "t", ""]), st.none(), st.integers()),
                "matchType": st.one_of(
                    st.sampled_from(["full", "partial", "none", "odd"]), st.none()
                ),
            }
        ),
        max_size=25,
    )
)
def test_any_records_give_bounded_leads_that_seal_and_open(records: list[dict[str, Any]]) -> None:
    for lead in find_leads(records, Window.last(48, NOW), 30):
        assert len(lead.details) <= CONTACT_DETAILS_LIMIT and len(lead.asked) <= MAX_ASKED
        assert sum(a.lead for a in lead.asked) == 1
        assert open_details(seal_details(lead.details)) == lead.details
        assert open_asked(seal_asked(lead.asked)) == lead.asked
        assert len(seal_details(lead.details)) <= SEALED_LIMIT
        assert len(seal_asked(lead.asked)) <= SEALED_LIMIT


@pytest.mark.parametrize(
    "plaintext",
    [b"", b"\xff\xfe", b'{"a": 1}', b"[1, 2]", b'[["q", "maybe", 1, true]]', b'[["q", null, 1]]'],
)
def test_sealed_parts_that_are_not_what_was_sealed_are_refused(plaintext: bytes) -> None:
    with pytest.raises(SealedLeadError):
        open_details(plaintext)
    with pytest.raises(SealedLeadError):
        open_asked(plaintext)


def test_fit_asked_keeps_the_own_question_first_in_priority() -> None:
    own = Asked("own", "none", 1_000, True)
    others = [Asked(f"o{i}", None, 1_000 + i, False) for i in range(1, 40)]
    kept = fit_asked(own, others)
    assert kept[0] == own and len(kept) == MAX_ASKED


# --- repeats: one e-mail per visitor and set of details ---------------------------------------


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        (["Jane.Doe@Example.COM"], ["jane.doe@example.com"], True),
        (["+44 7700 900123"], ["+44 (7700) 900-123"], True),
        (["+44 7700 900123"], ["tel:+447700900123"], True),
        (["+44 7700 900123", "jo@example.org"], ["JO@example.org", "447700900123"], True),
        (["+44 7700 900123"], ["07700 900123"], False),  # other digits: another number
        (["+44 7700 900123"], ["+44 7700 900123", "jo@example.org"], False),
        (["jo@example.org"], ["jo@example.com"], False),
    ],
)
def test_details_compare_casefolded_and_phone_numbers_by_their_digits(
    one: list[str], other: list[str], same: bool
) -> None:
    assert (details_key(one) == details_key(other)) is same


def leads_of(*rows: tuple[str, float, str, str | None]) -> list[Lead]:
    records = [record(rid, hours, text, session) for rid, hours, text, session in rows]
    return find_leads(records, Window.last(48, NOW), 30)


def test_a_session_leaving_the_same_number_12_times_is_one_lead_and_11_repeats() -> None:
    typed = ["+44 7700 900123", "+44 (7700) 900-123", "+447700900123"]
    rows: list[tuple[str, float, str, str | None]] = [
        (f"r{n:02d}", 20 - n, f"Call {typed[n % 3]} if he is free", "s1") for n in range(12)
    ]
    rows.append(("other-number", 5, "or call 07700 900456", "s1"))
    rows.append(("other-session", 5, "Call +44 7700 900123 if he is free", "s2"))
    rows += [(f"anon{n}", 4, "Call +44 7700 900123 if he is free", None) for n in range(3)]
    leads = leads_of(*rows)

    repeats = first_leads(leads, [])

    week = Week.of(NOW).id
    assert repeats == {f"r{n:02d}": FirstLead("r00", week) for n in range(1, 12)}
    # a different number, another session and anonymous visitors are leads of their own
    # and whatever order the leads come in, the oldest is the first
    assert first_leads(list(reversed(leads)), []) == repeats


def test_a_lead_repeats_the_earliest_first_its_session_recorded() -> None:
    (late,) = leads_of(("late", 30, "mail me: JO@example.org", "s1"))  # asked earlier ...
    priors = [
        Prior(
            "p2", "2026-W47", NOW_MS - 2 * HOUR, session_key("s1"), details_key(["jo@example.org"])
        ),
        Prior(
            "p1", "2026-W46", NOW_MS - 9 * HOUR, session_key("s1"), details_key(["jo@example.org"])
        ),
        Prior(
            "s2", "2026-W48", NOW_MS - 9 * HOUR, session_key("s2"), details_key(["jo@example.org"])
        ),
        Prior("other", "2026-W46", NOW_MS - 99 * HOUR, session_key("s1"), details_key(["a@b.io"])),
    ]
    # ... it repeats the first recorded for its session and details (a late arrival too)
    assert first_leads([late], priors) == {"late": FirstLead("p1", "2026-W46")}
    assert first_leads([late], priors[2:]) == {}  # no first of its session: its own


def test_leads_without_details_repeat_nothing() -> None:
    """None found (a detector's miss; find_leads gives none such): nothing to compare."""
    bare = Lead("t1", NOW_MS - HOUR, Week.of(NOW).id, 0, (), (), session_key("s1"))
    again = Lead("t2", NOW_MS, Week.of(NOW).id, 0, (), (), session_key("s1"))
    assert first_leads([bare, again], []) == {}


def test_a_log_line_lists_at_most_five_request_ids() -> None:
    ids = [f"id{n}" for n in range(24)]
    assert listed_ids(ids) == "id0, id1, id2, id3, id4 and 19 more"
    assert listed_ids(ids[:5]) == "id0, id1, id2, id3, id4"
    assert listed_ids([]) == "none"


def test_any_session_id_hashes() -> None:
    assert session_key("\ud800 lone surrogate") != session_key("\ud801 lone surrogate")


# --- the e-mail --------------------------------------------------------------------------------


def parts_of(raw: bytes) -> dict[str, str]:
    message: Message = email.message_from_bytes(raw, policy=email.policy.default)
    found = {"subject": str(message["Subject"]), "to": str(message["To"])}
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return found


def mail(**changes: Any) -> LeadMail:
    values: dict[str, Any] = {
        "at_ms": int(datetime(2025, 11, 25, 14, 3, tzinfo=UTC).timestamp() * 1000),
        "details": ("Jane.Doe@Example.com", "+44 7700 900123"),
        "asked": (
            Asked("what is your notice period?", "full", NOW_MS - HOUR),
            Asked("email me at [email] <script>x</script>", "none", NOW_MS, True),
            Asked("and your rate?", None, NOW_MS + HOUR),
        ),
        "retention_days": 30,
    }
    return LeadMail(**(values | changes))


def test_the_lead_email_shows_the_details_as_written_and_the_sessions_questions() -> None:
    raw = lead_message(mail(), "cv@example.dev", ["owner@example.dev"]).as_bytes()
    parts = parts_of(raw)

    assert parts["subject"] == (
        "New lead: a visitor left contact details (Tue 25 November 2025, 14:03 UTC)"
    )
    assert lead_subject(mail().at_ms) == parts["subject"]
    assert parts["to"] == "owner@example.dev"
    for kind in ("text/plain", "text/html"):
        body = parts[kind]
        assert "Jane.Doe@Example.com" in body and "+44 7700 900123" in body
        assert "what is your notice period?" in body and "answered fully" in body
        assert "not answered" in body and "no answer recorded" in body
        assert "30 days" in body
        assert SENT_AGAIN not in body
    assert "<script>" not in parts["text/html"] and "&lt;script&gt;" in parts["text/html"]


def test_a_lead_left_12_times_says_so_once_and_a_single_one_says_nothing() -> None:
    first = int(datetime(2025, 11, 25, 9, 0, tzinfo=UTC).timestamp() * 1000)
    repeated = mail(times=12, first_at_ms=first, last_at_ms=first + 5 * HOUR)
    raw = lead_message(repeated, "cv@example.dev", ["o@example.dev"]).as_bytes()
    for kind in ("text/plain", "text/html"):
        body = parts_of(raw)[kind]
        assert body.count("They left these same details 12 times") == 1
        assert "from Tue 25 November 2025, 09:00 UTC to Tue 25 November 2025, 14:00 UTC" in body
    single = lead_message(mail(), "cv@example.dev", ["o@example.dev"]).as_bytes()
    assert "same details" not in " ".join(parts_of(single).values())


def test_a_lead_sent_again_says_so() -> None:
    raw = lead_message(mail(sent_again=True), "cv@example.dev", ["o@example.dev"]).as_bytes()
    for kind in ("text/plain", "text/html"):
        assert SENT_AGAIN in parts_of(raw)[kind].lower()


def test_the_counts_show_no_visitor_text_and_say_when_off() -> None:
    counts = LeadCounts(found=3, recorded=2, delivered=2, sent_again=1, pending=1)
    assert "3 lead(s)" in counts.headline() and "1 pending" in counts.headline()
    assert "| delivered | 2 |" in counts.markdown()
    assert "repeating" not in counts.headline()
    repeats = LeadCounts(found=12, recorded=12, repeats=11, delivered=1)
    assert "12 newly recorded (11 repeating details" in repeats.headline()
    assert "| repeats | 11 |" in repeats.markdown()
    off = LeadCounts(enabled=False)
    assert "off" in off.headline() and "nothing" in off.markdown()
    assert json.dumps(counts.__dict__)  # plain counts
