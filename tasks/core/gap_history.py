"""Gaps followed across weeks (report-insights.md section 8). Pure.

A gap keeps its identity from week to week: its theme's key. From this week's themes and
gaps and the stored summaries of the previous 8 ISO weeks only (never their records),
every key that is a gap this week, or is not one this week after being one in the latest
earlier week that can tell, gets one state:

| state | when |
|---|---|
| ``new`` | a gap this week, and a gap in no earlier week with evidence |
| ``open`` | a gap this week and in the latest earlier week with evidence |
| ``reopened`` | a gap this week, not in the latest earlier week with evidence, in an earlier one |
| ``fixed`` | asked enough this week and not a gap, a gap in the latest earlier week with evidence |

A week *has evidence* for a key when it has a stored summary that keeps its gaps and the
theme was asked there at least :data:`GAP_MIN_REQUESTS` times; weeks without evidence are
skipped: they neither break nor extend a run.

Each entry says since when (``since``) and compares two weeks (``before``/``after``, each
``{week, asked, answered_well}``, ``answered_well`` counting ``full`` answers):

- ``after`` is always this week's figures of the theme (every entry has evidence now);
- ``fixed``: ``since`` is this week, ``before`` the latest earlier week with evidence (the
  gap), so "Kafka: 2 of 7 answered well in 2025-W45, 6 of 6 in 2025-W47";
- ``open``: ``since`` is the first week of the unbroken run of gap weeks, ``before`` that
  week's figures;
- ``reopened``: ``since`` is this week, ``before`` the week it was fixed (the first week
  with evidence after its last earlier gap week), so "back again (fixed in <week>)";
- ``new``: ``since`` is this week, ``before`` is null.

Order (:func:`follow_gaps`): ``fixed`` first (most asked this week first), then ``open`` and
``reopened`` by the week they opened (oldest first; then as ``cv_gaps`` ranks them), then
``new`` as ``cv_gaps`` ranks them.

Decisions the spec leaves open, taken here once:

- A summary stored before weeks kept their gaps (no ``gaps``) has no evidence for any key:
  it cannot say whether a theme was a gap. A summary whose gaps were capped at
  :data:`STORED_GAP_LIMIT` (``omitted_gaps``) has evidence only for the keys it lists as
  gaps; a theme it dropped to fit the item limit was not asked, as far as it can tell.
- Keys are compared on their first 300 characters, as stored summaries keep them.
- A key that was a gap long ago and is answered well since, or that is not asked enough
  this week to judge, has no state: "fixed" is said once, the week the fix is seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from tasks.core.feedback import key_of

GAP_MIN_REQUESTS = 2
#: Gap themes a week's stored summary keeps (every one up to this many).
STORED_GAP_LIMIT = 50

GapState = Literal["new", "open", "reopened", "fixed"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GapWeek(_Model):
    """A theme's figures in one week: requests, and those answered ``full`` or ``partial``."""

    week: str
    asked: int
    answered_well: int


class GapFollowup(_Model):
    """One key's state across weeks (the figures' ``gap_followup`` entries)."""

    key: str
    #: This week's label of the theme (the visitors' words, shown as a quote).
    theme: str
    state: GapState
    since: str | None
    before: GapWeek | None
    after: GapWeek | None
    #: The owner dismissed it (section 9): kept out of the advice, listed at the end.
    dismissed: bool = False
    #: The owner's note of the dismissal ("" when none, or not dismissed).
    note: str = ""


class StoredGap(BaseModel):
    """A gap theme as a week's stored summary keeps it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str
    theme: str
    asked: int
    answered_well: int


class StoredWeek(Protocol):
    """What this module reads of a stored summary (:class:`tasks.core.insights.StoredSummary`)."""

    @property
    def week(self) -> str: ...

    @property
    def themes(self) -> list[dict[str, Any]] | None: ...

    @property
    def gaps(self) -> list[StoredGap] | None: ...

    @property
    def omitted_gaps(self) -> int: ...


@dataclass(frozen=True)
class ThemeOutcome:
    """This week's figures of one theme: key, label, requests, answered well, a gap or not."""

    key: str
    theme: str
    asked: int
    answered_well: int
    gap: bool


@dataclass(frozen=True)
class _Seen:
    """A week with evidence for a key: was it a gap there, and its figures."""

    gap: bool
    figures: GapWeek


class _History:
    """The earlier weeks' evidence, per key, oldest week first."""

    def __init__(self, summaries: Sequence[StoredWeek]) -> None:
        self.weeks: list[tuple[str, dict[str, _Seen]]] = []
        self.gap_keys: set[str] = set()
        for summary in sorted(summaries, key=lambda s: s.week):
            seen = _evidence(summary)
            if seen is not None:
                self.weeks.append((summary.week, seen))
                self.gap_keys |= {key for key, entry in seen.items() if entry.gap}

    def of(self, key: str) -> list[_Seen]:
        return [seen[key] for _, seen in self.weeks if key in seen]


def _evidence(summary: StoredWeek) -> dict[str, _Seen] | None:
    """Per key, what a stored week says of it (only keys asked often enough there);
    None when the summary keeps no gaps (stored before they were kept)."""
    if summary.gaps is None:
        return None
    found: dict[str, _Seen] = {}
    if not summary.omitted_gaps:
        for theme in summary.themes or ():
            key, asked = key_of(str(theme.get("key", ""))), int(theme.get("count", 0))
            if key and asked >= GAP_MIN_REQUESTS:
                well = int(theme.get("answered_well", 0))
                found[key] = _Seen(
                    False, GapWeek(week=summary.week, asked=asked, answered_well=well)
                )
    for gap in summary.gaps:
        if gap.asked >= GAP_MIN_REQUESTS:
            found[key_of(gap.key)] = _Seen(
                True, GapWeek(week=summary.week, asked=gap.asked, answered_well=gap.answered_well)
            )
    return found


def _state(
    now: GapWeek, gap_now: bool, history: list[_Seen]
) -> tuple[GapState, str | None, GapWeek | None] | None:
    """(state, since, before) of one key, or None when no row of the table applies."""
    if not gap_now:
        if history and history[-1].gap:
            return "fixed", now.week, history[-1].figures
        return None
    gap_weeks = [i for i, seen in enumerate(history) if seen.gap]
    if not gap_weeks:
        return "new", now.week, None
    if history[-1].gap:
        first = len(history) - 1
        while first > 0 and history[first - 1].gap:
            first -= 1
        return "open", history[first].figures.week, history[first].figures
    return "reopened", now.week, history[gap_weeks[-1] + 1].figures


def follow_gaps(
    week: str,
    themes: Sequence[ThemeOutcome],
    ranked_gaps: Sequence[str],
    previous: Sequence[StoredWeek],
    dismissals: Mapping[str, str] | None = None,
) -> list[GapFollowup]:
    """Every key's state, in the spec's order (see the module doc).

    Args:
        week: this week's id.
        themes: this week's themes (after the owner's joins).
        ranked_gaps: this week's gap keys as ``cv_gaps`` ranks them, all of them (not
            only the top 10); each must be a theme of ``themes`` marked ``gap``.
        previous: the stored summaries of the previous weeks (any order; only those
            before ``week`` are read).
        dismissals: the owner's dismissals in force, key -> note.
    """
    history = _History([s for s in previous if s.week < week])
    dismissals = dismissals or {}
    rank = {key_of(key): n for n, key in enumerate(ranked_gaps)}
    entries: list[tuple[tuple[Any, ...], GapFollowup]] = []
    done: set[str] = set()
    for theme in themes:
        key = key_of(theme.key)
        if key in done or theme.asked < GAP_MIN_REQUESTS:
            continue
        if not theme.gap and key not in history.gap_keys:
            continue
        now = GapWeek(week=week, asked=theme.asked, answered_well=theme.answered_well)
        judged = _state(now, theme.gap, history.of(key))
        if judged is None:
            continue
        done.add(key)
        state, since, before = judged
        note = dismissals.get(key)
        entry = GapFollowup(
            key=theme.key,
            theme=theme.theme,
            state=state,
            since=since,
            before=before,
            after=now,
            dismissed=note is not None,
            note=note or "",
        )
        entries.append((_order(entry, rank.get(key, len(rank))), entry))
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]


def _order(entry: GapFollowup, rank: int) -> tuple[Any, ...]:
    """fixed (most asked first), then open and reopened by since, then new by rank."""
    asked = entry.after.asked if entry.after is not None else 0
    if entry.state == "fixed":
        return (0, -asked, entry.theme, entry.key)
    if entry.state in ("open", "reopened"):
        return (1, entry.since or "", rank, entry.key)
    return (2, rank, entry.key)
