"""Faults against real processes: the store going away under load, the gateway
killed with SIGKILL under load, an upstream answering garbage.

Expected each time: pages keep flowing (personalization fails open), consent enforcement fails
closed under gdpr, readiness reports the problem, the gateway recovers by itself when the fault
clears, no confirmed consent record is lost, and the audit chain still verifies.

The PostgreSQL case runs its own throwaway cluster (never the shared server at :5432), so the
test can stop and restart it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests import procs
from tests.cli import consentgate
from tests.demo_world import LONDON, start_world
from tests.environment import missing
from tests.figures import Figures

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
BANNER = 'id="consentgate-banner"'
BLOCKED = 'data-consentgate="blocked"'
HTML = {"X-Forwarded-For": LONDON, "Accept": "text/html"}


@dataclass
class Confirmed:
    """Consent choices the gateway confirmed (2xx): (cookie, subject_ref, purposes)."""

    records: list[tuple[str, str, dict[str, bool]]] = field(default_factory=list)
    refused: int = 0


def choose(url: str, accept: bool, confirmed: Confirmed) -> int:
    """One new visitor makes one choice; a 2xx is remembered as a promise to keep."""
    body = {"action": "accept_all" if accept else "reject_all"}
    try:
        answer = httpx.post(
            f"{url}/_privacy/consent", json=body, headers={**HTML, "Origin": url}, timeout=10
        )
    except httpx.HTTPError:
        confirmed.refused += 1
        return 0
    if answer.status_code == 200:
        state = answer.json()
        confirmed.records.append((answer.cookies["cg_id"], state["subject_ref"], state["purposes"]))
    else:
        assert answer.status_code in (409, 429, 503), answer.text  # a refusal, never a 500
        confirmed.refused += 1
    return answer.status_code


def lost_records(url: str, records: Iterable[tuple[str, str, dict[str, bool]]]) -> int:
    """How many confirmed choices `(cookie, subject_ref, purposes)` the gateway no longer
    knows (each read back by its cookie)."""
    lost = 0
    for cookie, ref, purposes in records:
        state = httpx.get(
            f"{url}/_privacy/consent", headers={**HTML, "Cookie": f"cg_id={cookie}"}, timeout=10
        ).json()
        if state["subject_ref"] != ref or state["purposes"] != purposes:
            lost += 1
    return lost


def assert_none_lost(figures: Figures, records: Sized, lost: int) -> None:
    """`lost` of the confirmed `records` were lost: counted in figures, and must be none."""
    figures.add("consent records confirmed during faults", len(records))
    figures.add("consent records lost", lost)
    assert lost == 0


def assert_audit_verifies(config: Path, figures: Figures) -> None:
    """`consentgate audit verify` passes on the world of `config` after the faults."""
    verified = consentgate("audit", "verify", config=config)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    figures.add("audit verifications after faults (pass)")


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_privacy/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} not ready again within {timeout:.0f} s")


# --- PostgreSQL stopped mid-load and restarted ------------------------------------------------


@dataclass
class Cluster:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        subprocess.run(
            [
                *_as_postgres(),
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.data / "server.log"),
                "-w",
                "-t",
                "60",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )


def _as_postgres() -> list[str]:
    # initdb and the server refuse to run as root.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        missing(f"no PostgreSQL server binaries at {PG_BIN}")
    # Outside pytest's own temp root: another pytest run as the same user resets that root
    # to 0700 at its start, which would lock the postgres user out of a cluster under it.
    base = Path(tempfile.mkdtemp(prefix="consentgate-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        [*_as_postgres(), str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    found = Cluster(data, procs.free_port())
    found.ctl("start")
    try:
        yield found
    finally:
        subprocess.run(
            [*_as_postgres(), str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.postgres
def test_store_outage_fails_closed_and_recovers(
    cluster: Cluster, tmp_path: Path, figures: Figures
) -> None:
    confirmed = Confirmed()
    with start_world(tmp_path / "demo", store_url=cluster.url) as world:
        for i in range(10):
            assert choose(world.url, i % 2 == 0, confirmed) == 200
        accepted_cookie = confirmed.records[0][0]

        cluster.ctl("stop", "-m", "fast")
        figures.add("faults injected and survived")
        # Pages keep flowing; consent state is unreadable, so trackers stay blocked for a
        # visitor who had accepted (fail closed) and nobody is told a choice was recorded.
        for _ in range(5):
            page = httpx.get(f"{world.url}/", headers=HTML, timeout=15)
            assert page.status_code == 200
            assert BLOCKED in page.text
            known = httpx.get(
                f"{world.url}/",
                headers={**HTML, "Cookie": f"cg_id={accepted_cookie}"},
                timeout=15,
            )
            assert known.status_code == 200
            assert BLOCKED in known.text, "trackers served with no readable consent state"
        during = [choose(world.url, True, confirmed) for _ in range(3)]
        assert 200 not in during, "a choice was confirmed while the store was down"
        ready = httpx.get(f"{world.url}/_privacy/readyz", timeout=15)
        assert ready.status_code == 503 and ready.json()["store"] is False

        cluster.ctl("start")
        wait_ready(world.url)
        for i in range(5):
            assert choose(world.url, i % 2 == 1, confirmed) == 200
        assert_none_lost(figures, confirmed.records, lost_records(world.url, confirmed.records))
        assert_audit_verifies(world.config, figures)


# --- the gateway killed with SIGKILL under load -----------------------------------------------


def _load(url: str, confirmed: Confirmed, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        choose(url, i % 2 == 0, confirmed)
        i += 1


def test_sigkill_under_load_loses_no_confirmed_choice(tmp_path: Path, figures: Figures) -> None:
    confirmed = Confirmed()
    with start_world(tmp_path / "demo") as world:
        stop = threading.Event()
        clients = [
            threading.Thread(target=_load, args=(world.url, confirmed, stop)) for _ in range(4)
        ]
        for client in clients:
            client.start()
        try:
            deadline = time.monotonic() + 60
            while len(confirmed.records) < 40 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.killpg(world.server.pid, signal.SIGKILL)  # granian and its workers, mid-load
            world.server.process.wait(30)
            figures.add("faults injected and survived")
            time.sleep(0.5)
        finally:
            stop.set()
            for client in clients:
                client.join(30)
        assert len(confirmed.records) >= 40
        with procs.start_gateway(world.config) as again:
            wait_ready(again.url)
            lost = lost_records(again.url, confirmed.records)
            assert choose(again.url, True, confirmed) == 200
        assert_none_lost(figures, confirmed.records, lost)
        assert_audit_verifies(world.config, figures)


# --- an upstream answering garbage ------------------------------------------------------------


GARBAGE = [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"HTTP/1.1 abc Broken\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nBad Header Without Colon\r\n\r\n",
    b"\x00\x01\x02\x03",
]


def _garbage_upstream(listener: socket.socket, reply: bytes, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(65536)
                conn.sendall(reply)
            except OSError:
                pass


@pytest.mark.parametrize("reply", GARBAGE, ids=range(len(GARBAGE)))
def test_malformed_upstream_response_is_a_502(
    reply: bytes, tmp_path: Path, figures: Figures
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    serving = threading.Thread(target=_garbage_upstream, args=(listener, reply, stop))
    serving.start()
    try:
        upstream = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = procs.write_config(tmp_path, upstream=upstream, timeouts={"read": 3})
        with procs.start_gateway(config) as gateway:
            answer = httpx.get(f"{gateway.url}/page", timeout=15)
            assert answer.status_code == 502, (answer.status_code, answer.text[:200])
            assert "Traceback" not in answer.text
            assert httpx.get(f"{gateway.url}/_privacy/healthz", timeout=5).status_code == 200
        figures.add("faults injected and survived")
    finally:
        stop.set()
        serving.join(10)
        listener.close()
