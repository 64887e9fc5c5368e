"""The compliance console in headless Chromium: an officer signs in
through the browser, filters the audit log, exports CSV, and completes a request from the
queue; everything by keyboard-reachable native controls. (`docs/console-audit.png` is taken on
the demo world, with its history: tests/gateway/demo/test_history.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from audit.export import COLUMNS
from dsr.requests_store import RequestsStore
from dsr.service import deadline_policy
from gateway.wiring import load_config
from storage.store import open_store
from tests.audit.audit_stores import MASTER_KEY, populate
from tests.browser import MARKS
from tests.gateway.console.console_world import (
    BASE,
    PASSWORD,
    add_user,
    start_console,
    write_config,
)
from tests.stores import sqlite_url

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = MARKS
SQLITE = "sqlite+aiosqlite:///"


@dataclass
class World:
    url: str
    store_url: str
    overdue: str  # request ids
    on_track: str


async def _requests(config: Path) -> tuple[str, str]:
    loaded = load_config(config).config
    store = await open_store(loaded.storage.url)
    try:
        requests = RequestsStore(store, MASTER_KEY, deadline_policy(loaded.dsr))
        now = datetime.now(UTC)
        late = await requests.receive("export", "ref-late", "gdpr", "officer", now - timedelta(60))
        fresh = await requests.receive("delete", "ref-new", "us-optout", "self", now)
    finally:
        await store.close()
    return late.id, fresh.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("console-browser")
    store_url = sqlite_url(directory)
    config = write_config(directory, store_url)
    populate(config, 12)
    add_user(config, "olivia", "officer")
    overdue, on_track = asyncio.run(_requests(config))
    with start_console(config) as server:
        yield World(server.url, store_url, overdue, on_track)


@pytest.fixture
def page(world: World, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        base_url=world.url,
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
        extra_http_headers={"X-Forwarded-For": "10.1.0.1"},
    )
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page) -> None:
    page.goto(f"{BASE}/audit")
    assert page.url.endswith(f"{BASE}/login?next=%2F_privacy%2Fadmin%2Faudit")
    # Keyboard only: the name field has focus on arrival. HTML's autofocus runs at the next
    # rendering update, which a loaded machine may not have reached when `goto` returns.
    page.wait_for_function("document.activeElement?.id === 'cg-name'", timeout=10_000)
    assert page.evaluate("document.activeElement.id") == "cg-name"
    page.keyboard.type("olivia")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "cg-password"
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"{BASE}/audit")
    assert page.locator("#cg-user").inner_text() == "olivia"
    # The first Tab reaches the skip link; Enter moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_officer_filters_exports_and_completes(page: Page, world: World, tmp_path: Path) -> None:
    sign_in(page)

    # Verify on demand; the result shows at the top of the log.
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_url(f"**{BASE}/audit")
    assert page.locator("#cg-verify-result").inner_text().startswith("Intact: ok: ")

    # Filter by action.
    page.get_by_label("Action").select_option("config.loaded")
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_url("**action=config.loaded**")
    actions = page.locator("#cg-entries td.cg-action").all_inner_texts()
    # The seeded log has 4; the gateway itself audits its own start (one more per start).
    assert len(actions) >= 4 and set(actions) == {"config.loaded"}

    # Export the filtered set as CSV.
    with page.expect_download() as download_info:
        page.locator("#cg-export-csv").click()
    download = download_info.value
    assert download.suggested_filename.startswith("audit-main-")
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / "export.csv"
    download.save_as(saved)
    with saved.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == COLUMNS
    action = COLUMNS.index("action")
    assert {r[action] for r in rows[1:]} == {"config.loaded"}
    assert len(rows) - 1 == len(actions)  # exactly the filtered set
    assert [int(r[COLUMNS.index("seq")]) for r in rows[1:5]] == [0, 3, 6, 9]

    # The request queue: the overdue request stands out; complete it.
    page.get_by_role("link", name="Requests").click()
    overdue = page.locator(f'tr[data-request="{world.overdue}"]')
    assert overdue.get_attribute("class") == "cg-overdue"
    assert "Overdue by" in overdue.inner_text()
    on_track = page.locator(f'tr[data-request="{world.on_track}"]')
    assert "Overdue" not in on_track.inner_text()
    overdue.get_by_role("button", name=f"Mark request {world.overdue} complete").click()
    page.wait_for_url("**/requests?done=1")
    assert page.get_by_role("status").inner_text() == "Request completed."
    assert page.locator(f'tr[data-request="{world.overdue}"]').count() == 0
    assert page.locator(f'tr[data-request="{world.on_track}"]').count() == 1
    # Plain sqlite3: Playwright's sync API keeps an event loop running in this thread.
    with contextlib.closing(sqlite3.connect(world.store_url.removeprefix(SQLITE))) as db:
        row = db.execute(
            "SELECT status, completed_by FROM cg_dsr_requests WHERE id = ?", (world.overdue,)
        ).fetchone()
    assert row == ("completed", "olivia")


def test_stats_page_draws_a_chart_without_script(page: Page, world: World) -> None:
    sign_in(page)
    page.get_by_role("link", name="Consent statistics").click()
    assert page.locator("script").count() == 0
    assert page.get_by_role("heading", name="Consent statistics").is_visible()
