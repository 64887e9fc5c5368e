"""`consentgate demo`: data dir, effective config, and the whole world as a real process."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.demo.world import (
    DemoPaths,
    default_data_dir,
    pick_shop_port,
    port_is_free,
    prepare_data_dir,
    write_config,
)
from gateway.wiring import load_config
from personalization_rules.geo import GeoReader
from tests import procs
from tests.cli import consentgate

HOME = Path("/home/ana")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, HOME / ".local/share/consentgate/demo"),
        ({"XDG_DATA_HOME": "/data"}, Path("/data/consentgate/demo")),
        ({"XDG_DATA_HOME": ""}, HOME / ".local/share/consentgate/demo"),
        # XDG Base Directory spec: relative paths are invalid and ignored.
        ({"XDG_DATA_HOME": "relative/dir"}, HOME / ".local/share/consentgate/demo"),
    ],
)
def test_default_data_dir(environ: dict[str, str], expected: Path) -> None:
    assert default_data_dir(environ, HOME) == expected


def test_prepare_builds_once_and_keeps_secrets(tmp_path: Path) -> None:
    paths = prepare_data_dir(tmp_path / "demo")
    assert paths.data_dir.is_absolute()
    password = paths.officer_password.read_text()
    assert len(password.strip()) >= 16
    assert paths.officer_password.stat().st_mode & 0o777 == 0o600
    assert paths.rules.is_dir()
    with GeoReader(paths.geo_database) as geo:
        place = geo.lookup("81.2.69.160")
        assert place is not None and place.city == "London"
    # A second start keeps the password; a damaged database is rebuilt.
    paths.geo_database.write_bytes(b"damaged")
    again = prepare_data_dir(tmp_path / "demo")
    assert again.officer_password.read_text() == password
    with GeoReader(again.geo_database) as geo:
        assert geo.lookup("192.0.2.44") is not None


def test_written_config_loads(tmp_path: Path) -> None:
    paths = prepare_data_dir(tmp_path)
    loaded = load_config(write_config(paths, 8080, 8081))
    config = loaded.config
    assert config.gateway.upstream == "http://127.0.0.1:8081"
    assert config.gateway.port == 8080
    assert [str(n) for n in config.gateway.trusted_proxies] == ["127.0.0.1/32", "::1/128"]
    assert config.storage.url == f"sqlite+aiosqlite:///{paths.store}"
    assert config.geo.database == paths.geo_database and config.geo.optional is False
    assert config.weather.provider == "offline"
    assert config.weather.offline_file == paths.weather and paths.weather.is_file()
    assert config.catalog is not None and config.catalog.name == "catalog.json"
    assert config.rules.directory == paths.rules
    # Contract, "The demo world": the regime of every demo place.
    regime_of = {
        code: name
        for name, regime in config.regimes.items()
        for code in [*regime.countries, *regime.subdivisions]
    }
    assert regime_of["GB"] == regime_of["SE"] == "gdpr"
    assert regime_of["US-WA"] == regime_of["US-CA"] == "us-optout"
    assert "TH" not in regime_of and "SA" not in regime_of and "default" in config.regimes
    # Every tracker host the shop embeds unmarked sits under a purpose.
    hosts = {h for p in config.purposes for h in p.hosts}
    for host in (
        "connect.facebook.net",
        "static.hotjar.com",
        "analytics.tiktok.com",
        "www.youtube.com",
        "www.googletagmanager.com",
        "www.facebook.com",
    ):
        assert host in hosts
    assert any("_ga" in p.cookies for p in config.purposes if p.id == "analytics")


def test_pick_shop_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert not port_is_free(taken)
        # PORT+1 is taken: any free port instead.
        other = pick_shop_port(taken - 1)
        assert other != taken and port_is_free(other)
    assert pick_shop_port(65535) != 65536


# --- the whole demo as a real process ------------------------------------------------------


@contextlib.contextmanager
def _demo(data_dir: Path, port: int) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=procs.REPO,
        env=procs.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stderr: list[str] = []

    def pump_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def pump_stderr() -> None:
        assert process.stderr is not None
        stderr.extend(process.stderr)

    pumps = [threading.Thread(target=f, daemon=True) for f in (pump_stdout, pump_stderr)]
    for pump in pumps:
        pump.start()
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not printed or printed[-1] != "Press Ctrl-C to stop.":
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("demo printed no URLs in time\n" + "".join(stderr[-40:]))
            if line is None:
                pytest.fail(f"demo exited {process.wait()}\n" + "".join(stderr[-40:]))
            printed.append(line)
        yield process, printed
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        for pump in pumps:
            pump.join(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.e2e
def test_demo_serves_the_shop_through_the_gateway(tmp_path: Path) -> None:
    port = procs.free_port()
    with _demo(tmp_path / "demo", port) as (process, printed):
        base = f"http://127.0.0.1:{port}"
        text = "\n".join(printed)
        assert f"{base}/" in text
        assert f"{base}/_privacy/preferences" in text
        assert f"{base}/_privacy/admin" in text
        password = (tmp_path / "demo" / "officer-password.txt").read_text().strip()
        assert f"officer / {password}" in text
        assert (tmp_path / "demo" / "policies.yaml").is_file()

        children = procs.descendants(process.pid)
        assert len(children) >= 2  # the shop and the gateway (and their granian workers)

        # A visitor from London, played through the trusted loopback proxy.
        response = httpx.get(f"{base}/", headers={"X-Forwarded-For": "81.2.69.160"}, timeout=10)
        assert response.status_code == 200
        assert 'data-slot="hero-banner"' in response.text
        assert 'data-slot="recommendations"' in response.text
        product = httpx.get(f"{base}/product/RW-001", timeout=10)
        assert product.status_code == 200 and 'data-slot="recommendations"' in product.text

        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert [pid for pid in children if _alive(pid)] == []
    assert not _port_answers(port)


def _port_answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.e2e
def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = consentgate("demo", "--port", str(port), "--data-dir", str(tmp_path), timeout=60)
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr
    assert result.stdout == ""


def test_paths_layout(tmp_path: Path) -> None:
    paths = DemoPaths(tmp_path)
    assert paths.config == tmp_path / "policies.yaml"
    assert paths.geo_database.suffix == ".mmdb"
