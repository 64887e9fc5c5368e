import base64
import os
import stat
from pathlib import Path

import pytest

from consent.master_key import load_master_key
from consent.pseudonyms import KeyringError


def test_created_once_with_owner_only_mode(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = load_master_key(path, {})
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_master_key(path, {}) == first


def test_environment_wins(tmp_path: Path) -> None:
    key = bytes(range(32))
    env = {"CONSENTGATE_MASTER_KEY": base64.b64encode(key).decode()}
    assert load_master_key(tmp_path / "unused.key", env) == key
    assert not (tmp_path / "unused.key").exists()


def test_file_named_by_environment(tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_text(base64.b64encode(b"k" * 32).decode())
    assert load_master_key(tmp_path / "x", {"CONSENTGATE_MASTER_KEY_FILE": str(other)}) == b"k" * 32


def test_bad_key_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not base64 at all!")
    with pytest.raises(KeyringError):
        load_master_key(bad, {})
