"""Who the client is, as seen through trusted proxies, and the forwarding fields we send (pure).

Forwarding headers (`X-Forwarded-*`) are believed only when the TCP peer is in
`gateway.trusted_proxies`; then the client is the rightmost `X-Forwarded-For` entry that is not
itself a trusted proxy (MDN "X-Forwarded-For", security and privacy concerns: the leftmost
entries are whatever the client typed). Upstream always receives one fresh set built here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.http.headers import Field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Inbound names we consume and never pass on: a shop must not see a client-forged chain.
FORWARDING: frozenset[bytes] = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
        b"x-real-ip",
    }
)

# RFC 9110 §4.2 authority: reg-name / IPv4 / [IPv6], optional port. Anything else (userinfo,
# slashes, quotes) is not a host we will put into a Location or a forwarding header.
_HOST = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?\Z"
)
_CACHE_SIZE = 4096
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class TrustedProxies:
    """The configured proxy networks; `address in trusted` tests one address string."""

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self._networks = tuple(networks)
        # Peers repeat (the load balancer, returning visitors): memoize, bounded.
        self._known: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str) or not self._networks:
            return False
        known = self._known.get(address)
        if known is None:
            ip = parse_address(address)
            known = ip is not None and any(
                ip in net for net in self._networks if ip.version == net.version
            )
            if len(self._known) >= _CACHE_SIZE:
                self._known.clear()
            self._known[address] = known
        return known


def parse_address(entry: str) -> IPAddress | None:
    """One `X-Forwarded-For` entry as an address: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`.

    Returns None for empty, `unknown`, obfuscated (`_hidden`) and malformed entries.
    """
    entry = entry.strip().strip('"')
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        ip = ipaddress.ip_address(entry)
    except ValueError:
        return None
    # An IPv4-mapped IPv6 peer (::ffff:10.0.0.1) is the IPv4 host for trust decisions.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_address(peer: str, forwarded_for: Sequence[str], trusted: TrustedProxies) -> str:
    """The client's address: `peer`, or from `X-Forwarded-For` when `peer` is trusted.

    Walks the entries right to left and returns the first one that is not a trusted proxy. An
    empty or malformed entry on that walk means the chain is unreliable: fall back to `peer`
    (uvicorn's rule for `" , "` and `", , 9.9.9.9, , "`). If every entry is trusted, the
    leftmost is the client (a client on a proxy host,
    https://github.com/encode/uvicorn/issues/1068).
    """
    if peer not in trusted:
        return peer
    entries = [e for value in forwarded_for for e in value.split(",")]
    if not entries or all(not e.strip() for e in entries):
        return peer
    for entry in reversed(entries):
        ip = parse_address(entry)
        if ip is None:
            return peer
        if str(ip) not in trusted:
            return str(ip)
    first = parse_address(entries[0])
    return str(first) if first is not None else peer


def valid_host(host: str) -> bool:
    """True for a `host[:port]` authority safe to echo into Location and forwarding fields."""
    return len(host) <= 255 and _HOST.match(host) is not None


@dataclass(frozen=True, slots=True)
class View:
    """The request as the client made it: address, scheme and the host it addressed."""

    client: str
    proto: str
    host: str | None

    @property
    def origin(self) -> bytes | None:
        """`proto://host` as bytes, or None when the client named no valid host."""
        if self.host is None:
            return None
        return f"{self.proto}://{self.host}".encode("latin-1")


def resolve(
    peer: str,
    scheme: str,
    fields: Sequence[Field],
    trusted: TrustedProxies,
) -> View:
    """The client-facing view of one request from its TCP peer, ASGI scheme and fields.

    `X-Forwarded-For/-Proto/-Host` count only from a trusted peer; `Host` otherwise.
    """
    host_field: str | None = None
    xff: list[str] = []
    xfp: str | None = None
    xfh: str | None = None
    for name, value in fields:
        if name == b"host":
            host_field = value.decode("latin-1")
        elif name == b"x-forwarded-for":
            xff.append(value.decode("latin-1"))
        elif name == b"x-forwarded-proto":
            xfp = value.decode("latin-1")
        elif name == b"x-forwarded-host":
            xfh = value.decode("latin-1")
    proto = _SCHEMES.get(scheme, "http")
    host = host_field.strip() if host_field is not None else None
    if peer in trusted:
        client = client_address(peer, xff, trusted)
        # The proxy next to us wrote the rightmost value; earlier ones may be client-typed.
        if xfp is not None:
            proto = _SCHEMES.get(xfp.rpartition(",")[2].strip().lower(), proto)
        if xfh is not None and xfh.strip():
            host = xfh.rpartition(",")[2].strip()
    else:
        client = peer
    return View(client=client, proto=proto, host=host if host and valid_host(host) else None)


def peer_of(scope: Mapping[str, Any]) -> str:
    """The TCP peer's address of an ASGI scope ("" when the server gives none)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def resolve_scope(scope: Mapping[str, Any], trusted: TrustedProxies) -> View:
    """`resolve` for an ASGI HTTP scope: its TCP peer, scheme and fields."""
    return resolve(peer_of(scope), scope["scheme"], scope["headers"], trusted)


def forwarding_fields(view: View) -> list[tuple[str, str]]:
    """The fresh forwarding fields for upstream: one each of X-Forwarded-For/-Proto/-Host and
    an RFC 7239 `Forwarded` carrying the same facts."""
    fields = [("X-Forwarded-For", view.client), ("X-Forwarded-Proto", view.proto)]
    node = _forwarded_node(view.client)
    forwarded = f"for={node};proto={view.proto}"
    if view.host is not None:
        fields.append(("X-Forwarded-Host", view.host))
        forwarded += f';host="{view.host}"' if ":" in view.host else f";host={view.host}"
    fields.append(("Forwarded", forwarded))
    return fields


def _forwarded_node(client: str) -> str:
    # RFC 7239 §6: an IPv6 node is bracketed and, since ":" is not a tchar, quoted.
    if ":" in client:
        return f'"[{client}]"'
    return client if client else "unknown"
