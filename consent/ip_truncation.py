"""Client IP truncation, applied before anything stores or logs an address.

IPv4 keeps its /24, IPv6 its /48 (the usual ISP site allocation, so the result names a network,
not a household). Addresses that carry an IPv4 address inside IPv6 are truncated as that IPv4
address, because a /48 of them would still hold the whole client IPv4 address:
- IPv4-mapped `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2) is how dual-stack sockets report IPv4 peers;
- 6to4 `2002:AABB:CCDD::/48` (RFC 3056 §2) puts the client's IPv4 in bits 16-47.
NAT64 (`64:ff9b::/96`, RFC 6052) and Teredo keep the client IPv4 in the low 64 bits or
obfuscated there, which the /48 already removes.
"""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 24
IPV6_PREFIX = 48


def truncate_ip(address: str) -> str | None:
    """The truncated network in CIDR form (`81.2.69.0/24`, `2001:db8:1::/48`), or None when
    `address` is not a bare IP address (no port, no brackets)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None:
            # The zone (`%eth0`) is dropped with the host bits: it names a local interface.
            net = ipaddress.IPv6Network((int(ip), IPV6_PREFIX), strict=False)
            return str(net)
        ip = embedded
    return str(ipaddress.IPv4Network((int(ip), IPV4_PREFIX), strict=False))
