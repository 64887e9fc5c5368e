"""Load the master key that seals the pseudonym keyring and per-subject audit keys.

Order: `$CONSENTGATE_MASTER_KEY` (base64 of 32 bytes), then the file named by
`$CONSENTGATE_MASTER_KEY_FILE`, then the config's `keys.master_key_file`, which is created
(mode 0600, 32 random bytes as base64) on first start so the demo and a first install need no
setup. Production keeps it in a secret manager and passes it through the environment.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path

from consent.pseudonyms import MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, parse_master_key


def load_master_key(configured: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The 32-byte master key (see the module docstring for where it comes from)."""
    env = os.environ if environ is None else environ
    if env.get(MASTER_KEY_ENV):
        return parse_master_key(env[MASTER_KEY_ENV])
    path = Path(env[MASTER_KEY_FILE_ENV]) if env.get(MASTER_KEY_FILE_ENV) else configured
    try:
        return parse_master_key(path.read_bytes())
    except FileNotFoundError:
        pass
    key = os.urandom(32)
    try:
        # O_EXCL: two workers starting together must not both write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_master_key(path.read_bytes())
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64encode(key) + b"\n")
    return key
