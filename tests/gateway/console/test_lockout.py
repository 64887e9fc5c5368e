"""Lockout after repeated failures and the per-client rate limit (gateway/console/lockout.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.console.lockout import (
    LOCK_FOR,
    MAX_FAILURES,
    LoginState,
    RateLimiter,
    after_failure,
    after_success,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fail(times: int, state: LoginState | None = None, at: datetime = T0) -> LoginState:
    state = state or LoginState()
    for _ in range(times):
        state = after_failure(state, at)
    return state


@pytest.mark.parametrize(("failures", "locked"), [(0, False), (1, False), (4, False), (5, True)])
def test_five_failures_lock(failures: int, locked: bool) -> None:
    assert MAX_FAILURES == 5
    assert fail(failures).locked(T0) is locked


def test_lock_lasts_fifteen_minutes() -> None:
    state = fail(5)
    assert LOCK_FOR == timedelta(minutes=15)
    assert state.locked(T0 + timedelta(minutes=14, seconds=59))
    assert not state.locked(T0 + LOCK_FOR)


def test_counting_starts_afresh_after_a_lock_expires() -> None:
    later = T0 + LOCK_FOR + timedelta(seconds=1)
    state = after_failure(fail(5), later)
    assert state == LoginState(1, None)


def test_success_clears_failures() -> None:
    assert after_success(fail(4)) == LoginState()
    assert not after_failure(after_success(fail(4)), T0).locked(T0)


def test_rate_limiter_window_and_keys() -> None:
    limiter = RateLimiter(limit=3, window=60)
    assert [limiter.allow("a", t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.allow("b", 3)  # another client has its own budget
    assert limiter.retry_after("a", 3) == 57
    assert limiter.allow("a", 60.5)  # the first event left the window
    assert limiter.retry_after("b", 3) == 0


def test_rate_limiter_bounds_memory() -> None:
    limiter = RateLimiter(limit=1, window=60, max_keys=2)
    for key in ("a", "b", "c"):
        limiter.allow(key, 0)
    assert limiter.allow("a", 1)  # "a" was forgotten (oldest), so it may try again
    assert not limiter.allow("c", 1)
