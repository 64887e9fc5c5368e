"""Headless Chromium loads the demo home through the gateway and sees the product grid."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import procs
from tests.browser import MARKS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = MARKS

SCREENSHOT = procs.REPO / "docs" / "demo-home.png"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = procs.free_port()
    data_dir: Path = tmp_path_factory.mktemp("demo")
    argv = [sys.executable, "-m", "gateway", "demo", "--port", str(port)]
    argv += ["--data-dir", str(data_dir)]
    with procs.serve("demo", argv, port, "/_privacy/healthz") as server:
        yield server.url


def test_home_shows_product_grid(demo: str, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        # "domcontentloaded": the offline tracker hosts may keep the load event waiting.
        response = page.goto(f"{demo}/", wait_until="domcontentloaded")
        assert response is not None and response.status == 200
        grid = page.locator("[data-product-grid] article.card")
        grid.first.wait_for(state="visible")
        assert grid.count() == 8
        assert page.locator('[data-slot="hero-banner"]').is_visible()
        assert page.locator('[data-slot="recommendations"] article.card').count() >= 1
        # The stylesheet applied: the grid is laid out in columns, not stacked.
        columns = page.eval_on_selector(
            "[data-product-grid]", "el => getComputedStyle(el).gridTemplateColumns"
        )
        assert len(columns.split()) >= 3
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=False)
    finally:
        page.close()
