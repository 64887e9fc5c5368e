"""Pure helpers of the console pages (gateway/console/pages.py); the routes themselves run
against a real process in test_console_flow.py and test_console_browser.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.console.pages import parse_filter_time, safe_next

BASE = "/_privacy/admin"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{BASE}/requests", f"{BASE}/requests"),
        (f"{BASE}/audit?action=a.b", f"{BASE}/audit?action=a.b"),
        ("https://evil.example/", f"{BASE}/audit"),
        ("//evil.example/_privacy/admin/", f"{BASE}/audit"),
        ("/_privacy/administrator", f"{BASE}/audit"),
        ("/", f"{BASE}/audit"),
        (f"{BASE}/\\evil", f"{BASE}/audit"),
        (f"{BASE}/x\r\nSet-Cookie: a=b", f"{BASE}/audit"),
        ("", f"{BASE}/audit"),
        (None, f"{BASE}/audit"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value, BASE) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        ("  ", None),
        ("2026-11-23", datetime(2026, 11, 23, tzinfo=UTC)),
        ("2026-11-23T10:30", datetime(2026, 11, 23, 10, 30, tzinfo=UTC)),
        ("2026-11-23T10:30:05Z", datetime(2026, 11, 23, 10, 30, 5, tzinfo=UTC)),
        ("2026-11-23T12:30:00+02:00", datetime(2026, 11, 23, 10, 30, tzinfo=UTC)),
    ],
)
def test_parse_filter_time(value: str, expected: datetime | None) -> None:
    assert parse_filter_time(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2026-11-23T25:00", "1e9"])
def test_parse_filter_time_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_filter_time(value)
