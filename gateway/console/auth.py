"""Console users, sessions and CSRF tokens, stored in the gateway's store (component "console").

Tables:

* ``cg_console_users``: name, role (``officer`` | ``operator``), scrypt hash
  (``gateway.console.passwords``), consecutive failures and ``locked_until``
  (``gateway.console.lockout``).
* ``cg_console_sessions``: one row per login. The browser holds a random 256-bit token; the
  store keeps only its SHA-256, so a database dump cannot be replayed as a cookie (OWASP
  Session Management Cheat Sheet). Sessions end after ``IDLE`` without a request or
  ``ABSOLUTE`` after login, whichever first, and on logout. Shared by every node.

CSRF (OWASP CSRF Prevention Cheat Sheet, "synchronizer token" in its stateless HMAC form): the
token is HMAC-SHA256(session token, ``CSRF_LABEL``); only a page rendered for this session
can know it, and it dies with the session.

Session cookie: ``HttpOnly``, ``SameSite=Strict``, ``Path={prefix}/admin``; on HTTPS also
``Secure`` and the name ``__Host-cg_admin`` (RFC 6265bis §4.1.3.2: a ``__Host-`` cookie must be
Secure, host-only and ``Path=/``, so on HTTPS the path is ``/``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from gateway.console.lockout import LoginState, after_failure, after_success
from storage.schema import Migration, create_tables, not_personal, register_component
from storage.store import Store

Role = Literal["officer", "operator"]
ROLES: tuple[Role, ...] = ("officer", "operator")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
TOKEN_BYTES = 32
IDLE = timedelta(minutes=30)  # OWASP Session Management: 15-30 min for high-value apps
ABSOLUTE = timedelta(hours=8)  # one working day
TOUCH_EVERY = timedelta(minutes=1)  # write last_seen at most this often
CSRF_LABEL = b"consentgate console csrf v1"

metadata = MetaData()

cg_console_users = Table(
    "cg_console_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("failed", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
cg_console_sessions = Table(
    "cg_console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "user_name",
        String(64),
        ForeignKey("cg_console_users.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)

CONSOLE = register_component(
    "console",
    [Migration("console users and sessions", create_tables(cg_console_users, cg_console_sessions))],
    [
        not_personal(cg_console_users, "the operator's staff accounts, no visitor data"),
        not_personal(cg_console_sessions, "staff sessions, no visitor data"),
    ],
)


class UserError(ValueError):
    """A user that cannot be created (bad name or role, name taken)."""


@dataclass(frozen=True)
class User:
    """A console user as the routes see it (never the hash)."""

    name: str
    role: Role


@dataclass(frozen=True)
class Session:
    """A live session: who, and the token the cookie carries."""

    user: User
    token: str

    @property
    def csrf(self) -> str:
        """This session's CSRF token."""
        return csrf_token(self.token)


def csrf_token(session_token: str) -> str:
    """HMAC-SHA256(session token, label), hex (see the module docstring)."""
    # UTF-8, not ASCII: the pre-login token comes from a cookie the client may fill with anything.
    key = session_token.encode("utf-8", "surrogateescape")
    return hmac.new(key, CSRF_LABEL, hashlib.sha256).hexdigest()


def check_csrf(session_token: str, sent: str | None) -> bool:
    """True when `sent` is this session's CSRF token (constant-time)."""
    # Bytes: compare_digest raises TypeError for a non-ASCII str (any form field can be one).
    given = (sent or "").encode("utf-8", "surrogateescape")
    return bool(sent) and hmac.compare_digest(csrf_token(session_token).encode(), given)


def check_name(name: str) -> str:
    """`name` if it is a valid user name (lowercase letters, digits, . _ -; 1-64)."""
    if NAME_RE.fullmatch(name) is None:
        raise UserError("user names are 1-64 of a-z 0-9 . _ - and start with a letter or digit")
    return name


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _utc(ts: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if ts is None:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StoredUser:
    """A user row: what login needs."""

    user: User
    password_hash: str
    state: LoginState


class ConsoleUsers:
    """Users, their lockout state and their sessions in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, name: str, role: str, password_hash: str, now: datetime) -> User:
        """Create a user; `UserError` when the name is invalid or taken or the role unknown."""
        check_name(name)
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        try:
            async with self.store.write() as conn:
                await conn.execute(
                    insert(cg_console_users).values(
                        name=name,
                        role=role,
                        password_hash=password_hash,
                        failed=0,
                        locked_until=None,
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise UserError(f"user {name!r} already exists") from None
        checked: Role = "officer" if role == "officer" else "operator"
        return User(name, checked)

    async def get(self, name: str) -> StoredUser | None:
        """The user row, or None for an unknown (or invalid) name."""
        if NAME_RE.fullmatch(name) is None:
            return None
        t = cg_console_users.c
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(cg_console_users).where(t.name == name))).first()
        if row is None:
            return None
        return StoredUser(
            User(row.name, cast(Role, row.role)),
            row.password_hash,
            LoginState(row.failed, _utc(row.locked_until)),
        )

    async def record_attempt(self, name: str, ok: bool, now: datetime) -> LoginState:
        """Apply a checked password's outcome to the stored state (read and write in one
        write transaction, so concurrent attempts on several nodes all count)."""
        t = cg_console_users.c
        async with self.store.write() as conn:
            row = (
                await conn.execute(
                    select(t.failed, t.locked_until).where(t.name == name).with_for_update()
                )
            ).first()
            if row is None:
                return LoginState()
            state = LoginState(row.failed, _utc(row.locked_until))
            new = after_success(state) if ok else after_failure(state, now)
            await conn.execute(
                update(cg_console_users)
                .where(t.name == name)
                .values(failed=new.failed, locked_until=new.locked_until)
            )
        return new

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        """Replace a user's hash (rehash on login with stronger parameters)."""
        async with self.store.write() as conn:
            await conn.execute(
                update(cg_console_users)
                .where(cg_console_users.c.name == name)
                .values(password_hash=password_hash)
            )

    # --- sessions -------------------------------------------------------------------------

    async def open_session(self, user: User, now: datetime) -> Session:
        """A new session for `user` (call after a successful login)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with self.store.write() as conn:
            await conn.execute(
                insert(cg_console_sessions).values(
                    token_hash=_token_hash(token),
                    user_name=user.name,
                    created_at=now,
                    last_seen=now,
                )
            )
        return Session(user, token)

    async def session(self, token: str | None, now: datetime) -> Session | None:
        """The live session for a cookie's token; None when absent, unknown or expired."""
        if not token or len(token) > 128 or not token.isascii():
            return None
        s, u = cg_console_sessions.c, cg_console_users.c
        key = _token_hash(token)
        async with self.store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(s.created_at, s.last_seen, u.name, u.role)
                    .join(cg_console_users, u.name == s.user_name)
                    .where(s.token_hash == key)
                )
            ).first()
        if row is None:
            return None
        created, seen = _utc(row.created_at), _utc(row.last_seen)
        assert created is not None and seen is not None
        if now - seen > IDLE or now - created > ABSOLUTE:
            await self.close_session(token)
            return None
        if now - seen > TOUCH_EVERY:
            async with self.store.write() as conn:
                await conn.execute(
                    update(cg_console_sessions)
                    .where(cg_console_sessions.c.token_hash == key)
                    .values(last_seen=now)
                )
        return Session(User(row.name, cast(Role, row.role)), token)

    async def close_session(self, token: str) -> None:
        """Log out: delete the session."""
        async with self.store.write() as conn:
            await conn.execute(
                delete(cg_console_sessions).where(
                    cg_console_sessions.c.token_hash == _token_hash(token)
                )
            )
