"""`gateway.http.origin`: which posts count as cross-site (OWASP CSRF Prevention Cheat Sheet)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from gateway.http.errors import HttpError
from gateway.http.origin import refuse_cross_site

SHOP = b"https://shop.example"


def request(headers: dict[str, str]) -> Request:
    fields = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": fields})


@pytest.mark.parametrize(
    ("headers", "expected", "token_ok"),
    [
        ({"Origin": "https://shop.example"}, SHOP, False),  # same origin: no token needed
        ({"Sec-Fetch-Site": "same-origin"}, SHOP, True),
        ({"Sec-Fetch-Site": "none"}, SHOP, True),
        ({}, SHOP, True),  # no Origin, no Fetch Metadata: the token decides
        ({"Origin": "null"}, SHOP, True),  # sandboxed frame: the token decides
    ],
)
def test_same_site(headers: dict[str, str], expected: bytes, token_ok: bool) -> None:
    refuse_cross_site(request(headers), expected, lambda: token_ok)


@pytest.mark.parametrize(
    ("headers", "expected", "token_ok", "reason"),
    [
        ({"Origin": "https://evil.example"}, SHOP, True, "Origin"),
        ({"Origin": "http://shop.example"}, SHOP, True, "Origin"),  # scheme counts
        ({"Origin": "https://shop.example"}, None, True, "Origin"),  # no known origin
        ({"Sec-Fetch-Site": "cross-site"}, SHOP, True, "Sec-Fetch-Site"),
        ({"Sec-Fetch-Site": "same-site"}, SHOP, True, "Sec-Fetch-Site"),  # a sibling subdomain
        ({}, SHOP, False, "CSRF token"),
        ({"Origin": "null"}, SHOP, False, "CSRF token"),
    ],
)
def test_cross_site_is_403(
    headers: dict[str, str], expected: bytes | None, token_ok: bool, reason: str
) -> None:
    with pytest.raises(HttpError) as caught:
        refuse_cross_site(request(headers), expected, lambda: token_ok)
    assert caught.value.status == 403 and reason in caught.value.reason
