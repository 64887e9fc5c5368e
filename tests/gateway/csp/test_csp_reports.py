"""Violation reports (`gateway/csp/reports.py`): both wire formats, nothing personal kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.csp.reports import (
    CspViolations,
    MalformedReport,
    Violation,
    ViolationCount,
    parse_reports,
)
from gateway.http.metrics import Counter

# What Chromium sent for `report-uri` (captured from a headless run), trimmed.
CHROMIUM = {
    "csp-report": {
        "document-uri": "http://127.0.0.1:8080/product/42?email=a%40b.example#x",
        "referrer": "http://127.0.0.1:8080/",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "original-policy": "script-src 'self'; report-uri /_privacy/csp-report",
        "disposition": "enforce",
        "blocked-uri": "https://connect.facebook.net/en_US/fbevents.js?id=123",
        "status-code": 200,
        "script-sample": "",
    }
}


def csp_report(**fields: Any) -> bytes:
    return json.dumps({"csp-report": {**CHROMIUM["csp-report"], **fields}}).encode()


def reports_json(*bodies: dict[str, Any], kind: str = "csp-violation") -> bytes:
    return json.dumps(
        [
            {
                "type": kind,
                "age": 10,
                "url": "https://shop.example/cart?x=1",
                "user_agent": "Mozilla/5.0",
                "body": body,
            }
            for body in bodies
        ]
    ).encode()


def test_a_report_uri_report_keeps_directive_host_and_path_only() -> None:
    [v] = parse_reports(json.dumps(CHROMIUM).encode(), "application/csp-report")
    assert v == Violation("script-src-elem", "connect.facebook.net", "/product/42")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"blocked-uri": "inline"}, ("script-src-elem", "inline")),
        ({"blocked-uri": "eval", "effective-directive": "script-src"}, ("script-src", "eval")),
        ({"blocked-uri": "data:image/png;base64,AAAA"}, ("script-src-elem", "data")),
        (
            {"blocked-uri": "https://user:pw@px.example:8443/p?id=1"},
            ("script-src-elem", "px.example"),
        ),
        ({"blocked-uri": ""}, ("script-src-elem", "other")),
        ({"blocked-uri": 5}, ("script-src-elem", "other")),
        ({"effective-directive": None, "violated-directive": "img-src 'self'"}, ("img-src", None)),
        ({"effective-directive": "made-up"}, ("other", None)),
    ],
)
def test_report_uri_fields(fields: dict[str, Any], expected: tuple[str, str | None]) -> None:
    [v] = parse_reports(csp_report(**fields), "application/csp-report")
    assert v.directive == expected[0]
    assert v.blocked == (expected[1] or "connect.facebook.net")


@pytest.mark.parametrize(
    ("page", "path"),
    [
        ("https://shop.example/a/b?q=secret#frag", "/a/b"),
        ("https://shop.example", "/"),
        ("about:blank", "other"),
        (None, "other"),
        ("https://shop.example/" + "x" * 500, "/" + "x" * 199),
    ],
)
def test_the_page_is_its_path_without_query(page: Any, path: str) -> None:
    [v] = parse_reports(csp_report(**{"document-uri": page}), "application/csp-report")
    assert v.path == path


def test_a_reporting_api_batch() -> None:
    body = reports_json(
        {
            "documentURL": "https://shop.example/p?x=1",
            "effectiveDirective": "connect-src",
            "blockedURL": "https://www.google-analytics.com/g/collect?cid=1",
            "disposition": "report",
        },
        {"effectiveDirective": "img-src", "blockedURL": "https://px.example/p.gif"},
    )
    assert parse_reports(body, "application/reports+json") == [
        Violation("connect-src", "www.google-analytics.com", "/p"),
        Violation("img-src", "px.example", "/cart"),  # the report's url when no documentURL
    ]


def test_other_report_types_are_ignored() -> None:
    body = reports_json({"id": "x"}, kind="deprecation")
    assert parse_reports(body, "application/reports+json") == []


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"{not json", "application/csp-report"),
        (b'"text"', "application/csp-report"),
        (b'{"csp-report": []}', "application/csp-report"),
        (b"{}", "application/reports+json"),
        (b"[1]", "application/reports+json"),
        (b'[{"type": "csp-violation", "body": "x"}]', "application/reports+json"),
        (b"[" * 100_000, "application/reports+json"),
        (json.dumps([{"type": "x", "body": {}}] * 101).encode(), "application/reports+json"),
        (b"\xff\xfe", "application/csp-report"),
    ],
)
def test_malformed_bodies(body: bytes, media_type: str) -> None:
    with pytest.raises(MalformedReport):
        parse_reports(body, media_type)


def aggregate(max_entries: int = 1000) -> tuple[CspViolations, Counter, Counter]:
    counter, dropped = Counter("v", "v"), Counter("d", "d")
    return CspViolations(counter, dropped, max_entries), counter, dropped


def test_the_aggregate_counts_and_snapshots_most_frequent_first() -> None:
    violations, counter, _ = aggregate()
    a = Violation("script-src-elem", "connect.facebook.net", "/")
    b = Violation("img-src", "px.example", "/cart")
    for v in (a, b, a):
        assert violations.record(v)
    assert violations.snapshot() == [
        ViolationCount("script-src-elem", "connect.facebook.net", "/", 2),
        ViolationCount("img-src", "px.example", "/cart", 1),
    ]
    assert list(violations) == violations.snapshot()
    # The aggregate is the metrics counter: the Prometheus endpoint shows it as is.
    labels = (("directive", "img-src"), ("blocked", "px.example"), ("path", "/cart"))
    assert counter.values[labels] == 1


def test_the_aggregate_is_bounded() -> None:
    violations, counter, dropped = aggregate(max_entries=2)
    for i in range(5):
        violations.record(Violation("img-src", f"h{i}.example", "/"))
    violations.record(Violation("img-src", "h0.example", "/"))  # known keys still count
    assert len(counter.values) == 2
    assert dropped.values == {(): 3}
    assert violations.snapshot()[0] == ViolationCount("img-src", "h0.example", "/", 2)
