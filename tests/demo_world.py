"""The demo world (shop + gateway) as real processes, for end-to-end tests of consent,
personalization and audit. Visitors are played with `X-Forwarded-For` (the demo trusts
loopback as a proxy, per the contract's demo table)."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import procs

LONDON = "81.2.69.160"
LINKOPING = "89.160.20.112"
MILTON = "216.160.83.56"
SAN_FRANCISCO = "198.51.100.7"
BANGKOK = "203.0.113.9"
RIYADH = "192.0.2.44"
# Starts of the demo tried when another process takes its port between our pick and its bind.
START_ATTEMPTS = 3


@dataclass
class DemoWorld:
    """A running `consentgate demo`: the gateway's base URL and the demo's data dir."""

    url: str
    data_dir: Path
    server: procs.Server

    @property
    def config(self) -> Path:
        return self.data_dir / "policies.yaml"


@contextlib.contextmanager
def start_demo(data_dir: Path) -> Iterator[DemoWorld]:
    """`python -m gateway demo --port P --data-dir DATA_DIR`, ready once the gateway and the
    shop behind it answer.

    An empty `data_dir` starts as a copy of the one data dir per test process whose first
    demo start wrote the month of history (`history_seed`): what the demo finds on a second
    start, without writing the history again for every module.
    """
    if not data_dir.exists() or not any(data_dir.iterdir()):
        shutil.copytree(history_seed(), data_dir, dirs_exist_ok=True)
    with _run_demo(data_dir) as world:
        yield world


@pytest.fixture(scope="session")
def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    """One demo world for the whole session, for modules that read pages with the demo's own
    config and make only their own visitors' choices (no counts over the whole store, no
    config of their own). A module that needs either starts its own with `start_demo`."""
    with start_demo(tmp_path_factory.mktemp("shared-demo")) as running:
        yield running


@pytest.fixture(scope="module")
def own_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    """A demo world for one module alone: for modules whose choices, counts or config would
    disturb `shared_demo`."""
    with start_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


_seed: Path | None = None


def history_seed() -> Path:
    """A demo data dir after one start and stop of the demo (history, keys, officer), made
    once per test process and removed when it exits."""
    global _seed
    if _seed is None:
        directory = Path(tempfile.mkdtemp(prefix="consentgate-demo-seed-"))
        atexit.register(shutil.rmtree, directory, True)
        with _run_demo(directory / "data"):
            pass
        _seed = directory / "data"
    return _seed


@contextlib.contextmanager
def _run_demo(data_dir: Path) -> Iterator[DemoWorld]:
    for attempt in range(1, START_ATTEMPTS + 1):
        port = procs.free_port()
        url = f"http://127.0.0.1:{port}"
        with procs.log_file("demo") as (log, log_path):
            process = procs.spawn(
                [sys.executable, "-m", "gateway", "demo", "--port", str(port), "--data-dir",
                 str(data_dir)],
                log,
            )  # fmt: skip
            try:
                try:
                    # A first start writes the demo's month of history before the gateway
                    # starts.
                    procs.wait_http(f"{url}/_privacy/healthz", process, log_path, timeout=120)
                    procs.wait_http(f"{url}/", process, log_path)
                    _wait_banner(process, log_path)
                except RuntimeError:
                    # Another process on the machine bound the free port (or the shop's) before
                    # the demo did: the demo exits at once, and a fresh port will do.
                    said = log_path.read_text(errors="replace")
                    lost_port = "is in use" in said or "could not start" in said
                    if process.poll() is not None and lost_port and attempt < START_ATTEMPTS:
                        continue
                    raise
                yield DemoWorld(url, data_dir, procs.Server(url, port, process, log_path))
                return
            finally:
                procs.stop(process)


def _wait_banner(process: subprocess.Popen[bytes], log_path: Path) -> None:
    # The demo creates its officer after both servers answer, then prints its banner.
    deadline = time.monotonic() + procs.START_TIMEOUT
    while "consentgate demo is running" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("demo printed no banner\n" + log_path.read_text(errors="replace"))
        time.sleep(0.05)


@contextlib.contextmanager
def start_world(
    data_dir: Path,
    store_url: str | None = None,
    adjust: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[DemoWorld]:
    """The demo shop and a gateway in front of it, started separately so a test can choose the
    store (e.g. a fresh PostgreSQL database) and `adjust` the config mapping in place (e.g. a
    small k); the rest is the demo's own config."""
    import yaml

    from gateway.demo.world import prepare_data_dir, write_config

    paths = prepare_data_dir(data_dir)
    port, shop_port = procs.free_port(), procs.free_port()
    config = write_config(paths, port, shop_port)
    if store_url is not None or adjust is not None:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        if store_url is not None:
            data["storage"]["url"] = store_url
        if adjust is not None:
            adjust(data)
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    shop = [sys.executable, "-m", "granian", "--interface", "asgi", "--no-ws", "--host",
            "127.0.0.1", "--port", str(shop_port), "--no-access-log",
            "gateway.demo.shop:app"]  # fmt: skip
    with procs.serve("shop", shop, shop_port, "/"), procs.start_gateway(config) as gateway:
        yield DemoWorld(gateway.url, data_dir, gateway)
