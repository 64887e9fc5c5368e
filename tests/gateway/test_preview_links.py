"""Preview links end to end: `consentgate rules preview` mints a link against the demo world's
config, the link is fetched through the real gateway, and it forces the experiment arm or the
visitor type for that request only; the storefront never
sees `cg_preview`. Command-line errors exit 2 with a reason."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.cli.rules_preview import link, preview
from tests import procs
from tests.cli import consentgate
from tests.demo_world import LONDON, DemoWorld, start_world

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 20.0
# The demo's `welcome-copy` experiment (hero-new): each arm's headline.
ARMS = {"control": "New here? Welcome", "free-shipping": "Welcome! Shipping is on us"}
CUSTOMER = "Welcome back, member"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    with start_world(tmp_path_factory.mktemp("demo")) as running:
        yield running


def cli(world: DemoWorld, *args: str) -> subprocess.CompletedProcess[str]:
    return consentgate("rules", "preview", "--config", str(world.config), *args)


def minted(world: DemoWorld, *args: str) -> str:
    done = cli(world, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def arm(html: str) -> str | None:
    """Which welcome-copy arm the hero banner shows (None: another banner or none)."""
    found = [name for name, headline in ARMS.items() if headline in html]
    assert len(found) <= 1
    return found[0] if found else None


def decision_count(data_dir: Path, rule: str) -> int:
    with sqlite3.connect(f"file:{data_dir / 'consentgate.db'}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM cg_decisions WHERE rule_id = ?", (rule,)
        ).fetchone()
    return int(row[0])


def test_preview_forces_arm_and_profile_for_one_request_only(world: DemoWorld) -> None:
    with httpx.Client(
        base_url=world.url, headers={"X-Forwarded-For": LONDON, "Accept": "text/html"}, timeout=10
    ) as visitor:
        answer = visitor.post(
            "/_privacy/consent", json={"action": "accept_all"}, headers={"Origin": world.url}
        )
        assert answer.status_code == 200
        own = arm(visitor.get("/").text)
        assert own in ARMS  # a consented new visitor is in the experiment, sticky
        other = next(a for a in ARMS if a != own)
        normal_views = 1

        # The other arm, forced by the link; the page's own query is kept for the shop.
        url = minted(world, "--url", "/?ref=mail", "--variant", f"welcome-copy={other}")
        assert url.startswith("/?ref=mail&cg_preview=p1.")
        page = visitor.get(url)
        assert page.status_code == 200
        assert arm(page.text) == other
        assert page.headers["cache-control"] == "private, no-store"
        assert page.headers["x-consentgate-preview"] == "on"

        # Not sticky: the next plain request is the visitor's own arm again.
        assert arm(visitor.get("/").text) == own
        normal_views += 1

        # A forced visitor type: the customer home page for this request only.
        page = visitor.get(minted(world, "--url", "/", "--visitor-type", "customer"))
        assert CUSTOMER in page.text and arm(page.text) is None
        plain = visitor.get("/")
        assert CUSTOMER not in plain.text and arm(plain.text) == own
        assert plain.headers["cache-control"] == "private, no-cache"
        assert "x-consentgate-preview" not in plain.headers
        normal_views += 1

        # Previews record nothing: once the plain views' decisions are written (the queue
        # writes in order), hero-new counts exactly those and hero-customer was never kept.
        deadline = time.monotonic() + DEADLINE_S
        while decision_count(world.data_dir, "hero-new") < normal_views:
            assert time.monotonic() < deadline, "decisions were not written"
            time.sleep(0.1)
        assert decision_count(world.data_dir, "hero-new") == normal_views
        assert decision_count(world.data_dir, "hero-customer") == 0


def test_refused_tokens_serve_the_normal_page(world: DemoWorld) -> None:
    expired = io.StringIO()
    past = datetime.now(UTC) - timedelta(hours=2)
    code = preview(world.config, "/", visitor_type="customer", ttl="1h", out=expired, now=past)
    assert code == 0
    cases = {
        expired.getvalue().strip(): "invalid (expired)",
        minted(world, "--url", "/category/rainwear", "--visitor-type", "customer").replace(
            "/category/rainwear", "/", 1
        ): "invalid (other path)",
        link("/", "p1.e30.AAAA"): "invalid (bad signature)",
        link("/", "garbage"): "invalid (malformed)",
    }
    with httpx.Client(
        base_url=world.url, headers={"X-Forwarded-For": LONDON, "Accept": "text/html"}, timeout=10
    ) as visitor:
        visitor.post(
            "/_privacy/consent", json={"action": "accept_all"}, headers={"Origin": world.url}
        )
        for url, header in cases.items():
            page = visitor.get(url)
            assert page.status_code == 200, url
            assert page.headers["x-consentgate-preview"] == header
            assert page.headers["cache-control"] == "private, no-store"
            assert CUSTOMER not in page.text
            assert arm(page.text) in ARMS  # the visitor's normal page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--url", "/", "--variant", "nope=control"), "unknown experiment 'nope'"),
        (("--url", "/", "--variant", "welcome-copy=bold"), "has no variant 'bold'"),
        (("--url", "/", "--variant", "welcome-copy"), "expected EXP=VARIANT"),
        (("--url", "/", "--visitor-type", "vip"), "--visitor-type 'vip'"),
        (("--url", "/"), "nothing to preview"),
        (("--url", "http://shop.example/", "--visitor-type", "new"), "a path on the shop"),
        (("--url", "/", "--visitor-type", "new", "--ttl", "soon"), "--ttl"),
        (("--url", "/", "--visitor-type", "new", "--ttl", "90d"), "at most 30d"),
    ],
)
def test_cli_usage_errors_exit_2(world: DemoWorld, args: tuple[str, ...], message: str) -> None:
    done = cli(world, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_link_keeps_query_and_fragment() -> None:
    assert link("/", "T") == "/?cg_preview=T"
    assert link("/p?a=1", "T") == "/p?a=1&cg_preview=T"
    assert link("/p?", "T") == "/p?cg_preview=T"
    assert link("/p?a=1#top", "T") == "/p?a=1&cg_preview=T#top"


@pytest.fixture(scope="module")
def echo_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    with procs.start_upstream() as upstream:
        config = procs.write_config(tmp_path_factory.mktemp("echo"), upstream=upstream.url)
        with procs.start_gateway(config) as gateway:
            yield gateway


def test_storefront_never_sees_the_token(echo_gateway: procs.Server) -> None:
    answer = httpx.get(f"{echo_gateway.url}/echo?a=1&cg_preview=p1.x.y&b=%20", timeout=10)
    assert answer.status_code == 200
    assert answer.json()["raw_path"] == "/echo?a=1&b=%20"
    assert answer.headers["x-consentgate-preview"] == "invalid (malformed)"
    assert answer.headers["cache-control"] == "private, no-store"
