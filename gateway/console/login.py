"""Checking a console sign-in: lockout, equal time for unknown names, audit of every outcome.

Order of a check (OWASP Authentication Cheat Sheet): an unknown name costs one scrypt run
against a dummy hash, like a wrong password, so timing does not reveal which names exist;
a locked account is refused without looking at the password (it cannot be used to probe);
otherwise the password is checked and the outcome stored (`gateway.console.lockout`).
Every outcome is recorded through `record(actor, action)`, which must be durable: a
success is recorded before the session exists, so no unrecorded session can be opened.
Actors are user names; a name that does not exist is recorded as `UNKNOWN_ACTOR`, because
people sometimes type their password into the name field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from gateway.console.auth import ConsoleUsers, Session
from gateway.console.passwords import (
    DEFAULT_PARAMS,
    ScryptParams,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)

UNKNOWN_ACTOR = "unknown-user"
Record = Callable[[str, str], Awaitable[None]]


class Authenticator:
    """Password checks for one process: scrypt runs in threads, at most `parallel` at once
    (128 MiB each with the default parameters)."""

    def __init__(self, params: ScryptParams = DEFAULT_PARAMS, parallel: int = 2) -> None:
        self.params = params
        self._hashing = asyncio.Semaphore(parallel)

    async def _check(self, password: str, stored: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(verify_password, password, stored)

    async def authenticate(
        self, users: ConsoleUsers, name: str, password: str, now: datetime, record: Record
    ) -> Session | None:
        """A new session when `name` and `password` match and the account is not locked."""
        found = await users.get(name)
        if found is None:
            await self._check(password, await asyncio.to_thread(dummy_hash, self.params))
            await record(UNKNOWN_ACTOR, "admin.login_failed")
            return None
        user = found.user
        if found.state.locked(now):
            await record(user.name, "admin.login_failed")
            return None
        ok = await self._check(password, found.password_hash)
        state = await users.record_attempt(user.name, ok, now)
        if not ok:
            await record(user.name, "admin.login_failed")
            if state.locked(now):
                await record(user.name, "admin.account_locked")
            return None
        await record(user.name, "admin.login")
        if needs_rehash(found.password_hash, self.params):
            # Parameters were raised since this hash was made: upgrade it now we know the
            # password (OWASP Password Storage Cheat Sheet, "upgrading legacy hashes").
            new_hash = await asyncio.to_thread(hash_password, password, self.params)
            await users.set_password_hash(user.name, new_hash)
        return await users.open_session(user, now)
