"""Signed preview links: `?cg_preview=TOKEN` forces experiment arms or a visitor type for one
request, so an operator can check a page before a rule goes live. Pure: keys, `now` and the
path come in as arguments.

Key: `preview_key(master_key)` = HKDF-SHA256(ikm=master key, salt=none,
info=b"consentgate preview-link v1", length=32) (RFC 5869). The label is used for nothing
else, so a preview key never equals the CSRF, keyring or audit keys derived from the same
master key (one key, one purpose).

Token (ASCII, URL-safe without escaping, RFC 4648 §5 base64url without padding)::

    "p1." + b64url(payload) + "." + b64url(HMAC-SHA256(key, b"p1." + b64url(payload)))

    payload = UTF-8 JSON, keys sorted, no spaces:
      {"e": expiry (unix seconds), "p": the path it is valid for (no query),
       "t": forced visitor type (absent: not forced), "v": {experiment key: variant id}}

The path binds the link to one page: a token copied to another URL is refused. The query is
not bound (a storefront may add tracking parameters to any link).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PARAM: Final = "cg_preview"
VERSION: Final = "p1"
KEY_INFO: Final = b"consentgate preview-link v1"
MAX_TOKEN: Final = 2048  # longer query values are not ours: refused before any parsing
_MAC_BYTES: Final = 32


class PreviewInvalid(ValueError):
    """A token that does not grant a preview; `str(exc)` is the short reason shown in the
    `X-Consentgate-Preview` response header (never secret: malformed, bad signature, ...)."""


@dataclass(frozen=True)
class PreviewGrant:
    """What a valid token forces for its path until `expires` (unix seconds)."""

    path: str
    expires: int
    variants: Mapping[str, str] = field(default_factory=dict)
    visitor_type: str | None = None


def preview_key(master_key: bytes) -> bytes:
    """The dedicated 32-byte preview-link key (module docstring)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO)
    return hkdf.derive(master_key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text):
        raise PreviewInvalid("malformed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PreviewInvalid("malformed") from exc


_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()


def mint(key: bytes, grant: PreviewGrant) -> str:
    """The token for `grant` (format in the module docstring)."""
    payload: dict[str, object] = {"e": grant.expires, "p": grant.path, "v": dict(grant.variants)}
    if grant.visitor_type is not None:
        payload["t"] = grant.visitor_type
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    signed = f"{VERSION}.{_b64(body.encode('utf-8'))}"
    return f"{signed}.{_b64(_mac(key, signed))}"


def verify(key: bytes, token: str, path: str, now: datetime) -> PreviewGrant:
    """The grant of a token valid for `path` at `now`; PreviewInvalid with the reason."""
    if len(token) > MAX_TOKEN:
        raise PreviewInvalid("malformed")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise PreviewInvalid("malformed")
    signed = f"{parts[0]}.{parts[1]}"
    mac = _unb64(parts[2])
    # Signature before anything else is read: an attacker learns nothing from the payload path.
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(key, signed)):
        raise PreviewInvalid("bad signature")
    try:
        payload = json.loads(_unb64(parts[1]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # signed by us, so only a key mix-up
        raise PreviewInvalid("malformed") from exc
    grant = _grant(payload)
    if now.timestamp() >= grant.expires:
        raise PreviewInvalid("expired")
    if grant.path != path:
        raise PreviewInvalid("other path")
    return grant


def _grant(payload: object) -> PreviewGrant:
    if not isinstance(payload, dict):
        raise PreviewInvalid("malformed")
    expires, path = payload.get("e"), payload.get("p")
    variants, visitor_type = payload.get("v", {}), payload.get("t")
    if (
        not isinstance(expires, int)
        or isinstance(expires, bool)
        or not isinstance(path, str)
        or not isinstance(variants, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in variants.items())
        or not (visitor_type is None or isinstance(visitor_type, str))
    ):
        raise PreviewInvalid("malformed")
    return PreviewGrant(path, expires, variants, visitor_type)


def parse_ttl(text: str) -> int:
    """Seconds in a TTL like `90s`, `30m`, `1h`, `2d` (a bare number is seconds); ValueError
    for anything else."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    unit = units.get(text[-1:], None)
    number = text[:-1] if unit is not None else text
    if not number.isdigit():
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 1h or 2d")
    seconds = int(number) * (unit or 1)
    if seconds <= 0:
        raise ValueError("the TTL must be positive")
    return seconds


def detach(query: bytes) -> tuple[bytes, str | None]:
    """The query without any `cg_preview` parameter (the rest byte for byte, in order), and
    the first one's value (None when absent). The storefront never sees the token."""
    name = PARAM.encode("ascii")
    if name not in query:
        return query, None
    kept: list[bytes] = []
    token: str | None = None
    for pair in query.split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == name:
            if token is None:
                # base64url and "." need no escaping; anything escaped is not our token.
                token = value.decode("latin-1")
            continue
        kept.append(pair)
    return b"&".join(kept), token
