"""Per-subject encryption of personal details in audit entries (crypto-shredding).

Every data subject gets a random id (never derived from a cookie or its pseudonym) and
its own random 256-bit key. Personal details inside an audit entry are sealed with
AES-256-GCM under that key; erasing the subject destroys the key, after which the
ciphertexts left in the append-only chain are unreadable while the chain still verifies.

Byte formats:

* subject id:  ``"sub_" + 32 lowercase hex digits`` (16 random bytes)
* key:         32 random bytes, named by an opaque key id ``kid`` (``[A-Za-z0-9_-]{1,64}``)
* plaintext:   canonical JSON of the details object (see ``audit.envelope.canonical_json``)
* nonce:       12 random bytes (NIST SP 800-38D §8.2.2: 96-bit random IVs)
* AAD:         canonical JSON of ``["consentgate.audit.data/v1", chain, seq, subject, kid]``
               so a ciphertext cannot be moved to another entry, chain or subject
* sealed form: ``SealedData(alg="A256GCM", kid, nonce, ct)`` where ``ct`` is the
               ciphertext followed by the 16-byte GCM tag; inside an envelope it is the
               object ``{"alg", "ct", "kid", "nonce"}`` with ``ct`` and ``nonce`` as unpadded
               base64url (RFC 4648 §5)

All randomness is passed in by the caller; nothing here reads a clock, a file or os.urandom.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
SUBJECT_ID_RANDOM_BYTES = 16
ALG = "A256GCM"
AAD_LABEL = "consentgate.audit.data/v1"

SUBJECT_ID_RE = re.compile(r"sub_[0-9a-f]{32}")
KID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class DataUnreadable(ValueError):
    """Sealed details could not be opened: wrong or destroyed key, or tampered bytes."""


def new_subject_id(random16: bytes) -> str:
    """A fresh subject id from 16 caller-supplied random bytes."""
    if len(random16) != SUBJECT_ID_RANDOM_BYTES:
        raise ValueError(f"need {SUBJECT_ID_RANDOM_BYTES} random bytes")
    return "sub_" + random16.hex()


def is_subject_id(value: str) -> bool:
    """True when ``value`` has the shape of a subject id made by ``new_subject_id``."""
    return SUBJECT_ID_RE.fullmatch(value) is not None


@dataclass(frozen=True, repr=False)
class SubjectKey:
    """One subject's data key; ``repr`` never shows the key bytes."""

    kid: str
    key: bytes

    def __post_init__(self) -> None:
        if KID_RE.fullmatch(self.kid) is None:
            raise ValueError("kid must match [A-Za-z0-9_-]{1,64}")
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"key must be {KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return f"SubjectKey(kid={self.kid!r}, key=<redacted>)"


def new_subject_key(random32: bytes, kid: str = "1") -> SubjectKey:
    """A subject key from 32 caller-supplied random bytes."""
    return SubjectKey(kid=kid, key=bytes(random32))


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of ``b64url``: rejects padding, other alphabets and non-canonical tails."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(raw) != text:
        # Unused trailing bits set: two spellings of one value would break canonical bytes.
        raise ValueError("non-canonical base64url")
    return raw


@dataclass(frozen=True)
class SealedData:
    """AES-GCM sealed personal details as stored in an entry's ``data`` field."""

    kid: str
    nonce: bytes
    ct: bytes
    alg: str = ALG

    def to_json(self) -> dict[str, str]:
        """The envelope form: ``{"alg", "ct", "kid", "nonce"}``."""
        return {
            "alg": self.alg,
            "ct": b64url(self.ct),
            "kid": self.kid,
            "nonce": b64url(self.nonce),
        }

    @classmethod
    def from_json(cls, value: object) -> SealedData:
        """Parse the envelope form, rejecting anything not exactly produced by ``to_json``."""
        if not isinstance(value, dict) or set(value) != {"alg", "ct", "kid", "nonce"}:
            raise ValueError("data must be an object with exactly alg, ct, kid, nonce")
        alg, ct, kid, nonce = (_text(value, k) for k in ("alg", "ct", "kid", "nonce"))
        if alg != ALG:
            raise ValueError(f"unsupported data alg {alg!r}")
        if KID_RE.fullmatch(kid) is None:
            raise ValueError("bad kid")
        nonce_b = b64url_decode(nonce)
        ct_b = b64url_decode(ct)
        if len(nonce_b) != NONCE_BYTES or len(ct_b) < 16:
            raise ValueError("bad nonce or ciphertext length")
        return cls(kid=kid, nonce=nonce_b, ct=ct_b)


def _text(obj: dict[object, object], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise ValueError(f"data.{key} must be a string")
    return value


def _canonical(value: object) -> bytes:
    # Same rules as audit.envelope.canonical_json (kept local: envelope imports us).
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def aad(*, chain: str, seq: int, subject: str, kid: str) -> bytes:
    """Associated data binding a ciphertext to one entry of one chain for one subject."""
    return _canonical([AAD_LABEL, chain, seq, subject, kid])


def seal(
    key: SubjectKey,
    details: Mapping[str, object],
    *,
    chain: str,
    seq: int,
    subject: str,
    nonce: bytes,
) -> SealedData:
    """Encrypt ``details`` for entry (chain, seq) of ``subject`` with a caller-chosen nonce.

    The nonce must be fresh random bytes for every call: GCM loses confidentiality and
    integrity if a (key, nonce) pair ever repeats (NIST SP 800-38D §8).
    """
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    if not is_subject_id(subject):
        raise ValueError("subject must be a random subject id (sub_ + 32 hex)")
    plaintext = _canonical(dict(details))
    ct = AESGCM(key.key).encrypt(
        nonce, plaintext, aad(chain=chain, seq=seq, subject=subject, kid=key.kid)
    )
    return SealedData(kid=key.kid, nonce=bytes(nonce), ct=ct)


def open_sealed(
    key: SubjectKey, sealed: SealedData, *, chain: str, seq: int, subject: str
) -> dict[str, object]:
    """Decrypt sealed details; raises DataUnreadable on any mismatch or tampering."""
    if sealed.kid != key.kid:
        raise DataUnreadable(f"sealed under kid {sealed.kid!r}, key is {key.kid!r}")
    try:
        plaintext = AESGCM(key.key).decrypt(
            sealed.nonce, sealed.ct, aad(chain=chain, seq=seq, subject=subject, kid=sealed.kid)
        )
    except InvalidTag as exc:
        raise DataUnreadable("authentication failed") from exc
    value = json.loads(plaintext)
    if not isinstance(value, dict):
        raise DataUnreadable("details are not an object")
    return value
