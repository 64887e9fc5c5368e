"""Sign-in throttling per (name, client) (gateway/console/lockout.py); the per-client rate
limit is `gateway.http.rate_limit`'s (tests/gateway/test_rate_limit.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.console.lockout import (
    FORGET_AFTER,
    FREE_FAILURES,
    MAX_DELAY,
    LoginState,
    LoginThrottle,
    after_failure,
    after_success,
    delay_after,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_failures_are_counted_but_never_lock() -> None:
    state = LoginState()
    for _ in range(50):
        state = after_failure(state, T0)
    assert state == LoginState(50, None)
    assert after_success(state) == LoginState()


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (1, 0), (2, 0), (3, 1), (4, 2), (5, 4), (10, 128), (13, 900), (10_000, 900)],
)
def test_delays_grow_and_are_capped(failures: int, delay: float) -> None:
    assert FREE_FAILURES == 3 and MAX_DELAY == 900
    assert delay_after(failures) == delay


def test_throttle_is_per_name_and_client() -> None:
    throttle = LoginThrottle(secret=b"s" * 32)
    for _ in range(5):
        throttle.failed("officer", "203.0.113.9", 100.0)
    # The guessing client waits 4 s (5 failures) ...
    assert throttle.wait("officer", "203.0.113.9", 100.0) == 4
    assert throttle.wait("officer", "203.0.113.9", 103.5) == 1
    assert throttle.wait("officer", "203.0.113.9", 104.0) == 0
    # ... the officer's own address, and other names from the guesser's, do not.
    assert throttle.wait("officer", "81.2.69.160", 100.0) == 0
    assert throttle.wait("operator", "203.0.113.9", 100.0) == 0
    # The same IPv6 /64 is the same client.
    for _ in range(4):
        throttle.failed("officer", "2001:db8::1", 0.0)
    assert throttle.wait("officer", "2001:db8::ffff", 0.0) == 2


def test_success_and_time_forget_failures() -> None:
    throttle = LoginThrottle()
    for _ in range(6):
        throttle.failed("officer", "198.51.100.7", 0.0)
    assert throttle.wait("officer", "198.51.100.7", 1.0) > 0
    assert throttle.wait("officer", "198.51.100.7", FORGET_AFTER) == 0
    throttle.failed("officer", "198.51.100.7", FORGET_AFTER)
    assert throttle.wait("officer", "198.51.100.7", FORGET_AFTER) == 0  # counting afresh
    for _ in range(6):
        throttle.failed("ada", "198.51.100.7", 0.0)
    throttle.succeeded("ada", "198.51.100.7")
    assert throttle.wait("ada", "198.51.100.7", 0.0) == 0


def test_throttle_memory_is_bounded() -> None:
    throttle = LoginThrottle(max_pairs=100)
    for i in range(1_000):
        throttle.failed(f"name{i}", "192.0.2.1", 0.0)
    assert len(throttle._pairs) == 100
