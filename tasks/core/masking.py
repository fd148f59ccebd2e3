"""The one masking of visitor text, for every surface a person sees. Pure.

:func:`mask` replaces every contact detail with ``[email]`` (an e-mail address, however it
is spelled, or a personal profile URL) or ``[phone]`` (a phone number). Intents and the
contact-request count rely on those two tokens, so a visitor must not be able to get a
detail past them, nor to forge them (:func:`display_query` neutralises a typed
``[email]`` into ``(email)``).

What undoes a disguise (matching only; the output keeps the visitor's text wherever no
detail was found, minus invisible format characters): NFKC, removal of format characters
and combining marks, bidirectional spans also read reversed, look-alike letters folded to
Latin (``confusable-homoglyphs``), ``%xx``/HTML/``\\u`` escapes decoded (up to three
levels), spelled ``at``/``dot``. A phone number follows report-metrics.md's rule (nine
digits or more, at most two separators between two digits; wider gaps and seven digits
after a country calling code from ``phonenumbers``); dates, times, UUIDs, ARNs' account
ids, versions and prices are kept. The full list: docs/spec/report-metrics.md, section 4;
why not libphonenumber's own matcher: docs/security.md.

Linear time: every pattern is anchored where a run starts (look-behind) and uses
possessive quantifiers or atomic groups, so no input makes the regex engine revisit a run
more than a bounded number of times; candidates are validated in bounded windows. The
capped surfaces (:func:`display_query`, :func:`mask_sample`) mask a bounded prefix only,
with a margin so that a detail across the cut is masked whole.

Every surface goes through :func:`mask`:

- :func:`display_query`: the report's grouping key (report-metrics.md, "Display query"):
  NFKC, casefold, strip, whitespace collapsed, capped at :data:`DISPLAY_QUERY_LIMIT`, masked;
- :func:`mask_sample`: an excerpt of untrusted text (a DLQ body, an exception message) for
  artifacts, alerts and logs. A body that is JSON is masked value by value: escapes such as
  ``\\u0040`` are decoded first, and numbers (timestamps) are not text, so they stay;
- alerts, e-mails and findings call :func:`mask` on what they show.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import accumulate
from typing import Any

import confusable_homoglyphs
import phonenumbers

#: report-metrics.md's own e-mail pattern. :func:`mask` finds every match of it and more;
#: kept for tests that check a rendered surface shows none.
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
#: report-metrics.md's phone pattern, as above (:func:`mask` keeps dates and ids it matches).
PHONE_PATTERN = re.compile(r"\+?\(?\d(?:(?:[^\S\r\n]{1,2}|[.\-()]){0,2}\d){8,}")

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
#: The display query's length cap, in characters after normalisation: a question to a CV
#: chatbot is far shorter, and a pasted megabyte costs a bounded amount of work.
DISPLAY_QUERY_LIMIT = 300
#: How far past a cut a capped surface still looks, so that a detail across the cut is
#: found whole. Longer than any detail the spelled-out or phone rules can match.
MARGIN = 1024

_WHITESPACE = re.compile(r"\s+")
#: JSON string escapes, for text that is JSON-ish but does not parse.
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\"\\/bfnrt]))")
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

# --- what is hidden text --------------------------------------------------------------------

#: Characters that render as nothing though they are not format characters.
_FILLERS = "\u115f\u1160\u3164\uffa0\u2800"
#: Bidirectional controls that open a span (LRE, RLE, LRO, RLO; LRI, RLI, FLI) and close one.
_BIDI_OPEN = "\u202a\u202b\u202d\u202e\u2066\u2067\u2068"
_BIDI_CLOSE = "\u202c\u2069"
_BIDI_SPAN = re.compile(f"[{_BIDI_OPEN}]([^{_BIDI_OPEN}{_BIDI_CLOSE}\\n]+)")


def _char_class(codepoints: list[int]) -> str:
    """A regex character class body of these code points, as ranges."""
    parts: list[str] = []
    start = prev = -2
    for cp in [*sorted(codepoints), -10]:
        if cp == prev + 1:
            prev = cp
            continue
        if start >= 0:
            parts.append(re.escape(chr(start)))
            if prev > start:
                parts.append("-" + re.escape(chr(prev)))
        start = prev = cp
    return "".join(parts)


@cache
def _hidden() -> tuple[re.Pattern[str], dict[int, None]]:
    """Format characters (Cf) plus combining marks and fillers: a pattern for matching; and
    a deletion table of the format characters alone, for the output."""
    planes = [*range(0x30000), *range(0xE0000, 0xE1000)]
    cf = [cp for cp in planes if unicodedata.category(chr(cp)) == "Cf"]
    marks = [cp for cp in planes if unicodedata.category(chr(cp)) in ("Mn", "Me")]
    hidden = [*cf, *marks, *map(ord, _FILLERS)]
    # the regex engine keeps a bitmap for a class of BMP characters only, so astral ones
    # (tags, variation selectors) are a separate class tried after a one-range check
    bmp = _char_class([cp for cp in hidden if cp < 0x10000])
    astral = _char_class([cp for cp in hidden if cp >= 0x10000])
    pattern = f"[{bmp}]+|[\\U00010000-\\U0010ffff](?<=[{astral}])"
    return re.compile(pattern), dict.fromkeys(cf)


# --- look-alikes ----------------------------------------------------------------------------

_FOLD_TARGETS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.-/+_()")


@cache
def _fold_table() -> dict[int, str]:
    """Look-alike -> ASCII, one character for one: digits of any script, dashes, accented
    Latin letters, and what the Unicode confusables data (confusable-homoglyphs) says looks
    like an ASCII letter, digit or address punctuation. A letter folds only to a letter (a
    Cyrillic ``\\u0431`` is not a ``6``), so words in other scripts do not turn into digit runs."""
    table: dict[int, str] = {}
    for cp in range(0x30000):
        _fold_digit_dash_or_accent(chr(cp), table)
    for chars, target in (("\u2212\u2043", "-"), ("\u2044\u2215\u29f8", "/"), ("\u3002", ".")):
        for char in chars:
            table.setdefault(ord(char), target)
    _fold_confusables(table)
    return table


def _fold_confusables(table: dict[int, str]) -> None:
    """Add the confusables data's look-alikes of ASCII letters, digits and punctuation."""
    path = os.path.join(os.path.dirname(confusable_homoglyphs.__file__), "confusables.json")
    with open(path, encoding="utf-8") as data:
        confusables: dict[str, list[dict[str, str]]] = json.load(data)
    for key, homoglyphs in confusables.items():
        for glyph in homoglyphs:
            if key.isascii():
                _add_fold(table, glyph["c"], key)
            elif glyph["c"].isascii():
                _add_fold(table, key, glyph["c"])


def _add_fold(table: dict[int, str], char: str, target: str) -> None:
    """Fold ``char`` to ``target`` unless it is ASCII, already folded, or a letter that
    would become something else than a letter."""
    if len(char) != 1 or char.isascii() or ord(char) in table:
        return
    if target not in _FOLD_TARGETS:
        return
    if unicodedata.category(char).startswith("L") and not target.isalpha():
        return
    table[ord(char)] = target


def _fold_digit_dash_or_accent(char: str, table: dict[int, str]) -> None:
    """Digits of any script, dashes, and a Latin letter with marks (an accented ``i``) as
    its base letter."""
    if char.isascii():
        return
    category = unicodedata.category(char)
    if category == "Nd":
        table[ord(char)] = str(unicodedata.digit(char))
    elif category == "Pd":
        table[ord(char)] = "-"
    elif category.startswith("L"):
        parts = unicodedata.normalize("NFD", char)
        base, marks = parts[0], parts[1:]
        plain = base.isascii() and base.isalpha()
        if plain and marks and all(unicodedata.category(mark) == "Mn" for mark in marks):
            table[ord(char)] = base


# --- the matching view and its way back to the text -----------------------------------------


@dataclass(frozen=True)
class _Edits:
    """One decoding pass: view positions back to the positions of the text it was made of.

    Segments alternate between copied text (same length on both sides) and replaced text
    (``%40`` -> ``@``; a removed character is a replacement of length 0)."""

    view_starts: list[int]
    text_starts: list[int]
    copied: list[bool]
    text_length: int

    def start(self, i: int) -> int:
        k = bisect_right(self.view_starts, i) - 1
        if self.copied[k]:
            return self.text_starts[k] + i - self.view_starts[k]
        return self.text_starts[k]

    def end(self, i: int) -> int:
        """The text position after the one view position ``i`` came from."""
        k = bisect_right(self.view_starts, i) - 1
        if self.copied[k]:
            return self.text_starts[k] + i - self.view_starts[k] + 1
        return self.text_starts[k + 1] if k + 1 < len(self.text_starts) else self.text_length


@dataclass(frozen=True)
class _Reversed:
    """Spans reversed in place: a match that touches one covers it whole."""

    spans: list[tuple[int, int]]  # sorted, disjoint

    def widen(self, start: int, end: int) -> tuple[int, int]:
        k = max(0, bisect_right(self.spans, (start, sys.maxsize)) - 1)
        low, high = start, end
        while k < len(self.spans) and self.spans[k][0] < end:
            a, b = self.spans[k]
            if start < b:
                low, high = min(low, a), max(high, b)
            k += 1
        return low, high


_ENCODED = re.compile(
    r"%[0-9A-Fa-f]{2}(?:%[0-9A-Fa-f]{2})*"
    r"|&(?:#0*+[0-9]{1,7}|#[xX]0*+[0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?"
    r"|\\[uU]00(?:0[0-9A-Fa-f]|10)[0-9A-Fa-f]{4}|\\u[0-9A-Fa-f]{4}|\\u\{[0-9A-Fa-f]{1,6}\}"
    r"|\\x[0-9A-Fa-f]{2}"
    r"|%[uU][0-9A-Fa-f]{4}"
)
#: A markup tag (``<b>``, ``</span>``, ``<br/>``): it splits a detail for the eye no more
#: than an invisible character does, so the view drops it. ``<jane@example.com>`` is no tag.
_TAG = r"</?[A-Za-z][A-Za-z0-9]{0,15}+(?:[\s/][^<>]{0,200}+)?>"
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


def _clean(text: str) -> str:
    """A decoded piece as the view holds it: NFKC, hidden characters removed."""
    hidden, _ = _hidden()
    return hidden.sub("", unicodedata.normalize("NFKC", text))


@lru_cache(maxsize=4096)
def _decoded(token: str) -> str:
    """What one encoded token (or run of hidden characters) stands for."""
    if token[:2] in ("%u", "%U"):
        return _clean(chr(int(token[2:], 16)))
    if token[0] == "%":
        return _clean(bytes.fromhex(token.replace("%", "")).decode("utf-8", errors="replace"))
    if token[0] == "\\":
        code = int(token[2:].strip("{}"), 16)
        return _clean(chr(code)) if code <= sys.maxunicode else ""
    if token[0] == "&":
        return _clean(html.unescape(token))
    return ""  # hidden characters


@cache
def _hidden_group() -> re.Pattern[str]:
    return re.compile(f"({_hidden()[0].pattern}|{_TAG})")


_ENCODED_GROUP = re.compile(f"({_ENCODED.pattern})")


def _decode_pass(text: str, hidden: bool) -> tuple[str, _Edits] | None:
    """One pass of decoding, or (first, so that ``&#4\u200b6;`` is an escape) of removing
    hidden characters.

    Built from ``re.split`` and list operations, so the work per encoded token is a
    cached lookup: a megabyte of ``%41`` or of zero-width spaces stays fast."""
    pattern = _hidden_group() if hidden else _ENCODED_GROUP
    parts = pattern.split(text)  # copied, token, copied, token, ..., copied
    tokens = parts[1::2]
    decoded = list(map(_decoded, tokens))
    if decoded == tokens:
        return None
    view_parts = parts[:]
    view_parts[1::2] = decoded
    text_starts = [0, *accumulate(map(len, parts))][:-1]
    view_starts = [0, *accumulate(map(len, view_parts))][:-1]
    copied = [True, False] * (len(tokens)) + [True]
    return "".join(view_parts), _Edits(view_starts, text_starts, copied, len(text))


@dataclass(frozen=True)
class _View:
    """What the detectors read, and the way from its positions back to the text's."""

    text: str
    layers: tuple[_Edits | _Reversed, ...]  # outermost first

    @classmethod
    def of(cls, text: str, reverse_bidi: bool = False) -> _View:
        layers: list[_Edits | _Reversed] = []
        current = text
        if reverse_bidi:
            spans = [match.span(1) for match in _BIDI_SPAN.finditer(text)]
            pieces, at = [], 0
            for a, b in spans:
                pieces += [current[at:a], current[a:b][::-1]]
                at = b
            current = "".join([*pieces, current[at:]])
            layers.append(_Reversed(spans))
        if not current.isascii() or any(c in current for c in "%&\\<"):
            if not current.isascii():  # a look-alike may stand in an escape: %2\u0435
                current = current.translate(_fold_table())
            for round_ in range(4):  # hidden characters, then up to three levels of escapes
                step = _decode_pass(current, hidden=round_ == 0)
                if step is None:
                    if round_ == 0:
                        continue
                    break
                current, edits = step
                layers.append(edits)
            if not current.isascii():
                current = current.translate(_fold_table())
        return cls(current, tuple(reversed(layers)))

    def to_text(self, start: int, end: int) -> tuple[int, int]:
        """The text span a non-empty view span ``[start, end)`` came from."""
        for layer in self.layers:
            if isinstance(layer, _Edits):
                start, end = layer.start(start), layer.end(end - 1)
            else:
                start, end = layer.widen(start, end)
        return start, end


# --- detectors --------------------------------------------------------------------------------

#: A blank between the parts of a detail; a line break too (a detail split over lines).
_B = r"\s"
_LOCAL_CHARS = r"[\w.%+\-!#$&'*=?^`{|}~/]"
#: An address with an ``@``: the local part starts where a run of its characters starts
#: (so a long run without ``@`` is read once), labels are possessive.
_EMAIL = re.compile(
    rf"(?<!{_LOCAL_CHARS}){_LOCAL_CHARS}++@"
    r"(?:(?:[\w\-]*+\.)+[^\W\d_]{2,}|\d{1,3}+(?:\.\d{1,3}+){3}(?!\d))"
)
#: The rarer forms RFC 5321 allows: a quoted local part (``"jane doe"@example.com``) and an
#: address literal for the domain (``jane@[192.0.2.1]``, ``jane@[IPv6:2001:db8::1]``).
#: Bounded: a quoted part of at most 64 characters, a literal of at most 50.
_EMAIL_RFC = re.compile(
    rf'(?:"[^"\r\n]{{1,64}}+"|(?<!{_LOCAL_CHARS}){_LOCAL_CHARS}++){_B}{{0,2}}+@{_B}{{0,2}}+'
    rf"(?:\[[\w:.]{{2,50}}+\]|(?:[\w\-]*+\.)+[^\W\d_]{{2,}})"
)
_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"
_AT = (
    rf"(?>{_B}{{0,3}}+{_OPEN}{_B}{{0,2}}+(?:at|@){_B}{{0,2}}+{_CLOSE}{_B}{{0,3}}+"
    rf"|{_B}{{1,3}}+(?:at|@){_B}{{1,3}}+|{_B}{{1,3}}+@|@{_B}{{1,3}}+|@)"
)
_DOT = (
    rf"(?>{_B}{{0,3}}+{_OPEN}{_B}{{0,2}}+(?:dot|\.|punkt|point){_B}{{0,2}}+{_CLOSE}{_B}{{0,3}}+"
    rf"|{_B}{{1,3}}+dot{_B}{{1,3}}+|{_B}{{1,2}}+\.{_B}{{0,2}}+|\.)"
)
#: ``name [at] example [dot] com``, ``name(at)example.com``, ``name at example dot com``,
#: ``name @ example . com``. Bounded: at most 8 labels of at most 63 characters.
_SPELLED = re.compile(
    rf"(?<![\w.%+\-])(?P<local>[\w.%+\-]{{1,64}}+)(?P<at>{_AT})"
    rf"(?P<domain>(?:[\w\-]{{1,63}}+{_DOT}){{1,8}}[^\W\d_]{{2,24}}+)(?![\w\-])",
    re.IGNORECASE,
)
_AT_WORD = re.compile(r"at", re.IGNORECASE)
#: A local part no word has (``john.doe``, ``jane_doe77``): with it, a plain ``at`` is ``@``.
_ADDRESS_LOCAL = re.compile(r"[._+%\d]")
_SPELLED_DOT = re.compile(rf"{_B}dot{_B}|{_OPEN}", re.IGNORECASE)
_HOST_DOT = rf"(?:\.|[\[(](?:\.|dot)[\])]|{_B}dot{_B})"
_PROFILE_HOSTS = "|".join(
    host.replace(".", _HOST_DOT)
    for host in (
        r"linkedin.com/(?:comm/|mwlite/)?(?:in|pub|profile)/",
        r"(?:github|gitlab|twitter|x|facebook|fb|instagram|tiktok|calendly).com/@?",
        r"(?:vk|pinterest|dribbble|weibo).com/",
        r"(?:t|wa|fb|about|signal).me/",
        r"(?:lnkd.in|instagr.am|linktr.ee|keybase.io|behance.net)/",
        r"youtube.com/(?:c/|user/|channel/)",
        r"reddit.com/(?:u|user)/",
        r"stackoverflow.com/users/",
        r"snapchat.com/add/",
        r"xing.com/profile/",
        r"bsky.app/profile/",
    )
)
#: A personal profile URL: a way to reach a person, so it counts (and shows) as ``[email]``.
_PROFILE = re.compile(
    rf"(?<![\w.\-])(?:https?://)?(?:www\.|m\.|mobile\.|[a-z]{{2}}\.)?(?:{_PROFILE_HOSTS})"
    r"[\w.\-%~/]{2,100}+",
    re.IGNORECASE,
)

#: Any host's ``/@handle`` (Mastodon and the fediverse, Medium, YouTube, TikTok, Threads).
_HANDLE_URL = re.compile(
    r"(?<![\w.\-])(?:https?://)?(?:[\w\-]++\.)++[a-z]{2,24}+/@[\w.\-]{2,100}+", re.IGNORECASE
)
#: A personal site on a host that gives each person a subdomain.
_PERSONAL_HOST = re.compile(
    r"(?<![\w.\-])(?:https?://)?(?!www\.)[\w\-]{2,63}+\."
    r"(?:github\.io|medium\.com|substack\.com|wordpress\.com|blogspot\.com|bsky\.social)"
    r"(?![\w\-])",
    re.IGNORECASE,
)
#: A contact URI: ``tel:``, ``sms:``, ``callto:`` and ``facetime:`` name a number however
#: short; ``skype:`` names an account.
_TEL_URI = re.compile(
    rf"\b(?:tel|sms|callto|facetime):{_B}{{0,2}}+\+?\(?\d(?:[\-.()\s]{{0,3}}+\d){{2,20}}+",
    re.IGNORECASE,
)
_SKYPE_URI = re.compile(r"\bskype:[\w.\-:]{2,100}+", re.IGNORECASE)

_TIME = (
    r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?"
    r"(?:z|[+\-](?:[01]\d|2[0-3]):?[0-5]\d)?"
)
_YEAR = r"(?:1[6-9]|2\d)\d\d"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_DAY_OR_MONTH = r"(?:0?[1-9]|[12]\d|3[01])"
_NOT_MORE_DIGITS = rf"(?!{_B}?[\-./,]?{_B}?\d)"
#: What looks like digit groups but is not a phone number; blanked before phones are sought.
_KEEP = re.compile(
    "|".join(
        (
            # ISO dates, with a time: 2026-11-09 12:30, 2026-11-09T12:30:00Z
            rf"(?<!\w){_YEAR}(?P<s1>[\-/.])(?:0?[1-9]|1[0-2])(?P=s1){_DAY_OR_MONTH}"
            rf"(?:(?:t|{_B}{{1,2}}){_TIME})?(?!\d)",
            # day/month/year either way round: 09/11/2026, 11.09.2026 12:30
            rf"(?<!\w){_DAY_OR_MONTH}(?P<s2>[\-/.]){_DAY_OR_MONTH}(?P=s2){_YEAR}"
            rf"(?:(?:t|,?{_B}{{1,2}}){_TIME})?(?!\d)",
            rf"(?<![\d:]){_TIME}(?!\d)",
            # a UUID or its prefix (a request id, maybe cut with an ellipsis), with a letter
            r"(?<![\w\-])(?=[\d\-]{0,35}[a-f])[0-9a-f]{8}(?:-[0-9a-f]{4}){1,3}"
            r"(?:-[0-9a-f]{1,12})?(?!\w)",
            # the account id of an ARN or of a queue URL
            r"\barn:aws[\w\-]*:[\w\-]*:[\w\-]*:\d{12}(?!\d)",
            r"amazonaws\.com/\d{12}(?!\d)",
            r"(?<![\w.])v\d{1,4}(?:\.\d{1,6}){1,3}(?!\d)",  # v10.0.19041.1234
            rf"[$€£¥]{_B}?(?:\d{{1,3}}(?:[,.{_B}]\d{{3}})*|\d{{1,7}})(?:[.,]\d{{2}})?"
            rf"(?!\d){_NOT_MORE_DIGITS}",
            # an IPv4 address (no octet with a leading zero: 079.111.23.45 is a number)
            rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?![\w.]|\.\d)",
            # a decimal with one or two digits before the point: 3.14159265358, 0.123456789
            rf"(?<![\w.,+\-])\d{{1,2}}\.\d{{5,}}+(?![\w.,]){_NOT_MORE_DIGITS}",
            # a DOI's prefix (its suffix is still read) and an arXiv id (YYMM.NNNNN)
            rf"\bdoi:?{_B}?10\.\d{{4,5}}/",
            r"\barxiv:?\s?(?:0[7-9]|[1-3]\d)(?:0[1-9]|1[0-2])\.\d{4,5}(?:v\d{1,3})?(?!\d)",
            # an ISBN named as one (blanked only if its check digit is right: _blank_kept)
            rf"\bisbn(?:-?1[03])?:?{_B}{{0,2}}+(?P<isbn>[\d\-]{{9,17}}+x?)(?![\w\-])",
        )
    ),
    re.IGNORECASE,
)
#: A gap between two digits of a phone number: at most two separators, one or two blanks
#: counting as one. Atomic: the only way to read a gap is the longest, so a run of digit
#: groups that is too short fails after a bounded number of steps.
_SEP = r"[\-./()\[\]_~*|\u00b7\u2022]"
_GAP = rf"(?>{_B}{{1,2}}+(?:{_SEP}|{_B}{{1,2}}+)?|{_SEP}(?:{_B}{{1,2}}+|{_SEP})?)?"
_PHONE = re.compile(rf"(?<!\d)\+?[(\[]?\d(?:{_GAP}\d){{8,}}+")
#: A gap of a number written with a country code: up to three separators (``123 - 4567``).
_WIDE_GAP = rf"(?>(?:{_B}{{1,2}}+|[\-./()]){{0,3}}+)"
#: A ``+``, then seven digits or more: a number in international format, if the digits
#: start with a country calling code.
_PLUS_CHAIN = re.compile(rf"\+{_B}?\(?\d(?:{_WIDE_GAP}\d){{6,}}+")
_NOT_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
_PLACEHOLDER = re.compile(
    rf"[\[\u3010\u3014\u3016\u27e6]{_B}{{0,3}}+(e-?mail|phone)"
    rf"{_B}{{0,3}}+[\]\u3011\u3015\u3017\u27e7]",
    re.IGNORECASE,
)

_EMAIL_RANK, _PHONE_RANK, _TYPED_RANK = 0, 1, 2


def _has_country_code(digits: str) -> bool:
    """Whether the digits start with a country calling code (libphonenumber's table)."""
    codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    return any(int(digits[:n]) in codes for n in (1, 2, 3) if len(digits) >= n)


def _isbn_valid(isbn: str) -> bool:
    """Whether an ISBN-10 or ISBN-13 has the right check digit (a phone number rarely has)."""
    chars = isbn.replace("-", "").upper()
    if len(chars) == 13 and chars.isdigit():
        return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(chars)) % 10 == 0
    if len(chars) == 10 and chars[:9].isdigit() and (chars[9].isdigit() or chars[9] == "X"):
        values = [*map(int, chars[:9]), 10 if chars[9] == "X" else int(chars[9])]
        return sum((10 - i) * v for i, v in enumerate(values)) % 11 == 0
    return False


def _blank(match: re.Match[str]) -> str:
    isbn = match.group("isbn")
    if isbn is not None and not _isbn_valid(isbn):
        return match.group()
    return "#" * len(match.group())


def _blank_kept(text: str) -> str:
    """The view with dates, ids, versions, prices, addresses of machines and named ISBNs,
    DOIs and arXiv ids blanked (same length)."""
    return _KEEP.sub(_blank, text)


_Found = list[tuple[int, int, int, str]]


def _emails(text: str) -> list[tuple[int, int]]:
    """View spans of addresses: with an ``@``, RFC 5321's rarer forms, spelled out."""
    spans: list[tuple[int, int]] = []
    if "@" in text:
        spans += [match.span() for match in _EMAIL.finditer(text)]
        if '"' in text or "[" in text:
            spans += [match.span() for match in _EMAIL_RFC.finditer(text)]
    if "@" in text or _AT_WORD.search(text):
        for match in _SPELLED.finditer(text):
            if _spelled_is_address(match):
                spans.append(match.span())
    return spans


def _spelled_is_address(match: re.Match[str]) -> bool:
    """A plain ``at`` needs a spelled-out dot or a local part no word has
    (``he worked at amazon.com`` is no address; ``john.doe at example.com`` is)."""
    if match.group("at").strip().casefold() != "at":
        return True
    return bool(_SPELLED_DOT.search(match.group("domain")) or _ADDRESS_LOCAL.search(match["local"]))


def _profiles(text: str) -> list[tuple[int, int]]:
    """View spans of personal profile URLs and ``skype:`` accounts."""
    spans: list[tuple[int, int]] = []
    if "/" in text:
        spans += [match.span() for match in _PROFILE.finditer(text)]
        if "/@" in text:
            spans += [match.span() for match in _HANDLE_URL.finditer(text)]
    if "." in text:
        spans += [match.span() for match in _PERSONAL_HOST.finditer(text)]
    if ":" in text:
        spans += [match.span() for match in _SKYPE_URI.finditer(text)]
    return spans


def _phones(text: str) -> list[tuple[int, int]]:
    """View spans of phone numbers (what only looks like one blanked first)."""
    if not _DIGIT.search(text):
        return []
    digits = _blank_kept(text)
    spans = [match.span() for match in _PHONE.finditer(digits)]
    for match in _PLUS_CHAIN.finditer(digits):
        if _has_country_code(_NOT_DIGIT.sub("", match.group())):
            spans.append(match.span())
    if ":" in text:
        spans += [match.span() for match in _TEL_URI.finditer(text)]
    return spans


def _find(view: _View, neutralise: bool) -> _Found:
    """Every detail in the view, as text spans ``(start, end, rank, token)``.

    Each detector runs only if a character it cannot match without is there (cheap)."""
    text = view.text
    found: _Found = []
    for spans, rank, token in (
        (_emails(text), _EMAIL_RANK, EMAIL_MASK),
        (_profiles(text), _EMAIL_RANK, EMAIL_MASK),
        (_phones(text), _PHONE_RANK, PHONE_MASK),
    ):
        found += [(*view.to_text(start, end), rank, token) for start, end in spans]
    if neutralise:
        for match in _PLACEHOLDER.finditer(text):
            token = f"({match.group(1).casefold().replace('-', '')})"
            found.append((*view.to_text(*match.span()), _TYPED_RANK, token))
    return found


def _spans(text: str, neutralise: bool) -> list[tuple[int, int, str]]:
    """Non-overlapping detail spans of NFKC text, in order; overlaps merge, the higher
    ranked token (an address over a number over a typed placeholder) naming the whole."""
    found = _find(_View.of(text), neutralise)
    if any(c in text for c in _BIDI_OPEN):
        found += _find(_View.of(text, reverse_bidi=True), neutralise)
    found.sort()
    merged: list[tuple[int, int, int, str]] = []
    for start, end, rank, token in found:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            best = min((last[2], last[3]), (rank, token))
            merged[-1] = (last[0], max(last[1], end), *best)
        else:
            merged.append((start, end, rank, token))
    return [(start, end, token) for start, end, _, token in merged]


def _render(text: str, spans: list[tuple[int, int, str]], upto: int | None = None) -> str:
    """The text with spans replaced and format characters removed; up to ``upto`` (a span
    across it is shown as its token)."""
    _, format_chars = _hidden()
    stop = len(text) if upto is None else min(upto, len(text))
    pieces: list[str] = []
    at = 0
    for start, end, token in spans:
        if start >= stop:
            break
        pieces += [text[at:start].translate(format_chars), token]
        at = end
    if at < stop:
        pieces.append(text[at:stop].translate(format_chars))
    return "".join(pieces)


def _mask(text: str, neutralise: bool = False) -> str:
    normalised = unicodedata.normalize("NFKC", text)
    return _render(normalised, _spans(normalised, neutralise))


def mask(text: str) -> str:
    """Every contact detail in ``text`` replaced by ``[email]`` or ``[phone]``; NFKC, and
    format characters removed. ``[email]`` and ``[phone]`` themselves stay, so masking
    masked text changes nothing."""
    return _mask(text)


def _mask_head(text: str, limit: int, cut_at_end: bool, neutralise: bool = False) -> str:
    """The first ``limit`` characters of ``text`` (NFKC) masked, ``…`` when cut.

    Only ``limit + MARGIN`` characters are read: a detail that starts before the cut is
    found whole and shown as its token. ``cut_at_end``: the text is itself a cut of a longer
    one, so its end is no boundary either (the margin is kept before it)."""
    window = unicodedata.normalize("NFKC", text[: limit + MARGIN])
    if cut_at_end or len(text) > limit + MARGIN:
        limit = max(0, min(limit, len(window) - MARGIN))
    spans = _spans(window, neutralise)
    if len(window) <= limit:
        return _render(window, spans)
    return _render(window, spans, upto=limit) + "…"


def display_query(text: str) -> str:
    """The report's grouping key: NFKC, casefold, strip, whitespace collapsed, capped at
    :data:`DISPLAY_QUERY_LIMIT` characters, masked; a typed ``[email]`` or ``[phone]``
    becomes ``(email)``/``(phone)`` so that only a real detail counts as a lead."""
    raw_cap = 16 * (DISPLAY_QUERY_LIMIT + MARGIN)
    head = text[:raw_cap]
    normalised = unicodedata.normalize("NFKC", head).casefold().strip()
    collapsed = _WHITESPACE.sub(" ", normalised)
    return _mask_head(collapsed, DISPLAY_QUERY_LIMIT, len(text) > raw_cap, neutralise=True)


def _decode_escapes(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return chr(int(match.group(1), 16))
        char = match.group(2)
        return _SIMPLE_ESCAPES.get(char, char)

    return _JSON_ESCAPE.sub(one, text)


def _parsed_container(text: str) -> dict[str, Any] | list[Any] | None:
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict | list) else None


class _Budget:
    """Characters still wanted of a JSON sample."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def take(self, piece: str) -> str:
        self.left -= len(piece)
        return piece


def _sample_json(value: Any, budget: _Budget) -> str:
    """JSON text of ``value`` masked value by value, as ``json.dumps`` lays it out, that
    stops (with ``…``) once the budget is spent: only what can be shown is masked."""
    if budget.left <= 0:
        return "…"
    if isinstance(value, str):
        return budget.take(json.dumps(_mask_head(value, budget.left, False), ensure_ascii=False))
    if isinstance(value, list | dict):
        budget.take("[")  # a level costs a character: nesting stays within the budget
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        pieces: list[str] = []
        for key, item in items:
            if budget.left <= 0:
                pieces.append("…")
                break
            prefix = ""
            if isinstance(value, dict):
                prefix = json.dumps(_mask_head(str(key), budget.left, False), ensure_ascii=False)
                prefix = budget.take(prefix + ": ")
            pieces.append(prefix + _sample_json(item, budget))
            budget.take(", ")
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        return opening + ", ".join(pieces) + closing
    return budget.take(json.dumps(value))


def _cut(text: str, limit: int) -> str:
    """Masked text cut to ``limit`` characters with ``…``; a token is never cut in two."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    bracket = head.rfind("[")
    tail = head[bracket:]
    if bracket >= 0 and (EMAIL_MASK.startswith(tail) or PHONE_MASK.startswith(tail)):
        head = head[:bracket]
    return head + "…"


def mask_sample(text: str, limit: int = 200) -> str:
    """A masked, truncated excerpt of untrusted text for artifacts, alerts and logs.

    Only what can be shown is masked: a 1 MiB body costs a bounded amount of work (a JSON
    body is parsed whole, which is cheap, and masked until the excerpt is full)."""
    parsed = _parsed_container(text)
    if parsed is not None:
        return _cut(_sample_json(parsed, _Budget(limit + 1)), limit)
    raw_cap = 6 * (limit + MARGIN)  # a ``\\u0040`` escape is 6 characters for 1
    decoded = _decode_escapes(text[:raw_cap])
    return _cut(_mask_head(decoded, limit + 1, len(text) > raw_cap), limit)


__all__ = [
    "DISPLAY_QUERY_LIMIT",
    "EMAIL_PATTERN",
    "PHONE_PATTERN",
    "display_query",
    "mask",
    "mask_sample",
]


# --- the one surface built to show details: leads (report-insights.md, section 7) ----------

#: At most this many details of one question are kept, each at most this many characters.
CONTACT_DETAILS_LIMIT = 10
CONTACT_DETAIL_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def contact_details(text: str) -> list[str]:
    """The e-mail addresses, phone numbers and profile URLs :func:`mask` would hide in
    ``text``, as the visitor wrote them: NFKC, format and control characters removed,
    whitespace runs as one space (a detail split over lines reads as one), in order, each
    once; at most :data:`CONTACT_DETAILS_LIMIT`, each cut to
    :data:`CONTACT_DETAIL_LENGTH` characters (``…`` marks a cut).

    The same detector as everything else (``_spans``), over the same text the display
    query masks (its first :data:`DISPLAY_QUERY_LIMIT` characters after whitespace is
    collapsed, with :data:`MARGIN` so a detail across the cut is whole), but not
    casefolded: a request is a lead when its display query shows ``[email]`` or
    ``[phone]``, and these are the details those tokens stand for. A typed ``[email]``
    is no detail. Bounded like :func:`display_query`: a megabyte costs what 21 KB does.
    """
    raw_cap = 16 * (DISPLAY_QUERY_LIMIT + MARGIN)
    normalised = unicodedata.normalize("NFKC", text[:raw_cap]).strip()
    collapsed = _WHITESPACE.sub(" ", normalised)
    window = collapsed[: DISPLAY_QUERY_LIMIT + MARGIN]
    limit = DISPLAY_QUERY_LIMIT
    if len(text) > raw_cap or len(collapsed) > len(window):
        limit = max(0, min(limit, len(window) - MARGIN))
    _, format_chars = _hidden()
    found: list[str] = []
    for start, end, _token in _spans(window, neutralise=False):
        if start >= limit or len(found) == CONTACT_DETAILS_LIMIT:
            break
        shown = _CONTROL.sub(" ", window[start:end].translate(format_chars))
        shown = _WHITESPACE.sub(" ", shown).strip()
        if len(shown) > CONTACT_DETAIL_LENGTH:
            shown = shown[: CONTACT_DETAIL_LENGTH - 1] + "…"
        if shown and shown not in found:
            found.append(shown)
    return found


__all__ += ["CONTACT_DETAILS_LIMIT", "CONTACT_DETAIL_LENGTH", "contact_details"]
