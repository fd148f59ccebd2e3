"""Page steps the browser tests share: following a new run, opening an e-mail offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

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
