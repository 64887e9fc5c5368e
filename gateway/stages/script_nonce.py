"""The page's CSP nonce, reused on the scripts the gateway adds.

A storefront whose Content-Security-Policy allows inline scripts only by nonce (CSP Level 3
§6.7.3.1: `script-src 'nonce-…'`) would block the banner's and the placeholders' scripts.
The page's own scripts carry that per-response nonce in the markup the gateway streams, so the
first one seen before an insertion point is put on ours. (A page without a nonce gets none; a
shop CSP by hash would need the hashes of our scripts added by the operator. The gateway's own
policy, `gateway.csp.policy`, carries them.)
"""

from __future__ import annotations

from gateway.html.stage import StartTag

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")


def nonce_of(tag: StartTag) -> str | None:
    """The `nonce` of a `<script>` start tag, if it has a well-formed one (CSP §2.3.1:
    base64 or base64url characters only; anything else would not match a policy anyway)."""
    if tag.name != "script":
        return None
    value = (tag.get("nonce") or "").strip()
    return value if value and len(value) <= 256 and set(value) <= _SAFE else None


def with_nonce(html: str, nonce: str | None) -> str:
    """`html` (the gateway's own markup, whose only `<script` are its script tags) with
    `nonce` on every script element."""
    if not nonce:
        return html
    return html.replace("<script", f'<script nonce="{nonce}"')
