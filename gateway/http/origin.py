"""Refusing cross-site posts to the privacy routes (OWASP CSRF Prevention Cheat Sheet).

A foreign `Origin` or `Sec-Fetch-Site` is refused outright; a post without `Origin` (or with
`null`: sandboxed frames, cross-site redirects) counts as cross-site unless it carries a token
minted for this very visitor and action (checked by the caller's `token_valid`).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from gateway.http.errors import HttpError

# Fetch Metadata: what a same-origin page or a typed URL / bookmark sends.
_SAME_SITE = frozenset({"same-origin", "none"})


def refuse_cross_site(
    request: Request, expected_origin: bytes | None, token_valid: Callable[[], bool]
) -> None:
    """Raise a 403 `HttpError` naming the reason unless the post is same-site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        if expected_origin is None or origin.encode("latin-1", "replace") != expected_origin:
            raise HttpError(403, "cross-site request refused (Origin does not match)")
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in _SAME_SITE:
        raise HttpError(403, "cross-site request refused (Sec-Fetch-Site)")
    if not token_valid():
        raise HttpError(
            403,
            "missing or invalid CSRF token: a request without Origin needs the token"
            " of this browser's own page",
        )
