"""`gateway.personalization.preview_links` on ASGI scopes: the token leaves the query, and its
status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.personalization.preview_links import SCOPE_KEY, PreviewLinks, PreviewStatus
from personalization_rules.preview import PreviewGrant, mint, preview_key

MASTER = bytes(range(32))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def scope(path: str, query: bytes) -> dict[str, object]:
    return {"type": "http", "path": path, "query_string": query, "headers": []}


def test_detach_keeps_other_parameters_and_the_original_scope() -> None:
    original = scope("/", b"a=1&cg_preview=TOKEN&b=2")
    detached = PreviewLinks.detach(original)
    assert detached["query_string"] == b"a=1&b=2"
    assert detached[SCOPE_KEY] == "TOKEN"
    assert original["query_string"] == b"a=1&cg_preview=TOKEN&b=2"  # not mutated
    plain = scope("/", b"a=1")
    assert PreviewLinks.detach(plain) is plain


def test_status() -> None:
    links = PreviewLinks(MASTER)
    expires = int((NOW + timedelta(hours=1)).timestamp())
    token = mint(preview_key(MASTER), PreviewGrant("/p", expires, {"e": "v"}))
    assert links.status(scope("/p", b""), NOW) is None  # no token, no header
    ok = links.status(PreviewLinks.detach(scope("/p", b"cg_preview=" + token.encode())), NOW)
    assert ok is not None and ok.grant is not None and ok.grant.variants == {"e": "v"}
    assert ok.header_value() == b"on"
    other = links.status(PreviewLinks.detach(scope("/q", b"cg_preview=" + token.encode())), NOW)
    assert other == PreviewStatus(None, "other path")
    assert other.header_value() == b"invalid (other path)"
    wrong_key = PreviewLinks(bytes(32)).status(
        PreviewLinks.detach(scope("/p", b"cg_preview=" + token.encode())), NOW
    )
    assert wrong_key == PreviewStatus(None, "bad signature")
