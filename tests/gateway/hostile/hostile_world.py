"""Shared pieces of the hostile-input suite: one gateway process with the demo's
purposes in front of the recording upstream (`tests/upstream_app.py`), and a raw-socket
exchange that never normalises what it sends.

Not a test module (no `test_` prefix); the `test_hostile_*` modules import it.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests import procs

DEMO_BASE = procs.REPO / "gateway" / "demo" / "policies.base.yaml"
EVENTS_TOKEN = "hostile-suite-events-token-0123456789"
# The gateway trusts loopback as its proxy, so every case can play its own client address
# (rate limits are per client: a long table must not turn into a column of 429s).
_ADDRESSES = (f"198.18.{i // 250}.{i % 250 + 1}" for i in itertools.count())


def next_address() -> str:
    """A fresh client address for one case (198.18.0.0/15, RFC 2544 benchmarking)."""
    return next(_ADDRESSES)


@dataclass
class Answer:
    """What came back on the socket: the first status (0 if none) and all the bytes."""

    status: int
    raw: bytes

    @property
    def body(self) -> bytes:
        return self.raw.partition(b"\r\n\r\n")[2]

    def header(self, name: str) -> str | None:
        head = self.raw.partition(b"\r\n\r\n")[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def exchange(port: int, raw: bytes, quiet: float = 3.0, half_close: bool = False) -> Answer:
    """Send `raw` exactly as given (then, with `half_close`, end our side as a client that
    gives up would); read until the gateway closes or is quiet for `quiet` seconds. A gateway
    that never answers yields status 0 (the caller's "no hang" check)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # closed on us mid-send: judged by what came back
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        received = read_reply(sock, quiet)
    status = 0
    if received.startswith(b"HTTP/1.") and received[9:12].isdigit():
        status = int(received[9:12])
    return Answer(status, received)


def read_reply(
    sock: socket.socket, quiet: float, on_data: Callable[[bytes], None] | None = None
) -> bytes:
    """Read until the gateway closes or is quiet for `quiet` seconds; `on_data` sees all that
    was read so far after each chunk."""
    received = b""
    sock.settimeout(quiet)
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:  # includes the quiet timeout
            break
        if not chunk:
            break
        received += chunk
        if on_data is not None:
            on_data(received)
    return received


def request(
    method: str,
    target: str | bytes,
    fields: list[tuple[str, str | bytes]] | None = None,
    body: bytes | None = None,
    *,
    address: str | None = None,
) -> bytes:
    """One HTTP/1.1 request as bytes: Host, X-Forwarded-For `address` (None: a fresh one,
    "": none), Connection: close, the given fields as given, and Content-Length for `body`
    unless the fields set framing."""
    target_bytes = target if isinstance(target, bytes) else target.encode()
    lines = [method.encode() + b" " + target_bytes + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if address != "":  # "" sends none: the caller's fields carry their own
        lines.append(b"X-Forwarded-For: " + (address or next_address()).encode())
    lines.append(b"Connection: close")
    framed = False
    for name, value in fields or []:
        if name.lower() in ("content-length", "transfer-encoding"):
            framed = True
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(name.encode() + b": " + raw)
    if body is not None and not framed:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def config(directory: Path, upstream: str, **extra: Any) -> Path:
    """A gateway config: the demo's purposes and policy, high rate limits, the events token,
    loopback trusted as a proxy; `extra` top-level sections are merged in."""
    path = procs.write_config(
        directory, upstream=upstream, trusted_proxies=["127.0.0.1/32"], timeouts={"read": 5}
    )
    data = yaml.safe_load(path.read_text())
    base = yaml.safe_load(DEMO_BASE.read_text(encoding="utf-8"))
    data["purposes"] = base["purposes"]
    data["policy"] = base["policy"]
    data["consent"] = {"rate_per_minute": 100_000}
    data["dsr"] = {"rate_per_minute": 10_000}
    data["personalization"] = {
        "slots": ["hero-banner", "recommendations"],
        "events_token": EVENTS_TOKEN,
        "data_purposes": {
            "behavior.profile": "personalization",
            "customer.attributes": "personalization",
        },
    }
    for key, value in extra.items():
        data[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@contextlib.contextmanager
def running(directory: Path, **extra: Any) -> Iterator[tuple[procs.Server, procs.Server]]:
    """(gateway, upstream) as real processes; on exit, asserts the gateway logged no traceback
    (a hostile input must be a handled 4xx, never an unhandled exception)."""
    with procs.start_upstream() as upstream:
        with procs.start_gateway(config(directory, upstream.url, **extra)) as gateway:
            yield gateway, upstream
            log = gateway.log()
            assert "Traceback" not in log, log[-4000:]


def seen(upstream: procs.Server) -> list[str]:
    """Every request-target the upstream has received so far."""
    answer: list[str] = httpx.get(upstream.url + "/__seen", timeout=5).json()
    return answer


def healthy(gateway: procs.Server) -> bool:
    return httpx.get(gateway.url + "/_privacy/healthz", timeout=5).status_code == 200
