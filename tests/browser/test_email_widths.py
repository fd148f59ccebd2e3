"""The owner's e-mail in a real Chromium at 360 and 640 px (report-insights.md section 10).

The e-mail of a week with every kind of gap the owner follows (fixed with its before and
after, still open, back again, new, dismissed) and leads
(:func:`tests.tasks.core.test_render_owner.owner_week`), rendered by the report's own
code and opened from a file: nothing is wider than the viewport, every section is there
in the owner's order, every gap's key can be selected whole with one tap, and the page
asks the network for nothing. A second e-mail carries unbroken 300-character questions
and keys (what a visitor can type), which must wrap, not widen the page.

Only the ``page`` fixture of ``conftest.py`` is used (Chromium, no ``make serve``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tasks.core.aggregate import WeeklyFigures
from tasks.core.render import LeadsDelivery, render_html
from tests.browser.pages import open_offline
from tests.figures_texts import theme_texts
from tests.tasks.core.test_render_owner import owner_week

pytestmark = pytest.mark.browser

WIDTHS = (360, 640)
LEADS = LeadsDelivery(enabled=True, delivered=2)
HEADINGS = (
    "What your changes fixed",
    "Still open",
    "New gaps",
    "Leads",
    "Unusual this week",
    "What visitors wanted",
    "The questions, grouped",
    "Last 8 weeks",
)


def unbroken(figures: WeeklyFigures) -> WeeklyFigures:
    """The same week with every question, example and key a 300-character unbroken word."""

    def long(text: str) -> str:
        return (text.replace(" ", "_") + "x" * 300)[:300]

    return figures.model_copy(
        update={
            **theme_texts(figures, long),
            "unused_sources": [long("a cv item nobody used")],
        }
    )


@pytest.fixture(scope="module")
def emails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("email")
    figures = owner_week()
    written = {}
    for name, week in (("every-state", figures), ("unbroken", unbroken(figures))):
        path = folder / f"{name}.html"
        path.write_text(render_html(week, LEADS), encoding="utf-8")
        written[name] = path
    return written


@pytest.mark.parametrize("email", ["every-state", "unbroken"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_email_fits_the_screen(
    page: Page, emails: dict[str, Path], width: int, email: str
) -> None:
    remote = open_offline(page, emails[email], width)
    layout = page.evaluate(
        """() => ({
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
            wider: Array.from(document.querySelectorAll('body *'))
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .slice(0, 5)
                .map(e => e.outerHTML.slice(0, 160)),
        })"""
    )
    assert layout["innerWidth"] == width
    assert layout["scrollWidth"] <= width, (
        f"{layout['scrollWidth']} px wide at {width} px; wider: {layout['wider']}"
    )
    assert not layout["wider"], layout["wider"]
    assert not remote, f"the e-mail asked the network for {remote}"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_section_shows_in_order_and_every_key_is_one_tap(
    page: Page, emails: dict[str, Path], width: int
) -> None:
    open_offline(page, emails["every-state"], width)
    shown = page.locator("body").inner_text()
    positions = [shown.find(heading) for heading in HEADINGS]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "2 of 7 answered well in 2025-W46, 6 of 6 in 2025-W47" in shown
    assert "1 of 4 answered well in 2025-W46, 3 of 3 in 2025-W47" in shown
    assert "open since 2025-W45" in shown and "back again (fixed in 2025-W45)" in shown
    assert "2 leads: visitors left contact details 2 times this week; both were e-mailed" in shown
    assert shown.rstrip().endswith(
        "Dismissed: \u201cwhat is his day rate?\u201d (compensation:pay): "
        "I will not state a salary."
    )
    keys = page.locator(".gap .key")
    assert keys.all_inner_texts() == [
        "skills:kafka",
        "skills:python",
        "skills:fortran",
        "availability:remote",
        "skills:cobol",
    ]
    for key in keys.all():
        assert key.is_visible()
        assert key.evaluate("e => getComputedStyle(e).userSelect") == "all"
    # one tap on a key selects all of it: what the owner copies into the feedback form
    keys.nth(2).click()
    assert page.evaluate("() => window.getSelection().toString()") == "skills:fortran"
