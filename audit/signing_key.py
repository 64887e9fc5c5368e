"""The checkpoint signing key on disk, and its exportable public half.

Files (both one line, ``audit.checkpoint`` key strings, the golang.org/x/mod/sumdb/note
encoding):

* ``<file>``:     ``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || seed)>\\n``, mode 0600
* ``<file>.pub``: ``<name>+<8 hex key ID>+<base64(0x01 || public key)>\\n``, mode 0644 —
  hand it to whoever runs ``consentgate audit verify`` or keeps a witness copy

Generated at first start when missing. Two processes starting together race on
``O_EXCL``: the loser reads the winner's key, so every node signs with the same key.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from audit.checkpoint import (
    NoteError,
    NoteSigner,
    NoteVerifier,
    parse_signer_key,
    parse_verifier_key,
)

Random = Callable[[int], bytes]


class SigningKeyError(ValueError):
    """A key file is missing, unreadable or not a key string."""


def public_key_path(signing_key_file: Path) -> Path:
    """Where the public key is written next to the signing key: ``<file>.pub``."""
    return signing_key_file.with_name(signing_key_file.name + ".pub")


def read_signer(path: Path) -> NoteSigner:
    """The signer in ``path``; SigningKeyError if it is absent or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror or exc}") from None
    try:
        return parse_signer_key(text)
    except NoteError as exc:
        raise SigningKeyError(f"{path}: {exc}") from None


def read_verifier(path: Path) -> NoteVerifier:
    """A public key file: a verifier key string, or a signing key (its public half is used)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SigningKeyError(f"cannot read public key {path}: {exc.strerror or exc}") from None
    try:
        if text.startswith("PRIVATE+KEY+"):
            return parse_signer_key(text).verifier()
        return parse_verifier_key(text)
    except NoteError as exc:
        raise SigningKeyError(f"{path}: {exc}") from None


def load_or_create_signer(path: Path, name: str, rand: Random = os.urandom) -> NoteSigner:
    """The signing key in ``path``; generated (with ``<file>.pub``) when the file is missing.

    ``name`` is the signed-note key name of a new key (an existing key keeps its own).
    """
    if path.exists():
        return read_signer(path)
    signer = NoteSigner(name, rand(32))
    # Write a private temp file, then link it into place: link() fails if the name exists,
    # so a node racing us never reads a half-written key, and the loser adopts the winner's.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{rand(4).hex()}.tmp")
    try:
        _write_new(tmp, signer.to_string(), 0o600)  # whoever reads it can forge checkpoints
        try:
            os.link(tmp, path)
        except FileExistsError:
            return read_signer(path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(FileExistsError):
        _write_new(public_key_path(path), signer.verifier().to_string(), 0o644)
    return signer


def _write_new(path: Path, line: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
