"""The console's session cookie names, and the `Cookie` field the proxy sends upstream without them.

Here rather than in `gateway.console`: the proxy needs them, and the proxy does not depend on the
console.
"""

from __future__ import annotations

CONSOLE_COOKIE = "cg_admin"
CONSOLE_HOST_COOKIE = "__Host-cg_admin"


def without_console_cookies(cookie_header: str) -> str:
    """A `Cookie` field value without the console's session cookies.

    The proxy must send this upstream: on HTTPS the `__Host-` cookie has `Path=/`, so the
    browser sends it with storefront requests too, and the shop must never see an officer's
    session token.
    """
    kept = [
        part
        for part in cookie_header.split(";")
        if part.strip().partition("=")[0].strip() not in (CONSOLE_COOKIE, CONSOLE_HOST_COOKIE)
    ]
    return ";".join(kept).strip()
