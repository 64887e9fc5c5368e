"""Enforcement fails closed, whatever the response looks like (real processes, an upstream
that answers exact bytes).

A page of any status is rewritten; the upstream is offered only codings the gateway decodes,
and a page in another coding is withheld (502); the page type is decided as the browser
decides it (the last Content-Type, XHTML, sniffing when there is none); a purpose's cookies
are dropped on every status. Browser checks at the end, for three visitors: one from London
who has made no choice (nothing loads), one from London who granted analytics only (only
analytics hosts load), and one from San Francisco sending GPC (no sale/share host loads).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests import procs
from tests.browser import LONDON, SAN_FRANCISCO, VISITORS, load, visitors_config

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

TRACKERS = ("www.googletagmanager.com", "static.hotjar.com", "connect.facebook.net")
ANALYTICS = {"www.googletagmanager.com", "static.hotjar.com"}
PAGE = b"""<!doctype html><html><head><title>A shop page</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script src="https://static.hotjar.com/c/hotjar-1.js"></script>
</head><body><h1>Hello</h1>
<script src="https://connect.facebook.net/en_US/fbevents.js"></script>
</body></html>
"""
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def raw(status: str, fields: list[str], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}", *fields, f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


RESPONSES = {
    "not-found": raw("404 Not Found", ["Content-Type: text/html; charset=utf-8"], PAGE),
    "server-error": raw("500 Internal Server Error", ["Content-Type: text/html"], PAGE),
    "gone": raw("410 Gone", ["Content-Type: text/html", "Set-Cookie: _ga=GA1.1; Path=/"], PAGE),
    "untyped": raw("200 OK", [], PAGE),
    "untyped-gzip": raw("200 OK", ["Content-Encoding: gzip"], gzip.compress(PAGE)),
    "unknown-type": raw("200 OK", ["Content-Type: unknown/unknown"], PAGE),
    "two-types": raw("200 OK", ["Content-Type: text/plain", "Content-Type: text/html"], PAGE),
    "xhtml": raw("200 OK", ["Content-Type: application/xhtml+xml"], PAGE),
    "zstd": raw("200 OK", ["Content-Type: text/html", "Content-Encoding: zstd"], b"(\xb5/\xfd"),
    "zstd-untyped": raw("200 OK", ["Content-Encoding: zstd"], b"(\xb5/\xfd junk"),
    "untyped-png": raw("200 OK", [], PNG),
    "plain": raw("200 OK", ["Content-Type: text/plain"], PAGE),
}
#: Every class of status with content, each with a cookie of analytics and one of marketing.
STATUSES = [
    "200 OK", "201 Created", "203 Non-Authoritative Information", "206 Partial Content",
    "400 Bad Request", "401 Unauthorized", "403 Forbidden", "418 I'm a teapot",
    "429 Too Many Requests", "451 Unavailable For Legal Reasons", "502 Bad Gateway",
    "503 Service Unavailable", "599 Network Connect Timeout",
]  # fmt: skip
for _status in STATUSES:
    RESPONSES[f"status-{_status[:3]}"] = raw(
        _status,
        ["Content-Type: text/html", "Set-Cookie: _ga=GA1.1; Path=/", "Set-Cookie: _fbp=fb.1"],
        PAGE,
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    pages = tmp_path_factory.mktemp("pages")
    for name, response in RESPONSES.items():
        (pages / name).write_bytes(response)
    with procs.start_raw_upstream(pages) as upstream:
        path = visitors_config(tmp_path_factory.mktemp("gateway"), upstream.url)
        with procs.start_gateway(path) as server:
            yield server


def live_trackers(html: str) -> list[str]:
    """Tracker hosts still in a live `<script src=...>` (prior blocking makes them inert)."""
    return [host for host in TRACKERS if f'<script src="https://{host}' in html
            or f'<script async src="https://{host}' in html]  # fmt: skip


def fetch(gateway: procs.Server, name: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{gateway.url}/{name}", headers=headers, timeout=10)


@pytest.mark.parametrize("name", ["not-found", "server-error", "gone"])
def test_error_pages_are_rewritten_like_any_other(gateway: procs.Server, name: str) -> None:
    answer = fetch(gateway, name)
    assert answer.status_code == int(RESPONSES[name][9:12])
    assert live_trackers(answer.text) == []
    assert 'id="consentgate-banner"' in answer.text
    assert answer.headers["cache-control"].startswith("private")


@pytest.fixture(scope="module")
def analytics_only(gateway: procs.Server) -> dict[str, str]:
    """The cookie of a London visitor who granted analytics and nothing else."""
    answer = httpx.post(
        f"{gateway.url}/_privacy/consent",
        json={"purposes": {"analytics": True}},
        headers={"Origin": gateway.url, "X-Forwarded-For": LONDON},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return {"cg_id": answer.cookies["cg_id"]}


@pytest.mark.parametrize("granted", [False, True])
@pytest.mark.parametrize("status", [int(s[:3]) for s in STATUSES])
def test_every_status_is_rewritten_and_keeps_only_granted_cookies(
    gateway: procs.Server, analytics_only: dict[str, str], status: int, granted: bool
) -> None:
    answer = httpx.get(
        f"{gateway.url}/status-{status}",
        headers={"X-Forwarded-For": LONDON},
        cookies=analytics_only if granted else None,
        timeout=10,
    )
    assert answer.status_code == status
    assert set(live_trackers(answer.text)) == (ANALYTICS if granted else set())
    cookies = [v.split("=")[0] for v in answer.headers.get_list("set-cookie")]
    assert [c for c in cookies if c != "cg_id"] == (["_ga"] if granted else [])


def test_an_ungranted_purposes_cookie_is_dropped_on_an_error_page(gateway: procs.Server) -> None:
    answer = fetch(gateway, "gone")
    assert "_ga=" not in " ".join(answer.headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    ("client", "offered"),
    [
        ("gzip, deflate, br, zstd", "br, gzip, deflate"),
        ("zstd", "identity"),
        ("gzip;q=0, *", "br, deflate"),
        (None, "identity"),
    ],
)
def test_the_upstream_is_offered_only_codings_the_gateway_decodes(
    gateway: procs.Server, client: str | None, offered: str
) -> None:
    headers = {} if client is None else {"Accept-Encoding": client}
    with httpx.Client(timeout=10) as session:
        # httpx adds its own Accept-Encoding unless told otherwise.
        request = session.build_request("GET", f"{gateway.url}/__request", headers=headers)
        if client is None:
            del request.headers["Accept-Encoding"]
        head = session.send(request).text
    sent = [line for line in head.split("\r\n") if line.lower().startswith("accept-encoding:")]
    assert sent == [f"Accept-Encoding: {offered}"]


@pytest.mark.parametrize("name", ["zstd", "zstd-untyped"])
def test_a_page_in_an_unreadable_coding_is_withheld(gateway: procs.Server, name: str) -> None:
    answer = fetch(gateway, name)
    assert answer.status_code == 502
    assert "cannot read" in answer.text
    assert "googletagmanager" not in answer.text
    metrics = httpx.get(f"{gateway.url}/_privacy/metrics", timeout=10).text
    assert 'consentgate_pages_withheld_total{reason="coding"}' in metrics


@pytest.mark.parametrize("name", ["untyped", "untyped-gzip", "unknown-type", "two-types", "xhtml"])
def test_the_page_type_is_decided_as_the_browser_decides(gateway: procs.Server, name: str) -> None:
    answer = fetch(gateway, name)
    assert answer.status_code == 200
    assert live_trackers(answer.text) == []
    assert 'id="consentgate-banner"' in answer.text
    # One Content-Type, the one the page was read as: the browser cannot pick another.
    assert [v.split(";")[0] for v in answer.headers.get_list("content-type")] == ["text/html"]


@pytest.mark.parametrize(("name", "body"), [("untyped-png", PNG), ("plain", PAGE)])
def test_what_is_not_a_page_passes_untouched(gateway: procs.Server, name: str, body: bytes) -> None:
    answer = fetch(gateway, name)
    assert answer.status_code == 200
    assert answer.content == body


@pytest.mark.parametrize(("gpc", "live"), [(False, set(TRACKERS)), (True, ANALYTICS)])
def test_in_san_francisco_gpc_is_what_holds_marketing_back(
    gateway: procs.Server, gpc: bool, live: set[str]
) -> None:
    # us-optout starts with every purpose granted; GPC opts out of sale/sharing only.
    headers = {"X-Forwarded-For": SAN_FRANCISCO} | ({"Sec-GPC": "1"} if gpc else {})
    assert set(live_trackers(fetch(gateway, "not-found", **headers).text)) == live


BROWSER_PAGES = ["not-found", "server-error", "untyped", "two-types", "xhtml", "zstd"]


@pytest.mark.browser
@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("name", BROWSER_PAGES)
def test_chromium_loads_only_what_was_granted(
    gateway: procs.Server, browser: Browser, name: str, visitor: str
) -> None:
    loaded = {urlsplit(url).hostname for url in load(browser, gateway.url, f"/{name}", visitor)}
    if visitor == "rejected" or name == "zstd":
        assert loaded == set()
    else:
        # Analytics is granted (explicitly in London; by default under us-optout, where GPC
        # opts out of sale/sharing only): its hosts load, and nothing else does.
        assert loaded == ANALYTICS
