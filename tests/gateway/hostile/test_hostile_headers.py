"""Hostile request fields and targets, seen from the storefront.

A real gateway process in front of the recording upstream; requests go as raw bytes so no
client tidies them up. The upstream echoes the raw fields it received, so each row asserts
what the shop really saw:

- a `Connection` field naming the fields the gateway adds (forwarding fields, the
  consent-state header, Host) strips the client's copies first; the gateway's own values are
  added after and arrive exactly once (RFC 9110 §7.6.1);
- a client-sent consent-state header never reaches the shop (it would be a forged consent);
- forwarding fields: believed only from trusted peers, rightmost-untrusted client, exactly one
  fresh `X-Forwarded-For` (rows ported from uvicorn's proxy-header tests);
- absolute-form, authority-form and asterisk-form targets, CONNECT/TRACE/TRACK and paths that
  look like another host never choose the upstream: its Host is always the configured one;
- pipelined requests are answered in order, each reaching the shop once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import procs
from tests.figures import Figures
from tests.gateway.hostile.hostile_world import exchange, request, running, seen

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[procs.Server, procs.Server]]:
    """Loopback is the trusted proxy (X-Forwarded-For plays the client); 10.0.0.0/8 too."""
    directory: Path = tmp_path_factory.mktemp("hostile-headers")
    with running(directory) as (gateway, upstream):
        yield gateway, upstream


@pytest.fixture(scope="module")
def untrusting(
    world: tuple[procs.Server, procs.Server], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[procs.Server]:
    """A second gateway on the same upstream that trusts no proxy at all, and names its
    consent-state header in lower case (the case granian gives every client field)."""
    _, upstream = world
    config = procs.write_config(tmp_path_factory.mktemp("untrusting"), upstream=upstream.url)
    data = yaml.safe_load(config.read_text())
    data["consent"] = {"upstream_header": "x-consent-state"}
    config.write_text(yaml.safe_dump(data))
    with procs.start_gateway(config) as gateway:
        yield gateway


def echo(raw: bytes) -> dict[str, Any]:
    body = raw.partition(b"\r\n\r\n")[2]
    data: dict[str, Any] = json.loads(body)
    assert "raw_path" in data, data
    return data


def values(data: dict[str, Any], name: str) -> list[str]:
    return [v for n, v in data["headers"] if n.lower() == name.lower()]


def send(
    gateway: procs.Server,
    target: bytes | str,
    fields: list[tuple[str, str]],
    address: str = "203.0.113.50",
    method: str = "GET",
) -> tuple[int, bytes]:
    answer = exchange(gateway.port, request(method, target, fields, address=address))
    return answer.status, answer.raw


# --- Connection names the gateway's own fields --------------------------------------------

GATEWAY_FIELDS = [
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "Forwarded",
    "X-Consent-State",
    "Host",
]


@pytest.mark.parametrize("nominated", GATEWAY_FIELDS + ["all"])
def test_connection_cannot_remove_or_duplicate_the_gateways_fields(
    world: tuple[procs.Server, procs.Server], figures: Figures, nominated: str
) -> None:
    gateway, upstream = world
    names = GATEWAY_FIELDS if nominated == "all" else [nominated]
    status, raw = send(
        gateway,
        "/x",
        [
            ("Connection", "keep-alive, " + ", ".join(names)),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
            ("Forwarded", "for=6.6.6.6;host=evil.example"),
            ("X-Consent-State", 'regime="default", analytics, marketing'),
        ],
    )
    figures.add("hostile inputs tried")
    assert status == 200, raw[:300]
    data = echo(raw)
    # The trusted proxy (loopback) said the client is 203.0.113.50, over https, for
    # evil.example (what a trusted proxy says is believed; a nominated name removes nothing).
    assert values(data, "X-Forwarded-For") == ["203.0.113.50"]
    assert values(data, "Host") == [f"127.0.0.1:{upstream.port}"]
    assert len(values(data, "Forwarded")) == 1
    assert len(values(data, "X-Forwarded-Proto")) == 1
    [consent] = values(data, "X-Consent-State")
    # Unknown location is gdpr (fail closed): nothing optional granted, whatever was sent.
    assert consent.startswith('regime="gdpr"') and "analytics=?0" in consent, consent


# --- a forged consent-state header ----------------------------------------------------------

FORGED = [
    [("X-Consent-State", 'regime="default", gpc=?0, essential, analytics, marketing')],
    [("x-consent-state", "analytics")],
    [("X-CONSENT-STATE", "marketing"), ("X-Consent-State", "personalization")],
]


@pytest.mark.parametrize("fields", FORGED, ids=["plain", "lower-case", "twice-mixed-case"])
def test_client_cannot_forge_the_consent_state_header(
    world: tuple[procs.Server, procs.Server], figures: Figures, fields: list[tuple[str, str]]
) -> None:
    gateway, _ = world
    status, raw = send(gateway, "/x", fields)
    figures.add("hostile inputs tried")
    assert status == 200, raw[:300]
    sent = values(echo(raw), "X-Consent-State")
    assert len(sent) == 1, sent
    assert "analytics=?0" in sent[0] and "marketing=?0" in sent[0], sent


def test_forged_consent_header_is_dropped_whatever_the_configured_case(
    untrusting: procs.Server, figures: Figures
) -> None:
    # The upstream client merges fields by exact name: with the configured name in the same
    # case as the client's copy, both used to reach the shop, the forged one first.
    status, raw = send(untrusting, "/x", [("X-Consent-State", "analytics, marketing")])
    figures.add("hostile inputs tried")
    assert status == 200, raw[:300]
    sent = values(echo(raw), "X-Consent-State")
    assert len(sent) == 1 and sent[0].startswith('regime="gdpr"'), sent


# --- forwarding fields -------------------------------------------------------------------

# (X-Forwarded-For values as sent, the client the shop must be told). Peer: 127.0.0.1,
# trusted 127.0.0.1/32. Rows after uvicorn tests/middleware/test_proxy_headers.py.
FORWARDED_ROWS: list[tuple[list[str], str]] = [
    (["1.2.3.4"], "1.2.3.4"),
    (["6.6.6.6, 1.2.3.4"], "1.2.3.4"),  # the leftmost is whatever the client typed
    (["6.6.6.6", "1.2.3.4"], "1.2.3.4"),  # two fields are one list, in order
    ([""], "127.0.0.1"),
    ([" , "], "127.0.0.1"),
    ([", , 9.9.9.9"], "9.9.9.9"),
    ([", , 9.9.9.9, , "], "127.0.0.1"),
    (["1.2.3.4, unknown"], "127.0.0.1"),
    (["1.2.3.4, _hidden"], "127.0.0.1"),
    (["[2001:db8::7]:4711"], "2001:db8::7"),
    (["2001:db8::7"], "2001:db8::7"),
    (["1.2.3.4:80"], "1.2.3.4"),
    (["::ffff:1.2.3.4"], "1.2.3.4"),
    (["127.0.0.1"], "127.0.0.1"),  # every hop trusted: the leftmost is the client
    (["1.2.3.4, 127.0.0.1, 127.0.0.1"], "1.2.3.4"),  # trusted hops are skipped
    (["999.1.1.1"], "127.0.0.1"),
    (["1.2.3.4\t, 5.6.7.8 "], "5.6.7.8"),
]


@pytest.mark.parametrize(
    ("xff", "client"), FORWARDED_ROWS, ids=[repr(r[0]) for r in FORWARDED_ROWS]
)
def test_client_is_the_rightmost_untrusted_hop(
    world: tuple[procs.Server, procs.Server], figures: Figures, xff: list[str], client: str
) -> None:
    gateway, _ = world
    raw = request("GET", "/x", [("X-Forwarded-For", v) for v in xff], address="")
    answer = exchange(gateway.port, raw)
    figures.add("hostile inputs tried")
    assert answer.status == 200, answer.raw[:300]
    data = echo(answer.raw)
    assert values(data, "X-Forwarded-For") == [client]
    node = f'"[{client}]"' if ":" in client else client
    assert values(data, "Forwarded") == [f"for={node};proto=http;host=127.0.0.1"]


UNTRUSTED_FIELDS = [
    ("X-Forwarded-For", "6.6.6.6"),
    ("X-Forwarded-For", "7.7.7.7, 8.8.8.8"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Prefix", "/evil"),
    ("X-Real-IP", "6.6.6.6"),
    ("Forwarded", 'for="[2001:db8::1]";proto=https;host=evil.example'),
    ("Forwarded", "for=6.6.6.6"),
]


def test_untrusted_peer_forwarding_fields_are_replaced_by_one_fresh_set(
    world: tuple[procs.Server, procs.Server], untrusting: procs.Server, figures: Figures
) -> None:
    _, upstream = world
    head = b"GET /x HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n"
    fields = b"".join(f"{n}: {v}\r\n".encode() for n, v in UNTRUSTED_FIELDS)
    answer = exchange(untrusting.port, head + fields + b"\r\n")
    figures.add("hostile inputs tried")
    data = echo(answer.raw)
    assert values(data, "X-Forwarded-For") == ["127.0.0.1"]
    assert values(data, "X-Forwarded-Proto") == ["http"]
    assert values(data, "X-Forwarded-Host") == ["shop.example"]
    assert values(data, "Forwarded") == ["for=127.0.0.1;proto=http;host=shop.example"]
    for gone in ("X-Forwarded-Port", "X-Forwarded-Prefix", "X-Real-IP"):
        assert values(data, gone) == []
    assert values(data, "Host") == [f"127.0.0.1:{upstream.port}"]


# --- targets that try to pick the upstream ---------------------------------------------------

# (method, target, raw_path the shop must see, or None: refused before the shop)
TARGETS: list[tuple[str, bytes, str | None]] = [
    ("GET", b"//evil.example/x", "//evil.example/x"),
    ("GET", b"/\\evil.example", "/\\evil.example"),
    ("GET", b"/%2F%2Fevil.example", "/%2F%2Fevil.example"),
    ("GET", b"/@evil.example", "/@evil.example"),
    ("GET", b"/sub:path", "/sub:path"),
    ("GET", b"/..;/evil.example", "/..;/evil.example"),
    ("GET", b"/%0d%0aHost:%20evil.example", "/%0d%0aHost:%20evil.example"),
    ("GET", b"http://evil.example/steal?x=1", "/steal?x=1"),
    ("GET", b"https://evil.example:8443/steal", "/steal"),
    ("GET", b"http://user:pw@evil.example/", "/"),
    ("GET", b"evil.example:80", None),
    ("OPTIONS", b"*", None),
    ("CONNECT", b"evil.example:443", None),
    ("CONNECT", b"127.0.0.1:22", None),
    ("TRACE", b"/", None),
    ("TRACE", b"*", None),
    ("TRACK", b"/", None),
]


@pytest.mark.parametrize(
    ("method", "target", "path"), TARGETS, ids=[f"{m} {t!r}" for m, t, _ in TARGETS]
)
def test_upstream_comes_only_from_config(
    world: tuple[procs.Server, procs.Server],
    figures: Figures,
    method: str,
    target: bytes,
    path: str | None,
) -> None:
    gateway, upstream = world
    before = seen(upstream)
    status, raw = send(
        gateway,
        target,
        [("X-Forwarded-Host", "evil.example"), ("X-Original-URL", "//evil/")],
        method=method,
    )
    figures.add("hostile inputs tried")
    assert status != 0 and status < 500, raw[:300]
    reached = seen(upstream)[len(before) :]
    if path is None:
        assert status in (400, 405), raw[:300]
        assert reached == []
    else:
        # Passed on byte-for-byte as a path of the configured upstream (its router may 404 a
        # path that decodes to a line break; the echo then shows no fields to check).
        assert reached == [path]
        if b"%0d%0a" not in target:
            assert status == 200, raw[:300]
            data = echo(raw)
            assert data["raw_path"] == path
            assert values(data, "Host") == [f"127.0.0.1:{upstream.port}"]


# --- pipelining -----------------------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order_each_once(
    world: tuple[procs.Server, procs.Server], figures: Figures
) -> None:
    gateway, upstream = world
    before = seen(upstream)
    one = b"GET /pipe/1 HTTP/1.1\r\nHost: x\r\n\r\n"
    reserved = b"GET /_privacy/healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /pipe/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = exchange(gateway.port, one + reserved + last)
    figures.add("hostile inputs tried")
    assert answer.raw.count(b"HTTP/1.1 200") == 3, answer.raw[:600]
    assert answer.raw.index(b'"/pipe/1"') < answer.raw.index(b'"/pipe/3"')
    assert seen(upstream)[len(before) :] == ["/pipe/1", "/pipe/3"]
