"""The operator's path through the Prefect UI of ``make serve``, in a real Chromium.

One stack and one browser for the module (``conftest.py``); the tests run in file order
and the e-mail test reuses the report the regeneration test made (or makes one itself).
Selectors are the Prefect 3.8 UI's own (read from its DOM): ``a.deployment-list__name``,
``.deployment-schedule-tags__tag``, ``.schema-form-property``, the toast's "View run",
``.page-heading .state-badge``, ``.artifact-card__title``, ``.artifact-data-table``.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Locator, Page, expect

from flows.weekly_report import artifact_key
from tests.browser.pages import follow_view_run, open_offline, wait_completed

if TYPE_CHECKING:
    from tests.browser.conftest import ServeStack

pytestmark = pytest.mark.browser

RUN_TIMEOUT_MS = 90_000
MALFORMED_WEEK = "2025-45"
EMAIL_WIDTHS = (360, 640)


# --- helpers ------------------------------------------------------------------------------


def open_custom_run(page: Page, stack: ServeStack, deployment: str) -> Locator:
    """Deployments > <deployment> > Run > Custom run; returns the form."""
    page.goto(f"{stack.ui_url}/deployments")
    page.locator("a.deployment-list__name", has_text=re.compile(f"^{deployment}$")).click()
    expect(page.locator(".page-heading")).to_contain_text(deployment)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("button", name="Custom run").click()
    form = page.locator("form").filter(has_text="Parameters")
    expect(form).to_be_visible()
    return form


def parameter(form: Locator, name: str) -> Locator:
    """The schema form's field of one parameter (label ``name`` or ``name (Optional)``)."""
    label = form.page.locator(
        ".schema-form-property__label", has_text=re.compile(rf"^{name}( \(Optional\))?$")
    )
    return form.locator(".schema-form-property").filter(has=label)


def submit_and_open_run(page: Page) -> str:
    """Submit the form, follow the toast's "View run"; returns the flow run's id."""
    page.get_by_role("button", name="Submit").click()
    return follow_view_run(page)


def open_artifacts_tab(page: Page, stack: ServeStack, run_id: str) -> Locator:
    """The run page's Artifacts tab; returns the artifact cards' titles."""
    page.goto(f"{stack.ui_url}/runs/flow-run/{run_id}")
    page.locator(".p-tab", has_text=re.compile("^Artifacts$")).click()
    titles = page.locator(".artifact-card .artifact-card__title")
    expect(titles.first).to_be_visible()
    return titles


def run_artifacts(stack: ServeStack, run_id: str) -> dict[str, dict[str, Any]]:
    body = {"artifacts": {"flow_run_id": {"any_": [run_id]}}}
    return {a["key"]: a for a in stack.api("POST", "/artifacts/filter", body) if a["key"]}


def open_artifact(page: Page, stack: ServeStack, run_id: str, key: str) -> None:
    titles = open_artifacts_tab(page, stack, run_id)
    titles.filter(has_text=re.compile(f"^{key}$")).click()
    page.wait_for_url(re.compile(r"/artifacts/artifact/"))
    expect(page.locator(".page-heading")).to_contain_text(key)


def figure_cell(page: Page, label: str) -> str:
    """The value next to ``label`` in the key figures table of a markdown artifact."""
    first = page.locator("td", has_text=re.compile(f"^{re.escape(label)}$"))
    row = page.locator("tr").filter(has=first)
    expect(row).to_have_count(1)
    return str(row.locator("td").nth(1).inner_text()).strip()


# --- the tests ------------------------------------------------------------------------------


def test_deployments_lists_the_eight_with_their_schedules(
    page: Page, serve_stack: ServeStack
) -> None:
    page.goto(f"{serve_stack.ui_url}/deployments")
    rows = page.locator("tr").filter(has=page.locator("a.deployment-list__name"))
    expect(rows).to_have_count(8)
    shown = {
        row.locator("a.deployment-list__name").inner_text().strip(): [
            str(t).strip()
            for t in row.locator(".deployment-schedule-tags__tag").all_text_contents()
        ]
        for row in rows.all()
    }
    api = {d["name"]: d for d in serve_stack.api("POST", "/deployments/filter", {})}
    assert sorted(shown) == sorted(api) and len(shown) == 8, shown
    for name, tags in shown.items():
        crons = [s["schedule"]["cron"] for s in api[name]["schedules"]]
        assert len(tags) == len(crons), f"{name}: UI shows {tags}, the server has {crons}"
        for tag, cron in zip(tags, crons, strict=True):
            minute_field, hour_field = cron.split()[:2]
            if hour_field == "*":  # hourly (leads): the UI names the minute past the hour
                assert "hour" in tag.lower() and minute_field in tag, f"{name}: {tag!r}"
                continue
            minute, hour = int(minute_field), int(hour_field)
            clock = f"{(hour % 12) or 12:02d}:{minute:02d} {'AM' if hour < 12 else 'PM'}"
            assert clock in tag, f"{name}: {tag!r} is not {cron!r}"
    # every deployment but the on-demand ones (regeneration, the owner's word) has its schedule
    assert sorted(n for n, tags in shown.items() if not tags) == [
        "owner-feedback",
        "report-regeneration",
    ], shown


@pytest.mark.parametrize("refused", [MALFORMED_WEEK, "2025-W53", "0001-W01"])
def test_malformed_or_unreportable_week_is_refused_and_no_run_is_created(
    page: Page, serve_stack: ServeStack, refused: str
) -> None:
    # malformed; a week 53 of a 52-week year; a year outside 2020 to next year
    deployment = serve_stack.deployment("report-regeneration")
    pattern = deployment["parameter_openapi_schema"]["properties"]["week"]["pattern"]
    before = serve_stack.flow_runs(deployment["id"])

    form = open_custom_run(page, serve_stack, "report-regeneration")
    week = parameter(form, "week")
    expect(week).to_contain_text("YYYY-Www")  # the field says the form it expects
    week.locator("textarea").fill(refused)
    with page.expect_response(lambda r: "/create_flow_run" in r.url) as created:
        page.get_by_role("button", name="Submit").click()
    assert created.value.status in (409, 422), created.value.status

    message = page.locator(".p-toast-container").filter(has_text="Error creating flow run").last
    expect(message).to_be_visible()
    text = message.inner_text()
    assert "'week'" in text and refused in text, text
    assert pattern in text, f"the message does not name the expected form {pattern}: {text}"
    assert "/run" in page.url  # still on the form

    time.sleep(1)  # nothing is created late either
    after = serve_stack.flow_runs(deployment["id"])
    assert [r["id"] for r in after] == [r["id"] for r in before], "a run was created"


def test_sample_week_regenerates_with_its_figures_and_themes(
    page: Page, serve_stack: ServeStack
) -> None:
    week = serve_stack.week
    expected = serve_stack.expected
    form = open_custom_run(page, serve_stack, "report-regeneration")
    parameter(form, "week").locator("textarea").fill(week.id)
    submitted = time.time()
    run_id = submit_and_open_run(page)

    run = wait_completed(page, serve_stack, run_id, RUN_TIMEOUT_MS)
    assert run["name"] == f"weekly-report-{week.id}", run["name"]
    assert run["parameters"]["week"] == week.id
    expect(page.locator(".page-heading")).to_contain_text(f"weekly-report-{week.id}")
    serve_stack.notes["report_run"] = (run_id, submitted)

    # Artifacts tab: the key figures, the top queries, the themes when the flow makes them
    titles = open_artifacts_tab(page, serve_stack, run_id)
    keys = {str(t).strip() for t in titles.all_text_contents()}
    figures_key = artifact_key(week)
    themes_key = artifact_key(week, "themes")
    assert figures_key in keys, keys
    assert artifact_key(week, "top-queries") in keys, keys

    open_artifact(page, serve_stack, run_id, figures_key)
    assert figure_cell(page, "total queries") == str(expected["total_queries"])
    assert figure_cell(page, "unique sessions") == str(expected["unique_sessions"])
    assert figure_cell(page, "match rate") == f"{expected['match_rate'] * 100:.2f}%"

    artifacts = run_artifacts(serve_stack, run_id)
    serve_stack.notes["themes_artifact"] = themes_key in artifacts
    if themes_key not in artifacts:
        warnings.warn(f"no {themes_key} artifact: themes table not checked", stacklevel=1)
        return
    assert themes_key in keys, keys
    rows = json.loads(artifacts[themes_key]["data"])
    assert rows, "the themes table is empty"
    open_artifact(page, serve_stack, run_id, themes_key)
    table = page.locator(".artifact-data-table")
    expect(table.locator("th").first).to_have_text("theme")
    expect(table.locator(".artifact-data-table__count")).to_have_text(str(len(rows)))
    # cells are markdown-escaped (the UI renders them as markdown): it shows the text as typed
    shown = re.sub(r"\\(.)", r"\1", str(rows[0]["theme"]))
    expect(table.locator("tbody tr").first).to_contain_text(shown)


def test_dlq_triage_dry_run_from_the_ui_shows_its_summary(
    page: Page, serve_stack: ServeStack
) -> None:
    # The form starts as a dry run (the deployment's default): a Quick run acts on nothing.
    form = open_custom_run(page, serve_stack, "dlq-triage")
    switch = parameter(form, "dry_run").get_by_role("switch")
    expect(switch).to_have_attribute("aria-checked", "true")
    run_id = submit_and_open_run(page)

    run = wait_completed(page, serve_stack, run_id, RUN_TIMEOUT_MS)
    assert run["parameters"]["dry_run"] is True, run["parameters"]
    assert "dry-run" in run["name"], run["name"]
    open_artifact(page, serve_stack, run_id, "dlq-triage-try01-3-summary")
    summary = page.locator(".markdown-renderer").filter(has_text="DLQ triage").last
    expect(summary).to_contain_text("dry run")
    text = summary.inner_text()
    depth = re.search(r"DLQ depth before: (\d+)", text)
    assert depth and int(depth.group(1)) > 0, text  # the sample's invalid events
    assert re.search(r"redriven 0\b", text) and re.search(r"archived 0\b", text), text


@pytest.fixture(scope="module")
def report_html(serve_stack: ServeStack) -> Path:
    """The e-mail HTML the worker wrote for the sample week (runs the report if no test did)."""
    path = serve_stack.report_dir / serve_stack.week.id / "report.html"
    since = serve_stack.notes.get("report_run", (None, serve_stack.started))[1]
    if not path.exists() or path.stat().st_mtime < since - 1:
        deployment = serve_stack.deployment("report-regeneration")
        run = serve_stack.api(
            "POST",
            f"/deployments/{deployment['id']}/create_flow_run",
            {"parameters": {"week": serve_stack.week.id}},
        )
        deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            state = serve_stack.api("GET", f"/flow_runs/{run['id']}")["state_type"]
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            time.sleep(1)
        assert state == "COMPLETED", f"the report run ended {state}:\n{serve_stack.log_tail()}"
    assert path.exists(), f"no {path}: the report flow did not write it"
    return path


@pytest.mark.parametrize("width", EMAIL_WIDTHS)
def test_email_html_fits_has_alt_texts_and_stays_offline(
    page: Page, report_html: Path, width: int
) -> None:
    remote = open_offline(page, report_html, width)
    page.wait_for_load_state("networkidle")

    layout = page.evaluate(
        """() => ({
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
            wider: Array.from(document.querySelectorAll('body *'))
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .slice(0, 5)
                .map(e => e.outerHTML.slice(0, 160)),
            images: document.images.length,
            noAlt: Array.from(document.images)
                .filter(i => !(i.getAttribute('alt') || '').trim())
                .map(i => i.outerHTML.slice(0, 160)),
        })"""
    )
    assert layout["innerWidth"] == width
    assert layout["scrollWidth"] <= layout["innerWidth"], (
        f"{layout['scrollWidth']} px wide at {width} px; wider: {layout['wider']}"
    )
    assert not layout["noAlt"], f"images without alt text: {layout['noAlt']}"
    assert not remote, f"the e-mail HTML asked the network for {remote}"
