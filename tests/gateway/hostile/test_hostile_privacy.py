"""Hostile bodies, cookies and URLs on the gateway's own `/_privacy/*` endpoints.

Table-driven, over raw sockets to a real gateway process: every POST endpoint (consent,
my-data/delete, events, admin login) gets the same families of broken bodies (invalid JSON,
wrong types, deep nesting, huge and lying sizes, wrong content types, broken forms), then
cookies and URLs no browser would send. Each must be answered with a 4xx carrying a reason
(or, where the input is merely odd, a normal answer) — never a 5xx, never a hang — and the
gateway must log no traceback and keep serving. Requests of the consent and delete families
carry a matching `Origin`, so the body parser is what they exercise, not the CSRF check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests import procs
from tests.figures import Figures
from tests.gateway.hostile.hostile_world import (
    EVENTS_TOKEN,
    Answer,
    exchange,
    healthy,
    request,
    running,
    seen,
)

pytestmark = pytest.mark.e2e

ORIGIN = ("Origin", "http://127.0.0.1")
JSON = ("Content-Type", "application/json")
FORM = ("Content-Type", "application/x-www-form-urlencoded")
BEARER = ("Authorization", f"Bearer {EVENTS_TOKEN}")

# Endpoint -> the fields a well-behaved caller would send (so only the body is hostile).
ENDPOINTS: dict[str, list[tuple[str, str]]] = {
    "/_privacy/consent": [ORIGIN],
    "/_privacy/my-data/delete": [ORIGIN],
    "/_privacy/events": [BEARER],
    "/_privacy/admin/login": [],
}

# (body, content type) rows, each sent to every endpoint. `None` content type: field absent.
BODIES: dict[str, tuple[bytes, str | None]] = {
    "json-truncated": (b'{"purposes": {"analytics": tr', "application/json"),
    "json-not-object": (b'["accept_all"]', "application/json"),
    "json-string": (b'"accept_all"', "application/json"),
    "json-null": (b"null", "application/json"),
    "json-empty": (b"", "application/json"),
    "json-wrong-types": (
        b'{"purposes": {"analytics": "yes", "1": 1}, "action": 5, "confirm": "yes",'
        b' "type": {"x": 1}, "visitor": [1], "sku": 7}',
        "application/json",
    ),
    "json-purposes-list": (b'{"purposes": ["analytics"]}', "application/json"),
    "json-unknown-action": (b'{"action": "grant_everything"}', "application/json"),
    # json.loads raises RecursionError, not ValueError, for nesting deeper than the
    # interpreter's recursion limit: a parser that only catches ValueError answers 500.
    "json-deep-array": (b"[" * 5_000 + b"]" * 5_000, "application/json"),
    "json-deep-object": (b'{"a":' * 3_000 + b"1" + b"}" * 3_000, "application/json"),
    # CPython >= 3.11 refuses int() of more than 4,300 digits with ValueError.
    "json-huge-int": (b'{"value": ' + b"9" * 6_000 + b"}", "application/json"),
    "json-nan": (b'{"value": NaN, "purposes": {"analytics": Infinity}}', "application/json"),
    "json-lone-surrogate": (b'{"purposes": {"\\ud800": true}}', "application/json"),
    "json-bad-utf8": (b'{"purposes": {"\xff\xfe": true}}', "application/json"),
    "json-utf16-bom": ('{"action": "accept_all"}'.encode("utf-16"), "application/json"),
    "json-duplicate-keys": (
        b'{"action": "reject_all", "action": "accept_all", "action": null}',
        "application/json",
    ),
    "json-huge": (b'{"x": "' + b"a" * 200_000 + b'"}', "application/json"),
    "json-as-text-plain": (b'{"action": "accept_all"}', "text/plain"),
    "json-no-content-type": (b'{"action": "accept_all"}', None),
    "xml": (b"<?xml version='1.0'?><consent all='yes'/>", "application/xml"),
    "multipart-no-boundary": (b"--x\r\n\r\n", "multipart/form-data"),
    "multipart-garbage": (
        b'--b\r\nContent-Disposition: form-data; name="action"\r\n\r\naccept_all\r\n',
        "multipart/form-data; boundary=b",
    ),
    "content-type-garbage": (b"action=accept_all", "\x01;;;=;charset=\xff"),
    "form-bad-utf8": (b"action=%ff%fe&purpose=\xff", "application/x-www-form-urlencoded"),
    "form-many-fields": (
        b"&".join(b"f%d=1" % i for i in range(5_000)),
        "application/x-www-form-urlencoded",
    ),
    "form-unknown-purpose": (
        b"action=save&purpose=" + b"x" * 5_000,
        "application/x-www-form-urlencoded",
    ),
    "form-no-equals": (b"action&&&==&confirm", "application/x-www-form-urlencoded"),
    "form-nul": (b"action=accept_all%00&confirm=yes\x00", "application/x-www-form-urlencoded"),
    "form-huge": (b"a=" + b"b" * 200_000, "application/x-www-form-urlencoded"),
}

# Framing lies, per endpoint: the declared size is not what comes.
FRAMING: dict[str, tuple[list[tuple[str, str]], bytes]] = {
    "content-length-huge": ([("Content-Length", "99999999999999999999")], b"{}"),
    "content-length-negative": ([("Content-Length", "-1")], b"{}"),
    # Declares more than it sends, then gives up (half-close): refused or dropped, and the
    # gateway logs no traceback for a client that went away (it did: ClientDisconnect).
    "content-length-short": ([("Content-Length", "100")], b"{}"),
    "chunked-huge": (
        [("Transfer-Encoding", "chunked")],
        b"".join(b"4000\r\n" + b"[" * 0x4000 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n",
    ),
}

CASES = [
    (path, name, [*fields, *([("Content-Type", ctype)] if ctype is not None else [])], body)
    for path, fields in ENDPOINTS.items()
    for name, (body, ctype) in BODIES.items()
] + [
    (path, name, [*fields, JSON, *framing], body)
    for path, fields in ENDPOINTS.items()
    for name, (framing, body) in FRAMING.items()
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[procs.Server, procs.Server]]:
    with running(tmp_path_factory.mktemp("hostile-privacy")) as servers:
        yield servers


# Valid requests in disguise, answered normally: JSON in UTF-16 with a BOM (json.loads reads
# it; RFC 8259 §8.1 lets a parser accept it), and a form whose empty `action` is the "save"
# button with nothing ticked (records a refusal of every optional purpose: the safe side).
ACCEPTED = {("/_privacy/consent", "json-utf16-bom"), ("/_privacy/consent", "form-no-equals")}


def assert_refused_with_reason(answer: Answer, case: str, gave_up: bool = False) -> None:
    if gave_up and answer.status == 0:
        return  # we ended the request half-way; closing on us is a fine answer
    assert answer.status != 0, f"{case}: no answer (hang or dropped connection)"
    assert answer.status < 500, f"{case}: {answer.status} {answer.raw[:300]!r}"
    if answer.status >= 400 and not answer.body.strip():
        # Only granian's HTTP parser answers a bare 400 (for bytes it will not read as a
        # field or a length); every answer from the gateway itself names its reason.
        assert answer.status == 400 and answer.header("content-type") is None, (
            f"{case}: a {answer.status} without a reason"
        )


@pytest.mark.parametrize(
    ("path", "name", "fields", "body"),
    CASES,
    ids=[f"{path.rsplit('/', 1)[1]}-{name}" for path, name, _, _ in CASES],
)
def test_hostile_body_is_refused_with_a_reason(
    world: tuple[procs.Server, procs.Server],
    figures: Figures,
    path: str,
    name: str,
    fields: list[tuple[str, str]],
    body: bytes,
) -> None:
    gateway, upstream = world
    before = len(seen(upstream))
    gave_up = name == "content-length-short"
    answer = exchange(gateway.port, request("POST", path, list(fields), body), half_close=gave_up)
    figures.add("hostile inputs tried")
    case = f"POST {path} {name}"
    assert_refused_with_reason(answer, case, gave_up)
    if (path, name) not in ACCEPTED and answer.status != 0:
        # Garbage is never accepted as a choice, an erasure, an event or a login. (Login
        # answers a broken form with 415, 400, 413, or 403 for the missing CSRF token.)
        assert answer.status >= 400, f"{case}: accepted: {answer.status} {answer.body[:200]!r}"
    assert len(seen(upstream)) == before, f"{case}: a reserved path reached the shop"


# --- cookies the browser would never send ------------------------------------------------

COOKIES: dict[str, bytes] = {
    "huge-visitor-id": b"cg_id=" + b"A" * 16_000,
    "visitor-id-bad-bytes": b"cg_id=\xff\xfe\x00\x01; other=1",
    "visitor-id-quoted": b'cg_id="not-a-valid-id"',
    "visitor-id-twice": b"cg_id=" + b"a" * 32 + b"; cg_id=" + b"b" * 32,
    "visitor-id-empty": b"cg_id=",
    "no-name": b"=value; ; ;;=",
    "unterminated-quote": b'cg_id="abc; x=1',
    "many-cookies": b"; ".join(b"c%d=v" % i for i in range(1_000)),
    "console-cookie-garbage": b"__Host-cg_console=\xff" + b"z" * 2_000 + b"; cg_console=x",
    "unicode-name": "cg_id=é; ümlaut=ß".encode(),
}
COOKIE_PATHS = [
    "/_privacy/consent",
    "/_privacy/my-data",
    "/_privacy/preferences",
    "/_privacy/admin/",
    "/page",
]
COOKIE_CASES = [(path, name) for path in COOKIE_PATHS for name in COOKIES]


@pytest.mark.parametrize(("path", "name"), COOKIE_CASES, ids=[f"{p}-{n}" for p, n in COOKIE_CASES])
def test_hostile_cookie_is_refused_or_ignored(
    world: tuple[procs.Server, procs.Server], figures: Figures, path: str, name: str
) -> None:
    gateway, _ = world
    answer = exchange(gateway.port, request("GET", path, [("Cookie", COOKIES[name])]))
    figures.add("hostile inputs tried")
    case = f"GET {path} cookie {name}"
    assert_refused_with_reason(answer, case)
    if path == "/_privacy/consent" and answer.status == 200:
        # A broken cookie is no visitor: the state is the fail-closed default, not granted.
        state = json.loads(answer.body)
        assert state["subject_ref"] is None, state
        assert not any(v for k, v in state["purposes"].items() if k != "essential"), state


# --- URLs --------------------------------------------------------------------------------

URLS: dict[str, bytes] = {
    "consent-bad-percent": b"/_privacy/consent?%ff%zz=%",
    "consent-nul-query": b"/_privacy/consent?lang=%00",
    "my-data-format-garbage": b"/_privacy/my-data?format=%00%ff" + b"x" * 3_000,
    "preferences-long-query": b"/_privacy/preferences?lang=" + b"a" * 60_000,
    "preferences-return-to-evil": b"/_privacy/preferences?return_to=//evil.example/%0d%0aX:1",
    "reserved-bad-percent": b"/_privacy/%ff%fe",
    "reserved-dot-segments": b"/_privacy/admin/../../../../etc/passwd",
    "reserved-encoded-slash": b"/_privacy%2Fadmin%2Flogin",
    "admin-next-evil": b"/_privacy/admin/login?next=https://evil.example/",
    "admin-huge-page": b"/_privacy/admin/audit?page=" + b"9" * 5_000,
    "admin-nul": b"/_privacy/admin/%00",
    "gpc-json-query": b"/.well-known/gpc.json?%00=%ff",
    "proxied-long": b"/" + b"a" * 60_000,
    "proxied-bad-percent": b"/%zz/%%/%c0%af/%ff",
}


@pytest.mark.parametrize("name", sorted(URLS))
def test_hostile_url_is_refused_or_served(
    world: tuple[procs.Server, procs.Server], figures: Figures, name: str
) -> None:
    gateway, upstream = world
    before = seen(upstream)
    answer = exchange(gateway.port, request("GET", URLS[name]))
    figures.add("hostile inputs tried")
    assert_refused_with_reason(answer, name)
    reached = seen(upstream)[len(before) :]
    if URLS[name].startswith((b"/_privacy", b"/.well-known")):
        assert reached == [], f"{name}: a reserved path reached the shop: {reached}"
    else:
        assert len(reached) <= 1
    location = answer.header("location") or ""
    assert "evil.example" not in location, f"{name}: open redirect to {location}"


def test_gateway_still_serves_after_the_tables(world: tuple[procs.Server, procs.Server]) -> None:
    gateway, _ = world
    assert healthy(gateway)
