"""`gateway.http.security`: the policy it builds (pure), the templates it must cover, and the
fields on every kind of answer a real gateway gives under its prefix and on its error pages."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from consent.banner import PREFERENCES_STYLE, PreferencesView, PurposeView, render_preferences
from gateway.http import error_pages
from gateway.http.security import PagePolicy, frame_options, policy, style_hash, with_fields
from gateway.routes import dsr_page
from tests import procs

STYLES = (PREFERENCES_STYLE, dsr_page.STYLE)
TEMPLATE_DIRS = [
    procs.REPO / "consent" / "templates",
    procs.REPO / "gateway" / "templates",
    procs.REPO / "gateway" / "console" / "templates",
]
# Pages the proxy injects into the shop's own pages: the shop's CSP covers them, not ours.
INJECTED = {"banner.html", "choices_link.html"}


def directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}


def test_style_hash_is_the_csp3_hash_source() -> None:
    # CSP3 §2.3.1 example: alert('Hello, world.'); shown as a script, any text works alike.
    expected = base64.b64encode(hashlib.sha256(b"alert('Hello, world.');").digest()).decode()
    assert style_hash("alert('Hello, world.');") == f"'sha256-{expected}'"
    assert style_hash("") == "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"


def test_policy_has_no_script_source_and_no_unsafe_keyword() -> None:
    found = directives(policy(STYLES, ()))
    assert found["default-src"] == ["'none'"]
    assert "script-src" not in found  # falls back to default-src 'none': no script at all
    assert sorted(found["style-src"]) == sorted({style_hash(s) for s in STYLES})
    assert found["frame-ancestors"] == ["'none'"]
    assert found["base-uri"] == ["'none'"]
    assert found["form-action"] == ["'self'"]
    assert "unsafe" not in policy(STYLES, ("https://shop.example",), stylesheets=True)


@pytest.mark.parametrize(
    ("ancestors", "header"),
    [
        ((), b"DENY"),
        (("'self'",), b"SAMEORIGIN"),
        (("https://shop.example",), None),
        (("'self'", "https://shop.example"), None),
    ],
)
def test_frame_options_says_what_frame_ancestors_says(
    ancestors: tuple[str, ...], header: bytes | None
) -> None:
    assert frame_options(ancestors) == header


def test_the_console_is_never_framed_even_when_visitor_pages_may_be() -> None:
    pages = PagePolicy.build("/_privacy", STYLES, ["https://shop.example"])
    for path in ["/_privacy/admin", "/_privacy/admin/login", "/_privacy/admin/download/x"]:
        fields = dict(pages.fields(path))
        assert "frame-ancestors 'none'" in fields[b"content-security-policy"].decode()
        assert fields[b"x-frame-options"] == b"DENY"
    for path in ["/_privacy/preferences", "/_privacy/administrator", "/.well-known/gpc.json"]:
        fields = dict(pages.fields(path))
        assert "frame-ancestors https://shop.example" in fields[b"content-security-policy"].decode()
        assert b"x-frame-options" not in fields


def test_a_routes_own_fields_win_and_its_csp_is_kept_beside_ours() -> None:
    ours = PagePolicy.build("/_privacy", STYLES, []).visitor
    route = [(b"referrer-policy", b"no-referrer"), (b"content-security-policy", b"sandbox")]
    merged = with_fields(list(route), ours)
    assert [v for n, v in merged if n == b"referrer-policy"] == [b"no-referrer"]
    assert len([v for n, v in merged if n == b"content-security-policy"]) == 2
    assert with_fields(list(merged), ours) == merged  # idempotent


# --- the templates carry only what the policy allows --------------------------------------


@pytest.mark.parametrize(
    "template",
    sorted(p for d in TEMPLATE_DIRS for p in d.glob("*.html") if p.name not in INJECTED),
    ids=lambda p: p.name,
)
def test_gateway_templates_have_no_script_no_style_attribute_no_handler(template: Path) -> None:
    source = template.read_text(encoding="utf-8")
    assert "<script" not in source.lower()
    assert re.search(r"\sstyle\s*=", source, re.IGNORECASE) is None
    assert re.search(r"\son[a-z]+\s*=", source, re.IGNORECASE) is None
    # An inline <style> holds only a constant the gateway hashes at start-up.
    for body in re.findall(r"<style>(.*?)</style>", source, re.DOTALL):
        assert body == "{{ style }}", template


def _inline_styles(html: str) -> list[str]:
    return re.findall(r"<style>(.*?)</style>", html, re.DOTALL)


def test_every_rendered_inline_style_is_allowed_by_its_hash() -> None:
    view = PreferencesView(
        language="en",
        regime="gdpr",
        policy_version="1",
        history=(),
        subject_ref="ABC",
        purposes=[PurposeView("analytics", "Analytics", "Counts visits", False, False)],
        gpc_honored=False,
        prefix="/_privacy",
        csrf="t",
    )
    bundle = {
        "subject_ref": "ABC",
        "generated_at": "now",
        "consents": [],
        "profile": {},
        "decisions": [],
        "events": [],
        "audit": [],
    }
    pages = [
        render_preferences(view),
        dsr_page.render_bundle(bundle, json_url="/j", delete_url="/d"),
        dsr_page.render_confirm(action="/d", csrf="t", back="/p"),
        dsr_page.render_erased("ABC"),
    ]
    allowed = set(directives(policy(STYLES, ()))["style-src"])
    for html in pages:
        [style] = _inline_styles(html)
        assert style_hash(style) in allowed
    for status in (400, 405, 502, 504):
        html = error_pages.render(status).decode()
        [style] = _inline_styles(html)
        fields = dict(error_pages.headers(status, len(html)))
        assert style_hash(style) in fields[b"content-security-policy"].decode()


# --- every answer of a real gateway -------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    with procs.start_upstream() as upstream:
        config = procs.write_config(tmp_path_factory.mktemp("page-security"), upstream=upstream.url)
        with procs.start_gateway(config) as server:
            yield server


def _visitor(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    chose = client.post(
        "/_privacy/consent", json={"action": "accept_all"}, headers={"Origin": base}
    )
    assert chose.status_code == 200, chose.text
    return client


ANSWERS = [
    ("GET", "/_privacy/preferences", 200),
    ("HEAD", "/_privacy/preferences", 200),
    ("GET", "/_privacy/my-data?format=html", 200),
    ("GET", "/_privacy/my-data", 200),
    ("GET", "/_privacy/my-data/delete", 200),
    ("GET", "/_privacy/consent", 200),
    ("POST", "/_privacy/consent", 415),
    ("POST", "/_privacy/events", 401),
    ("GET", "/_privacy/healthz", 200),
    ("GET", "/_privacy/readyz", 200),
    ("GET", "/_privacy/metrics", 200),
    ("GET", "/.well-known/gpc.json", 200),
    ("GET", "/_privacy/no-such-page", 404),
    ("GET", "/_privacy/consent/", 404),
    ("GET", "/_privacy/admin/login", 200),
    ("GET", "/_privacy/admin/audit", 303),
    ("GET", "/_privacy/admin/console.css", 200),
]


@pytest.mark.e2e
def test_every_answer_under_the_prefix_carries_the_fields(gateway: procs.Server) -> None:
    client = _visitor(gateway.url)
    try:
        for method, path, status in ANSWERS:
            response = client.request(method, path, content=b"x" if method == "POST" else None)
            assert response.status_code == status, (method, path, response.text[:200])
            csp = response.headers.get_list("content-security-policy")
            assert any("frame-ancestors 'none'" in c and "default-src 'none'" in c for c in csp)
            assert not any("script-src" in c or "unsafe" in c for c in csp), (path, csp)
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            # The console's URLs carry subject filters and download tokens: no referrer.
            expected = "no-referrer" if "/admin/" in path else "same-origin"
            assert response.headers["referrer-policy"] == expected, path
    finally:
        client.close()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("method", "raw_path", "status"),
    [("GET", "/a/..%2F_privacy/x", 400), ("TRACE", "/", 405)],
)
def test_the_proxys_own_error_pages_carry_them_too(
    gateway: procs.Server, method: str, raw_path: str, status: int
) -> None:
    answer = procs.raw_http(
        gateway.port,
        f"{method} {raw_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode(),
    )
    assert answer.status == status
    assert "frame-ancestors 'none'" in (answer.header("content-security-policy") or "")
    assert answer.header("x-frame-options") == "DENY"
    assert answer.header("x-content-type-options") == "nosniff"
