"""Bytes no HTTP library would send, in both directions, against real processes.

A gateway in front of `tests/raw_upstream.py` (it answers files byte for byte, and echoes the
request head it received under `/__request/...`), spoken to over raw sockets:

- an upstream response field holding a control byte (RFC 9110 §5.5: field values are VCHAR,
  obs-text, SP and HTAB) is a 502 page with the reason logged, never the server's bare
  "500 Internal server error";
- non-ASCII bytes in the request path, query and field values reach the shop as the client
  sent them, not re-encoded (`é` is C3 A9 on both sides, never C3 83 C2 A9); field values
  that are not UTF-8 cannot be sent as they are and are dropped, never rewritten;
- no answer of the gateway takes its host from the request: a trailing slash on a reserved
  path is a 404, not a redirect to whatever `Host` said.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import procs
from tests.figures import Figures
from tests.gateway.hostile.hostile_world import config, exchange, request

pytestmark = pytest.mark.e2e

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"

# name -> the upstream's exact response; each carries one field RFC 9110 §5.5 forbids.
INVALID_FIELDS: dict[str, bytes] = {
    "vt": _HEAD + b"X-Note: a\x0bb\r\nContent-Length: 2\r\n\r\nok",
    "del": _HEAD + b"X-Note: a\x7fb\r\nContent-Length: 2\r\n\r\nok",
    "bell": _HEAD + b"X-Note: \x07\r\nContent-Length: 2\r\n\r\nok",
    "escape": _HEAD + b"X-Note: \x1b[31mred\r\nContent-Length: 2\r\n\r\nok",
    "formfeed-in-cookie": _HEAD + b"Set-Cookie: a=b\x0c\r\nContent-Length: 2\r\n\r\nok",
    "in-a-page": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
    b"Link: </x>\x01; rel=preload\r\nContent-Length: 13\r\n\r\n<p>page</p>\r\n",
    "in-a-redirect": b"HTTP/1.1 302 Found\r\nLocation: /next\x0b\r\nConnection: close\r\n"
    b"Content-Length: 0\r\n\r\n",
}
# Valid, for contrast: tabs, spaces and obs-text pass through unchanged.
VALID = _HEAD + b"X-Note: tab\there \xe9t\xc3\xa9\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    directory: Path = tmp_path_factory.mktemp("hostile-bytes")
    pages = directory / "pages"
    pages.mkdir()
    for name, raw in INVALID_FIELDS.items():
        (pages / name).write_bytes(raw)
    (pages / "valid").write_bytes(VALID)
    with procs.start_raw_upstream(pages) as upstream:
        with procs.start_gateway(config(directory, upstream.url)) as gateway:
            yield gateway
            log = gateway.log()
            assert "Traceback" not in log, log[-4000:]


@pytest.mark.parametrize("name", sorted(INVALID_FIELDS))
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_invalid_upstream_field_is_a_502_page(
    world: procs.Server, figures: Figures, name: str, method: str
) -> None:
    answer = exchange(world.port, request(method, f"/{name}"))
    figures.add("hostile inputs tried")
    assert answer.status == 502, answer.raw[:300]
    assert answer.header("content-type") == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in (answer.header("content-security-policy") or "")
    assert answer.header("x-note") is None and answer.header("set-cookie") is None
    if method == "GET":
        assert b"Bad Gateway" in answer.body
    assert "upstream response refused: invalid field" in world.log()


def test_valid_obs_text_and_tabs_pass_unchanged(world: procs.Server) -> None:
    answer = exchange(world.port, request("GET", "/valid"))
    assert answer.status == 200, answer.raw[:300]
    # granian writes field names in lower case; the value is byte for byte what the shop sent.
    assert b"\r\nx-note: tab\there \xe9t\xc3\xa9\r\n" in answer.raw


def _echoed(world: procs.Server, target: bytes, fields: list[tuple[str, str | bytes]]) -> bytes:
    answer = exchange(world.port, request("GET", target, fields))
    assert answer.status == 200, answer.raw[:300]
    return answer.body


NON_ASCII_TARGETS = [
    b"/__request/caf\xc3\xa9",
    b"/__request/\xe6\x97\xa5\xe6\x9c\xac/\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a",
    b"/__request/x?q=caf\xc3\xa9&r=\xf0\x9f\x8d\xaa",
    b"/__request/caf%C3%A9?already=%E2%82%AC",
]


@pytest.mark.parametrize("target", NON_ASCII_TARGETS)
def test_non_ascii_targets_reach_the_shop_as_sent(
    world: procs.Server, figures: Figures, target: bytes
) -> None:
    echoed = _echoed(world, target, [])
    figures.add("hostile inputs tried")
    assert echoed.startswith(b"GET " + target + b" HTTP/1.1\r\n"), echoed[:200]


NON_ASCII_VALUES = [
    b"caf\xc3\xa9",
    b"\xe6\x97\xa5\xe6\x9c\xac \xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a",
    b'attachment; filename="r\xc3\xa9sum\xc3\xa9.pdf"',
]


@pytest.mark.parametrize("value", NON_ASCII_VALUES)
def test_utf8_field_values_reach_the_shop_as_sent(
    world: procs.Server, figures: Figures, value: bytes
) -> None:
    echoed = _echoed(world, b"/__request/f", [("X-Name", value)])
    figures.add("hostile inputs tried")
    assert b"\r\nx-name: " + value + b"\r\n" in echoed.lower(), echoed


def test_field_values_that_are_not_utf8_are_dropped_not_rewritten(
    world: procs.Server, figures: Figures
) -> None:
    # Latin-1 obs-text: aiohttp writes a request head as UTF-8, so no text it accepts would
    # come out as these bytes; the field is left out (and logged), never re-encoded.
    echoed = _echoed(world, b"/__request/g", [("X-Latin", b"caf\xe9"), ("X-Kept", "yes")])
    figures.add("hostile inputs tried")
    assert b"x-latin" not in echoed.lower(), echoed
    assert b"\r\nx-kept: yes\r\n" in echoed.lower(), echoed
    assert "request field b'x-latin' not forwarded" in world.log()


RESERVED_WITH_SLASH = [
    "/_privacy/consent/",
    "/_privacy/preferences/",
    "/_privacy/my-data/",
    "/_privacy/healthz/",
    "/_privacy/metrics/",
    "/_privacy/events/",
    "/_privacy/admin/audit/",
    "/_privacy/admin/login/",
    "/_privacy/admin/stats/?days=7",
    "/.well-known/gpc.json/",
]


@pytest.mark.parametrize("path", RESERVED_WITH_SLASH)
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8443", "127.0.0.1@evil.example"])
def test_no_redirect_takes_its_host_from_the_request(
    world: procs.Server, figures: Figures, path: str, host: str
) -> None:
    raw = request("GET", path, [("X-Forwarded-Host", host)]).replace(
        b"Host: 127.0.0.1", b"Host: " + host.encode()
    )
    answer = exchange(world.port, raw)
    figures.add("hostile inputs tried")
    assert answer.status == 404, answer.raw[:300]
    assert answer.header("location") is None
    assert b"evil" not in answer.raw
