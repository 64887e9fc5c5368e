"""`POST /_privacy/csp-report` against a real gateway: bounded, typed, rate-limited, never 500.

The gateway runs the demo purposes and the default `csp` (report-only). Loopback is a trusted
proxy here, so each test plays its own client address with `X-Forwarded-For` and has a
rate-limit bucket of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests import procs

pytestmark = pytest.mark.e2e


RATE = 20
REPORT = {
    "csp-report": {
        "document-uri": "http://shop.example/cart?session=s3cr3t",
        "effective-directive": "img-src",
        "violated-directive": "img-src",
        "blocked-uri": "https://pixel.tracker.example/p.gif?uid=42",
        "disposition": "enforce",
    }
}
CSP_REPORT = "application/csp-report"
REPORTS_JSON = "application/reports+json"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    with procs.start_upstream() as upstream:
        directory = tmp_path_factory.mktemp("gateway")
        path = procs.write_config(
            directory, upstream=upstream.url, trusted_proxies=["127.0.0.1/32"]
        )
        data = yaml.safe_load(path.read_text())
        data.update(procs.demo_purposes())
        data["csp"] = {"report_rate_per_minute": RATE}
        path.write_text(yaml.safe_dump(data))
        with procs.start_gateway(path) as server:
            yield server


def post(
    gateway: procs.Server, body: bytes, content_type: str | None, client: str, **headers: str
) -> httpx.Response:
    fields = {"X-Forwarded-For": client, **headers}
    if content_type is not None:
        fields["Content-Type"] = content_type
    return httpx.post(
        f"{gateway.url}/_privacy/csp-report", content=body, headers=fields, timeout=10
    )


def csp_lines(gateway: procs.Server) -> list[str]:
    text = httpx.get(f"{gateway.url}/_privacy/metrics", timeout=10).text
    return [line for line in text.splitlines() if line.startswith("consentgate_csp_")]


def test_both_formats_are_counted_and_nothing_personal_is_kept(gateway: procs.Server) -> None:
    answer = post(
        gateway,
        json.dumps(REPORT).encode(),
        CSP_REPORT,
        "203.0.113.1",
        **{"User-Agent": "Secret-Browser/1.0"},
    )
    assert answer.status_code == 204 and answer.content == b""
    batch = [
        {
            "type": "csp-violation",
            "url": "http://shop.example/cart?x=1",
            "age": 1,
            "user_agent": "Secret-Browser/1.0",
            "body": {
                "documentURL": "http://shop.example/cart?x=1",
                "effectiveDirective": "img-src",
                "blockedURL": "https://pixel.tracker.example/p.gif?uid=43",
            },
        }
    ]
    answer = post(
        gateway, json.dumps(batch).encode(), f"{REPORTS_JSON}; charset=utf-8", "203.0.113.1"
    )
    assert answer.status_code == 204
    lines = csp_lines(gateway)
    assert (
        'consentgate_csp_violations_total{directive="img-src",blocked="pixel.tracker.example",'
        'path="/cart"} 2'
    ) in lines
    text = "\n".join(lines)
    for personal in ("203.0.113.1", "127.0.0.1", "Secret-Browser", "uid=", "s3cr3t", "x=1"):
        assert personal not in text
    assert 'consentgate_csp_reports_total{outcome="accepted"} 2' in lines


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", json.dumps(REPORT).encode(), 415),
        ("application/json", json.dumps(REPORT).encode(), 415),
        (None, json.dumps(REPORT).encode(), 415),
        (CSP_REPORT, b"{not json", 400),
        (CSP_REPORT, b"[]", 400),
        (CSP_REPORT, b"\xff\xfe\x00", 400),
        (REPORTS_JSON, b'{"csp-report": {}}', 400),
        (REPORTS_JSON, b"[" * 16_000, 400),
        (REPORTS_JSON, b"", 400),
        (CSP_REPORT, b"x" * (16 * 1024 + 1), 413),
        (CSP_REPORT, b'{"csp-report": {"blocked-uri": 1, "document-uri": []}}', 204),
        (CSP_REPORT, b'{"csp-report": {"blocked-uri": "http://[::1", "document-uri": "//"}}', 204),
    ],
)
def test_refusals(
    gateway: procs.Server, content_type: str | None, body: bytes, status: int
) -> None:
    answer = post(gateway, body, content_type, "203.0.113.2")
    assert answer.status_code == status, answer.text
    if status >= 400:
        assert answer.json()["error"]


def test_a_chunked_body_past_the_bound_is_413(gateway: procs.Server) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 1024

    answer = httpx.post(
        f"{gateway.url}/_privacy/csp-report",
        content=chunks(),
        headers={"Content-Type": CSP_REPORT, "X-Forwarded-For": "203.0.113.3"},
        timeout=10,
    )
    assert answer.status_code == 413


def test_a_flood_is_429_with_retry_after(gateway: procs.Server) -> None:
    body = json.dumps(REPORT).encode()
    statuses = [post(gateway, body, CSP_REPORT, "203.0.113.4").status_code for _ in range(RATE + 5)]
    assert statuses[:RATE] == [204] * RATE
    assert set(statuses[RATE:]) == {429}
    limited = post(gateway, body, CSP_REPORT, "203.0.113.4")
    assert int(limited.headers["retry-after"]) >= 1
    # Another client is not affected.
    assert post(gateway, body, CSP_REPORT, "203.0.113.5").status_code == 204
    assert any(
        line.startswith('consentgate_csp_reports_total{outcome="rate_limited"}')
        for line in csp_lines(gateway)
    )


def test_other_methods_are_refused(gateway: procs.Server) -> None:
    answer = httpx.get(f"{gateway.url}/_privacy/csp-report", timeout=10)
    assert answer.status_code == 405


def test_pages_get_a_report_only_policy_by_default_and_other_bodies_none(
    gateway: procs.Server,
) -> None:
    page = httpx.get(f"{gateway.url}/page", timeout=10)
    assert "content-security-policy" not in page.headers  # nothing enforced on day one
    policy = page.headers["content-security-policy-report-only"]
    # Plain http: report-uri alone (Chromium delivers Reporting API reports for https only).
    assert "report-uri /_privacy/csp-report" in policy and "report-to" not in policy
    assert "reporting-endpoints" not in page.headers
    # Served over https (a trusted proxy says so): report-to as well.
    page = httpx.get(f"{gateway.url}/page", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    policy = page.headers["content-security-policy-report-only"]
    assert "report-uri /_privacy/csp-report" in policy and "report-to consentgate-csp" in policy
    assert page.headers["reporting-endpoints"] == 'consentgate-csp="/_privacy/csp-report"'
    other = httpx.get(f"{gateway.url}/gzip", timeout=10)
    assert not [n for n in other.headers if "security-policy" in n or n == "reporting-endpoints"]
