"""`gateway.http.rate_limit`: which network a limit applies to, pseudonymous keys, the 429."""

from __future__ import annotations

import json

import pytest

from gateway.http.rate_limit import RateLimited, RateLimiter, network_of


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("81.2.69.160", "81.2.69.160"),
        (" 81.2.69.160 ", "81.2.69.160"),
        ("2001:db8:81::1", "2001:db8:81::/64"),
        ("2001:db8:81::ffff:1", "2001:db8:81::/64"),
        ("2001:db8:81:1::1", "2001:db8:81:1::/64"),
        ("::ffff:81.2.69.160", "81.2.69.160"),  # IPv4-mapped: the IPv4 client
        ("fe80::1%eth0", "fe80::/64"),
        ("", ""),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_network_of(address: str, network: str) -> None:
    assert network_of(address) == network


def test_addresses_in_one_ipv6_64_share_a_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.take("2001:db8::1") == 0.0
    assert limiter.take("2001:db8::2") == 0.0
    assert limiter.take("2001:db8::3") == pytest.approx(30.0)  # 2/min: one token per 30 s
    assert limiter.take("2001:db8:0:1::1") == 0.0
    now[0] += 30.0
    assert limiter.take("2001:db8::4") == 0.0


def test_keys_are_keyed_pseudonyms_not_addresses() -> None:
    first = RateLimiter(5, secret=b"k" * 32)
    first.take("81.2.69.160")
    (key,) = first._buckets
    assert b"81.2.69" not in key and len(key) == 16
    # Same secret, same key; another process (another random secret) cannot link it.
    assert RateLimiter(5, secret=b"k" * 32).key("81.2.69.160") == key
    assert RateLimiter(5).key("81.2.69.160") != key


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")])
def test_too_many_answers_429_with_retry_after(wait: float, header: str) -> None:
    response = RateLimited(wait, "too many tries").response()
    assert response.status_code == 429
    assert response.headers["retry-after"] == header
    assert response.headers["cache-control"] == "no-store"
    assert json.loads(bytes(response.body)) == {
        "error": "too many tries",
        "retry_after": int(header),
    }


def test_a_burst_larger_than_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(1, clock=lambda: now[0], burst=3)
    assert [limiter.take("192.0.2.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("192.0.2.1") == pytest.approx(60.0)  # then one a minute
    now[0] += 59.0
    assert limiter.take("192.0.2.1") > 0
    now[0] += 61.0
    assert limiter.take("192.0.2.1") == 0.0
