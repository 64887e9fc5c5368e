"""Sign-in throttling and per-client login rate limiting: pure decisions over in-memory state.

No account lockout. A hard lock after N failures lets anyone who knows an officer's name keep
them out by failing on purpose (OWASP Authentication Cheat Sheet, "Account Lockout": lockout
"can be abused ... to lock out the account"; OWASP Blocking Brute Force Attacks: prefer
throttling). Instead failures are counted per (account, client network) and each attempt past
`FREE_FAILURES` waits an exponentially growing delay (`delay_after`), capped at `MAX_DELAY`:
the guessing client slows to a crawl while the officer, signing in from their own network,
is never delayed by someone else's failures. Unknown names are throttled exactly like known
ones (no enumeration through throttling). The stored per-account failure count
(`LoginState`) is kept for the record, but decides nothing.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from gateway.http.rate_limit import network_of

# Typos are free: the first few failures cost nothing but the hash.
FREE_FAILURES = 3
# Then 1 s, 2 s, 4 s ... per (account, client), never more than this (the old lock's length).
MAX_DELAY = 15 * 60.0
# A (account, client) pair with no failure for this long starts afresh.
FORGET_AFTER = 24 * 3600.0
MAX_PAIRS = 10_000


@dataclass(frozen=True)
class LoginState:
    """A user's consecutive failures across all clients (stored, for the record only).

    `locked_until` is a column of earlier versions that locked the account; it is no longer
    set or read.
    """

    failed: int = 0
    locked_until: datetime | None = None


def after_failure(state: LoginState, now: datetime) -> LoginState:
    """The state after a wrong password: one more consecutive failure, never a lock."""
    return LoginState(state.failed + 1, None)


def after_success(state: LoginState) -> LoginState:
    """The state after a correct password: counters cleared."""
    return LoginState()


def delay_after(failures: int) -> float:
    """Seconds the next attempt must wait after `failures` consecutive failures: 0 up to
    `FREE_FAILURES`, then doubling from 1 s, capped at `MAX_DELAY`."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY, 2.0 ** min(failures - FREE_FAILURES, 32))


class LoginThrottle:
    """Consecutive failures per (account name, client network), in process memory.

    Keys are BLAKE2b-keyed with a random per-process secret (like `gateway.http.rate_limit`), so
    the table holds neither names nor addresses. Per process: with N workers a guesser gets
    N times the attempts, each still behind the per-client rate limit and scrypt.
    """

    def __init__(self, secret: bytes | None = None, max_pairs: int = MAX_PAIRS) -> None:
        self._secret = secret if secret is not None else os.urandom(32)
        self.max_pairs = max_pairs
        # key -> (consecutive failures, monotonic time of the last one)
        self._pairs: OrderedDict[bytes, tuple[int, float]] = OrderedDict()

    def _key(self, account: str, client: str) -> bytes:
        data = f"{account}\x00{network_of(client)}".encode("utf-8", "surrogateescape")
        return hashlib.blake2b(data, key=self._secret, digest_size=16).digest()

    def _failures(self, key: bytes, now: float) -> tuple[int, float]:
        failures, last = self._pairs.get(key, (0, now))
        if now - last >= FORGET_AFTER:
            self._pairs.pop(key, None)
            return 0, now
        return failures, last

    def wait(self, account: str, client: str, now: float) -> int:
        """Whole seconds before `client` may try `account` again (0: now)."""
        failures, last = self._failures(self._key(account, client), now)
        remaining = last + delay_after(failures) - now
        return math.ceil(remaining) if remaining > 0 else 0

    def failed(self, account: str, client: str, now: float) -> int:
        """Count a wrong password; returns the seconds the next attempt must wait."""
        key = self._key(account, client)
        failures, _ = self._failures(key, now)
        self._pairs.pop(key, None)
        self._pairs[key] = (failures + 1, now)
        while len(self._pairs) > self.max_pairs:
            self._pairs.popitem(last=False)
        return math.ceil(delay_after(failures + 1))

    def succeeded(self, account: str, client: str) -> None:
        """A correct password from this client: its failures for the account are forgotten."""
        self._pairs.pop(self._key(account, client), None)
