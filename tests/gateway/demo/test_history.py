"""The demo's month of back-dated history (gateway/demo/history.py): the pure plan, and the
real `consentgate demo` whose store starts with it, verifies, and shows it in the console."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from gateway.demo.history import ACTOR, DAYS, plan
from gateway.demo.world import demo_config, prepare_data_dir
from gateway.wiring import load_config
from tests import procs
from tests.browser import CHROMIUM
from tests.cli import consentgate
from tests.demo_world import DemoWorld, start_demo
from tests.environment import needs
from tests.gateway.console.console_world import BASE, login

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TODAY = date(2026, 12, 5)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> object:
    import yaml

    paths = prepare_data_dir(tmp_path_factory.mktemp("plan"))
    paths.config.write_text(yaml.safe_dump(demo_config(paths, 8080, 8081)))
    return load_config(paths.config).config


def test_plan_is_a_deterministic_month_before_today(config: object) -> None:
    planned = plan(config, TODAY)  # type: ignore[arg-type]
    assert planned == plan(config, TODAY)  # type: ignore[arg-type]
    days = {c.ts.date() for c in planned}
    assert min(days) == TODAY - timedelta(days=DAYS) and max(days) < TODAY
    assert len(days) >= DAYS - 1  # every day has choices (a withdrawal may be the only one)
    assert [c.ts for c in planned] == sorted(c.ts for c in planned)
    kinds = Counter(c.kind for c in planned)
    assert set(kinds) == {"accept_all", "reject_all", "custom", "withdraw", "gpc"}
    assert {c.regime for c in planned} == {"gdpr", "us-optout", "default"}
    assert 400 <= len(planned) <= 900
    # GPC only where the regime is an opt-out one; a withdrawal follows its visitor's choice.
    assert {c.regime for c in planned if c.kind == "gpc"} == {"us-optout"}
    first = {}
    for c in planned:
        first.setdefault(c.visitor, c)
        if c.kind == "withdraw":
            assert first[c.visitor].ts < c.ts and not any(c.choices.values())
    assert plan(config, TODAY, seed=1) != planned  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    with start_demo(tmp_path_factory.mktemp("demo-history")) as running:
        yield running


def _cli(world: DemoWorld, *args: str) -> subprocess.CompletedProcess[str]:
    return consentgate(*args, config=world.config)


@pytest.mark.e2e
def test_demo_store_starts_with_a_month_of_history_that_verifies(world: DemoWorld) -> None:
    today = datetime.now(UTC).date()
    with sqlite3.connect(world.data_dir / "consentgate.db") as db:
        days = {d for (d,) in db.execute("SELECT DISTINCT date(ts) FROM cg_consent_records")}
        regimes = {r for (r,) in db.execute("SELECT DISTINCT regime FROM cg_consent_records")}
        (meta,) = db.execute("SELECT value FROM cg_meta WHERE key = 'demo.history'").fetchone()
    assert len({d for d in days if d < today.isoformat()}) >= DAYS - 1
    assert min(days) == (today - timedelta(days=DAYS)).isoformat()
    assert regimes == {"gdpr", "us-optout", "default"}
    summary = json.loads(meta)
    assert summary["choices"] >= 400 and summary["last_day"] < today.isoformat()

    verify = _cli(world, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    rows = [
        json.loads(line)
        for line in _cli(world, "audit", "export", "--format", "jsonl").stdout.splitlines()
    ]
    demo = [r for r in rows if r["actor"] == ACTOR]
    assert len(demo) == summary["choices"]
    assert all(r["public"] == {"demo": True} and r["data"] is not None for r in demo)
    assert {r["action"] for r in demo} >= {"consent.given", "consent.withdrawn", "consent.gpc"}
    # Back-dated: the demo's entries carry the choices' days, before the gateway's own start.
    assert demo[0]["ts"][:10] == min(days)
    started = next(r for r in rows if r["action"] == "config.loaded")
    assert started["seq"] > demo[-1]["seq"] and started["actor"] == "system"


def _officer(world: DemoWorld) -> httpx.Client:
    password = (world.data_dir / "officer-password.txt").read_text().strip()
    http = httpx.Client(base_url=world.url, headers={"X-Forwarded-For": "10.2.0.1"}, timeout=60)
    assert login(http, "officer", password).status_code == 303
    return http


@pytest.mark.e2e
def test_console_statistics_show_the_month_and_say_it_is_demo_data(world: DemoWorld) -> None:
    http = _officer(world)
    try:
        page = http.get(f"{BASE}/stats", params={"days": "30"})
    finally:
        http.close()
    assert page.status_code == 200
    assert 'id="cg-demo-history"' in page.text and "actor <code>demo</code>" in page.text
    assert 'id="cg-no-stats"' not in page.text
    lines = re.findall(r'<polyline points="([^"]+)"', page.text)
    assert lines and max(len(points.split()) for points in lines) >= 20  # a month, not dots


@pytest.mark.browser
@pytest.mark.e2e
@needs(CHROMIUM, "chromium is not installed (apt install chromium)")
def test_screenshots_of_statistics_and_audit_log(world: DemoWorld, browser: Browser) -> None:
    """Leaves `docs/console-stats.png` and `docs/console-audit.png` (the README shows them)."""
    password = (world.data_dir / "officer-password.txt").read_text().strip()
    context = browser.new_context(
        base_url=world.url,
        viewport={"width": 1280, "height": 900},
        extra_http_headers={"X-Forwarded-For": "10.2.0.2"},
    )
    try:
        page = context.new_page()
        page.goto(f"{BASE}/login?next={BASE}/stats?days=30")
        page.get_by_label("User name").fill("officer")
        page.get_by_label("Password").fill(password)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("#cg-demo-history").is_visible()
        docs = procs.REPO / "docs"
        page.screenshot(path=str(docs / "console-stats.png"), full_page=True)
        page.goto(f"{BASE}/audit")
        page.get_by_role("button", name="Verify now").click()
        page.wait_for_url(f"**{BASE}/audit")
        assert page.locator("#cg-verify-result").inner_text().startswith("Intact: ok: ")
        # The table fits: times on one line, the hash column inside the viewport.
        row = page.locator("#cg-entries tbody tr").first
        time_box = row.locator("td.cg-time").bounding_box()
        hash_box = row.locator("td.cg-hash").bounding_box()
        assert time_box is not None and hash_box is not None
        assert time_box["height"] < 40  # one line (a wrapped time was three)
        assert hash_box["x"] + hash_box["width"] <= 1280
        page.screenshot(path=str(docs / "console-audit.png"), full_page=False)
    finally:
        context.close()
