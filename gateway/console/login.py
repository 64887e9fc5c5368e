"""Checking a console sign-in: throttling, bounded hashing, equal time for unknown names, audit
of every outcome.

Order of a check (OWASP Authentication Cheat Sheet): a (name, client) pair that failed too
often must wait (`Throttled`, `gateway.console.lockout.LoginThrottle`) and is refused without
a hash; an unknown name costs one scrypt run against a dummy hash, like a wrong password, so
timing does not reveal which names exist; otherwise the password is checked and the outcome
stored. At most `parallel` checks run at once; an attempt finding them all busy is refused at
once (`HashingBusy`, answered 503 with `Retry-After`) instead of queueing: a queue of scrypt
runs is a queue of seconds that the real officer's sign-in would wait behind.
Every outcome is recorded through `record(actor, action)`, which must be durable: a
success is recorded before the session exists, so no unrecorded session can be opened.
Actors are user names; a name that does not exist is recorded as `UNKNOWN_ACTOR`, because
people sometimes type their password into the name field.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.console.auth import ConsoleUsers, Session
from gateway.console.lockout import LoginThrottle
from gateway.console.passwords import (
    DEFAULT_PARAMS,
    ScryptParams,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)

UNKNOWN_ACTOR = "unknown-user"
# What a refused-as-busy attempt is told to wait: a few scrypt runs' time.
BUSY_RETRY_AFTER = 2
Record = Callable[[str, str], Awaitable[None]]


class Throttled(Exception):
    """This (name, client) failed too often: try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class HashingBusy(Exception):
    """Every password-hashing slot is taken: refused now rather than queued."""


@dataclass(frozen=True)
class Failed:
    """A wrong name or password; `wait` is how long this client now waits for this name."""

    wait: int


class Authenticator:
    """Password checks for one process: scrypt runs in threads, at most `parallel` sign-ins
    in progress at once (128 MiB each with the default parameters), never queued."""

    def __init__(
        self,
        params: ScryptParams = DEFAULT_PARAMS,
        parallel: int = 2,
        throttle: LoginThrottle | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.params = params
        self._slots = asyncio.Semaphore(parallel)
        self.throttle = throttle or LoginThrottle()
        self.clock = clock

    async def _check(self, password: str, stored: str) -> bool:
        return await asyncio.to_thread(verify_password, password, stored)

    async def authenticate(
        self,
        users: ConsoleUsers,
        name: str,
        password: str,
        now: datetime,
        record: Record,
        client: str = "",
    ) -> Session | Failed:
        """A new session when `name` and `password` match; `Failed` otherwise. Raises
        `Throttled` (nothing checked, nothing recorded) or `HashingBusy`."""
        wait = self.throttle.wait(name, client, self.clock())
        if wait > 0:
            raise Throttled(wait)
        # A slot covers the whole check (read, hash, stored outcome, audit entry), so a refused
        # attempt costs nothing and an admitted one waits behind at most `parallel` others. No
        # await between the test and the acquire: within the event loop this is atomic.
        if self._slots.locked():
            raise HashingBusy
        async with self._slots:
            return await self._authenticate(users, name, password, now, record, client)

    async def _authenticate(
        self,
        users: ConsoleUsers,
        name: str,
        password: str,
        now: datetime,
        record: Record,
        client: str,
    ) -> Session | Failed:
        found = await users.get(name)
        if found is None:
            await self._check(password, await asyncio.to_thread(dummy_hash, self.params))
            delay = self.throttle.failed(name, client, self.clock())
            await record(UNKNOWN_ACTOR, "admin.login_failed")
            return Failed(delay)
        user = found.user
        ok = await self._check(password, found.password_hash)
        await users.record_attempt(user.name, ok, now)
        if not ok:
            delay = self.throttle.failed(name, client, self.clock())
            await record(user.name, "admin.login_failed")
            return Failed(delay)
        self.throttle.succeeded(name, client)
        await record(user.name, "admin.login")
        if needs_rehash(found.password_hash, self.params):
            # Parameters were raised since this hash was made: upgrade it now we know the
            # password (OWASP Password Storage Cheat Sheet, "upgrading legacy hashes").
            new_hash = await asyncio.to_thread(hash_password, password, self.params)
            await users.set_password_hash(user.name, new_hash)
        return await users.open_session(user, now)
