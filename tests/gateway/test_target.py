import pytest
from yarl import URL

from gateway.http.target import (
    FORBIDDEN_METHODS,
    Rejection,
    check,
    resolves_into,
    upstream_url,
    wire_text,
)

PREFIX = "/_privacy"


@pytest.mark.parametrize(
    ("raw_path", "inside"),
    [
        (b"/_privacy", True),
        (b"/_privacy/", True),
        (b"/_privacy/admin", True),
        (b"/x/../_privacy/admin", True),
        (b"/x/y/../../_privacy", True),
        (b"/../_privacy", True),
        (b"/./_privacy/", True),
        (b"//_privacy", True),
        (b"/%5Fprivacy/admin", True),
        (b"/%5fprivacy", True),
        (b"/%255Fprivacy", True),  # double encoding
        (b"/%25255Fprivacy", True),  # triple
        (b"/x/%2e%2e/_privacy", True),
        (b"/x/%2E%2E%2F_privacy", True),
        (b"/x%2F..%2F_privacy", True),
        (b"/x/..\\_privacy", True),  # IIS reads backslash as a separator
        (b"/\\_privacy", True),
        (b"/_privacy;jsessionid=1/admin", True),  # Tomcat path parameters
        (b"/_PRIVACY/admin", True),  # case-folding servers
        (b"/_privacy%00.html", True),
        # Outside the prefix.
        (b"/", False),
        (b"/_privacyx", False),
        (b"/_privacy-policy", False),
        (b"/x/_privacy", False),
        (b"/x/..._privacy", False),
        (b"/shop/_privacy/../cart", False),
        (b"/%5Fprivac", False),
    ],
)
def test_resolves_into(raw_path: bytes, inside: bool) -> None:
    assert resolves_into(raw_path, PREFIX) is inside


def test_resolves_into_nested_prefix() -> None:
    assert resolves_into(b"/a/x/../b/c", "/a/b")
    assert not resolves_into(b"/a/bc", "/a/b")


@pytest.mark.parametrize(
    ("method", "raw_path", "query", "expected"),
    [
        ("GET", b"/", b"", None),
        ("POST", b"/cart?x", b"", None),
        ("GET", b"//evil", b"", None),
        ("GET", b"/\\evil", b"", None),
        ("GET", b"/%2F%2Fevil", b"", None),
        ("GET", b"/@evil", b"", None),
        ("GET", b"/sub:path", b"", None),
        ("GET", b"/search", b"q=a%20b&x=%2F", None),
        ("CONNECT", b"/", b"", Rejection(405, "CONNECT is not allowed through this gateway")),
        ("TRACE", b"/", b"", Rejection(405, "TRACE is not allowed through this gateway")),
        ("GET", b"*", b"", Rejection(400, "the request target must be a path")),
        ("GET", b"evil.example:443", b"", Rejection(400, "the request target must be a path")),
        ("GET", b"http://evil/", b"", Rejection(400, "the request target must be a path")),
        ("GET", b"", b"", Rejection(400, "the request target must be a path")),
        ("GET", b"/a b", b"", Rejection(400, "the request target must be a path")),
        ("GET", b"/a#frag", b"", Rejection(400, "the request target must be a path")),
        ("GET", b"/a\r\nx", b"", Rejection(400, "the request target must be a path")),
        ("GET", b"/a", b"x#y", Rejection(400, "the request target must be a path")),
        ("GET", b"/a", b"x\ny", Rejection(400, "the request target must be a path")),
        (
            "GET",
            b"/x/../_privacy/admin",
            b"",
            Rejection(400, "the path resolves into the gateway's reserved prefix"),
        ),
    ],
)
def test_check(method: str, raw_path: bytes, query: bytes, expected: Rejection | None) -> None:
    assert check(method, raw_path, query, PREFIX) == expected


def test_forbidden_methods() -> None:
    assert {"CONNECT", "TRACE"} <= FORBIDDEN_METHODS


@pytest.mark.parametrize(
    ("raw_path", "query", "expected"),
    [
        (b"/", b"", "http://127.0.0.1:8000/"),
        (b"//evil", b"", "http://127.0.0.1:8000//evil"),
        (b"/\\evil", b"", "http://127.0.0.1:8000/\\evil"),
        (b"/%2F%2Fevil", b"", "http://127.0.0.1:8000/%2F%2Fevil"),
        (b"/@evil", b"", "http://127.0.0.1:8000/@evil"),
        (b"/sub:path", b"a=%20&b", "http://127.0.0.1:8000/sub:path?a=%20&b"),
        (b"/a/./b/../c", b"", "http://127.0.0.1:8000/a/./b/../c"),
    ],
)
def test_upstream_url_keeps_the_configured_host(
    raw_path: bytes, query: bytes, expected: str
) -> None:
    url = upstream_url("http://127.0.0.1:8000", raw_path, query)
    assert url == expected
    # What aiohttp will connect to: always the configured host, the raw path unchanged.
    parsed = URL(url, encoded=True)
    assert (parsed.host, parsed.port) == ("127.0.0.1", 8000)
    assert parsed.raw_path_qs == expected.removeprefix("http://127.0.0.1:8000")


def test_upstream_url_with_base_path() -> None:
    assert upstream_url("http://shop/base", b"/x", b"q") == "http://shop/base/x?q"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"/plain", "/plain"),
        (b"/caf\xc3\xa9", "/caf\u00e9"),
        (b"\xf0\x9f\x8d\xaa", "\U0001f36a"),
        (b"caf\xe9", None),  # latin-1: no text is written back as these bytes
        (b"\xc3", None),  # a cut sequence
    ],
)
def test_wire_text_encodes_back_to_the_same_bytes(raw: bytes, text: str | None) -> None:
    assert wire_text(raw) == text
    if text is not None:
        # aiohttp writes the request head as UTF-8: the shop receives `raw` itself.
        assert text.encode("utf-8") == raw


@pytest.mark.parametrize(
    ("raw_path", "query", "expected"),
    [
        (b"/caf\xc3\xa9", b"q=\xe2\x82\xac", "http://shop/caf\u00e9?q=\u20ac"),
        # Not UTF-8 (granian refuses such a target itself): the bytes, percent-encoded.
        (b"/caf\xe9", b"q=\xff", "http://shop/caf%E9?q=%FF"),
    ],
)
def test_upstream_url_never_double_encodes(raw_path: bytes, query: bytes, expected: str) -> None:
    assert upstream_url("http://shop", raw_path, query) == expected
