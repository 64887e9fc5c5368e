import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.http.headers import (
    HOP_BY_HOP,
    LocationRewriter,
    connection_tokens,
    field_value,
    forwardable,
    is_safe_field,
    varies_on,
)


@pytest.mark.parametrize(
    ("fields", "drop", "expected"),
    [
        # Every RFC 9110 §7.6.1 hop-by-hop field goes, end-to-end ones stay in order.
        (
            [(b"connection", b"keep-alive"), (b"keep-alive", b"timeout=5"), (b"accept", b"*/*")],
            frozenset(),
            [(b"accept", b"*/*")],
        ),
        (
            [(n, b"x") for n in sorted(HOP_BY_HOP)] + [(b"cookie", b"a=1")],
            frozenset(),
            [(b"cookie", b"a=1")],
        ),
        # Fields nominated by Connection go, whatever their case or spacing.
        (
            [(b"Connection", b" X-Secret ,, close"), (b"X-Secret", b"1"), (b"X-Other", b"2")],
            frozenset(),
            [(b"X-Other", b"2")],
        ),
        # Several Connection fields add up.
        (
            [(b"connection", b"a"), (b"connection", b"b"), (b"a", b"1"), (b"b", b"2")],
            frozenset(),
            [],
        ),
        # GPC spec: Sec-GPC survives even when the sender nominates it.
        (
            [(b"connection", b"sec-gpc"), (b"sec-gpc", b"1")],
            frozenset(),
            [(b"sec-gpc", b"1")],
        ),
        # Names in `drop` go; duplicates and raw case of kept fields are preserved.
        (
            [(b"X-B", b"1"), (b"host", b"evil"), (b"X-A", b"2"), (b"X-B", b"3")],
            frozenset({b"host"}),
            [(b"X-B", b"1"), (b"X-A", b"2"), (b"X-B", b"3")],
        ),
        # Unsafe fields are dropped, not repaired.
        (
            [(b"x-a", b"1\r\nx-injected: 1"), (b"x b", b"2"), (b"", b"3"), (b"x-c", b"ok")],
            frozenset(),
            [(b"x-c", b"ok")],
        ),
        ([], frozenset(), []),
    ],
)
def test_forwardable(
    fields: list[tuple[bytes, bytes]], drop: frozenset[bytes], expected: list[tuple[bytes, bytes]]
) -> None:
    assert forwardable(fields, drop) == expected


def test_connection_nominating_our_own_fields_cannot_remove_them() -> None:
    # The caller appends its own fields after filtering; a nominated name only removes the
    # client's copy (RFC 9110 §7.6.1 order: strip first, then add).
    fields = [(b"connection", b"x-forwarded-for"), (b"x-forwarded-for", b"6.6.6.6")]
    kept = forwardable(fields, frozenset({b"x-forwarded-for"}))
    assert kept + [(b"x-forwarded-for", b"1.2.3.4")] == [(b"x-forwarded-for", b"1.2.3.4")]


@pytest.mark.parametrize(
    ("name", "value", "safe"),
    [
        (b"x-a", b"plain value", True),
        (b"x-a", b"", True),
        (b"x-a", b"tab\tinside", True),
        (b"x-a", b"\xff\xfe latin-1 bytes", True),
        (b"x-a", b"a\rb", False),
        (b"x-a", b"a\nb", False),
        (b"x-a", b"a\x00b", False),
        # RFC 9110 §5.5: every other control byte is invalid too (granian refuses to send it).
        (b"x-a", b"a\x0bb", False),
        (b"x-a", b"a\x7fb", False),
        (b"x-a", b"\x01", False),
        (b"x-a", b"\x1b[31m", False),
        (b"x-a", b"sp and\tall vchars !~\x80\xff", True),
        (b"x-a\r", b"v", False),
        (b"x\na", b"v", False),
        (b"x\x00a", b"v", False),
        (b"x a", b"v", False),
        (b"x:a", b"v", False),
        (b"", b"v", False),
    ],
)
def test_is_safe_field(name: bytes, value: bytes, safe: bool) -> None:
    assert is_safe_field(name, value) is safe


_BAD = st.sampled_from([b"\r", b"\n", b"\x00"])


@given(name=st.binary(max_size=40), value=st.binary(max_size=200))
@example(name=b"x", value=b"a\r\nSet-Cookie: evil=1")  # the classic response-splitting payload
def test_safe_fields_never_carry_cr_lf_nul(name: bytes, value: bytes) -> None:
    if is_safe_field(name, value):
        assert name and not any(c in name + value for c in (b"\r", b"\n", b"\x00"))


@given(name=st.binary(max_size=40), value=st.binary(max_size=200))
@example(name=b"x-note", value=b"a\x0bb")  # granian refused to send it: a bare 500
def test_safe_values_hold_no_control_but_htab(name: bytes, value: bytes) -> None:
    # RFC 9110 §5.5: field-content is VCHAR, obs-text, SP and HTAB.
    if is_safe_field(name, value):
        assert all(b == 0x09 or 0x20 <= b != 0x7F for b in value)


@given(
    name=st.from_regex(rb"\A[a-z0-9-]{1,20}\Z"),
    value=st.binary(max_size=100),
    bad=_BAD,
    where=st.integers(min_value=0),
    in_name=st.booleans(),
)
def test_any_cr_lf_nul_is_rejected(
    name: bytes, value: bytes, bad: bytes, where: int, in_name: bool
) -> None:
    if in_name:
        at = where % (len(name) + 1)
        name = name[:at] + bad + name[at:]
    else:
        at = where % (len(value) + 1)
        value = value[:at] + bad + value[at:]
    assert not is_safe_field(name, value)
    assert forwardable([(name, value)]) == []


def test_connection_tokens() -> None:
    fields = [(b"Connection", b"Keep-Alive, X-A"), (b"x-a", b"1"), (b"connection", b" ,close")]
    assert connection_tokens(fields) == {b"keep-alive", b"x-a", b"close"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([], False),
        ([(b"Vary", b"Cookie")], False),
        ([(b"Vary", b"Cookie, Accept-Encoding")], True),
        ([(b"vary", b"cookie"), (b"vary", b"accept-encoding")], True),
        ([(b"Vary", b"*")], True),
    ],
)
def test_varies_on(fields: list[tuple[bytes, bytes]], expected: bool) -> None:
    assert varies_on(fields, b"accept-encoding") is expected


def test_field_value_first_match_case_insensitive() -> None:
    fields = [(b"Content-Type", b"text/html"), (b"content-type", b"text/plain")]
    assert field_value(fields, b"content-type") == b"text/html"
    assert field_value(fields, b"location") is None


PUBLIC = b"https://shop.example"


@pytest.mark.parametrize(
    ("upstream", "location", "expected"),
    [
        ("http://127.0.0.1:8000", b"http://127.0.0.1:8000/cart", PUBLIC + b"/cart"),
        ("http://127.0.0.1:8000", b"http://127.0.0.1:8000", PUBLIC + b"/"),
        ("http://127.0.0.1:8000", b"http://127.0.0.1:8000?x=1", PUBLIC + b"/?x=1"),
        ("http://127.0.0.1:8000", b"HTTP://127.0.0.1:8000/A?b#c", PUBLIC + b"/A?b#c"),
        ("http://127.0.0.1:8000", b"//127.0.0.1:8000/x", PUBLIC + b"/x"),
        # Not the upstream: another port, host, scheme, or a longer host name.
        ("http://127.0.0.1:8000", b"http://127.0.0.1:8001/x", b"http://127.0.0.1:8001/x"),
        ("http://127.0.0.1:8000", b"https://127.0.0.1:8000/x", b"https://127.0.0.1:8000/x"),
        ("http://shop", b"http://shop.evil/x", b"http://shop.evil/x"),
        ("http://shop", b"http://shop@evil/x", b"http://shop@evil/x"),
        ("http://127.0.0.1:8000", b"https://pay.example/x", b"https://pay.example/x"),
        # Relative references already point at the gateway.
        ("http://127.0.0.1:8000", b"/login", b"/login"),
        ("http://127.0.0.1:8000", b"login", b"login"),
        # Default ports are the same origin with or without the port.
        ("http://shop", b"http://shop:80/x", PUBLIC + b"/x"),
        ("http://shop:80", b"http://shop/x", PUBLIC + b"/x"),
        ("https://shop", b"https://shop:443/x", PUBLIC + b"/x"),
        ("https://shop", b"https://shop:80/x", b"https://shop:80/x"),
        ("http://Shop.Example", b"http://shop.example/x", PUBLIC + b"/x"),
        ("http://[::1]:8000", b"http://[::1]:8000/x", PUBLIC + b"/x"),
        # A base path on the upstream maps to the gateway's root.
        ("http://shop/base", b"http://shop/base/x", PUBLIC + b"/x"),
        ("http://shop/base", b"http://shop/basement", b"http://shop/basement"),
        ("http://shop/base", b"http://shop/other", b"http://shop/other"),
    ],
)
def test_location_rewrite(upstream: str, location: bytes, expected: bytes) -> None:
    assert LocationRewriter(upstream).rewrite(location, PUBLIC) == expected


def test_location_unchanged_without_public_origin() -> None:
    rewriter = LocationRewriter("http://127.0.0.1:8000")
    assert rewriter.rewrite(b"http://127.0.0.1:8000/x", None) == b"http://127.0.0.1:8000/x"
