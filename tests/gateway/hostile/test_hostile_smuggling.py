"""Request smuggling shapes and malformed requests, as raw bytes on a socket.

Each row goes to a real gateway process in front of the recording upstream
(`tests/upstream_app.py`, whose `/__seen` lists every request-target it received). Every row is
answered by a 4xx or passed through as one request — never a 5xx, never a hang — and the
request hidden in a body (`/smuggled`) never reaches the storefront as a request of its own.
The gateway re-frames every request it forwards (aiohttp writes a fresh head and length), so
the upstream can never disagree with it about where a request ends; what is tested here is
that the gateway's own parser does not let a second request out of one.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import procs
from tests.figures import Figures
from tests.gateway.hostile.hostile_world import read_reply

pytestmark = pytest.mark.e2e

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
H = b"Host: shop.example\r\n"


def post(headers: bytes, body: bytes) -> bytes:
    return b"POST /target HTTP/1.1\r\n" + H + headers + b"\r\n" + body


CASES: dict[str, bytes] = {
    "cl-and-te": post(
        b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    "te-and-cl": post(
        b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % (5 + len(SMUGGLED)),
        b"0\r\n\r\n" + SMUGGLED,
    ),
    "duplicate-cl-differing": post(
        b"Content-Length: 0\r\nContent-Length: %d\r\n" % len(SMUGGLED), SMUGGLED
    ),
    "duplicate-cl-same": post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"),
    "cl-list": post(b"Content-Length: 3, %d\r\n" % (3 + len(SMUGGLED)), b"abc" + SMUGGLED),
    "cl-signed": post(b"Content-Length: +3\r\n", b"abc" + SMUGGLED),
    "cl-hex": post(b"Content-Length: 0x3\r\n", b"abc" + SMUGGLED),
    "te-chunked-identity": post(
        b"Transfer-Encoding: chunked, identity\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    "te-space-before-colon": post(
        b"Transfer-Encoding : chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    "te-tab-value": post(
        b"Transfer-Encoding:\tchunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    "te-xchunked": post(
        b"Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    "te-vertical-tab": post(
        b"Transfer-Encoding: chunked\x0b\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    "te-twice": post(
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    "te-identity": post(
        b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    "te-gzip-chunked": post(
        b"Transfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n" + SMUGGLED
    ),
    # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means its framing is faulty.
    "te-in-http-1.0": b"POST /target HTTP/1.0\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
    + SMUGGLED,
    "cl-space-before-colon": post(b"Content-Length : %d\r\n" % len(SMUGGLED), SMUGGLED),
    "cl-leading-zeros": post(b"Content-Length: 003\r\n", b"abc"),
    "cl-and-cl-empty": post(b"Content-Length:\r\nContent-Length: 3\r\n", b"abc" + SMUGGLED),
    # Valid framings whose bytes after the body would be the client's own next request;
    # nothing is appended (see chunk-extension-garbage below).
    "te-uppercase": post(b"Transfer-Encoding: CHUNKED\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
    "chunk-trailer-fields": post(
        b"Transfer-Encoding: chunked\r\n",
        b"3\r\nabc\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: x\r\n\r\n",
    ),
    "bare-lf-chunks": post(b"Transfer-Encoding: chunked\r\n", b"3\nabc\n0\n\n" + SMUGGLED),
    "chunk-size-overflow": post(
        b"Transfer-Encoding: chunked\r\n", b"fffffffffffffffffff1\r\nabc\r\n0\r\n\r\n"
    ),
    # granian accepts a NUL in a chunk extension (lenient, but the body it reads is the one
    # the gateway re-frames upstream; nothing is appended here because bytes after the last
    # chunk are the client's own next request on its connection, not a smuggled one).
    "chunk-extension-garbage": post(
        b"Transfer-Encoding: chunked\r\n", b"3;\x00=\r\nabc\r\n0\r\n\r\n"
    ),
    "obs-fold": b"GET /target HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n",
    "obs-fold-te": post(
        b"X-Foo: bar\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"0\r\n\r\n" + SMUGGLED,
    ),
    "bare-lf-head": b"GET /target HTTP/1.1\n" + H.replace(b"\r\n", b"\n") + b"\n",
    "space-in-name": b"GET /target HTTP/1.1\r\n" + H + b"Bad Name: x\r\n\r\n",
    "nul-in-value": b"GET /target HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
    "cr-in-value": b"GET /target HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n",
    "nul-in-target": b"GET /tar\x00get HTTP/1.1\r\n" + H + b"\r\n",
    "space-in-target": b"GET /tar get HTTP/1.1\r\n" + H + b"\r\n",
    "no-host": b"GET /target HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET /target HTTP/1.1\r\n" + H + b"Host: evil.example\r\n\r\n",
    "http-0.9": b"GET /target\r\n\r\n",
    "http-2.0-text": b"GET /target HTTP/2.0\r\n" + H + b"\r\n",
    "bad-version": b"GET /target HTTP/1.x\r\n" + H + b"\r\n",
    "lowercase-method": b"get /target HTTP/1.1\r\n" + H + b"\r\n",
    "huge-header": b"GET /target HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    "many-headers": b"GET /target HTTP/1.1\r\n"
    + H
    + b"".join(b"X-%d: v\r\n" % i for i in range(2_000))
    + b"\r\n",
    "huge-cookie": b"GET /target HTTP/1.1\r\n"
    + H
    + b"Cookie: cg_id="
    + b"A" * 100_000
    + b"\r\n\r\n",
    "broken-cookie": b"GET /target HTTP/1.1\r\n"
    + H
    + b'Cookie: cg_id="unterminated; ;=;\xff\r\n\r\n',
    "long-url": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n" + H + b"\r\n",
    "bad-percent": b"GET /%zz%%/%c0%af HTTP/1.1\r\n" + H + b"\r\n",
    "pipelined-after-get": b"GET /target HTTP/1.1\r\n"
    + H
    + b"Content-Length: %d\r\n\r\n" % len(SMUGGLED)
    + SMUGGLED,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[procs.Server, procs.Server]]:
    with procs.start_upstream() as upstream:
        directory: Path = tmp_path_factory.mktemp("hostile")
        config = procs.write_config(directory, upstream=upstream.url, timeouts={"read": 5})
        with procs.start_gateway(config) as gateway:
            yield gateway, upstream


# Asked on the same connection once a first response is complete: HTTP/1.1 answers in order
# (RFC 9112 §9.3.2), so anything the gateway parsed out of the leftover bytes is forwarded and
# answered before this, and the gateway closes after answering it.
PROBE = b"GET /_privacy/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def exchange(port: int, raw: bytes, quiet: float = 3.0) -> bytes:
    """Send `raw` and read what comes back until the gateway closes; once a first response is
    complete, send `PROBE` so the gateway closes after whatever else it took out of `raw`.
    `quiet` seconds without a byte end the read too (a gateway that waits for more of a body).
    The probe's own answer (200) is part of what is returned."""
    probed = False

    def probe(received: bytes) -> None:
        nonlocal probed
        if not probed and first_response_complete(received):
            probed = True
            with contextlib.suppress(OSError):  # closed after its answer: EOF comes next
                sock.sendall(PROBE)

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            return b""  # the gateway closed on us mid-send: a refusal, not a hang
        return read_reply(sock, quiet, probe)


def first_response_complete(data: bytes) -> bool:
    """Whether `data` starts with a whole final response: its head and the body its framing
    (chunked or Content-Length; none for 1xx, 204, 304) promises. A body delimited by the
    close is never complete here."""
    while True:
        head, found, rest = data.partition(b"\r\n\r\n")
        if not found:
            return False
        lines = head.split(b"\r\n")
        status = int(lines[0][9:12]) if lines[0][9:12].isdigit() else 0
        if not 100 <= status < 200:
            break
        data = rest  # an interim response; the final one follows
    fields = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(b":") for line in lines[1:])
    }
    if status in (204, 304):
        return True
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        while True:
            size_line, found, rest = rest.partition(b"\r\n")
            if not found:
                return False
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return b"\r\n\r\n" in b"\r\n" + rest  # no trailer fields, or their end
            if len(rest) < size + 2:
                return False
            rest = rest[size + 2 :]
    length = fields.get(b"content-length")
    return length is not None and length.isdigit() and len(rest) >= int(length)


def statuses(received: bytes) -> list[int]:
    found = []
    for line in received.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and len(line) >= 12 and line[9:12].isdigit():
            found.append(int(line[9:12]))
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_request_is_refused_or_passed_once(
    name: str, world: tuple[procs.Server, procs.Server], figures: Figures
) -> None:
    gateway, upstream = world
    before = httpx.get(upstream.url + "/__seen", timeout=5).json()
    received = exchange(gateway.port, CASES[name])
    seen = httpx.get(upstream.url + "/__seen", timeout=5).json()[len(before) :]
    codes = statuses(received)
    figures.add("hostile inputs tried")
    assert all(code < 500 for code in codes), f"{name}: {received[:300]!r}"
    assert "/smuggled" not in seen, f"{name}: a request hidden in a body reached the shop"
    assert len(seen) <= 1, f"{name}: {seen}"
    # Whatever the gateway passed on, it answered for it (no silent swallow of a forwarded one).
    if seen:
        assert codes, f"{name}: forwarded {seen} but answered nothing"
    # The gateway is still serving.
    assert httpx.get(gateway.url + "/_privacy/healthz", timeout=5).status_code == 200
