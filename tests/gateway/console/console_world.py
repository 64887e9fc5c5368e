"""Helpers for console end-to-end tests: a config, users made with the real CLI, the console
served by the real gateway app under granian, and signing in over HTTP.

Every test plays its own client address with `X-Forwarded-For` (loopback is a trusted proxy
in this config), so the per-client login rate limit of one test never throttles another.
"""

from __future__ import annotations

import base64
import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from tests import procs
from tests.audit.audit_stores import MASTER_KEY
from tests.audit.audit_stores import write_config as write_audit_config

BASE = "/_privacy/admin"
PASSWORD = "correct horse battery staple"
MASTER_KEY_B64 = base64.b64encode(MASTER_KEY).decode()
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def write_config(directory: Path, store_url: str) -> Path:
    """The audit tests' config plus loopback as a trusted proxy."""
    path = write_audit_config(directory, store_url)
    data = yaml.safe_load(path.read_text())
    data["gateway"]["trusted_proxies"] = ["127.0.0.1/32"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m gateway ARGS` with `stdin` as its input."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=procs.REPO,
        env=procs.env({"CONSENTGATE_MASTER_KEY": MASTER_KEY_B64}),
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def add_user(config: Path, name: str, role: str, password: str = PASSWORD) -> None:
    """`consentgate admin add-user NAME --role ROLE`, the password on stdin; must succeed."""
    result = cli("admin", "add-user", name, "--role", role, "--config", str(config),
                 stdin=password + "\n")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@contextlib.contextmanager
def start_console(config: Path) -> Iterator[procs.Server]:
    """The real gateway app (which mounts the console) served by granian."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--no-ws",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            "gateway.app:factory"]  # fmt: skip
    env = {"CONSENTGATE_RESOLVED_CONFIG": str(config), "CONSENTGATE_OVERRIDES": "{}",
           "CONSENTGATE_MASTER_KEY": MASTER_KEY_B64}  # fmt: skip
    with procs.serve("console", argv, port, "/_privacy/healthz", env) as server:
        yield server


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    match = _CSRF.search(html)
    assert match is not None, html[:2000]
    return match.group(1)


def client(server: procs.Server, ip: str) -> httpx.Client:
    """An HTTP client (cookie jar of its own) playing a visitor from `ip`."""
    return httpx.Client(
        base_url=server.url, headers={"X-Forwarded-For": ip}, timeout=60, follow_redirects=False
    )


def login(http: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    """Fetch the sign-in form, post it; returns the post's response."""
    form = http.get(f"{BASE}/login")
    assert form.status_code == 200, form.text
    return http.post(
        f"{BASE}/login",
        data={"csrf": csrf_of(form.text), "name": name, "password": password, "next": ""},
    )
