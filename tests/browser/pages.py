"""Page steps the browser tests share: following a new run to Completed, opening an e-mail
offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

if TYPE_CHECKING:
    from tests.browser.conftest import ServeStack

RUN_PAGE = re.compile(r"/runs/flow-run/[0-9a-f-]{36}")


def follow_view_run(page: Page) -> str:
    """Follow the toast's "View run"; returns the flow run's id.

    The UI mounts two toast containers; the last one is on top. On a loaded machine a
    click can land while the toast still slides in: click again until the page follows.
    """
    view_run = page.get_by_role("button", name="View run").last
    for attempt in range(3):
        view_run.click()
        try:
            page.wait_for_url(RUN_PAGE, timeout=10_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
    return page.url.rstrip("/").split("/")[-1].split("?")[0]


def open_offline(page: Page, path: Path, width: int) -> list[str]:
    """Open an e-mail file at ``width`` px with only ``file:``, ``data:`` and ``cid:``
    allowed; returns what else it asked the network for (each request aborted)."""
    remote: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        if url.split(":", 1)[0] in ("file", "data", "cid"):
            route.continue_()
        else:
            remote.append(url)
            route.abort()

    page.route("**/*", only_local)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(path.as_uri(), wait_until="load")
    return remote


def wait_completed(
    page: Page, stack: ServeStack, run_id: str, timeout_ms: int = 90_000
) -> dict[str, Any]:
    """The run page's state badge says Completed; returns the run as the API has it (on a
    timeout, the error names the run's state, its message and serve's last log lines)."""
    badge = page.locator(".page-heading .state-badge").first
    try:
        expect(badge).to_have_text(re.compile("Completed"), timeout=timeout_ms)
    except AssertionError:
        seen = stack.api("GET", f"/flow_runs/{run_id}")
        raise AssertionError(
            f"run {seen['name']} is {seen['state_name']}: {seen['state'].get('message')}\n"
            f"{stack.log_tail()}"
        ) from None
    run: dict[str, Any] = stack.api("GET", f"/flow_runs/{run_id}")
    assert run["state_type"] == "COMPLETED", run["state"]
    return run
