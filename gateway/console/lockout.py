"""Account lockout and per-client login rate limiting: pure decisions, the caller stores state.

Lockout (OWASP Authentication Cheat Sheet, "Account Lockout"): after `MAX_FAILURES`
consecutive wrong passwords the account refuses every attempt for `LOCK_FOR`, even with the
right password. Attempts while locked do not extend the lock, so an attacker cannot keep an
officer out forever by guessing; the per-client rate limit slows them down instead.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginState:
    """A user's consecutive failures and, when locked, until when."""

    failed: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        """True while the lock holds."""
        return self.locked_until is not None and now < self.locked_until


def after_failure(state: LoginState, now: datetime) -> LoginState:
    """The state after a wrong password (the caller never calls this while locked)."""
    if state.locked_until is not None and now >= state.locked_until:
        state = LoginState()  # the previous lock expired: count afresh
    failed = state.failed + 1
    if failed >= MAX_FAILURES:
        return LoginState(0, now + LOCK_FOR)
    return LoginState(failed, None)


def after_success(state: LoginState) -> LoginState:
    """The state after a correct password: counters cleared."""
    return LoginState()


class RateLimiter:
    """At most `limit` events per `window` seconds per key (a sliding log), in memory.

    Per process: with N workers a client gets at most N x `limit`; the account lockout, which
    is stored, is the cross-process bound. At most `max_keys` keys are tracked (the least
    recently seen is forgotten first), so a flood of addresses cannot exhaust memory.
    """

    def __init__(self, limit: int = 10, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        """Record an event for `key` at monotonic time `now`; False when over the limit."""
        events = self._events.pop(key, None) or deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        allowed = len(events) < self.limit
        if allowed:
            events.append(now)
        self._events[key] = events
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return allowed

    def retry_after(self, key: str, now: float) -> int:
        """Whole seconds until `key` may try again (0 when it may now)."""
        events = self._events.get(key)
        if not events or len(events) < self.limit:
            return 0
        return max(1, int(events[0] + self.window - now + 0.999))
