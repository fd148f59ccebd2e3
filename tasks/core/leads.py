"""Leads: the visitors who left contact details, and the one e-mail each gets. Pure.

docs/spec/report-insights.md, section 7. A *lead* is a request whose display query shows
``[email]`` or ``[phone]`` (the ``contact:left-details`` theme); its identity is its
``requestId``. This module decides, from analytics records and a time window, which
requests are leads and what each lead holds; how its two secret parts are sealed for KMS
and read back; and the e-mail that delivers it to the report's recipients. No AWS, no
Prefect: the flow (``flows/leads.py``) and the capability module (``tasks/leads.py``)
do the calls.

What a lead holds (:class:`Lead`):

- ``details``: :func:`tasks.core.masking.contact_details` of the raw query (as written,
  NFKC; at most 10, each at most 200 characters);
- ``asked``: the display queries of the lead's session in the window, oldest first,
  each with its answer (``full``, ``partial``, ``none``, or ``None``: no answer
  recorded), the lead's own question among them; an anonymous lead (no ``sessionId``)
  has only its own;
- ``at`` (query time, epoch ms), ``week`` (its ISO week), ``ttl`` (query time in epoch
  seconds plus the retention);
- ``session``: :func:`session_key` of its named session (``None`` when anonymous: no
  ``sessionId``, an empty one or ``"anonymous"``, the report's rule).

*Repeats* (one e-mail per visitor and set of details): :func:`first_leads` decides which
new leads repeat a lead their session recorded before, comparing :func:`details_key`
(e-mail addresses casefolded, phone numbers by their digits, as a set). The capability
module decrypts the earlier leads' details to build the :class:`Prior` it compares with:
no digest of a detail is ever stored.

Decisions the specification leaves open:

- *Which 20 questions* of a long session: the lead's own, then the others nearest to it
  in time (the earlier of two equally near first), shown oldest first.
- *KMS's 4 KiB*: ``details`` and ``asked`` are each sealed with one KMS ``Encrypt``,
  whose plaintext is at most 4,096 bytes (:data:`SEALED_LIMIT`). Their JSON (UTF-8) is
  kept within it here, when the lead is made: details in the order written, questions
  in the order above, each added only while the whole still fits. Only hostile text
  gets near it (20 questions of 300 four-byte characters); the lead's own question
  always fits (a display query is at most 301 characters).
- *Window*: a request is in the window when ``now - lookback <= queryTs <= now``; the
  weeks read are every ISO week the window touches.
"""

from __future__ import annotations

import email.policy
import hashlib
import html
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from lambdas.shared.weeks import Week
from tasks.core.masking import EMAIL_MASK, PHONE_MASK, contact_details, display_query

#: The lookback a leads run may be given (hours): at least one hour, at most two weeks.
MIN_LOOKBACK_HOURS = 1
MAX_LOOKBACK_HOURS = 336
DEFAULT_LOOKBACK_HOURS = 48
#: The retention a lead may be kept (days), CV_ANALYTICS_LEADS_RETENTION_DAYS.
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 365
#: At most this many of the session's questions are kept with a lead.
MAX_ASKED = 20
#: KMS ``Encrypt`` takes at most 4,096 bytes of plaintext.
SEALED_LIMIT = 4096
#: The answers a question can have (``matchType``); ``None`` is "no answer recorded".
ANSWERS = ("full", "partial", "none")
ANSWER_WORDS = {
    "full": "answered fully",
    "partial": "answered in part",
    "none": "not answered",
    None: "no answer recorded",
}
SENT_AGAIN = "sent again: an earlier attempt may already have delivered this lead"
#: Session ids that name no session (``tasks.core.aggregate.ANONYMOUS_SESSIONS``'s rule,
#: kept here so this core imports no pandas): each such request is its own session.
ANONYMOUS_SESSIONS = frozenset({"", "anonymous"})
#: How many request ids a log line lists before "and N more".
LOGGED_IDS = 5
SECONDS_PER_DAY = 86_400
MS_PER_HOUR = 3_600_000


class SealedLeadError(ValueError):
    """A sealed part that does not read back as what :func:`seal_details` or
    :func:`seal_asked` wrote (never shows the content)."""


@dataclass(frozen=True)
class Window:
    """The requests a leads run looks at: query time from ``start_ms`` to ``end_ms``."""

    start_ms: int
    end_ms: int

    @classmethod
    def last(cls, hours: int, now: datetime) -> Window:
        """The last ``hours`` hours up to ``now`` (``hours`` 1 to 336, else ValueError)."""
        check_lookback(hours)
        end = int(now.timestamp() * 1000)
        return cls(end - hours * MS_PER_HOUR, end)

    def contains(self, epoch_ms: int) -> bool:
        return self.start_ms <= epoch_ms <= self.end_ms

    def weeks(self) -> list[Week]:
        """Every ISO week the window touches, oldest first."""
        weeks = [Week.of_ms(self.start_ms)]
        last = Week.of_ms(self.end_ms)
        while weeks[-1] < last:
            weeks.append(weeks[-1].shift(1))
        return weeks


def check_lookback(hours: object) -> int:
    """``hours`` if it is a whole number of hours from 1 to 336; else a ValueError that
    says so (a bool is not a number of hours)."""
    if isinstance(hours, bool) or not isinstance(hours, int):
        raise ValueError(
            f"lookback_hours must be a whole number of hours from {MIN_LOOKBACK_HOURS} to "
            f"{MAX_LOOKBACK_HOURS} (two weeks), got {type(hours).__name__}"
        )
    if not MIN_LOOKBACK_HOURS <= hours <= MAX_LOOKBACK_HOURS:
        raise ValueError(
            f"lookback_hours must be from {MIN_LOOKBACK_HOURS} to {MAX_LOOKBACK_HOURS} "
            f"hours (two weeks), got {hours}"
        )
    return hours


def retention_weeks(now: datetime, retention_days: int) -> list[Week]:
    """The ISO weeks a lead still kept at ``now`` can be in (its query time is at most
    ``retention_days`` old), oldest first: where undelivered leads are looked for."""
    return Window(
        int((now - timedelta(days=retention_days)).timestamp() * 1000),
        int(now.timestamp() * 1000),
    ).weeks()


@dataclass(frozen=True)
class Asked:
    """One question of a lead's session: its display query and its answer."""

    query: str
    answer: str | None
    at_ms: int
    #: The lead's own question (the one that left the details).
    lead: bool = False


@dataclass(frozen=True)
class Lead:
    """What the leads table records for one lead (``details`` and ``asked`` sealed)."""

    request_id: str
    at_ms: int
    week: str
    ttl: int
    details: tuple[str, ...]
    asked: tuple[Asked, ...]
    #: :func:`session_key` of its named session; None for an anonymous lead.
    session: str | None = None


def session_key(session_id: str) -> str:
    """What the leads table stores of a session id: its SHA-256 (hex). The id is a header
    the visitor's browser sends and may hold any text, a detail included; the digest only
    groups the session's leads. Any string hashes (a lone surrogate too)."""
    return hashlib.sha256(session_id.encode("utf-8", errors="surrogatepass")).hexdigest()


def is_lead(display: str) -> bool:
    """A display query that shows a contact detail the visitor left."""
    return EMAIL_MASK in display or PHONE_MASK in display


@dataclass(frozen=True)
class _Request:
    request_id: str
    at_ms: int
    query: str
    display: str
    session: str | None
    answer: str | None


def _request(record: Mapping[str, Any], window: Window) -> _Request | None:
    """A record as the leads read it, or None when it has no query in the window."""
    request_id, query, at = record.get("requestId"), record.get("query"), record.get("queryTs")
    if not isinstance(request_id, str) or not isinstance(query, str):
        return None
    if isinstance(at, float) and math.isfinite(at):
        at = int(at)
    if isinstance(at, bool) or not isinstance(at, int) or not window.contains(at):
        return None
    session = record.get("sessionId")
    answer = record.get("matchType")
    named = isinstance(session, str) and session not in ANONYMOUS_SESSIONS
    return _Request(
        request_id,
        int(at),
        query,
        display_query(query),
        session if named and isinstance(session, str) else None,
        answer if answer in ANSWERS else None,
    )


def find_leads(
    records: Iterable[Mapping[str, Any]], window: Window, retention_days: int
) -> list[Lead]:
    """The leads among ``records`` (analytics records, as the week-index Query decodes
    them) whose query time is in ``window``, oldest first.

    ``retention_days`` (1 to 365) sets each lead's ``ttl``; a lead whose ``ttl`` has passed
    at the window's end is left out, so a lead TTL deleted is never recorded (and sent)
    again while a long lookback still reaches it. Records without a query, or outside the
    window, are skipped; a record of any other shape never raises.
    """
    if not MIN_RETENTION_DAYS <= retention_days <= MAX_RETENTION_DAYS:
        raise ValueError(f"retention_days must be from 1 to 365, got {retention_days}")
    requests = [r for r in (_request(record, window) for record in records) if r is not None]
    by_session: dict[str, list[_Request]] = defaultdict(list)
    for request in requests:
        if request.session is not None:
            by_session[request.session].append(request)
    leads = []
    for request in requests:
        ttl = request.at_ms // 1000 + retention_days * SECONDS_PER_DAY
        if not is_lead(request.display) or ttl * 1000 <= window.end_ms:
            continue  # not a lead, or one past its retention (deleted, or due to be)
        others = [
            r
            for r in by_session.get(request.session or "", [])
            if r.request_id != request.request_id
        ]
        leads.append(
            Lead(
                request_id=request.request_id,
                at_ms=request.at_ms,
                week=Week.of_ms(request.at_ms).id,
                ttl=ttl,
                details=fit_details(contact_details(request.query)),
                asked=fit_asked(_asked(request, True), [_asked(r, False) for r in others]),
                session=session_key(request.session) if request.session is not None else None,
            )
        )
    return sorted(leads, key=lambda lead: (lead.at_ms, lead.request_id))


# --- repeats: one e-mail per visitor and set of details -----------------------------------


def normalised_detail(detail: str) -> str:
    """A detail as repeats compare it: a phone number (what the mask shows as ``[phone]``)
    by its digits only; an e-mail address, or any other written detail, casefolded."""
    shown = display_query(detail)
    if PHONE_MASK in shown and EMAIL_MASK not in shown:
        return "tel:" + "".join(c for c in detail if c.isdecimal())
    return detail.casefold()


def details_key(details: Iterable[str]) -> frozenset[str]:
    """The set of normalised details two leads share when one repeats the other."""
    return frozenset(normalised_detail(detail) for detail in details)


@dataclass(frozen=True)
class Prior:
    """A first lead already recorded (not a repeat, not past its TTL): what a new lead of
    its session may repeat. ``details`` is :func:`details_key` of its opened details."""

    request_id: str
    week: str
    at_ms: int
    session: str
    details: frozenset[str]


@dataclass(frozen=True)
class FirstLead:
    """The lead a repeat repeats: its request id and ISO week."""

    request_id: str
    week: str


def first_leads(leads: Sequence[Lead], priors: Iterable[Prior]) -> dict[str, FirstLead]:
    """Which of ``leads`` (new: not recorded yet) repeat another lead, and which: request
    id -> its first. A lead not in the answer is a first (it gets its e-mail).

    A lead repeats the earliest recorded ``prior`` of its session with the same
    :func:`details_key`; failing one, the oldest of ``leads`` of that session and key is
    the first and the later ones repeat it. Anonymous leads, and leads with no details,
    repeat nothing. Deterministic: the same leads and priors give the same answer, so a
    retry or a re-run decides as the first try did.
    """
    firsts: dict[tuple[str, frozenset[str]], FirstLead] = {}
    for prior in sorted(priors, key=lambda p: (p.at_ms, p.request_id), reverse=True):
        if prior.details:  # the earliest wins: it is written last
            firsts[(prior.session, prior.details)] = FirstLead(prior.request_id, prior.week)
    repeats: dict[str, FirstLead] = {}
    for lead in sorted(leads, key=lambda lead: (lead.at_ms, lead.request_id)):
        key = details_key(lead.details)
        if lead.session is None or not key:
            continue
        first = firsts.setdefault((lead.session, key), FirstLead(lead.request_id, lead.week))
        if first.request_id != lead.request_id:
            repeats[lead.request_id] = first
    return repeats


def listed_ids(ids: Sequence[str], limit: int = LOGGED_IDS) -> str:
    """Request ids for a log line: at most ``limit``, then "and N more"; "none" if none."""
    if not ids:
        return "none"
    shown = ", ".join(ids[:limit])
    return f"{shown} and {len(ids) - limit} more" if len(ids) > limit else shown


def _asked(request: _Request, lead: bool) -> Asked:
    return Asked(request.display, request.answer, request.at_ms, lead)


# --- sealing: what KMS encrypts, and reading it back ----------------------------------------


def _encoded(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _asked_row(asked: Asked) -> list[Any]:
    return [asked.query, asked.answer, asked.at_ms, asked.lead]


def fit_details(details: Sequence[str]) -> tuple[str, ...]:
    """The details, in order, as many as fit :data:`SEALED_LIMIT` once sealed."""
    kept: list[str] = []
    for detail in details:
        if len(_encoded([*kept, detail])) > SEALED_LIMIT:
            break
        kept.append(detail)
    return tuple(kept)


def fit_asked(own: Asked, others: Sequence[Asked]) -> tuple[Asked, ...]:
    """The lead's own question and the others nearest to it in time, at most
    :data:`MAX_ASKED` and as many as fit :data:`SEALED_LIMIT` once sealed; oldest first."""
    nearest = sorted(others, key=lambda a: (abs(a.at_ms - own.at_ms), a.at_ms, a.query))
    kept = [own]
    size = len(_encoded([_asked_row(own)]))
    for asked in nearest:
        if len(kept) == MAX_ASKED:
            break
        row = len(_encoded(_asked_row(asked))) + 1  # and its comma
        if size + row > SEALED_LIMIT:
            continue
        kept.append(asked)
        size += row
    return tuple(sorted(kept, key=lambda a: (a.at_ms, not a.lead, a.query)))


def seal_details(details: Sequence[str]) -> bytes:
    """The plaintext KMS encrypts for ``details`` (UTF-8 JSON, at most 4 KiB)."""
    sealed = _encoded(list(details))
    if len(sealed) > SEALED_LIMIT:
        raise ValueError("details over KMS's 4 KiB: make them with fit_details")
    return sealed


def seal_asked(asked: Sequence[Asked]) -> bytes:
    """The plaintext KMS encrypts for ``asked`` (UTF-8 JSON, at most 4 KiB)."""
    sealed = _encoded([_asked_row(a) for a in asked])
    if len(sealed) > SEALED_LIMIT:
        raise ValueError("questions over KMS's 4 KiB: make them with fit_asked")
    return sealed


def _loaded(plaintext: bytes, what: str) -> list[Any]:
    try:
        value = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SealedLeadError(f"the sealed {what} are not what was sealed") from None
    if not isinstance(value, list):
        raise SealedLeadError(f"the sealed {what} are not a list")
    return value


def open_details(plaintext: bytes) -> tuple[str, ...]:
    """The details :func:`seal_details` sealed; :class:`SealedLeadError` otherwise."""
    value = _loaded(plaintext, "details")
    if not all(isinstance(item, str) for item in value):
        raise SealedLeadError("the sealed details are not texts")
    return tuple(value)


def open_asked(plaintext: bytes) -> tuple[Asked, ...]:
    """The questions :func:`seal_asked` sealed; :class:`SealedLeadError` otherwise."""
    rows = _loaded(plaintext, "questions")
    asked = []
    for row in rows:
        if not (
            isinstance(row, list)
            and len(row) == 4
            and isinstance(row[0], str)
            and (row[1] is None or row[1] in ANSWERS)
            and isinstance(row[2], int)
            and isinstance(row[3], bool)
        ):
            raise SealedLeadError("a sealed question is not a question")
        asked.append(Asked(row[0], row[1], row[2], row[3]))
    return tuple(asked)


# --- the e-mail -------------------------------------------------------------------------------


def when(epoch_ms: int) -> str:
    """A query time as a person writes it: ``Tue 25 November 2025, 14:03 UTC``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return f"{moment:%a} {moment.day} {moment:%B %Y, %H:%M} UTC"


def lead_subject(at_ms: int) -> str:
    """``New lead: a visitor left contact details (<date, time UTC>)``."""
    return f"New lead: a visitor left contact details ({when(at_ms)})"


@dataclass(frozen=True)
class LeadMail:
    """What one lead e-mail says; ``details`` and ``asked`` as :func:`open_details` and
    :func:`open_asked` read them back."""

    at_ms: int
    details: tuple[str, ...]
    asked: tuple[Asked, ...]
    retention_days: int
    #: An earlier attempt claimed this lead and never recorded the outcome.
    sent_again: bool = False
    #: How many times the visitor left these details: the lead and its repeats recorded
    #: when the e-mail is made; the earliest and latest of their query times.
    times: int = 1
    first_at_ms: int | None = None
    last_at_ms: int | None = None

    def repeated(self) -> str | None:
        """The sentence that says the visitor left these details more than once, or None."""
        if self.times < 2:
            return None
        first = self.at_ms if self.first_at_ms is None else self.first_at_ms
        last = self.at_ms if self.last_at_ms is None else self.last_at_ms
        return (
            f"They left these same details {self.times} times, from {when(first)} to "
            f"{when(last)}; this one e-mail stands for all of them."
        )


def _question_line(asked: Asked) -> str:
    mark = " (the question with the details)" if asked.lead else ""
    hour = datetime.fromtimestamp(asked.at_ms / 1000, tz=UTC)
    return f"{hour:%d %b %H:%M} UTC: \u201c{asked.query}\u201d {ANSWER_WORDS[asked.answer]}{mark}"


def _footer(mail: LeadMail) -> str:
    return (
        "Only you, the report's recipients, get these details: they appear in no report, "
        "artifact or log. They are kept encrypted for "
        f"{mail.retention_days} days after the question, then deleted."
    )


def lead_text(mail: LeadMail) -> str:
    """The plain-text part: the details as written, then what the session asked."""
    lines = [f"{SENT_AGAIN[:1].upper()}{SENT_AGAIN[1:]}.", ""] if mail.sent_again else []
    lines += [f"A visitor left contact details on {when(mail.at_ms)}.", ""]
    repeated = mail.repeated()
    lines += [repeated, ""] if repeated else []
    lines += ["Their details, as they wrote them:"]
    lines += [f"  {detail}" for detail in mail.details] or [
        "  (none could be read back: see their question below)"
    ]
    lines += ["", "What they asked, and whether your CV answered it:"]
    lines += [f"  - {_question_line(asked)}" for asked in mail.asked]
    lines += ["", _footer(mail)]
    return "\n".join(lines) + "\n"


def lead_html(mail: LeadMail) -> str:
    """The HTML part: the same content, every visitor's character escaped."""
    esc = html.escape
    parts = ['<html><body style="font-family: sans-serif; line-height: 1.4">']
    if mail.sent_again:
        parts.append(f"<p><strong>{esc(SENT_AGAIN[:1].upper() + SENT_AGAIN[1:])}.</strong></p>")
    parts.append(f"<p>A visitor left contact details on {esc(when(mail.at_ms))}.</p>")
    repeated = mail.repeated()
    if repeated:
        parts.append(f"<p><strong>{esc(repeated)}</strong></p>")
    parts.append("<p>Their details, as they wrote them:</p><ul>")
    parts += [f"<li><code>{esc(detail)}</code></li>" for detail in mail.details] or [
        "<li>(none could be read back: see their question below)</li>"
    ]
    parts.append("</ul><p>What they asked, and whether your CV answered it:</p><ul>")
    parts += [f"<li>{esc(_question_line(asked))}</li>" for asked in mail.asked]
    parts.append(f'</ul><p style="color: #555">{esc(_footer(mail))}</p></body></html>')
    return "\n".join(parts)


#: Lines up to RFC 5322's 998 characters: the subject stays on its one line (the default
#: 78 would fold it before its first word, and some clients show the fold as a space);
#: 7-bit transfer encodings, so a visitor's non-ASCII text survives any relay.
_MAIL_POLICY = email.policy.default.clone(max_line_length=998, cte_type="7bit")


def lead_message(mail: LeadMail, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """The lead's multipart/alternative e-mail (text, then HTML) for ``SendRawEmail``."""
    if not recipients:
        raise ValueError("no recipients: expected at least one address in report_recipients")
    message = EmailMessage(policy=_MAIL_POLICY)
    message["Subject"] = lead_subject(mail.at_ms)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(lead_text(mail), subtype="plain", charset="utf-8")
    message.add_alternative(lead_html(mail), subtype="html", charset="utf-8")
    return message


# --- the run's counts -------------------------------------------------------------------------


@dataclass
class LeadCounts:
    """What a leads run shows: counts only, never a detail or a question."""

    enabled: bool = True
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS
    #: Leads in the window.
    found: int = 0
    #: Of those, recorded by this run (the others were recorded before).
    recorded: int = 0
    #: Of those recorded, repeats of details their session left before: no e-mail.
    repeats: int = 0
    #: Leads e-mailed by this run; of them, sent again after an unfinished attempt.
    delivered: int = 0
    sent_again: int = 0
    #: Leads left undelivered: SES refused them (they go out on the next try).
    pending: int = 0

    def headline(self) -> str:
        if not self.enabled:
            return "Leads are off (CV_ANALYTICS_LEADS_ENABLED=false): nothing recorded or sent"
        again = f" ({self.sent_again} sent again)" if self.sent_again else ""
        repeats = (
            f" ({self.repeats} repeating details their visitor left before: no e-mail)"
            if self.repeats
            else ""
        )
        return (
            f"{self.found} lead(s) in the last {self.lookback_hours} h, {self.recorded} newly "
            f"recorded{repeats}; {self.delivered} delivered{again}; {self.pending} pending"
        )

    def markdown(self) -> str:
        """The run's artifact: the counts, and what they mean (docs/spec section 7)."""
        if not self.enabled:
            return (
                "# Leads: off\n\n"
                "`CV_ANALYTICS_LEADS_ENABLED` is false: this run recorded nothing and sent "
                "nothing.\n"
            )
        rows = [
            ("found", self.found, f"questions of the last {self.lookback_hours} h with details"),
            ("recorded", self.recorded, "of them, recorded now (encrypted; the rest before)"),
            (
                "repeats",
                self.repeats,
                "of those, the same details their session left before: counted in that "
                "lead's e-mail, never sent",
            ),
            ("delivered", self.delivered, "e-mailed to the report's recipients by this run"),
            ("sent again", self.sent_again, "of them, after an attempt that did not finish"),
            ("pending", self.pending, "not delivered: SES refused; the next try sends them"),
        ]
        table = "\n".join(f"| {name} | {count} | {meaning} |" for name, count, meaning in rows)
        return (
            "# Leads\n\n"
            "Counts only: the details and the questions are e-mailed to the report's "
            "recipients and shown nowhere else (docs/spec/report-insights.md, section 7).\n\n"
            "| | count | |\n|---|---:|---|\n" + table + "\n"
        )
