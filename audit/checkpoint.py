"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed-note envelopes (Ed25519).

Checkpoint body (c2sp.org/tlog-checkpoint), UTF-8, every line ending in U+000A::

    <origin>\\n                 e.g. "shop.example/consentgate/audit"
    <tree size>\\n              ASCII decimal, no leading zeros ("0" for the empty tree)
    <base64 root hash>\\n       RFC 4648 §4 standard base64 of the 32-byte RFC 6962 root
    [<extension line>\\n ...]   optional, non-empty

Signed note (c2sp.org/signed-note)::

    <body>\\n                                      the body, then one blank line
    — <key name> <base64(key ID || signature)>\\n  one line per signature

* the dash is U+2014 EM DASH followed by U+0020
* key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]
* signature = Ed25519 (RFC 8032) over the body bytes exactly (final newline included)

Key strings (the golang.org/x/mod/sumdb/note encoding, which other tools read):

* verifier key: ``<name>+<8 hex key ID>+<base64(0x01 || 32-byte public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || 32-byte seed)>``

Per the signed-note spec, signatures by unknown keys are ignored, a known key whose
signature fails rejects the whole note, and a note with no verified known signature is
rejected. Ed25519 signing is deterministic, so everything here is pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.merkle import HASH_SIZE

ED25519_TYPE = b"\x01"
SIG_PREFIX = "\u2014 "  # signed-note: em dash, space
MAX_SIGNATURES = 64  # signed-note: verifiers MUST accept at least 16
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A signed note or checkpoint was rejected."""


class MalformedNote(NoteError):
    """The note or its checkpoint body does not follow the format."""


class UnknownKey(NoteError):
    """No signature on the note is by a trusted key."""


class BadSignature(NoteError):
    """A signature by a trusted key (matching name and key ID) does not verify."""


def b64std(data: bytes) -> str:
    """Standard padded base64 (RFC 4648 §4)."""
    return base64.b64encode(data).decode("ascii")


def b64std_decode(text: str) -> bytes:
    """Strict standard base64: rejects other alphabets, whitespace and non-canonical forms."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedNote("bad base64") from exc
    if b64std(raw) != text:
        raise MalformedNote("non-canonical base64")
    return raw


def check_key_name(name: str) -> None:
    """signed-note: key names are non-empty, without Unicode spaces or '+'."""
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL_RE.search(name):
        raise NoteError(f"invalid key name {name!r}")


def key_id(name: str, public_key: bytes) -> bytes:
    """signed-note key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("an Ed25519 public key has 32 bytes")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID that prefixes this key's signatures."""
        return key_id(self.name, self.public_key)

    def to_string(self) -> str:
        """The exportable verifier key string ``name+hexid+base64(0x01||key)``."""
        return f"{self.name}+{self.key_id.hex()}+{b64std(ED25519_TYPE + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_verifier_key(text: str) -> NoteVerifier:
    """Parse ``name+hexid+base64(0x01||key)``; NoteError unless it is exactly that."""
    parts = text.strip().split("+", 2)  # the base64 part may itself contain '+'
    if len(parts) != 3:
        raise NoteError("verifier key is not name+id+key")
    name, hex_id, b64 = parts
    if re.fullmatch(r"[0-9a-f]{8}", hex_id) is None:
        raise NoteError("verifier key ID is not 8 lowercase hex digits")
    try:
        raw = b64std_decode(b64)
    except MalformedNote as exc:
        raise NoteError("verifier key is not base64") from exc
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise NoteError("verifier key is not an Ed25519 (type 0x01) key")
    verifier = NoteVerifier(name=name, public_key=raw[1:])
    if verifier.key_id.hex() != hex_id:
        raise NoteError("verifier key ID does not match its name and key")
    return verifier


@dataclass(frozen=True, repr=False)
class NoteSigner:
    """An Ed25519 note signing key; ``repr`` never shows the seed."""

    name: str
    seed: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.seed) != 32:
            raise NoteError("an Ed25519 seed has 32 bytes")

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, seed=<redacted>)"

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    def verifier(self) -> NoteVerifier:
        """The matching public verifier."""
        return NoteVerifier(self.name, _raw_public(self._private().public_key()))

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self._private().sign(message)

    def to_string(self) -> str:
        """``PRIVATE+KEY+name+hexid+base64(0x01||seed)``; keep it secret."""
        kid = self.verifier().key_id.hex()
        return f"PRIVATE+KEY+{self.name}+{kid}+{b64std(ED25519_TYPE + self.seed)}"


def parse_signer_key(text: str) -> NoteSigner:
    """Parse ``PRIVATE+KEY+name+hexid+base64(0x01||seed)`` and check its key ID."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("signer key is not PRIVATE+KEY+name+id+key")
    _, _, name, hex_id, b64 = parts
    try:
        raw = b64std_decode(b64)
    except MalformedNote as exc:
        raise NoteError("signer key is not base64") from exc
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise NoteError("signer key is not an Ed25519 (type 0x01) key")
    signer = NoteSigner(name=name, seed=raw[1:])
    if signer.verifier().key_id.hex() != hex_id:
        raise NoteError("signer key ID does not match its name and key")
    return signer


def _check_text(text: str) -> None:
    # signed-note: valid UTF-8, no ASCII controls but newline, text ends in a newline.
    if not text.endswith("\n") or _CONTROL_RE.search(text):
        raise MalformedNote("note text must end in a newline and hold no control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedNote("note text is not valid Unicode") from exc


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: ``text``, a blank line, one signature line per signer."""
    _check_text(text)
    if not signers:
        raise NoteError("a signed note needs at least one signer")
    message = text.encode("utf-8")
    lines = []
    for signer in signers:
        blob = signer.verifier().key_id + signer.sign(message)
        lines.append(f"{SIG_PREFIX}{signer.name} {b64std(blob)}\n")
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class OpenedNote:
    """A note whose signature by at least one trusted key verified."""

    text: str
    verified_by: tuple[str, ...]


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> OpenedNote:
    """Check a signed note against trusted keys; raises a NoteError subclass on rejection."""
    if not note.endswith("\n") or _CONTROL_RE.search(note):
        raise MalformedNote("note must end in a newline and hold no control characters")
    # signed-note: the text is separated from the signatures by the last empty line.
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNote("note has no blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    sig_lines = sig_block[:-1].split("\n")
    if not sig_block or len(sig_lines) > MAX_SIGNATURES:
        raise MalformedNote("note has no signatures, or too many")
    message = text.encode("utf-8")
    verified: list[str] = []
    for line in sig_lines:
        if not line.startswith(SIG_PREFIX):
            raise MalformedNote("signature line does not start with an em dash and a space")
        name_b64 = line[len(SIG_PREFIX) :].split(" ")
        if len(name_b64) != 2:
            raise MalformedNote("signature line is not '— name signature'")
        name, b64 = name_b64
        blob = b64std_decode(b64)
        if len(blob) < 5:
            raise MalformedNote("signature too short")
        sig_id, signature = blob[:4], blob[4:]
        for verifier in verifiers:
            # signed-note: only the (name, key ID) pair identifies a known key.
            if verifier.name == name and verifier.key_id == sig_id:
                if not verifier.verify(message, signature):
                    raise BadSignature(f"signature by {name} does not verify")
                verified.append(name)
    if not verified:
        raise UnknownKey("no signature by a trusted key")
    return OpenedNote(text=text, verified_by=tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size and RFC 6962 root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL_RE.search(self.origin):
            raise MalformedNote("origin must be one non-empty line")
        if type(self.size) is not int or not 0 <= self.size < 2**64:
            raise MalformedNote("tree size must be an unsigned 64-bit integer")
        if len(self.root) != HASH_SIZE:
            raise MalformedNote(f"root hash must be {HASH_SIZE} bytes")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL_RE.search(line):
                raise MalformedNote("extension lines must be non-empty single lines")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines; each ends in \\n."""
        lines = [self.origin, str(self.size), b64std(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a tlog-checkpoint note text; MalformedNote unless it is exactly that format."""
    if not text.endswith("\n"):
        raise MalformedNote("checkpoint must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedNote("checkpoint needs origin, size and root lines")
    origin, size, root_b64, *extensions = lines
    if _SIZE_RE.fullmatch(size) is None:
        raise MalformedNote("tree size is not a decimal without leading zeros")
    return Checkpoint(origin, int(size), b64std_decode(root_b64), tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed-note form of ``checkpoint``."""
    return sign_note(checkpoint.body(), [signer])


def open_checkpoint(
    note: str, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint against trusted keys and parse it.

    Raises UnknownKey, BadSignature or MalformedNote (all NoteError); with ``origin``,
    a checkpoint of another log is MalformedNote too.
    """
    opened = open_note(note, verifiers)
    checkpoint = parse_checkpoint_body(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise MalformedNote(f"checkpoint is for {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint


def checkpoint_due(
    *,
    size: int,
    last_size: int,
    last_at: datetime | None,
    now: datetime,
    every_entries: int,
    every: timedelta,
    erasure: bool = False,
) -> bool:
    """Whether the log should sign a new checkpoint now.

    Due when entries arrived since the last checkpoint (``last_size``, signed at
    ``last_at``; None: never) and any of: an erasure just happened (so the tombstone is
    covered at once), ``every_entries`` accumulated, ``every`` elapsed, or none was signed yet.
    """
    if size <= last_size:
        return False
    return erasure or size - last_size >= every_entries or last_at is None or now - last_at >= every
