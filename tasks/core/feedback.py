"""The owner's word on the report (report-insights.md section 9) as data. Pure.

The owner overrules the grouping and the advice, one theme key at a time:

- ``dismiss``: the theme is no longer a gap in the advice ("I will not state a salary");
  ``cv_gaps`` and ``gap_followup`` still list it, marked ``dismissed``;
- ``join`` (``into``: another key): the grouping split one question in two; every report
  after it groups the theme's members into ``into``'s theme, *before* gaps are judged
  (counts added, members merged and ordered as the spec orders them, the label re-chosen);
- ``undo``: takes back the theme's dismissal or join.

A key holds one word at a time (the latest), so :class:`Feedback`, the words in force, maps
each key to a ``dismiss`` or a ``join``; an ``undo`` removes the key's word. Storage
(:mod:`tasks.dynamodb.feedback`) keeps the history; this module never sees it.

:func:`owner_word` checks the form's values before anything is stored and raises
:class:`FeedbackError` naming every problem; :meth:`Feedback.refusal` checks a word against
what is in force (nothing to undo, a join that would loop). :func:`apply_joins` regroups a
week's themes.

Decisions the spec leaves open, taken here once:

- Keys are compared on their first :data:`KEY_LIMIT` characters, cut as every surface cuts
  a visitor's text (an ellipsis ends a cut key), so a long ``intent:~<question>`` key copied
  from the e-mail or the themes table matches the theme it names; values are stripped of
  surrounding blanks, and a note's runs of whitespace become one space (one line of e-mail).
- Joins chain (``a`` into ``b``, ``b`` into ``c``: ``a`` joins ``c``); a join that would
  close a loop is refused when it is given, and a loop found in stored words (two runs at
  once) leaves the keys on it unjoined. A join into a key not asked this week gives the
  theme that key (the owner said it is that question) and the key's intent.
- A joined theme takes the intent of ``into``'s theme: the owner's word wins over the rule
  that a theme's members share one intent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from tasks.core.intents import INTENTS
from tasks.core.themes import Member, Theme

Action = Literal["dismiss", "join", "undo"]
ACTIONS: tuple[str, ...] = get_args(Action)
#: Characters of a theme key the owner can give (the spec's 300; keys longer than that
#: are compared on their first 300, cut as every surface shows them).
KEY_LIMIT = 300
#: Characters of the owner's note.
NOTE_LIMIT = 300
EXAMPLE_KEY = "compensation:pay"
_ELLIPSIS = "\u2026"
_WHITESPACE = re.compile(r"\s+")


class FeedbackError(ValueError):
    """The owner's word cannot be taken; the message says why and what is expected."""


def key_of(theme_key: str) -> str:
    """A theme key as the owner can give it: its first :data:`KEY_LIMIT` characters, an
    ellipsis ending a cut key (what the e-mail and the themes table show)."""
    if len(theme_key) <= KEY_LIMIT:
        return theme_key
    return theme_key[: KEY_LIMIT - 1] + _ELLIPSIS


def _controls(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def key_problem(key: str, field: str = "theme") -> str | None:
    """Why ``key`` is not a theme key (``intent:topic``, an intent of section 1, at most
    :data:`KEY_LIMIT` characters, one line), or None when it is one."""
    shown_intents = ", ".join(INTENTS)
    if not key:
        return f"{field}: a theme key is required, e.g. {EXAMPLE_KEY}"
    if len(key) > KEY_LIMIT:
        return f"{field}: a theme key is at most {KEY_LIMIT} characters, got {len(key)}"
    intent, colon, topic = key.partition(":")
    if not colon or not topic.strip():
        return (
            f"{field}: a theme key is intent:topic as the e-mail shows it "
            f"(e.g. {EXAMPLE_KEY}), and this one has no ':' followed by a topic"
        )
    if intent not in INTENTS:
        return f"{field}: a theme key starts with one of {shown_intents}, then ':'"
    if _controls(key):
        return f"{field}: a theme key is one line of text (no control characters)"
    return None


class OwnerWord(BaseModel):
    """One word of the owner: a theme key, what to do with it, and when it was said."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    theme: str
    action: Action
    #: The key a ``join`` groups the theme into; empty for the other actions.
    into: str = ""
    #: The owner's note ("I will not state a salary"), at most :data:`NOTE_LIMIT` characters.
    note: str = ""
    #: When it was said, UTC, ISO 8601 (the storage sets it).
    at: str = ""


def owner_word(theme: str, action: str, into: str = "", note: str = "", at: str = "") -> OwnerWord:
    """The form's values as an :class:`OwnerWord`, or :class:`FeedbackError` naming every
    problem (before anything is stored)."""
    theme, into = theme.strip(), into.strip()
    note = _WHITESPACE.sub(" ", note).strip()
    problems: list[str] = []
    if action not in ACTIONS:
        problems.append(f"action: one of {', '.join(ACTIONS)}, got {action[:40]!r}")
    theme_problem = key_problem(theme)
    if theme_problem:
        problems.append(theme_problem)
    if action == "join":
        into_problem = key_problem(into, "into")
        if into_problem:
            problems.append(into_problem + " (join needs the key to join the theme into)")
        elif not theme_problem and key_of(into) == key_of(theme):
            problems.append("into: a theme cannot be joined into itself; give another key")
    elif into:
        problems.append("into: only a join takes a key to join into; leave it empty")
    if len(note) > NOTE_LIMIT:
        problems.append(f"note: at most {NOTE_LIMIT} characters, got {len(note)}")
    elif _controls(note):
        problems.append("note: one line of text (no control characters)")
    if problems:
        raise FeedbackError("; ".join(problems))
    return OwnerWord(
        theme=key_of(theme),
        action=action,  # type: ignore[arg-type]  # checked above
        into=key_of(into) if action == "join" else "",
        note=note,
        at=at,
    )


class Feedback(BaseModel):
    """The owner's words in force: per theme key, its ``dismiss`` or ``join``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    words: dict[str, OwnerWord] = {}

    @classmethod
    def of(cls, words: Iterable[OwnerWord]) -> Feedback:
        """The words in force after ``words``, in the order given (a later word on a key
        replaces an earlier one; an ``undo`` removes it)."""
        force: dict[str, OwnerWord] = {}
        for word in words:
            if word.action == "undo":
                force.pop(word.theme, None)
            else:
                force[word.theme] = word
        return cls(words=dict(sorted(force.items())))

    def after(self, word: OwnerWord) -> Feedback:
        """What is in force once ``word`` is taken."""
        return Feedback.of([*self.words.values(), word])

    def dismissed(self, theme_key: str) -> OwnerWord | None:
        """The dismissal in force for a theme key, if any."""
        word = self.words.get(key_of(theme_key))
        return word if word is not None and word.action == "dismiss" else None

    @property
    def dismissals(self) -> dict[str, str]:
        """Key -> note of every dismissal in force."""
        return {key: w.note for key, w in self.words.items() if w.action == "dismiss"}

    def join_targets(self) -> dict[str, str]:
        """Key -> the key it finally joins (chains followed); keys on a loop are left out."""
        joins = {key: w.into for key, w in self.words.items() if w.action == "join"}
        targets: dict[str, str] = {}
        for start in joins:
            seen = {start}
            key = joins[start]
            while key in joins and key not in seen:
                seen.add(key)
                key = joins[key]
            if key not in seen:
                targets[start] = key
        return targets

    def refusal(self, word: OwnerWord) -> str | None:
        """Why ``word`` cannot be taken given what is in force, or None."""
        current = self.words.get(word.theme)
        if word.action == "undo" and current is None:
            return f"theme: nothing is in force for {word.theme}, so there is nothing to undo"
        if word.action == "join":
            target = self.join_targets().get(word.into, word.into)
            if target == word.theme:
                return (
                    f"into: {word.into} is joined into {word.theme} already; joining back "
                    "would make a loop (undo that join first)"
                )
        return None


def _member_order(member: Member) -> tuple[int, int, str]:
    """The spec's member order: distinct sessions, then requests (descending), then text."""
    return -member.sessions, -member.count, member.query


def _joined(group: Sequence[Theme], key: str) -> Theme:
    """One theme of ``group``'s members under ``key``: counts added, members merged and
    ordered as the spec orders them, the label their first (a member present twice, which
    a week's themes never hold, has its figures added)."""
    merged: dict[str, Member] = {}
    for theme in group:
        for member in theme.members:
            before = merged.get(member.query)
            merged[member.query] = (
                member
                if before is None
                else Member(
                    member.query, before.count + member.count, before.sessions + member.sessions
                )
            )
    members = sorted(merged.values(), key=_member_order)
    target = next((theme for theme in group if key_of(theme.key) == key_of(key)), None)
    return Theme(
        theme=members[0].query,
        intent=target.intent if target is not None else key.partition(":")[0],
        count=sum(theme.count for theme in group),
        members=tuple(members),
        key=target.key if target is not None else key,
    )


def apply_joins(themes: Sequence[Theme], feedback: Feedback | None) -> list[Theme]:
    """The week's themes with the joins in force applied, in the spec's theme order
    (count descending, then label); without a join, the themes as they are."""
    targets = feedback.join_targets() if feedback is not None else {}
    if not targets:
        return list(themes)
    groups: dict[str, list[Theme]] = {}
    for theme in themes:
        key = key_of(theme.key)
        target = targets.get(key)
        if target is not None or key in targets.values():
            groups.setdefault(target or key, []).append(theme)
    kept = [theme for theme in themes if not _in_groups(theme, targets)]
    joined = [_joined(group, target) for target, group in groups.items()]
    return sorted([*kept, *joined], key=lambda theme: (-theme.count, theme.theme))


def _in_groups(theme: Theme, targets: Mapping[str, str]) -> bool:
    key = key_of(theme.key)
    return key in targets or key in targets.values()
