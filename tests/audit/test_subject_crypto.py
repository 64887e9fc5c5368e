"""Tests for audit/subject_crypto.py: per-subject AES-256-GCM sealing and crypto-shredding."""

from __future__ import annotations

import pytest

from audit.subject_crypto import DataUnreadable as Unreadable
from audit.subject_crypto import (
    SealedData,
    SubjectKey,
    aad,
    b64url,
    b64url_decode,
    is_subject_id,
    new_subject_id,
    new_subject_key,
    open_sealed,
    seal,
)

KEY = new_subject_key(bytes(range(32)), "1")
SUBJECT = "sub_00112233445566778899aabbccddeeff"
DETAILS = {"email": "ana@example.com", "purposes": {"analytics": True}}
NONCE = bytes(range(12))  # fixed only to pin a vector; production nonces are random

# Computed once with these inputs and pinned: any change to plaintext encoding, AAD or
# sealed form shows up here.
PINNED = {
    "alg": "A256GCM",
    "ct": "PCCzdqSMrjm3Y_bl0KkdFeK791iVVTwTVUXJp20ccsJuY8uPjftpuhXKHoHx80FbnXta-"
    "SijxqdCTsDlvT-VXkRuQlwz0BjwCw",
    "kid": "1",
    "nonce": "AAECAwQFBgcICQoL",
}


def _seal(**over: object) -> SealedData:
    args: dict[str, object] = {"chain": "main", "seq": 1, "subject": SUBJECT, "nonce": NONCE}
    args.update(over)
    return seal(KEY, DETAILS, **args)  # type: ignore[arg-type]


def test_pinned_vector_and_round_trip() -> None:
    sealed = _seal()
    assert sealed.to_json() == PINNED
    assert SealedData.from_json(PINNED) == sealed
    assert open_sealed(KEY, sealed, chain="main", seq=1, subject=SUBJECT) == DETAILS
    assert b"ana@example.com" not in sealed.ct


def test_aad_bytes() -> None:
    assert aad(chain="main", seq=1, subject=SUBJECT, kid="1") == (
        b'["consentgate.audit.data/v1","main",1,"sub_00112233445566778899aabbccddeeff","1"]'
    )


@pytest.mark.parametrize(
    "where",
    [
        {"chain": "other"},
        {"seq": 2},
        {"subject": "sub_ffffffffffffffffffffffffffffffff"},
    ],
)
def test_ciphertext_is_bound_to_its_entry(where: dict[str, object]) -> None:
    """Moving sealed details to another entry, chain or subject makes them unreadable."""
    sealed = _seal()
    place: dict[str, object] = {"chain": "main", "seq": 1, "subject": SUBJECT}
    place.update(where)
    with pytest.raises(Unreadable):
        open_sealed(KEY, sealed, **place)  # type: ignore[arg-type]


def test_tampered_or_wrong_key_is_unreadable() -> None:
    sealed = _seal()
    flipped = SealedData(kid="1", nonce=sealed.nonce, ct=bytes([sealed.ct[0] ^ 1]) + sealed.ct[1:])
    with pytest.raises(Unreadable):
        open_sealed(KEY, flipped, chain="main", seq=1, subject=SUBJECT)
    other = new_subject_key(bytes(32), "1")
    with pytest.raises(Unreadable):
        open_sealed(other, sealed, chain="main", seq=1, subject=SUBJECT)
    rotated = new_subject_key(bytes(range(32)), "2")
    with pytest.raises(Unreadable):
        open_sealed(rotated, sealed, chain="main", seq=1, subject=SUBJECT)


def test_fresh_nonces_give_different_ciphertexts() -> None:
    assert _seal(nonce=bytes(12)).ct != _seal(nonce=bytes(11) + b"\x01").ct


@pytest.mark.parametrize(
    "over",
    [{"nonce": bytes(11)}, {"nonce": bytes(16)}, {"subject": "cookie-pseudonym-abc"}],
)
def test_seal_rejects(over: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _seal(**over)


def test_subject_ids() -> None:
    sid = new_subject_id(bytes(range(16)))
    assert sid == "sub_000102030405060708090a0b0c0d0e0f"
    assert is_subject_id(sid)
    for bad in ["", "sub_", "sub_" + "0" * 31, "SUB_" + "0" * 32, "sub_" + "G" * 32, sid + "\n"]:
        assert not is_subject_id(bad)
    with pytest.raises(ValueError):
        new_subject_id(bytes(15))


def test_key_validation_and_repr() -> None:
    with pytest.raises(ValueError):
        SubjectKey("1", bytes(16))
    with pytest.raises(ValueError):
        SubjectKey("bad kid", bytes(32))
    assert bytes(range(32)).hex() not in repr(KEY) and "redacted" in repr(KEY)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "AAEC",
        {**PINNED, "extra": "x"},
        {k: v for k, v in PINNED.items() if k != "kid"},
        {**PINNED, "alg": "A128GCM"},
        {**PINNED, "kid": 1},
        {**PINNED, "kid": "a b"},
        {**PINNED, "nonce": "AAECAwQFBgcICQo"},  # 11 bytes
        {**PINNED, "nonce": "AAECAwQFBgcICQoL="},  # padded
        {**PINNED, "ct": "AAEC"},  # shorter than a GCM tag
        {**PINNED, "ct": PINNED["ct"].replace("_", "/")},  # standard alphabet
    ],
)
def test_sealed_form_is_strict(value: object) -> None:
    with pytest.raises(ValueError):
        SealedData.from_json(value)


@pytest.mark.parametrize("text", ["AA=", "A", "AB", "A+", "A/", " AA"])
def test_b64url_strict(text: str) -> None:
    """Padding, other alphabets and set trailing bits would give one value two spellings."""
    with pytest.raises(ValueError):
        b64url_decode(text)


def test_b64url_round_trip() -> None:
    for n in range(6):
        raw = bytes(range(250, 250 + n)) if n else b""
        assert b64url_decode(b64url(raw)) == raw


def test_details_must_decrypt_to_an_object() -> None:
    """Only objects are ever sealed; anything else under a valid tag is refused too."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    place = {"chain": "main", "seq": 1, "subject": SUBJECT}
    ct = AESGCM(KEY.key).encrypt(NONCE, b"[1]", aad(kid="1", **place))  # type: ignore[arg-type]
    with pytest.raises(Unreadable):
        open_sealed(KEY, SealedData("1", NONCE, ct), **place)  # type: ignore[arg-type]
