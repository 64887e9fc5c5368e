import ipaddress

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.http.forwarded import (
    TrustedProxies,
    View,
    client_address,
    forwarding_fields,
    parse_address,
    resolve,
    valid_host,
)
from gateway.http.headers import is_safe_field


def trusted(*networks: str) -> TrustedProxies:
    return TrustedProxies(ipaddress.ip_network(n) for n in networks)


LOOPBACK_AND_TEN = trusted("127.0.0.1/32", "10.0.0.0/8")


@pytest.mark.parametrize(
    ("networks", "address", "expected"),
    [
        ((), "127.0.0.1", False),
        (("127.0.0.1/32", "10.0.0.1/32"), "127.0.0.1", True),
        (("127.0.0.1/32", "10.0.0.1/32"), "127.0.0.2", False),
        (("127.0.0.0/8", "10.0.0.0/8"), "127.255.255.255", True),
        (("127.0.0.0/8", "10.0.0.0/8"), "10.1.1.1", True),
        (("127.0.0.0/8", "10.0.0.0/8"), "192.168.0.1", False),
        (("127.0.0.0/8",), "::1", False),
        (("2001:db8:abcd:12::/64",), "2001:db8:abcd:12::1:1", True),
        (("2001:db8:abcd:12::/64",), "2001:db8::", False),
        (("::1/128",), "::1", True),
        # An IPv4-mapped IPv6 peer is its IPv4 host.
        (("10.0.0.0/8",), "::ffff:10.0.0.1", True),
        # Literals and garbage are never trusted.
        (("127.0.0.0/8",), "", False),
        (("127.0.0.0/8",), "unknown", False),
        (("127.0.0.0/8",), "unix:///foo", False),
        (("127.0.0.0/8",), "*", False),
    ],
)
def test_trusted_proxies(networks: tuple[str, ...], address: str, expected: bool) -> None:
    assert (address in trusted(*networks)) is expected


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("1.2.3.4:5678", "1.2.3.4"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ('"[2001:db8::1]:443"', "2001:db8::1"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("", None),
        ("unknown", None),
        ("_hidden", None),
        ("1.2.3", None),
        ("\xf0\xfd\xfd\xfd", None),
        ("example.com", None),
    ],
)
def test_parse_address(entry: str, expected: str | None) -> None:
    parsed = parse_address(entry)
    assert (str(parsed) if parsed is not None else None) == expected


# Edge cases ported from uvicorn tests/middleware/test_proxy_headers.py (trusted
# "127.0.0.1, 10.0.0.0/8", peer 127.0.0.1); the expected client follows the same rule.
@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ([], "127.0.0.1"),
        ([""], "127.0.0.1"),
        ([" , "], "127.0.0.1"),
        ([", , "], "127.0.0.1"),
        ([" , 10.0.0.1"], "127.0.0.1"),
        (["9.9.9.9 , , , 10.0.0.1"], "127.0.0.1"),
        ([", , 9.9.9.9"], "9.9.9.9"),
        ([", , 9.9.9.9, , "], "127.0.0.1"),
        (["1.2.3.4"], "1.2.3.4"),
        # Rightmost untrusted wins; what the client typed on the left is ignored.
        (["6.6.6.6, 1.2.3.4"], "1.2.3.4"),
        (["6.6.6.6, 1.2.3.4, 10.0.2.1"], "1.2.3.4"),
        # Several fields are one list, in order.
        (["6.6.6.6", "1.2.3.4, 10.0.0.5"], "1.2.3.4"),
        # A garbage hop before a trusted one makes the chain unreliable: use the peer.
        (["1.2.3.4, \xf0\xfd\xfd\xfd, 10.0.0.1"], "127.0.0.1"),
        (["1.2.3.4, unknown"], "127.0.0.1"),
        # Every hop trusted: the leftmost is the client (a client on a proxy host).
        (["10.0.0.7, 10.0.0.8"], "10.0.0.7"),
        # Ports and brackets are stripped.
        (["[2001:db8::7]:1234"], "2001:db8::7"),
        (["1.2.3.4:80"], "1.2.3.4"),
    ],
)
def test_client_address_trusted_peer(forwarded_for: list[str], expected: str) -> None:
    assert client_address("127.0.0.1", forwarded_for, LOOPBACK_AND_TEN) == expected


@pytest.mark.parametrize(
    ("networks", "expected"),
    [
        # uvicorn test_proxy_headers_multiple_proxies, XFF "1.2.3.4, 10.0.2.1, 192.168.0.2".
        (("127.0.0.1/32", "10.0.2.1/32", "192.168.0.2/32"), "1.2.3.4"),
        (("10.0.2.1/32", "192.168.0.2/32", "127.0.0.1/32"), "1.2.3.4"),
        (("192.168.0.2/32", "127.0.0.1/32"), "10.0.2.1"),
        (("127.0.0.1/32", "10.0.0.0/8", "192.168.0.2/32"), "1.2.3.4"),
        # Untrusted peer: the header is ignored whatever it says.
        (("192.168.0.0/16",), "127.0.0.1"),
        ((), "127.0.0.1"),
    ],
)
def test_client_address_multiple_proxies(networks: tuple[str, ...], expected: str) -> None:
    chain = ["1.2.3.4, 10.0.2.1, 192.168.0.2"]
    assert client_address("127.0.0.1", chain, trusted(*networks)) == expected


def fields(**headers: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode("latin-1")) for k, v in headers.items()]


@pytest.mark.parametrize(
    ("peer", "scheme", "headers", "expected"),
    [
        # Untrusted peer: Host and the connection's scheme; forwarding fields ignored.
        (
            "203.0.113.9",
            "http",
            fields(host="shop.example", x_forwarded_for="1.2.3.4", x_forwarded_proto="https"),
            View("203.0.113.9", "http", "shop.example"),
        ),
        (
            "203.0.113.9",
            "https",
            fields(host="shop.example:8443", x_forwarded_host="evil.example"),
            View("203.0.113.9", "https", "shop.example:8443"),
        ),
        # Trusted peer: client, scheme and host from the forwarding fields.
        (
            "127.0.0.1",
            "http",
            fields(
                host="10.0.0.2:8080",
                x_forwarded_for="1.2.3.4",
                x_forwarded_proto="https",
                x_forwarded_host="shop.example",
            ),
            View("1.2.3.4", "https", "shop.example"),
        ),
        # The rightmost proto/host were written by the proxy next to us.
        (
            "127.0.0.1",
            "http",
            fields(host="h", x_forwarded_proto="http, https", x_forwarded_host="evil, shop"),
            View("127.0.0.1", "https", "shop"),
        ),
        # Unknown proto values and empty hosts fall back.
        (
            "127.0.0.1",
            "https",
            fields(host="h", x_forwarded_proto="gopher", x_forwarded_host=" "),
            View("127.0.0.1", "https", "h"),
        ),
        # WebSocket schemes map to their HTTP origin.
        ("127.0.0.1", "wss", fields(host="h"), View("127.0.0.1", "https", "h")),
        # A Host we would not echo into a Location is no host at all.
        ("1.1.1.1", "http", fields(host="evil.example/x"), View("1.1.1.1", "http", None)),
        ("1.1.1.1", "http", fields(host="a@b"), View("1.1.1.1", "http", None)),
        ("1.1.1.1", "http", fields(), View("1.1.1.1", "http", None)),
        (
            "127.0.0.1",
            "http",
            fields(host="ok", x_forwarded_host='evil"x'),
            View("127.0.0.1", "http", None),
        ),
    ],
)
def test_resolve(
    peer: str, scheme: str, headers: list[tuple[bytes, bytes]], expected: View
) -> None:
    assert resolve(peer, scheme, headers, LOOPBACK_AND_TEN) == expected


@pytest.mark.parametrize(
    ("host", "valid"),
    [
        ("shop.example", True),
        ("shop.example:8080", True),
        ("127.0.0.1:80", True),
        ("[::1]:8080", True),
        ("my_host", True),
        ("", False),
        ("shop.example:", False),
        ("shop.example:123456", False),
        ("user@shop.example", False),
        ("shop.example/path", False),
        ("shop example", False),
        ("shop.example\r\nx: y", False),
        ('"quoted"', False),
        ("a" * 300, False),
    ],
)
def test_valid_host(host: str, valid: bool) -> None:
    assert valid_host(host) is valid


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (
            View("1.2.3.4", "https", "shop.example"),
            [
                ("X-Forwarded-For", "1.2.3.4"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "shop.example"),
                ("Forwarded", "for=1.2.3.4;proto=https;host=shop.example"),
            ],
        ),
        # RFC 7239 §6: IPv6 nodes are bracketed and quoted; host:port is quoted.
        (
            View("2001:db8::1", "http", "shop.example:8080"),
            [
                ("X-Forwarded-For", "2001:db8::1"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "shop.example:8080"),
                ("Forwarded", 'for="[2001:db8::1]";proto=http;host="shop.example:8080"'),
            ],
        ),
        (
            View("1.2.3.4", "http", None),
            [
                ("X-Forwarded-For", "1.2.3.4"),
                ("X-Forwarded-Proto", "http"),
                ("Forwarded", "for=1.2.3.4;proto=http"),
            ],
        ),
    ],
)
def test_forwarding_fields(view: View, expected: list[tuple[str, str]]) -> None:
    assert forwarding_fields(view) == expected


def test_origin() -> None:
    assert View("1.2.3.4", "https", "shop.example").origin == b"https://shop.example"
    assert View("1.2.3.4", "https", None).origin is None


# uvicorn tests/middleware/test_proxy_headers.py `test_forwarded_hosts`: every trust set against
# every probe address. `*` and literals (unix sockets, names) are never trust entries here
# (config takes CIDRs only), so those uvicorn sets have no counterpart; their probes stay.
_PROBES = [
    "127.0.0.0", "127.0.0.1", "127.1.1.1", "127.255.255.255", "10.0.0.0", "10.0.0.1",
    "10.1.1.1", "10.255.255.255", "192.168.0.0", "192.168.0.1", "1.1.1.1",
    "2001:db8::", "2001:db8:abcd:0012::0", "2001:db8:abcd:0012::1:1", "::", "::1",
    "2001:db8:3333:4444:5555:6666:102:304", "::b16:212c", "a:b:c:d::", "::a:b:c:d",
    "some-literal", "unix:///foo/bar", "/foo/bar", "*", "",
]  # fmt: skip
_TRUST_SETS: dict[str, tuple[tuple[str, ...], set[str]]] = {
    "nothing": ((), set()),
    "ipv4-addresses": (("127.0.0.1/32", "10.0.0.1/32"), {"127.0.0.1", "10.0.0.1"}),
    "ipv4-networks": (
        ("127.0.0.0/8", "10.0.0.0/8"),
        {
            "127.0.0.0",
            "127.0.0.1",
            "127.1.1.1",
            "127.255.255.255",
            "10.0.0.0",
            "10.0.0.1",
            "10.1.1.1",
            "10.255.255.255",
        },
    ),
    # Dual notations name the same address: 2001:db8:3333:4444:5555:6666:1.2.3.4 is
    # ...:102:304 and ::11.22.33.44 is ::b16:212c.
    "ipv6-addresses": (
        (
            "2001:db8::/128",
            "2001:0db8:0001:0000:0000:0ab9:C0A8:0102/128",
            "2001:db8:3333:4444:5555:6666:1.2.3.4/128",
            "::11.22.33.44/128",
        ),
        {"2001:db8::", "2001:db8:3333:4444:5555:6666:102:304", "::b16:212c"},
    ),
    "ipv6-network": (
        ("2001:db8:abcd:0012::0/64",),
        {"2001:db8:abcd:0012::0", "2001:db8:abcd:0012::1:1"},
    ),
}
_TRUST_ROWS = [(name, probe) for name in _TRUST_SETS for probe in _PROBES]


@pytest.mark.parametrize(
    ("trust", "probe"), _TRUST_ROWS, ids=[f"{t}-{p!r}" for t, p in _TRUST_ROWS]
)
def test_trusted_proxies_uvicorn_matrix(trust: str, probe: str) -> None:
    networks, trusted_probes = _TRUST_SETS[trust]
    assert (probe in trusted(*networks)) is (probe in trusted_probes)


@pytest.mark.parametrize(
    ("networks", "forwarded_for", "expected"),
    [
        # uvicorn test_proxy_headers_trusted_hosts: a trusted network in the list (#1068).
        (("127.0.0.0/24", "10.0.0.1/32"), ["1.2.3.4"], "1.2.3.4"),
        (("192.168.0.0/16",), ["1.2.3.4"], "127.0.0.1"),
        # A client running on a proxy host itself (#1068, comment 855371576).
        (("127.0.0.1/32", "1.2.3.4/32"), ["1.2.3.4"], "1.2.3.4"),
        # uvicorn test_proxy_headers_invalid_x_forwarded_for, with a CIDR list instead of "*":
        # walking right to left, "unix:" is garbage before any untrusted hop, so the chain is
        # unreliable and the peer is the client (uvicorn, trusting everything, skips it).
        (("127.0.0.1/32", "::1/128"), ["1.2.3.4, \xf0\xfd\xfd\xfd, unix:, ::1"], "127.0.0.1"),
        # uvicorn test_proxy_headers_empty_x_forwarded_for.
        (("127.0.0.1/32",), [""], "127.0.0.1"),
        # Peer in an IPv6 network, chain with an IPv4-mapped hop.
        (("127.0.0.1/32", "2001:db8::/32"), ["::ffff:1.2.3.4, 2001:db8::9"], "1.2.3.4"),
    ],
)
def test_client_address_uvicorn_rows(
    networks: tuple[str, ...], forwarded_for: list[str], expected: str
) -> None:
    assert client_address("127.0.0.1", forwarded_for, trusted(*networks)) == expected


@pytest.mark.parametrize(
    ("proto", "expected"),
    # uvicorn test_proxy_headers_trusted_hosts_malformed (the proto column): empty and unknown
    # values keep the connection's scheme; ws/wss name their HTTP origin scheme.
    [
        ("", "http"),
        ("asdf", "http"),
        (" , ", "http"),
        ("https", "https"),
        ("ws", "http"),
        ("wss", "https"),
        ("HTTPS", "https"),
        ("https, http", "http"),
    ],
)
def test_forwarded_proto_from_a_trusted_peer(proto: str, expected: str) -> None:
    view = resolve("127.0.0.1", "http", fields(host="h", x_forwarded_proto=proto), LOOPBACK_AND_TEN)
    assert view.proto == expected


_FIELD_NAMES = st.sampled_from(
    [b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded"]
)


@given(
    peer=st.sampled_from(["127.0.0.1", "10.9.9.9", "203.0.113.9", "::1", ""]),
    scheme=st.sampled_from(["http", "https", "ws", "wss", "gopher"]),
    headers=st.lists(st.tuples(_FIELD_NAMES, st.binary(max_size=80)), max_size=6),
)
@example(
    peer="127.0.0.1",
    scheme="http",
    headers=[
        (b"x-forwarded-host", b"shop\r\nSet-Cookie: a=1"),
        (b"x-forwarded-for", b"1.2.3.4\r\nX: y"),
    ],
)
def test_the_fields_we_add_are_always_safe(
    peer: str, scheme: str, headers: list[tuple[bytes, bytes]]
) -> None:
    # Whatever a (trusted or not) peer sends, the forwarding fields the gateway builds from it
    # pass the one outbound validator: no CR, LF or NUL can reach the shop through them.
    view = resolve(peer, scheme, headers, LOOPBACK_AND_TEN)
    for name, value in forwarding_fields(view):
        assert is_safe_field(name.encode(), value.encode("latin-1")), (name, value)
