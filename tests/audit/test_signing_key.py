"""`audit.signing_key`: the checkpoint key file, generated once, and its public half."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit.checkpoint import NoteSigner
from audit.signing_key import (
    SigningKeyError,
    load_or_create_signer,
    public_key_path,
    read_signer,
    read_verifier,
)


def test_generates_a_private_key_and_a_public_file(tmp_path: Path) -> None:
    path = tmp_path / "audit-signing.key"
    signer = load_or_create_signer(path, "shop/audit", rand=lambda n: b"\x11" * n)
    assert signer.name == "shop/audit" and signer.seed == b"\x11" * 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == signer.to_string() + "\n"
    pub = public_key_path(path)
    assert pub.name == "audit-signing.key.pub"
    assert pub.read_text() == signer.verifier().to_string() + "\n"
    assert read_verifier(pub) == signer.verifier()
    assert read_verifier(path) == signer.verifier()  # the private file works as well
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_existing_key_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "k"
    first = load_or_create_signer(path, "a", rand=os.urandom)
    again = load_or_create_signer(path, "other-name", rand=os.urandom)
    assert again.seed == first.seed and again.name == "a"
    assert read_signer(path).seed == first.seed


def test_race_loser_adopts_the_winners_key(tmp_path: Path) -> None:
    path = tmp_path / "k"
    winner = NoteSigner("a", b"\x01" * 32)

    def rand(n: int) -> bytes:
        # Another node links its key into place while we generate ours.
        if not path.exists():
            path.write_text(winner.to_string() + "\n")
        return b"\x02" * n

    assert load_or_create_signer(path, "a", rand=rand).seed == winner.seed


@pytest.mark.parametrize(
    "content",
    ["", "PRIVATE+KEY+a+00000000+AQ==", "not a key", "a+zz+AAAA"],
)
def test_malformed_key_files_are_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "k"
    path.write_text(content)
    with pytest.raises(SigningKeyError):
        read_signer(path)
    with pytest.raises(SigningKeyError):
        read_verifier(path)


def test_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="cannot read signing key"):
        read_signer(tmp_path / "absent")
    with pytest.raises(SigningKeyError, match="cannot read public key"):
        read_verifier(tmp_path / "absent")
