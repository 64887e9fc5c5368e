"""Frequency caps end to end: the demo world plus one capped banner. A consented subject sees
it `max` times, then the slot's next rule; pages without the slot do not count; another subject
still sees it; a visitor without consent is not counted, so no cap applies (counting impressions
needs a subject, and a subject needs consent)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.demo import world as demo
from tests.demo_world import LONDON, DemoWorld, start_world

pytestmark = pytest.mark.e2e

CAP = 2
DEADLINE_S = 20.0
FLASH = "Flash sale: two days only"
CAPPED_RULE = f"""
rules:
  - id: flash-sale
    description: A loud banner nobody should see more than {CAP} times a day.
    priority: 200
    slot: hero-banner
    when: {{}}
    frequency: {{max: {CAP}, per: day}}
    then:
      banner:
        template: '<section class="hero hero-flash"><h1>{{{{ headline }}}}</h1></section>'
        vars: {{headline: "{FLASH}"}}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    rules = tmp_path_factory.mktemp("rules")
    for source in (Path(demo.__file__).parent / "rules").glob("*.yaml"):
        shutil.copy(source, rules / source.name)
    (rules / "flash.yaml").write_text(CAPPED_RULE, encoding="utf-8")

    def adjust(data: dict[str, Any]) -> None:
        data["rules"] = {"directory": str(rules)}

    with start_world(tmp_path_factory.mktemp("demo"), adjust=adjust) as running:
        yield running


def counted(data_dir: Path) -> int:
    """Impressions of the capped rule stored over all subjects."""
    with sqlite3.connect(f"file:{data_dir / 'consentgate.db'}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM cg_impressions WHERE rule_id = 'flash-sale'"
        ).fetchone()
    return int(row[0])


def wait_counted(world: DemoWorld, n: int) -> None:
    """Impressions are queued after the page; wait until the store holds `n`."""
    deadline = time.monotonic() + DEADLINE_S
    while counted(world.data_dir) < n:
        assert time.monotonic() < deadline, f"impression {n} was not written"
        time.sleep(0.05)
    assert counted(world.data_dir) == n


@contextlib.contextmanager
def visitor(world: DemoWorld, consent: bool) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=world.url, headers={"X-Forwarded-For": LONDON, "Accept": "text/html"}, timeout=10
    ) as client:
        if consent:
            answer = client.post(
                "/_privacy/consent", json={"action": "accept_all"}, headers={"Origin": world.url}
            )
            assert answer.status_code == 200 and client.cookies.get("cg_id")
        yield client


def flash_shown(client: httpx.Client) -> bool:
    page = client.get("/")
    assert page.status_code == 200
    return FLASH in page.text


def test_capped_banner_stops_after_max_per_subject(world: DemoWorld) -> None:
    total = 0
    with visitor(world, consent=True) as first:
        # Pages without the slot (the demo's category pages) decide it but show nothing:
        # no impression. The cap counts what was shown.
        for category in ("rainwear", "outdoor"):  # one view each: still a "new" visitor
            page = first.get(f"/category/{category}")
            assert page.status_code == 200 and 'data-slot="hero-banner"' not in page.text
        for _ in range(CAP):
            assert flash_shown(first)
            total += 1
            wait_counted(world, total)
        # Capped: the slot falls through to the next rule (the new-visitor welcome).
        for _ in range(3):
            home = first.get("/").text
            assert FLASH not in home and "hero-new" in home
        assert counted(world.data_dir) == total  # hidden banners are not impressions

    with visitor(world, consent=True) as second:  # another subject: their own counter
        assert flash_shown(second)
        total += 1
        wait_counted(world, total)

    # No consent: no subject, no counter, hence no cap; and nothing is stored about them.
    with visitor(world, consent=False) as anonymous:
        assert all(flash_shown(anonymous) for _ in range(CAP + 2))
        assert anonymous.cookies.get("cg_id") is None
    assert counted(world.data_dir) == total
