"""Officers' download links for a subject's data-subject bundle: signed, sealed, expiring.

An officer answering an access request opens the subject's timeline in the console and gets a
link they can hand on (or open on another machine) without a console session. The link is a
bearer token, so it is:

- **sealed**: AES-256-GCM under `download_key(master)` = HKDF-SHA256(master key,
  info=b"consentgate officer-download v1"), a label used for nothing else. The payload
  (subject reference, officer, expiry) is unreadable in logs or browser history, and any
  changed byte fails authentication (403);
- **expiring**: `exp` (Unix seconds) is inside the sealed payload; past it the link answers
  410 Gone with the reason;
- **audited**: every download goes through `DsrService.export`, which records a tracked
  request and a `dsr.export` audit entry naming the officer (`officer:NAME`).

Token: ``"d1." + b64url(nonce(12) + ciphertext+tag)`` (RFC 4648 §5, no padding).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION: Final = "d1"
KEY_INFO: Final = b"consentgate officer-download v1"
DEFAULT_TTL: Final = timedelta(hours=24)
MAX_TOKEN: Final = 1024


def download_key(master_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(master_key)


@dataclass(frozen=True)
class Grant:
    subject_ref: str
    officer: str
    expires: datetime


class LinkRefused(Exception):
    """Why a token does not open: `status` 403 (not ours / tampered) or 410 (expired)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class DownloadLinks:
    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(download_key(master_key))

    def mint(
        self, subject_ref: str, officer: str, now: datetime, ttl: timedelta = DEFAULT_TTL
    ) -> str:
        payload = json.dumps(
            {"r": subject_ref, "o": officer, "exp": int((now + ttl).timestamp())},
            separators=(",", ":"),
        ).encode()
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, payload, VERSION.encode())
        return f"{VERSION}.{base64.urlsafe_b64encode(sealed).rstrip(b'=').decode()}"

    def open(self, token: str, now: datetime) -> Grant:
        if len(token) > MAX_TOKEN or not token.startswith(VERSION + "."):
            raise LinkRefused(403, "not a download link of this gateway")
        body = token[len(VERSION) + 1 :]
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            payload = json.loads(self._aead.decrypt(sealed[:12], sealed[12:], VERSION.encode()))
            grant = Grant(
                str(payload["r"]),
                str(payload["o"]),
                datetime.fromtimestamp(int(payload["exp"]), UTC),
            )
        except (binascii.Error, ValueError, InvalidTag, KeyError, TypeError) as exc:
            raise LinkRefused(403, "download link is damaged or was not issued here") from exc
        if now >= grant.expires:
            raise LinkRefused(410, f"download link expired at {grant.expires.isoformat()}")
        return grant
