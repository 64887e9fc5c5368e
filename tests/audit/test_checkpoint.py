"""Tests for audit/checkpoint.py (C2SP signed-note + tlog-checkpoint).

External known answer: the PeterNeumann key pair and signed note of golang.org/x/mod
``sumdb/note`` (note.go package docs and note_test.go). Ed25519 is deterministic (RFC 8032),
so our signer must reproduce that note byte for byte.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from audit.checkpoint import (
    BadSignature,
    Checkpoint,
    MalformedNote,
    NoteError,
    NoteSigner,
    NoteVerifier,
    UnknownKey,
    checkpoint_due,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint_body,
    parse_signer_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
)

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

ORIGIN = "shop.example/consentgate/audit"
SIGNER = NoteSigner(ORIGIN, bytes(range(32)))
VERIFIER = SIGNER.verifier()
OTHER = NoteSigner(ORIGIN, bytes(range(1, 33)))  # same name, different key
ROOT = hashlib.sha256(b"root").digest()


def test_go_known_answer_sign_and_open() -> None:
    signer = parse_signer_key(GO_SKEY)
    verifier = parse_verifier_key(GO_VKEY)
    assert signer.verifier() == verifier
    assert sign_note(GO_TEXT, [signer]) == GO_NOTE
    assert open_note(GO_NOTE, [verifier]).text == GO_TEXT
    assert verifier.to_string() == GO_VKEY
    assert signer.to_string() == GO_SKEY


def test_key_id_is_sha256_of_name_newline_type_key() -> None:
    """signed-note: key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    verifier = parse_verifier_key(GO_VKEY)
    want = hashlib.sha256(b"PeterNeumann\n\x01" + verifier.public_key).digest()[:4]
    assert key_id("PeterNeumann", verifier.public_key) == want == bytes.fromhex("c74f20a3")


def test_verifier_key_rejects_every_mangling() -> None:
    """As sumdb/note TestNewVerifier: no proper substring or one-byte change parses."""
    for i in range(len(GO_VKEY)):
        for j in range(i + 1, len(GO_VKEY) + 1):
            if (i, j) != (0, len(GO_VKEY)):
                with pytest.raises(NoteError):
                    parse_verifier_key(GO_VKEY[i:j])
        mangled = GO_VKEY[:i] + chr(ord(GO_VKEY[i]) + 1) + GO_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            parse_verifier_key(mangled)


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "tab\tname", "nbsp\u00a0name", "line\nbreak", "ideo\u3000sp"]
)
def test_key_names_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(NoteError):
        NoteSigner(name, bytes(32))


def test_signer_repr_hides_seed() -> None:
    assert bytes(range(32)).hex() not in repr(SIGNER)
    assert "redacted" in repr(SIGNER)


def test_checkpoint_body_bytes() -> None:
    cp = Checkpoint(ORIGIN, 20852163, ROOT)
    assert cp.body() == (
        "shop.example/consentgate/audit\n20852163\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n"
    )
    assert parse_checkpoint_body(cp.body()) == cp
    with_ext = Checkpoint(ORIGIN, 0, ROOT, ("ext one",))
    assert with_ext.body().endswith("\next one\n")
    assert parse_checkpoint_body(with_ext.body()) == with_ext


ROOT_B64 = "SBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I="


@pytest.mark.parametrize(
    "body",
    [
        f"o\n5\n{ROOT_B64}",  # no final newline
        "o\n5\n",  # no root line
        f"o\n05\n{ROOT_B64}\n",  # leading zero
        f"o\n-5\n{ROOT_B64}\n",
        f"o\n+5\n{ROOT_B64}\n",
        f"o\n5.0\n{ROOT_B64}\n",
        f"o\n\u0665\n{ROOT_B64}\n",  # Arabic-Indic digit five
        f"o\n{2**64}\n{ROOT_B64}\n",
        f"\n5\n{ROOT_B64}\n",  # empty origin
        "o\n5\nSBNJTRN-FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n",  # base64url, not standard
        "o\n5\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I\n",  # unpadded
        "o\n5\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7J=\n",  # non-canonical tail bits
        "o\n5\nAAAA\n",  # 3-byte root
        f"o\n5\n{ROOT_B64}\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoint_bodies(body: str) -> None:
    with pytest.raises(MalformedNote):
        parse_checkpoint_body(body)


def test_sign_and_open_checkpoint() -> None:
    cp = Checkpoint(ORIGIN, 7, ROOT)
    note = sign_checkpoint(cp, SIGNER)
    assert note.startswith(cp.body() + "\n\u2014 " + ORIGIN + " ")
    assert open_checkpoint(note, [VERIFIER], origin=ORIGIN) == cp


def test_unknown_key_signatures_are_ignored_but_one_trusted_is_required() -> None:
    cp = Checkpoint(ORIGIN, 7, ROOT)
    stranger = NoteSigner("stranger.example/log", bytes(32))
    both = sign_note(cp.body(), [stranger, SIGNER])
    assert open_note(both, [VERIFIER]).verified_by == (ORIGIN,)
    with pytest.raises(UnknownKey):
        open_checkpoint(sign_checkpoint(cp, stranger), [VERIFIER])
    # Same name, other key: the key ID differs, so it is an unknown key, not a bad signature.
    with pytest.raises(UnknownKey):
        open_checkpoint(sign_checkpoint(cp, OTHER), [VERIFIER])


def test_bad_signature_by_a_trusted_key_rejects() -> None:
    cp = Checkpoint(ORIGIN, 7, ROOT)
    note = sign_checkpoint(cp, SIGNER)
    forged = note.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(BadSignature):
        open_checkpoint(forged, [VERIFIER])
    other_sig = sign_checkpoint(Checkpoint(ORIGIN, 8, ROOT), SIGNER).split("\n\n")[1]
    with pytest.raises(BadSignature):
        open_checkpoint(cp.body() + "\n" + other_sig, [VERIFIER])


def test_origin_is_pinned() -> None:
    note = sign_checkpoint(Checkpoint("other.example/log", 1, ROOT), SIGNER)
    with pytest.raises(MalformedNote):
        open_checkpoint(note, [VERIFIER], origin=ORIGIN)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("\n\n", "\n"),  # no blank line
        lambda n: n.replace("\u2014 ", "- "),  # ASCII hyphen instead of em dash
        lambda n: n[:-1],  # no final newline
        lambda n: n.replace(f"{ORIGIN} ", f"{ORIGIN}  "),  # double space
        lambda n: n + "\n",  # trailing blank line
        lambda n: n.replace("\n7\n", "\n7\r\n"),  # control character
        lambda n: n.rsplit(" ", 1)[0] + " AAAA\n",  # signature too short
        lambda n: n.rsplit(" ", 1)[0] + " !!!!\n",  # not base64
        lambda n: n.split("\n\n")[0] + "\n\n",  # no signature lines
    ],
)
def test_malformed_notes(mangle: object) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT), SIGNER)
    assert callable(mangle)
    with pytest.raises(NoteError):
        open_checkpoint(mangle(note), [VERIFIER])


def test_sign_note_checks_text() -> None:
    with pytest.raises(MalformedNote):
        sign_note("no newline", [SIGNER])
    with pytest.raises(MalformedNote):
        sign_note("bell\x07\n", [SIGNER])
    with pytest.raises(NoteError):
        sign_note("fine\n", [])


@pytest.mark.parametrize(
    "key",
    [
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PUBLIC+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3",
        GO_VKEY,
    ],
)
def test_signer_key_mangling(key: str) -> None:
    with pytest.raises(NoteError):
        parse_signer_key(key)


def test_key_material_lengths_and_text_encoding() -> None:
    with pytest.raises(NoteError):
        NoteVerifier("a", bytes(31))
    with pytest.raises(NoteError):
        NoteSigner("a", bytes(33))
    with pytest.raises(NoteError):
        parse_signer_key("PRIVATE+KEY+a+00000000+!!!!")
    with pytest.raises(MalformedNote):
        sign_note("lone \ud800 surrogate\n", [SIGNER])


T = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("size", "last_size", "last_at", "now", "erasure", "due"),
    [
        (10, 10, T, T + timedelta(days=9), True, False),  # nothing new: never
        (0, 0, None, T, False, False),  # empty log, nothing to sign
        (11, 10, T, T, True, True),  # erasure: sign at once
        (110, 10, T, T, False, True),  # N entries
        (109, 10, T, T + timedelta(seconds=59), False, False),
        (11, 10, T, T + timedelta(seconds=60), False, True),  # T seconds
        (1, 0, None, T, False, True),  # first checkpoint
    ],
)
def test_checkpoint_due(
    size: int, last_size: int, last_at: datetime | None, now: datetime, erasure: bool, due: bool
) -> None:
    got = checkpoint_due(
        size=size,
        last_size=last_size,
        last_at=last_at,
        now=now,
        every_entries=100,
        every=timedelta(seconds=60),
        erasure=erasure,
    )
    assert got is due
