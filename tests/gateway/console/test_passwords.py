"""scrypt password hashes (gateway/console/passwords.py)."""

from __future__ import annotations

import hashlib

import pytest

from gateway.console.passwords import (
    PasswordError,
    ScryptParams,
    check_password_policy,
    hash_password,
    needs_rehash,
    parse_hash,
    verify_password,
)

FAST = ScryptParams(log_n=4, r=8, p=1)  # tests only: cheap, same code path
PW = "correct horse battery staple"


def test_round_trip_and_wrong_password() -> None:
    stored = hash_password(PW, FAST)
    assert stored.startswith("scrypt$4$8$1$")
    assert verify_password(PW, stored)
    assert not verify_password(PW + " ", stored)
    assert not verify_password("", stored)


def test_salt_is_per_hash() -> None:
    assert hash_password(PW, FAST) != hash_password(PW, FAST)


def test_matches_hashlib_scrypt_with_the_stored_salt() -> None:
    # Pins the format: the key is scrypt(password, salt, N, r, p, dklen=32).
    stored = hash_password(PW, FAST, rand=lambda n: b"\x01" * n)
    params, salt, key = parse_hash(stored)
    assert salt == b"\x01" * 16
    assert key == hashlib.scrypt(PW.encode(), salt=salt, n=16, r=8, p=1, dklen=32)


def test_default_parameters_are_owasp() -> None:
    # OWASP Password Storage Cheat Sheet: scrypt N=2^17, r=8, p=1.
    assert ScryptParams() == ScryptParams(17, 8, 1)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "scrypt$4$8$1$c2FsdHNhbHQ",  # missing key
        "bcrypt$4$8$1$c2FsdHNhbHQ$" + "A" * 43,
        "scrypt$x$8$1$c2FsdHNhbHQ$" + "A" * 43,
        "scrypt$40$8$1$c2FsdHNhbHQ$" + "A" * 43,  # absurd cost refused, not computed
        "scrypt$4$8$1$c2Fs$" + "A" * 43,  # salt too short
        "scrypt$4$8$1$c2FsdHNhbHQ$AAAA",  # key too short
        "scrypt$4$8$1$!!!$" + "A" * 43,
    ],
)
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert not verify_password(PW, stored)
    with pytest.raises(PasswordError):
        parse_hash(stored)
    assert needs_rehash(stored)


@pytest.mark.parametrize(
    ("password", "ok"),
    [("a" * 11, False), ("a" * 12, True), ("ü" * 12, True), ("a" * 1025, False)],
)
def test_policy(password: str, ok: bool) -> None:
    if ok:
        check_password_policy(password)
    else:
        with pytest.raises(PasswordError):
            check_password_policy(password)


def test_oversized_password_is_not_hashed_at_verify() -> None:
    assert not verify_password("a" * 2000, hash_password(PW, FAST))


def test_needs_rehash_when_weaker() -> None:
    stored = hash_password(PW, FAST)
    assert needs_rehash(stored, ScryptParams(5, 8, 1))
    assert not needs_rehash(stored, FAST)
