"""Preview links on the request path: `?cg_preview=TOKEN` (tokens: `personalization_rules.preview`).

`detach(scope)` runs before the proxy: the parameter is cut from the query the storefront
receives and the token kept in the scope. `status(scope)` verifies it for the request's path.

A token that does not verify (tampered, expired, minted for another path, signed with another
key) is ignored and the page is served as to anyone else, with `X-Consentgate-Preview:
invalid (REASON)`. Not a 4xx: a preview link pasted into a live storefront, a chat or an old
e-mail must never break the shop's page for whoever follows it, and a valid token only ever
changes what one response shows, so refusing gains no security. The header tells the
operator why their preview did not take.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from starlette.types import Scope

from personalization_rules.preview import PreviewGrant, PreviewInvalid, detach, preview_key, verify

SCOPE_KEY: Final = "consentgate.preview"
HEADER: Final = b"x-consentgate-preview"


@dataclass(frozen=True)
class PreviewStatus:
    """One request's preview: the grant, or why there is none."""

    grant: PreviewGrant | None
    reason: str | None = None

    def header_value(self) -> bytes:
        """`on` for a granted preview, else `invalid (REASON)`."""
        return b"on" if self.grant is not None else f"invalid ({self.reason})".encode("ascii")


class PreviewLinks:
    """Built once per app from the master key (the preview key is derived, never stored)."""

    def __init__(self, master_key: bytes) -> None:
        self._key = preview_key(master_key)

    @staticmethod
    def detach(scope: Scope) -> Scope:
        """`scope` without `cg_preview` in its query; the token under SCOPE_KEY."""
        query: bytes = scope.get("query_string", b"")
        kept, token = detach(query)
        if token is None:
            return scope
        return {**scope, "query_string": kept, SCOPE_KEY: token}

    def status(self, scope: Scope, now: datetime | None = None) -> PreviewStatus | None:
        """None without a token; else the verified grant or the reason it was refused."""
        token = scope.get(SCOPE_KEY)
        if token is None:
            return None
        try:
            grant = verify(self._key, token, scope["path"], now or datetime.now(UTC))
        except PreviewInvalid as exc:
            return PreviewStatus(None, str(exc))
        return PreviewStatus(grant)
