"""`consentgate demo`: the bundled shop with the gateway in front, on nothing but the install.

First start fills the data dir (default `$XDG_DATA_HOME/consentgate/demo`, else
`~/.local/share/consentgate/demo`):

    policies.yaml          the effective config (every other command works with --config)
    geo/demo-city.mmdb     the demo geo database (built here, GeoLite2-City shape)
    weather.json           offline weather: Open-Meteo `current` responses keyed "LAT,LON"
    consentgate.db         the SQLite store
    officer-password.txt   the demo officer's password (mode 0600)
    rules/                 rule files (the demo's own, copied from gateway/demo/rules)

Then it runs two children, each in its own process group: the shop under granian on
127.0.0.1:PORT+1 (or any free port) and `python -m gateway run` on PORT, waits until both
answer, prints the URLs and runs until SIGINT/SIGTERM, when it stops both.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from gateway.demo.geodb import build_geo_database
from gateway.demo.history import HistorySummary, write_history
from gateway.demo.products import CATALOG_PATH
from personalization_rules.geo import GeoDatabaseError, GeoReader
from policies.models import GDPR_COUNTRIES, US_OPTOUT_SUBDIVISIONS

HERE = Path(__file__).parent
HOST = "127.0.0.1"
OFFICER_LOGIN = "officer"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps each of its files."""

    data_dir: Path

    @property
    def config(self) -> Path:
        return self.data_dir / "policies.yaml"

    @property
    def geo_database(self) -> Path:
        return self.data_dir / "geo" / "demo-city.mmdb"

    @property
    def weather(self) -> Path:
        return self.data_dir / "weather.json"

    @property
    def store(self) -> Path:
        return self.data_dir / "consentgate.db"

    @property
    def officer_password(self) -> Path:
        return self.data_dir / "officer-password.txt"

    @property
    def rules(self) -> Path:
        return self.data_dir / "rules"


def default_data_dir(environ: Mapping[str, str], home: Path) -> Path:
    """`$XDG_DATA_HOME/consentgate/demo`, else `HOME/.local/share/consentgate/demo`."""
    xdg = environ.get("XDG_DATA_HOME", "")
    # XDG Base Directory spec: a relative path in $XDG_DATA_HOME is invalid and ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "consentgate" / "demo"


def demo_config(paths: DemoPaths, port: int, shop_port: int) -> dict[str, Any]:
    """The demo's effective config as a mapping (what `policies.yaml` will hold)."""
    base = yaml.safe_load((HERE / "policies.base.yaml").read_text(encoding="utf-8"))
    return {
        "version": 1,
        "gateway": {
            "upstream": f"http://{HOST}:{shop_port}",
            "host": HOST,
            "port": port,
            # Contract, "The demo world": loopback is a trusted proxy, so X-Forwarded-For
            # plays visitors from anywhere. Never do this on a public address.
            "trusted_proxies": ["127.0.0.1/32", "::1/128"],
        },
        "storage": {"url": f"sqlite+aiosqlite:///{paths.store}"},
        "geo": {"database": str(paths.geo_database)},
        "weather": {"provider": "offline", "offline_file": str(paths.weather)},
        "rules": {"directory": str(paths.rules)},
        "catalog": str(CATALOG_PATH),
        "policy": base["policy"],
        "regimes": {
            "gdpr": {"countries": list(GDPR_COUNTRIES)},
            # Contract, "The demo world": Milton (US-WA) is a us-optout visitor; Washington
            # is not in the default list, so the demo adds it.
            "us-optout": {"subdivisions": [*US_OPTOUT_SUBDIVISIONS, "US-WA"]},
            "default": {},
        },
        "purposes": base["purposes"],
        "personalization": base["personalization"],
        # Google Consent Mode v2 for the shop's gtag (region-scoped defaults + update).
        "consent_mode": {"enabled": True},
    }


def prepare_data_dir(data_dir: Path) -> DemoPaths:
    """Create what the demo needs in `data_dir`, keeping what a previous run left."""
    paths = DemoPaths(data_dir.resolve())
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    paths.rules.mkdir(exist_ok=True)
    # The demo's own rule files are refreshed on every start; files the operator added stay.
    for rule_file in sorted((HERE / "rules").glob("*.yaml")):
        shutil.copyfile(rule_file, paths.rules / rule_file.name)
    try:
        GeoReader(paths.geo_database).close()
    except GeoDatabaseError:
        build_geo_database(paths.geo_database)
    if not paths.weather.is_file():
        shutil.copyfile(HERE / "weather.json", paths.weather)
    if not paths.officer_password.is_file():
        _write_secret(paths.officer_password, secrets.token_urlsafe(12) + "\n")
    return paths


def _write_secret(path: Path, text: str) -> None:
    # Owner-only from the first byte: create with 0600 instead of chmod after writing.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_config(paths: DemoPaths, port: int, shop_port: int) -> Path:
    """Write the effective config to `DATA_DIR/policies.yaml` and return its path."""
    header = (
        "# Written by `consentgate demo`; rewritten on every demo start.\n"
        f"# Use it with any command: consentgate check --config {paths.config}\n"
    )
    body = yaml.safe_dump(demo_config(paths, port, shop_port), sort_keys=False, allow_unicode=True)
    paths.config.write_text(header + body, encoding="utf-8")
    return paths.config


def port_is_free(port: int) -> bool:
    """True when `port` can be bound on the loopback address right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the OS says is free on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pick_shop_port(port: int) -> int:
    """PORT+1 when free (easy to remember), else any free port."""
    if port + 1 <= 65535 and port_is_free(port + 1):
        return port + 1
    return free_port()


def _child_env() -> dict[str, str]:
    # The children import `gateway` by module name; make that work from a source checkout
    # too (the directory holding the `gateway` package goes first on PYTHONPATH).
    env = dict(os.environ)
    root = str(HERE.parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this (child) process when its parent dies; a `preexec_fn`."""
    # prctl(2) PR_SET_PDEATHSIG: if the demo itself is killed (SIGKILL, OOM), the kernel sends
    # the child SIGTERM, so no shop or gateway outlives it holding the ports.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    # Own process group: a terminal's Ctrl-C reaches only us, and we stop each child (and
    # its granian workers, which share its group) exactly once, in order.
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr,
        stderr=sys.stderr,
        process_group=0,
        # run_demo spawns from its only thread, where preexec_fn is safe.
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    """Send `signum` to a child started in its own group, then SIGKILL the group if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The group is the one the child leads (its granian workers share it).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)


def _wait_ready(
    checks: list[tuple[str, subprocess.Popen[bytes]]], stopping: Callable[[], bool]
) -> str | None:
    """None once every URL answers 200; else why not (a child exited, timeout, signal)."""
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(checks)
    while pending:
        if stopping():
            return "interrupted"
        for url, process in pending:
            if process.poll() is not None:
                return f"{url}: process exited with status {process.returncode}"
        pending = [(url, p) for url, p in pending if not _answers(url)]
        if pending and time.monotonic() > deadline:
            return f"{pending[0][0]}: no answer after {START_TIMEOUT:.0f}s"
        if pending:
            time.sleep(POLL_SECONDS)
    return None


def banner(port: int, shop_port: int, paths: DemoPaths, password: str) -> str:
    """What the demo prints once both servers answer."""
    base = f"http://{HOST}:{port}"
    return "\n".join(
        [
            "consentgate demo is running",
            f"  shop (through the gateway): {base}/",
            f"  preference center:          {base}/_privacy/preferences",
            f"  compliance console:         {base}/_privacy/admin",
            f"  officer login:              {OFFICER_LOGIN} / {password}"
            f"  (in {paths.officer_password})",
            f"  shop without the gateway:   http://{HOST}:{shop_port}/",
            f"  config:                     {paths.config}",
            "Play a visitor from London (gdpr) with X-Forwarded-For, e.g.",
            f"  curl -H 'X-Forwarded-For: 81.2.69.160' {base}/",
            "Press Ctrl-C to stop.",
        ]
    )


def ensure_officer(config: Path, password: str) -> None:
    """Create the demo officer (once; the gateway has migrated the store by now)."""
    import asyncio

    from gateway.console.auth import ConsoleUsers, UserError
    from gateway.console.passwords import hash_password
    from gateway.wiring import components, load_config
    from policies.loader import ConfigInvalid
    from storage.store import SchemaError, StoreUnavailable, open_store

    async def add() -> None:
        store = await open_store(load_config(config).config.storage.url, components=components())
        try:
            await ConsoleUsers(store).add(
                OFFICER_LOGIN, "officer", hash_password(password), datetime.now(UTC)
            )
        finally:
            await store.close()

    # An existing officer is refused ("taken"): that is the normal second start. A store that
    # cannot be used leaves the demo without an officer, as `admin add-user` would.
    with contextlib.suppress(UserError, ConfigInvalid, ValueError, StoreUnavailable, SchemaError):
        asyncio.run(add())


def ensure_history(config: Path, today: date) -> HistorySummary | None:
    """Write the demo's back-dated history into a new store (``gateway.demo.history``);
    None when the store already had one or any consent choice."""
    import asyncio

    from consent.master_key import load_master_key
    from gateway.wiring import load_config

    loaded = load_config(config).config
    master_key = load_master_key(loaded.keys.master_key_file)
    return asyncio.run(write_history(loaded, master_key, today))


def run_demo(port: int, data_dir: Path | None) -> int:
    """Run the demo world until SIGINT/SIGTERM; 0 after a clean stop, 1 on a start failure."""
    if port == 0:
        port = free_port()
    if not 1 <= port <= 65535:
        print(f"consentgate demo: --port {port} is not a TCP port", file=sys.stderr)
        return 1
    if not port_is_free(port):
        print(f"consentgate demo: port {port} is in use; pick another with --port", file=sys.stderr)
        return 1
    home = Path.home()
    paths = prepare_data_dir(data_dir or default_data_dir(os.environ, home))
    shop_port = pick_shop_port(port)
    config = write_config(paths, port, shop_port)
    password = paths.officer_password.read_text(encoding="utf-8").strip()
    # Before the gateway starts: nothing else writes the store while the past is filled in.
    history = ensure_history(config, datetime.now(UTC).date())
    if history is not None:
        print(
            f"consentgate demo: generated {history.choices} consent choices of "
            f"{history.subjects} demo subjects, {history.first_day} to {history.last_day} "
            "(audit actor `demo`)",
            file=sys.stderr,
            flush=True,
        )

    stop_event = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_event.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        shop = _spawn(
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--no-ws",
                "--host",
                HOST,
                "--port",
                str(shop_port),
                "--no-access-log",
                "gateway.demo.shop:app",
            ],
            paths.data_dir,
        )
        children.append(shop)
        gateway = _spawn(
            [sys.executable, "-m", "gateway", "run", "--config", str(config), "--port", str(port)],
            paths.data_dir,
        )
        children.append(gateway)
        problem = _wait_ready(
            [
                (f"http://{HOST}:{shop_port}/", shop),
                (f"http://{HOST}:{port}/_privacy/healthz", gateway),
            ],
            stop_event.is_set,
        )
        if problem == "interrupted":
            return 0
        if problem is not None:
            print(f"consentgate demo: could not start: {problem}", file=sys.stderr)
            return 1
        ensure_officer(config, password)
        print(banner(port, shop_port, paths, password), flush=True)
        while not stop_event.wait(POLL_SECONDS):
            for child in children:
                if child.poll() is not None:
                    name = "shop" if child is shop else "gateway"
                    print(
                        f"consentgate demo: the {name} exited with status {child.returncode}",
                        file=sys.stderr,
                    )
                    return 1
        print("consentgate demo: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        # Gateway first, so no request reaches a shop that is already gone.
        for child in reversed(children):
            stop(child)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
