"""Per-client rate limits for the visitor-facing endpoints that write or export personal data
(`POST /_privacy/consent`, `GET /_privacy/my-data`, `POST /_privacy/my-data/delete`).

A token bucket per client (RFC 6585 §4: over the limit → 429 with `Retry-After`), in process
memory only. Clients are keyed by a pseudonym of their network, never the raw address:

- IPv4: the address itself (a /24 would throttle a whole office or carrier-grade NAT);
- IPv6: its /64, because one subscriber usually holds a whole /64 and could otherwise rotate
  addresses to escape the limit (RFC 6177 §2 recommends /48–/64 per site);

and the key is BLAKE2b-keyed with a random per-process secret, so the table in memory holds no
address. With N workers a client gets at most N × the limit (each process keeps its own
buckets). The console's sign-in uses the same buckets (a burst of attempts, then one a minute)
and throttles per (name, client) on top (`console.lockout`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.responses import JSONResponse, Response

from gateway.http.errors import HttpError

MAX_CLIENTS = 10_000
IPV6_PREFIX = 64


def network_of(address: str) -> str:
    """The part of a client address a limit applies to: IPv4 as is, IPv6 as its /64
    (IPv4-mapped IPv6 as the IPv4 address); anything unparsable as given."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), IPV6_PREFIX), strict=False))
    return str(ip)


class RateLimiter:
    """Token buckets per client: ``burst`` tokens (default ``rate_per_minute``), refilled
    continuously at ``rate_per_minute``.

    At most ``max_clients`` buckets are kept (least recently used evicted), so a flood of
    addresses cannot grow memory without bound.
    """

    def __init__(
        self,
        rate_per_minute: int,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
        secret: bytes | None = None,
        burst: int | None = None,
    ) -> None:
        self.capacity = float(burst if burst is not None else rate_per_minute)
        self.per_second = rate_per_minute / 60.0
        self.max_clients = max_clients
        self.clock = clock
        self._secret = secret if secret is not None else os.urandom(32)
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def key(self, client: str) -> bytes:
        """The pseudonymous bucket key of a client address."""
        return hashlib.blake2b(
            network_of(client).encode("utf-8", "replace"), key=self._secret, digest_size=16
        ).digest()

    def take(self, client: str) -> float:
        """0 when a request may proceed (one token taken), else seconds until it may."""
        now = self.clock()
        key = self.key(client)
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.per_second
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    def check(self, client: str, reason: str) -> None:
        """Take a token for `client`, or raise `RateLimited` with `reason`."""
        wait = self.take(client)
        if wait > 0:
            raise RateLimited(wait, reason)


class RateLimited(HttpError):
    """A client over its limit: the 429, with `Retry-After` in whole seconds."""

    def __init__(self, wait: float, reason: str = "too many requests; try again later") -> None:
        self.retry_after = max(1, math.ceil(wait))
        # RFC 6585 §4: 429 with Retry-After (whole seconds, RFC 9110 §10.2.3).
        headers = {"retry-after": str(self.retry_after), "cache-control": "no-store"}
        super().__init__(429, reason, headers)

    def response(self) -> Response:
        return JSONResponse(
            {"error": self.reason, "retry_after": self.retry_after},
            status_code=429,
            headers=self.headers,
        )
