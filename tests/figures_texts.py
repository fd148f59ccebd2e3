"""Rewriting every visitor text of a week's figures, for tests of how surfaces bound them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.core.aggregate import WeeklyFigures


def theme_texts(figures: WeeklyFigures, text: Callable[[str], str]) -> dict[str, Any]:
    """``model_copy`` updates that pass every theme's label, key and members, every gap's
    and every followed gap's label and key, through ``text``."""
    return {
        "themes": [
            t.model_copy(
                update={
                    "theme": text(t.theme),
                    "key": text(t.key),
                    "members": [m.model_copy(update={"query": text(m.query)}) for m in t.members],
                }
            )
            for t in figures.themes
        ],
        "cv_gaps": [
            g.model_copy(update={"theme": text(g.theme), "key": text(g.key)})
            for g in figures.cv_gaps
        ],
        "gap_followup": [
            e.model_copy(update={"theme": text(e.theme), "key": text(e.key)})
            for e in figures.gap_followup
        ],
    }
