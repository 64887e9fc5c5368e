"""Console users, sessions, CSRF tokens (gateway/console/auth.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import select

from gateway.console.auth import (
    ABSOLUTE,
    IDLE,
    ConsoleUsers,
    User,
    UserError,
    cg_console_sessions,
    check_csrf,
    csrf_token,
)
from gateway.http.cookies import without_console_cookies
from storage.store import Store, open_store

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
T = TypeVar("T")


def run(store_url: str, body: Callable[[ConsoleUsers, Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = await open_store(store_url)
        try:
            return await body(ConsoleUsers(store), store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_csrf_token_is_bound_to_the_session() -> None:
    token = csrf_token("session-a")
    assert check_csrf("session-a", token)
    assert not check_csrf("session-b", token)
    assert not check_csrf("session-a", None)
    assert not check_csrf("session-a", "")
    assert not check_csrf("session-a", token[:-1] + ("0" if token[-1] != "0" else "1"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; cg_admin=secret; b=2", "a=1; b=2"),
        ("__Host-cg_admin=secret", ""),
        ("cg_id=v; __Host-cg_admin=s", "cg_id=v"),
        ("cg_admin_pre=x; cg_administrator=y", "cg_admin_pre=x; cg_administrator=y"),
        (" cg_admin = spaced ;x=1", "x=1"),
    ],
)
def test_console_cookies_never_go_upstream(header: str, expected: str) -> None:
    assert without_console_cookies(header) == expected


def test_users_are_unique_and_validated(store_url: str) -> None:
    async def body(users: ConsoleUsers, store: Store) -> None:
        assert await users.add("ada", "officer", "scrypt$x", T0) == User("ada", "officer")
        with pytest.raises(UserError, match="already exists"):
            await users.add("ada", "operator", "scrypt$y", T0)
        with pytest.raises(UserError):
            await users.add("Ada Lovelace", "officer", "h", T0)
        with pytest.raises(UserError, match="role"):
            await users.add("bob", "admin", "h", T0)
        assert await users.get("nobody") is None
        assert await users.get("'; drop table x; --") is None
        found = await users.get("ada")
        assert found is not None and found.user.role == "officer"

    run(store_url, body)


def test_failures_are_stored_and_never_lock(store_url: str) -> None:
    async def body(users: ConsoleUsers, store: Store) -> None:
        await users.add("ada", "officer", "h", T0)
        for i in range(20):
            state = await users.record_attempt("ada", False, T0 + timedelta(seconds=i))
            assert state.locked_until is None
        found = await users.get("ada")
        assert found is not None and found.state.failed == 20
        assert found.state.locked_until is None
        await users.record_attempt("ada", True, T0 + timedelta(minutes=1))
        found = await users.get("ada")
        assert found is not None and found.state.failed == 0 and found.state.locked_until is None

    run(store_url, body)


def test_sessions_expire_and_close(store_url: str) -> None:
    async def body(users: ConsoleUsers, store: Store) -> None:
        user = await users.add("ada", "officer", "h", T0)
        session = await users.open_session(user, T0)
        async with store.engine.connect() as conn:
            stored = list(await conn.scalars(select(cg_console_sessions.c.token_hash)))
        assert stored and session.token not in stored  # only a hash is kept
        assert await users.session(session.token, T0 + timedelta(minutes=5)) == session
        assert await users.session("forged", T0) is None
        assert await users.session(None, T0) is None
        assert await users.session("x" * 500, T0) is None
        # Idle: no request for longer than IDLE ends it.
        assert await users.session(session.token, T0 + timedelta(minutes=5) + IDLE * 2) is None
        # Absolute: kept busy, it still ends ABSOLUTE after login.
        busy = await users.open_session(user, T0)
        at = T0
        while at + IDLE / 2 < T0 + ABSOLUTE:
            at += IDLE / 2
            assert await users.session(busy.token, at) is not None
        assert await users.session(busy.token, T0 + ABSOLUTE + timedelta(seconds=1)) is None
        closing = await users.open_session(user, T0)
        await users.close_session(closing.token)
        assert await users.session(closing.token, T0) is None

    run(store_url, body)
