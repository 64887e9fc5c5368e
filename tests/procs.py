"""Start real processes on loopback for end-to-end tests (shared by every e2e test).

Typical use in a test module::

    @pytest.fixture(scope="module")
    def upstream() -> Iterator[procs.Server]:
        with procs.start_upstream() as server:
            yield server

    @pytest.fixture(scope="module")
    def gateway(upstream, tmp_path_factory) -> Iterator[procs.Server]:
        config = procs.write_config(tmp_path_factory.mktemp("gw"), upstream=upstream.url)
        with procs.start_gateway(config) as server:
            yield server

Every process runs from the repo root with the repo on PYTHONPATH, in its own session, its
output in a log file whose tail is shown when it fails to start. Waits poll until a deadline
and fail with the log; no test asserts on timing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from gateway.demo.world import die_with_parent
from gateway.demo.world import stop as stop_child

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0


@dataclass
class Server:
    """A started server process: its base URL, port, Popen handle and log file."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """Everything the process wrote so far (stdout and stderr together)."""
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind to 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: ours, plus the repo on PYTHONPATH."""
    result = dict(os.environ)
    result["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), result.get("PYTHONPATH")]))
    result.setdefault("PYTHONUNBUFFERED", "1")
    result.update(extra or {})
    return result


def spawn(
    argv: Sequence[str], log: IO[bytes], extra_env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` from the repo root in its own session, output to `log`.

    The child gets SIGTERM if the test process dies without tearing down (Linux
    PR_SET_PDEATHSIG), so an interrupted run leaves no servers behind.
    """
    return subprocess.Popen(
        list(argv),
        cwd=REPO,
        env=env(extra_env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT the process (granian shuts its workers down), then SIGKILL its group if needed."""
    stop_child(process, signal.SIGINT)


def wait_http(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = START_TIMEOUT
) -> None:
    """Poll `url` until it answers 200; fail with the log tail if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited {process.returncode}\n{_tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url}: not ready after {timeout}s\n{_tail(log_path)}")


@contextlib.contextmanager
def serve(
    name: str,
    argv: Sequence[str],
    port: int,
    ready: str,
    extra_env: Mapping[str, str] | None = None,
    *,
    host: str = "127.0.0.1",
    timeout: float = START_TIMEOUT,
) -> Iterator[Server]:
    """Run `argv`, a server on `port`, logging to a file named after `name`; ready once the
    path `ready` answers 200; stopped on exit."""
    url = f"http://{host}:{port}"
    with log_file(name) as (log, log_path):
        process = spawn(argv, log, extra_env)
        try:
            wait_http(f"{url}{ready}", process, log_path, timeout)
            yield Server(url, port, process, log_path)
        finally:
            stop(process)


@contextlib.contextmanager
def start_upstream() -> Iterator[Server]:
    """Run `tests/upstream_app.py` (see its docstring for routes) on a port it picks itself."""
    with log_file("upstream") as (log, log_path):
        process = spawn([sys.executable, "-m", "tests.upstream_app", "--port", "0"], log)
        try:
            port = _wait_listening(process, log_path)
            yield Server(f"http://127.0.0.1:{port}", port, process, log_path)
        finally:
            stop(process)


@contextlib.contextmanager
def start_raw_upstream(directory: Path) -> Iterator[Server]:
    """Run `tests/raw_upstream.py`: it answers `GET /NAME` with the bytes of `directory/NAME`."""
    with log_file("raw-upstream") as (log, log_path):
        process = spawn(
            [sys.executable, "-m", "tests.raw_upstream", str(directory), "--port", "0"], log
        )
        try:
            port = _wait_listening(process, log_path)
            yield Server(f"http://127.0.0.1:{port}", port, process, log_path)
        finally:
            stop(process)


DEMO_BASE = REPO / "gateway" / "demo" / "policies.base.yaml"


def demo_purposes() -> dict[str, Any]:
    """The demo's `purposes` and `policy` sections, for a config in front of another upstream."""
    base = yaml.safe_load(DEMO_BASE.read_text(encoding="utf-8"))
    return {"purposes": base["purposes"], "policy": base["policy"]}


def write_config(directory: Path, *, upstream: str, **gateway: Any) -> Path:
    """Write a minimal `policies.yaml` into `directory` and return its path.

    `gateway` keys go into the `gateway:` section (e.g. `trusted_proxies=["127.0.0.1/32"]`,
    `timeouts={"read": 1}`); the port defaults to a free one and storage to SQLite in
    `directory`.
    """
    section: dict[str, Any] = {"upstream": upstream, "host": "127.0.0.1", "port": free_port()}
    section.update(gateway)
    config = {
        "version": 1,
        "gateway": section,
        "storage": {"url": f"sqlite+aiosqlite:///{directory / 'consentgate.db'}"},
    }
    path = directory / "policies.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def start_gateway(config: Path, extra_env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """Run `python -m gateway run --config CONFIG`; ready once `/_privacy/healthz` answers."""
    data = yaml.safe_load(config.read_text())
    section = data["gateway"]
    host, port = section.get("host", "127.0.0.1"), int(section["port"])
    prefix = section.get("prefix", "/_privacy")
    argv = [sys.executable, "-m", "gateway", "run", "--config", str(config)]
    with serve("gateway", argv, port, f"{prefix}/healthz", extra_env, host=host) as server:
        yield server


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, grandchildren...), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            # Field 4 is the ppid; the comm field (2) may hold spaces, so split after ")".
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (`VmHWM` in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def _wait_listening(process: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("LISTENING "):
                return int(line.split()[1])
        if process.poll() is not None:
            raise RuntimeError(f"upstream exited {process.returncode}\n{_tail(log_path)}")
        time.sleep(0.05)
    raise RuntimeError(f"upstream did not start\n{_tail(log_path)}")


@contextlib.contextmanager
def log_file(name: str) -> Iterator[tuple[IO[bytes], Path]]:
    handle = tempfile.NamedTemporaryFile(prefix=f"consentgate-{name}-", suffix=".log", delete=False)
    try:
        yield handle, Path(handle.name)
    finally:
        handle.close()
        if not os.environ.get("CONSENTGATE_KEEP_LOGS"):
            Path(handle.name).unlink(missing_ok=True)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class RawResponse:
    """A response read off a raw socket: status, fields in wire order, body as sent."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of field `name` (case-insensitive), or None."""
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    @property
    def content(self) -> bytes:
        """The body without chunked framing (chunk sizes are hop-by-hop, RFC 9112 §7.1)."""
        if (self.header("transfer-encoding") or "").lower() != "chunked":
            return self.body
        out, rest = b"", self.body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2 :]
        return out


def raw_http(port: int, request: bytes, timeout: float = 10.0) -> RawResponse:
    """Send `request` bytes exactly as given (no client normalizes the target or fields) and
    read one response until the server closes; include `Connection: close` in `request`.

    The body is returned with its transfer framing (chunk sizes) as it came off the wire.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines)]
    return RawResponse(int(status_line.split()[1]), headers, body)
