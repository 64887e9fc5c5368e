"""Password hashes for console users: scrypt (RFC 7914) with a per-user random salt.

Stored format (one ASCII string, every parameter in it so they can be raised later without
invalidating old hashes)::

    scrypt$<log2 N>$<r>$<p>$<salt, base64url no padding>$<32-byte key, base64url no padding>

Defaults follow the OWASP Password Storage Cheat Sheet for scrypt: N = 2^17, r = 8, p = 1
(128 MiB and roughly a third of a second per hash), a 16-byte salt from the OS CSPRNG.
Verification compares in constant time and tells the caller when a hash was made with weaker
parameters than today's (``needs_rehash``). Pure apart from ``os.urandom`` for new salts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

SCHEME = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32
MAX_PASSWORD_BYTES = 1024  # bounds the work an attacker can make one request cost
MIN_PASSWORD_CHARS = 12  # NIST SP 800-63B §3.1.1.2: at least 8; we ask more of admins


class PasswordError(ValueError):
    """A password that cannot be used (too short, too long) or a malformed stored hash."""


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost: N = 2**log_n, block size r, parallelism p."""

    log_n: int = 17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not (1 <= self.log_n <= 22 and 1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise PasswordError("scrypt parameters out of range")

    @property
    def maxmem(self) -> int:
        """Memory scrypt needs (128 * N * r bytes) plus headroom for OpenSSL's bookkeeping."""
        memory: int = 128 * (1 << self.log_n) * self.r * (self.p + 1)
        return memory + 1024 * 1024

    def weaker_than(self, other: ScryptParams) -> bool:
        """True when any cost is below `other`'s."""
        return self.log_n < other.log_n or self.r < other.r or self.p < other.p


DEFAULT_PARAMS = ScryptParams()


def check_password_policy(password: str) -> None:
    """Raise `PasswordError` for a password too short or too long to accept."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise PasswordError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=1 << params.log_n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=KEY_BYTES,
    )


def hash_password(
    password: str,
    params: ScryptParams = DEFAULT_PARAMS,
    rand: Callable[[int], bytes] = os.urandom,
) -> str:
    """The stored form of `password` (format in the module docstring); checks the policy."""
    check_password_policy(password)
    salt = rand(SALT_BYTES)
    key = _derive(password, salt, params)
    return f"{SCHEME}${params.log_n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def parse_hash(stored: str) -> tuple[ScryptParams, bytes, bytes]:
    """(params, salt, key) of a stored hash; `PasswordError` when it is malformed."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise PasswordError("not a scrypt password hash")
    try:
        params = ScryptParams(int(parts[1]), int(parts[2]), int(parts[3]))
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as exc:
        raise PasswordError(f"malformed scrypt password hash: {exc}") from None
    if len(salt) < 8 or len(key) != KEY_BYTES:
        raise PasswordError("malformed scrypt password hash: salt or key length")
    return params, salt, key


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (constant-time compare); False for an oversized
    password or a malformed hash, so a broken row never logs anyone in."""
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return False
    try:
        params, salt, key = parse_hash(stored)
    except PasswordError:
        return False
    return hmac.compare_digest(_derive(password, salt, params), key)


def needs_rehash(stored: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """True when `stored` was made with weaker parameters than `params`."""
    try:
        return parse_hash(stored)[0].weaker_than(params)
    except PasswordError:
        return True


# A hash of a random password, checked when the user name is unknown so that an unknown name
# costs as long as a wrong password (OWASP Authentication Cheat Sheet: no user enumeration
# through response times). Computed lazily, once per process and parameter set.
_DUMMY: dict[ScryptParams, str] = {}


def dummy_hash(params: ScryptParams = DEFAULT_PARAMS) -> str:
    """A valid hash no password is known for (to spend equal time on unknown users)."""
    if params not in _DUMMY:
        _DUMMY[params] = hash_password(_b64(os.urandom(24)), params)
    return _DUMMY[params]
