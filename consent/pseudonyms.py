"""Visitor ids, their pseudonyms under a versioned key, and customer-facing subject references.

Visitor id (the only thing the first-party cookie holds):
  16 random bytes, unpadded base64url (RFC 4648 §5): exactly 22 characters of [A-Za-z0-9_-],
  the last one canonical (its 4 spare bits zero), so one id has exactly one spelling. Any other
  cookie value is treated as no cookie.

Pseudonym (what storage keeps instead of the id):
  f"{version}:{HMAC-SHA256(key[version], b"visitor\\x00" + id_bytes).hex()}", e.g. "3:9f0c…".
  Other identifiers use other domains (`derive(domain, data)`), so a pseudonym of one kind never
  equals a pseudonym of another. Lookups try `candidates(id)` newest version first; the I/O
  layer re-keys a row found under an old version, so `consentgate keys rotate` orphans nobody.

Sealed keyring (at rest), all integers big-endian:
  b"CGK1" | nonce (12 bytes) | AES-256-GCM(master_key, nonce, plaintext, aad=b"CGK1")
  plaintext = current (u32) | count (u32) | count × (version (u32) | key (32 bytes))
The master key is 32 bytes. The I/O layer reads it from the environment variable
CONSENTGATE_MASTER_KEY (base64 of 32 bytes) or, when CONSENTGATE_MASTER_KEY_FILE names a file,
from that file (same base64 text, surrounding whitespace ignored), and passes the text to
`parse_master_key`. It never lives in the config file or the database.

Subject reference (shown to customers, typed into `dsr export REF`):
  "CG-" + 16 characters of RFC 4648 base32 (80 random bits), independent of the visitor id so
  that a reference in a support ticket reveals nothing about the cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Random = Callable[[int], bytes]  # e.g. os.urandom or secrets.token_bytes

VISITOR_ID_BYTES = 16
KEY_BYTES = 32
MASTER_KEY_ENV = "CONSENTGATE_MASTER_KEY"
MASTER_KEY_FILE_ENV = "CONSENTGATE_MASTER_KEY_FILE"

_MAGIC = b"CGK1"
_NONCE_BYTES = 12
_VISITOR_DOMAIN = b"visitor"
_VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]")  # 22nd char: its low 4 bits are zero
_SUBJECT_REF = re.compile(r"CG-[A-Z2-7]{16}")


class KeyringError(ValueError):
    """The sealed keyring or the master key is unusable (wrong key, corrupt, wrong shape)."""


def _take(rand: Random, n: int) -> bytes:
    data = rand(n)
    if len(data) != n:
        raise ValueError(f"randomness source returned {len(data)} bytes, wanted {n}")
    return data


def new_visitor_id(rand: Random) -> str:
    """A fresh visitor id: 128 random bits as 22 base64url characters."""
    return base64.urlsafe_b64encode(_take(rand, VISITOR_ID_BYTES)).rstrip(b"=").decode()


def parse_visitor_id(value: str | None) -> str | None:
    """`value` if it is a canonical visitor id, else None (treat as no cookie)."""
    if value is None or not _VISITOR_ID.fullmatch(value):
        return None
    return value


def _visitor_bytes(visitor_id: str) -> bytes:
    if parse_visitor_id(visitor_id) is None:
        raise ValueError("not a visitor id")
    return base64.urlsafe_b64decode(visitor_id + "==")


def new_subject_ref(rand: Random) -> str:
    """A fresh customer-facing reference, e.g. `CG-MFRGGZDFMZTWQ2LK` (80 random bits)."""
    return "CG-" + base64.b32encode(_take(rand, 10)).decode()


def parse_subject_ref(value: str) -> str | None:
    """The canonical reference for what a person typed (case and surrounding spaces forgiven),
    or None when it is not one."""
    ref = value.strip().upper()
    return ref if _SUBJECT_REF.fullmatch(ref) else None


def parse_master_key(text: str | bytes) -> bytes:
    """The 32-byte master key from its base64 (standard or url-safe) text form."""
    raw = text.encode() if isinstance(text, str) else text
    cleaned = raw.strip().replace(b"-", b"+").replace(b"_", b"/")
    try:
        key = base64.b64decode(cleaned, validate=True)
    except binascii.Error as exc:
        raise KeyringError(f"{MASTER_KEY_ENV} is not base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{MASTER_KEY_ENV} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


@dataclass(frozen=True)
class Keyring:
    """HMAC keys by version (≥ 1) and the version new pseudonyms use."""

    keys: Mapping[int, bytes]
    current: int

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyringError("the current version has no key")
        for version, key in self.keys.items():
            if not 1 <= version <= 0xFFFFFFFF or len(key) != KEY_BYTES:
                raise KeyringError(f"key version {version} is malformed")

    def __repr__(self) -> str:
        # Never print key bytes into a log or a traceback.
        return f"Keyring(versions={sorted(self.keys)}, current={self.current})"

    @classmethod
    def generate(cls, rand: Random) -> Keyring:
        """A new keyring holding version 1."""
        return cls({1: _take(rand, KEY_BYTES)}, 1)

    def rotate(self, rand: Random) -> Keyring:
        """A keyring with one more version, now current; older versions stay for lookups."""
        version = max(self.keys) + 1
        return Keyring({**self.keys, version: _take(rand, KEY_BYTES)}, version)

    def retire(self, version: int) -> Keyring:
        """Drop an old version once nothing stored uses it any more."""
        if version == self.current:
            raise KeyringError("cannot retire the current key version")
        return Keyring({v: k for v, k in self.keys.items() if v != version}, self.current)

    def derive(self, domain: bytes, data: bytes, version: int | None = None) -> str:
        """`"{version}:{hex HMAC-SHA256(key, domain + b"\\x00" + data)}"`."""
        v = self.current if version is None else version
        mac = hmac.new(self.keys[v], domain + b"\x00" + data, hashlib.sha256)
        return f"{v}:{mac.hexdigest()}"

    def pseudonym(self, visitor_id: str) -> str:
        """The visitor's pseudonym under the current version (what new rows store)."""
        return self.derive(_VISITOR_DOMAIN, _visitor_bytes(visitor_id))

    def candidates(self, visitor_id: str) -> Iterator[str]:
        """The visitor's pseudonym under every version, newest first (lookup order)."""
        data = _visitor_bytes(visitor_id)
        for version in sorted(self.keys, reverse=True):
            yield self.derive(_VISITOR_DOMAIN, data, version)

    def seal(self, master_key: bytes, rand: Random) -> bytes:
        """The keyring encrypted under `master_key` (format in the module docstring)."""
        body = struct.pack(">II", self.current, len(self.keys))
        for version in sorted(self.keys):
            body += struct.pack(">I", version) + self.keys[version]
        nonce = _take(rand, _NONCE_BYTES)
        return _MAGIC + nonce + _aead(master_key).encrypt(nonce, body, _MAGIC)

    @classmethod
    def open(cls, blob: bytes, master_key: bytes) -> Keyring:
        """Decrypt and check a sealed keyring; any tampering or a wrong key → KeyringError."""
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _NONCE_BYTES + 16:
            raise KeyringError("not a sealed consentgate keyring")
        nonce = blob[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
        try:
            body = _aead(master_key).decrypt(nonce, blob[len(_MAGIC) + _NONCE_BYTES :], _MAGIC)
        except InvalidTag as exc:
            raise KeyringError("keyring does not open with this master key") from exc
        if len(body) < 8:
            raise KeyringError("keyring body is truncated")
        current, count = struct.unpack_from(">II", body)
        entry = 4 + KEY_BYTES
        if len(body) != 8 + count * entry:
            raise KeyringError("keyring length does not match its entry count")
        keys = {}
        for i in range(count):
            (version,) = struct.unpack_from(">I", body, 8 + i * entry)
            keys[version] = body[12 + i * entry : 8 + (i + 1) * entry]
        if len(keys) != count:
            raise KeyringError("keyring repeats a version")
        return cls(keys, current)


def _aead(master_key: bytes) -> AESGCM:
    if len(master_key) != KEY_BYTES:
        raise KeyringError(f"the master key must be {KEY_BYTES} bytes")
    return AESGCM(master_key)
