"""Faults against real processes, continued from test_fault_recovery.py: the SQLite store
locked by another process or on a full disk, the weather API slow or down, the geo database
missing, corrupt, or overwritten while the gateway runs.

Expected each time: pages keep flowing (personalization fails open), consent enforcement fails
closed under gdpr (trackers inert, no tracker cookie), a choice that cannot be stored is a 503
the visitor can retry and never a confirmation, readiness reports the problem, the gateway
recovers by itself when the fault clears, no confirmed record is lost, every stored record has
its audit entry, and the audit chain verifies.

The full disk is a tmpfs of its own (needs CAP_SYS_ADMIN for mount; skipped without it, a
failure under CI=true):
SQLite's `max_page_count` is per connection, so it cannot be set on the file from outside, and
RLIMIT_FSIZE fails writes with EFBIG, which SQLite reports as an I/O error, not as a full disk.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests import procs
from tests.cli import consentgate
from tests.demo_world import LONDON, SAN_FRANCISCO, DemoWorld, start_world
from tests.environment import missing
from tests.figures import Figures
from tests.gateway.faults.test_fault_recovery import (
    assert_audit_verifies,
    assert_none_lost,
    lost_records,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BANNER = 'id="consentgate-banner"'
BLOCKED = 'data-consentgate="blocked"'
TRACKER_COOKIE = "_ga"  # the demo shop sets it; analytics' cookie pattern covers it
RAIN_PICKS = "Made for the rain"  # the demo's rain-picks rule (weather-driven)
HTML = {"X-Forwarded-For": LONDON, "Accept": "text/html"}
UNLISTED = "100.64.0.1"  # RFC 6598 shared space: no record in the demo geo database

# Holds SQLite's write lock on argv[1] from another process until its stdin closes.
HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO cg_meta (key, value) VALUES ('held-by-test', 'x')")
print("LOCKED", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@dataclass
class Confirmed:
    """Consent choices the gateway confirmed (200): (cookie, subject_ref, purposes)."""

    records: list[tuple[str, str, dict[str, bool]]] = field(default_factory=list)


def choose(url: str, accept: bool, confirmed: Confirmed, cookie: str | None = None) -> int:
    """One choice (a new visitor's, or `cookie`'s); a 200 is remembered as a promise to keep,
    anything else must be a clean refusal: JSON, no traceback, a 503 says when to retry."""
    headers = {**HTML, "Origin": url}
    if cookie is not None:
        headers["Cookie"] = f"cg_id={cookie}"
    body = {"action": "accept_all" if accept else "reject_all"}
    answer = httpx.post(f"{url}/_privacy/consent", json=body, headers=headers, timeout=30)
    if answer.status_code == 200:
        state = answer.json()
        confirmed.records = [r for r in confirmed.records if r[0] != cookie]
        confirmed.records.append(
            (cookie or answer.cookies["cg_id"], state["subject_ref"], state["purposes"])
        )
        return 200
    assert answer.status_code == 503, (answer.status_code, answer.text)  # never a 500
    assert "Traceback" not in answer.text
    assert "not confirmed" in answer.json()["error"]
    assert answer.headers["retry-after"].isdigit()
    return answer.status_code


def unaudited_records(database: Path) -> int:
    """Stored consent records without a consent.* audit entry for their subject (read from the
    SQLite file itself, the gateway stopped)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        records = dict(
            conn.execute("SELECT subject_id, count(*) FROM cg_consent_records GROUP BY 1")
        )
        entries = dict(
            conn.execute(
                "SELECT subject, count(*) FROM cg_audit_entries "
                "WHERE action LIKE 'consent.%' GROUP BY 1"
            )
        )
    return sum(max(0, n - entries.get(subject, 0)) for subject, n in records.items())


def wait_until(what: str, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if done():
                return
        time.sleep(0.2)
    pytest.fail(f"not {what} within {timeout:.0f} s")


def readiness(url: str) -> httpx.Response:
    return httpx.get(f"{url}/_privacy/readyz", timeout=30)


def assert_fails_closed(world: DemoWorld, cookies: list[str]) -> None:
    """Pages flow; a new visitor (and each of `cookies`, who refused) gets inert trackers and
    no tracker cookie."""
    for cookie in [None, *cookies]:
        headers = dict(HTML) if cookie is None else {**HTML, "Cookie": f"cg_id={cookie}"}
        page = httpx.get(f"{world.url}/", headers=headers, timeout=30)
        assert page.status_code == 200
        assert BLOCKED in page.text
        assert not any(
            c.startswith(f"{TRACKER_COOKIE}=") for c in page.headers.get_list("set-cookie")
        )


def finish(world: DemoWorld, confirmed: Confirmed, database: Path, figures: Figures) -> None:
    """After the fault cleared: nothing confirmed lost, every record audited, chain intact."""
    assert_none_lost(figures, confirmed.records, lost_records(world.url, confirmed.records))
    procs.stop(world.server.process)  # flushes the audit queue and signs a checkpoint
    assert unaudited_records(database) == 0
    assert_audit_verifies(world.config, figures)


# --- SQLite locked by another process ---------------------------------------------------------


def test_sqlite_locked_by_another_process(tmp_path: Path, figures: Figures) -> None:
    confirmed = Confirmed()
    with start_world(tmp_path / "demo") as world:
        database = world.data_dir / "consentgate.db"
        for i in range(6):
            assert choose(world.url, i % 2 == 0, confirmed) == 200
        refused = [cookie for cookie, _, purposes in confirmed.records if not purposes["analytics"]]
        assert readiness(world.url).status_code == 200

        with subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as holder:
            assert holder.stdin is not None and holder.stdout is not None
            assert holder.stdout.readline() == "LOCKED\n"
            figures.add("faults injected and survived")
            assert_fails_closed(world, refused)
            ready = readiness(world.url)
            assert ready.status_code == 503 and ready.json()["store"] is False
            # Each waits out the busy timeout, then is refused: no promise the store can't keep.
            assert choose(world.url, True, confirmed) == 503
            assert choose(world.url, True, confirmed, cookie=refused[0]) == 503
            holder.stdin.close()  # the lock goes with the holder's transaction
        assert holder.returncode == 0

        wait_until("ready again", lambda: readiness(world.url).status_code == 200)
        for i in range(4):
            assert choose(world.url, i % 2 == 1, confirmed) == 200
        assert choose(world.url, True, confirmed, cookie=refused[0]) == 200
        finish(world, confirmed, database, figures)


# --- SQLite on a full disk --------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs of this test's own."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        missing(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill(directory: Path) -> Path:
    """Write zeros into `directory/filler` until the disk is full; returns the filler."""
    filler = directory / "filler"
    with filler.open("wb") as handle:
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                handle.write(bytes(65536))
                handle.flush()
    return filler


def test_sqlite_disk_full(small_disk: Path, tmp_path: Path, figures: Figures) -> None:
    confirmed = Confirmed()
    database = small_disk / "consentgate.db"
    with start_world(tmp_path / "demo", store_url=f"sqlite+aiosqlite:///{database}") as world:
        for i in range(6):
            assert choose(world.url, i % 2 == 0, confirmed) == 200
        refused = [cookie for cookie, _, purposes in confirmed.records if not purposes["analytics"]]

        filler = fill(small_disk)
        figures.add("faults injected and survived")
        ready = readiness(world.url)
        assert ready.status_code == 503 and ready.json()["store"] is False
        assert_fails_closed(world, refused)
        # New visitors and known ones: neither is told a choice was recorded.
        during = [choose(world.url, True, confirmed) for _ in range(3)]
        during += [choose(world.url, True, confirmed, cookie=c) for c in refused]
        assert during == [503] * len(during)
        assert readiness(world.url).status_code == 503

        filler.unlink()
        wait_until("ready again", lambda: readiness(world.url).status_code == 200)
        for i in range(4):
            assert choose(world.url, i % 2 == 1, confirmed) == 200
        finish(world, confirmed, database, figures)


# --- the weather API slow or down -------------------------------------------------------------

SLOW_SECONDS = 5.0


@dataclass
class FakeOpenMeteo:
    """tests/fake_open_meteo.py as a process; `mode` switches what /switch/weather answers."""

    port: int
    prefix: str = "/switch/weather"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def mode(self, mode: str) -> None:
        url = f"http://127.0.0.1:{self.port}/__switch"
        httpx.get(url, params={"prefix": self.prefix, "mode": mode}, timeout=5).raise_for_status()

    def requests(self) -> int:
        url = f"http://127.0.0.1:{self.port}/__stats"
        return int(httpx.get(url, params={"prefix": self.prefix}, timeout=5).json()["count"])


@contextlib.contextmanager
def fake_open_meteo(port: int) -> Iterator[FakeOpenMeteo]:
    argv = [sys.executable, "-m", "tests.fake_open_meteo", "--port", str(port)]
    with procs.serve("open-meteo", [*argv, "--slow-seconds", str(SLOW_SECONDS)], port, "/__stats"):
        yield FakeOpenMeteo(port)


def live_weather(base_url: str) -> Callable[[dict[str, Any]], None]:
    """Config adjustment: Open-Meteo at `base_url`, quick to time out and to retry."""

    def adjust(config: dict[str, Any]) -> None:
        config["weather"] = {
            "provider": "open-meteo",
            "base_url": base_url,
            "budget_ms": 50,
            "timeout_ms": 1000,
            "cache_ttl_seconds": 1,
            "breaker_failures": 2,
            "breaker_reset_seconds": 1,
        }

    return adjust


def timed_page(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    page = httpx.get(f"{url}/", headers=HTML, timeout=30)
    return page, time.monotonic() - started


def assert_unpersonalized(world: DemoWorld, pages: int = 4) -> None:
    """Pages come without waiting for the weather API and show no weather-driven content."""
    for _ in range(pages):
        page, took = timed_page(world.url)
        assert page.status_code == 200
        assert 'data-slot="recommendations"' in page.text
        assert RAIN_PICKS not in page.text
        assert took < SLOW_SECONDS, f"a page waited {took:.1f} s for the weather API"
        time.sleep(0.3)  # let the breaker's trial fetches happen between pages


def rain_shows(url: str) -> bool:
    return RAIN_PICKS in httpx.get(f"{url}/", headers=HTML, timeout=30).text


@pytest.mark.parametrize("mode", ["slow", "500"])
def test_weather_api_slow_or_failing(mode: str, tmp_path: Path, figures: Figures) -> None:
    with fake_open_meteo(procs.free_port()) as api:
        api.mode(mode)
        with start_world(tmp_path / "demo", adjust=live_weather(api.base_url)) as world:
            figures.add("faults injected and survived")
            assert_unpersonalized(world)
            assert api.requests() >= 1  # the gateway did ask (the fault was met, not skipped)
            assert readiness(world.url).status_code == 200  # weather is not a dependency

            api.mode("ok")
            wait_until("showing the weather again", lambda: rain_shows(world.url))


def test_weather_api_down_then_back(tmp_path: Path, figures: Figures) -> None:
    port = procs.free_port()  # nothing listens yet: every fetch is refused
    base_url = f"http://127.0.0.1:{port}/ok/weather"
    with start_world(tmp_path / "demo", adjust=live_weather(base_url)) as world:
        figures.add("faults injected and survived")
        assert_unpersonalized(world)
        with fake_open_meteo(port) as api:
            api.prefix = "/ok/weather"
            wait_until("showing the weather again", lambda: rain_shows(world.url))
            assert api.requests() >= 1


# --- the geo database missing, corrupt, or overwritten while running --------------------------


def geo_config(world_dir: Path, *, optional: bool) -> tuple[Path, Path]:
    """A demo config (gateway not started) whose geo database the test may break."""
    from gateway.demo.world import prepare_data_dir, write_config

    paths = prepare_data_dir(world_dir)
    config = write_config(paths, procs.free_port(), procs.free_port())
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["geo"]["optional"] = optional
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config, paths.geo_database


def run_gateway(config: Path) -> subprocess.CompletedProcess[str]:
    return consentgate("run", config=config, timeout=60)


BROKEN_GEO = {
    "missing": lambda path: path.unlink(),
    "empty": lambda path: path.write_bytes(b""),
    "garbage": lambda path: path.write_bytes(b"\x00\xffnot a MaxMind DB" * 64),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
}


@pytest.mark.parametrize("breakage", BROKEN_GEO)
def test_geo_database_broken_at_start_refuses_to_start(
    breakage: str, tmp_path: Path, figures: Figures
) -> None:
    config, geo = geo_config(tmp_path / "demo", optional=False)
    BROKEN_GEO[breakage](geo)
    started = run_gateway(config)
    assert started.returncode == 1, started.stdout + started.stderr
    assert str(geo) in started.stderr  # the operator is told which file
    assert "Traceback" not in started.stderr
    figures.add("faults injected and survived")


def assert_gdpr_fail_closed(url: str, ip: str) -> None:
    """`ip`'s visitor is under the strictest regime: banner owed, trackers inert, no cookie."""
    headers = {"X-Forwarded-For": ip, "Accept": "text/html"}
    state = httpx.get(f"{url}/_privacy/consent", headers=headers, timeout=10).json()
    assert state["regime"] == "gdpr"
    assert not state["purposes"]["analytics"] and not state["purposes"]["marketing"]
    page = httpx.get(f"{url}/", headers=headers, timeout=30)
    assert page.status_code == 200
    assert BANNER in page.text and BLOCKED in page.text
    assert not any(c.startswith(f"{TRACKER_COOKIE}=") for c in page.headers.get_list("set-cookie"))


@pytest.mark.parametrize("breakage", ["missing", "garbage"])
def test_optional_geo_database_broken_means_unknown_location_gdpr(
    breakage: str, tmp_path: Path, figures: Figures
) -> None:
    config, geo = geo_config(tmp_path / "demo", optional=True)
    BROKEN_GEO[breakage](geo)
    with procs.start_upstream() as upstream:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["gateway"]["upstream"] = upstream.url  # any upstream: this is about the regime
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        with procs.start_gateway(config) as gateway:
            figures.add("faults injected and survived")
            # San Francisco is us-optout with the database; unknown without it: gdpr.
            headers = {"X-Forwarded-For": SAN_FRANCISCO}
            state = httpx.get(f"{gateway.url}/_privacy/consent", headers=headers, timeout=10)
            assert state.json()["regime"] == "gdpr"
            assert not state.json()["purposes"]["analytics"]
            assert "geo database" in gateway.log() and str(geo) in gateway.log()


@pytest.mark.parametrize("breakage", ["empty", "garbage"])
def test_geo_database_overwritten_in_place_while_running(
    breakage: str, tmp_path: Path, figures: Figures
) -> None:
    with start_world(tmp_path / "demo") as world:
        geo = world.data_dir / "geo" / "demo-city.mmdb"
        headers = {"X-Forwarded-For": SAN_FRANCISCO, "Accept": "text/html"}
        before = httpx.get(f"{world.url}/_privacy/consent", headers=headers, timeout=10).json()
        assert before["regime"] == "us-optout"
        # In place, as `cp` or a failed download does it (same inode, new length): a process
        # that memory-mapped the file reads past its new end and dies of SIGBUS.
        BROKEN_GEO[breakage](geo)
        figures.add("faults injected and survived")
        for _ in range(3):
            page = httpx.get(f"{world.url}/", headers=headers, timeout=30)
            assert page.status_code == 200
            state = httpx.get(f"{world.url}/_privacy/consent", headers=headers, timeout=10)
            # The database as it was opened keeps answering until the next start.
            assert state.json()["regime"] == "us-optout"
        assert_gdpr_fail_closed(world.url, UNLISTED)
        assert world.server.process.poll() is None
        procs.stop(world.server.process)
        # The next start refuses it, naming the file.
        started = run_gateway(world.config)
        assert started.returncode == 1 and str(geo) in started.stderr


# --- one worker process dies --------------------------------------------------------------------


def test_dead_worker_is_replaced(tmp_path: Path, figures: Figures) -> None:
    # What the SIGBUS above did before the geo fix: without respawn, granian stopped the whole
    # gateway when its one worker died.
    confirmed = Confirmed()
    with start_world(tmp_path / "demo") as world:
        for i in range(4):
            assert choose(world.url, i % 2 == 0, confirmed) == 200
        (worker,) = procs.descendants(world.server.pid)
        os.kill(worker, signal.SIGKILL)
        figures.add("faults injected and survived")

        def replaced() -> bool:
            return readiness(world.url).status_code == 200 and worker not in procs.descendants(
                world.server.pid
            )

        wait_until("served by a new worker", replaced)
        assert world.server.process.poll() is None
        assert choose(world.url, True, confirmed) == 200
        finish(world, confirmed, world.data_dir / "consentgate.db", figures)
