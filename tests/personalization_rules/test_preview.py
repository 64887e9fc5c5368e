"""Preview-link tokens: mint, verify, expiry, tampering, path binding; the query split."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from personalization_rules.preview import (
    KEY_INFO,
    PreviewGrant,
    PreviewInvalid,
    detach,
    mint,
    parse_ttl,
    preview_key,
    verify,
)

MASTER = bytes(range(32))
KEY = preview_key(MASTER)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EXPIRES = int((NOW + timedelta(hours=1)).timestamp())
GRANT = PreviewGrant("/product/umbrella", EXPIRES, {"welcome-copy": "free-shipping"}, "customer")


def test_round_trip() -> None:
    token = mint(KEY, GRANT)
    assert verify(KEY, token, "/product/umbrella", NOW) == GRANT


def test_token_is_url_safe_and_compact() -> None:
    token = mint(KEY, GRANT)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert token.startswith("p1.")
    assert len(token) < 200


def test_key_is_dedicated() -> None:
    # Derived with its own label: differs from the master key and from another label's key.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    other = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"other").derive(MASTER)
    assert KEY not in (MASTER, other) and len(KEY) == 32
    assert b"preview" in KEY_INFO
    assert preview_key(MASTER) == KEY  # deterministic: the CLI and every node agree


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (NOW + timedelta(hours=1), "expired"),  # the expiry instant itself is past
        (NOW + timedelta(days=2), "expired"),
    ],
)
def test_expiry(when: datetime, reason: str) -> None:
    with pytest.raises(PreviewInvalid, match=reason):
        verify(KEY, mint(KEY, GRANT), GRANT.path, when)


def test_valid_just_before_expiry() -> None:
    when = NOW + timedelta(minutes=59, seconds=59)
    assert verify(KEY, mint(KEY, GRANT), GRANT.path, when).visitor_type == "customer"


def test_other_path_refused() -> None:
    token = mint(KEY, GRANT)
    for path in ("/", "/product/umbrella/", "/product/UMBRELLA", "/product/umbrella2"):
        with pytest.raises(PreviewInvalid, match="other path"):
            verify(KEY, token, path, NOW)


def test_other_key_refused() -> None:
    token = mint(preview_key(bytes(32)), GRANT)
    with pytest.raises(PreviewInvalid, match="bad signature"):
        verify(KEY, token, GRANT.path, NOW)


def _payload(token: str) -> dict[str, object]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))  # type: ignore[no-any-return]


def _with_payload(token: str, payload: dict[str, object]) -> str:
    head, _, mac = token.split(".")
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return f"{head}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{mac}"


@pytest.mark.parametrize(
    "change",
    [
        {"e": EXPIRES + 86400},  # extend the expiry
        {"p": "/"},  # move it to another page
        {"t": "engaged"},  # force another profile
        {"v": {"welcome-copy": "control"}},  # another arm
    ],
)
def test_tampered_payload_refused(change: dict[str, object]) -> None:
    token = mint(KEY, GRANT)
    forged = _with_payload(token, {**_payload(token), **change})
    with pytest.raises(PreviewInvalid, match="bad signature"):
        verify(KEY, forged, str(change.get("p", GRANT.path)), NOW)


def test_every_bit_of_the_mac_matters() -> None:
    token = mint(KEY, GRANT)
    head, body, mac = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(mac + "="))
    for i in range(0, len(raw) * 8, 37):
        flipped = bytearray(raw)
        flipped[i // 8] ^= 1 << (i % 8)
        forged = f"{head}.{body}.{base64.urlsafe_b64encode(flipped).rstrip(b'=').decode()}"
        with pytest.raises(PreviewInvalid, match="bad signature"):
            verify(KEY, forged, GRANT.path, NOW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "p1",
        "p1..",
        "p2.e30.AAAA",
        "p1.e30",
        "p1.e30.AAAA.AAAA",
        "p1.e30.!!!!",
        "p1.e30." + "A" * 43,  # right length, wrong MAC
        "p1." + "A" * 3000 + ".AAAA",
    ],
)
def test_malformed_refused(token: str) -> None:
    with pytest.raises(PreviewInvalid):
        verify(KEY, token, "/", NOW)


def test_signed_but_wrong_shape_refused() -> None:
    # Only a key mix-up could produce this; the payload is still checked field by field.
    import hashlib
    import hmac

    raw = base64.urlsafe_b64encode(b'{"e":"soon","p":"/","v":{}}').rstrip(b"=").decode()
    signed = f"p1.{raw}"
    mac = hmac.new(KEY, signed.encode(), hashlib.sha256).digest()
    token = f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(PreviewInvalid, match="malformed"):
        verify(KEY, token, "/", NOW)


def test_grant_without_type_or_variants() -> None:
    grant = PreviewGrant("/", EXPIRES)
    token = mint(KEY, grant)
    assert "t" not in _payload(token)
    assert verify(KEY, token, "/", NOW) == grant


@pytest.mark.parametrize(
    ("query", "kept", "token"),
    [
        (b"", b"", None),
        (b"a=1&b=2", b"a=1&b=2", None),
        (b"cg_preview=T", b"", "T"),
        (b"a=1&cg_preview=T&b=2", b"a=1&b=2", "T"),
        (b"cg_preview=T&cg_preview=U", b"", "T"),  # every copy is cut; the first one counts
        (b"x_cg_preview=1&cg_preview=T", b"x_cg_preview=1", "T"),  # only the exact name
        (b"a=%20&cg_preview=", b"a=%20", ""),
        (b"cg_previewer=1", b"cg_previewer=1", None),
    ],
)
def test_detach(query: bytes, kept: bytes, token: str | None) -> None:
    assert detach(query) == (kept, token)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800), ("45", 45)]
)
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1w", "-1h", "0m", "1.5h", "soon"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ttl(text)
