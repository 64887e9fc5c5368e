"""Security fields on every response the gateway answers itself (never on proxied shop pages).

`PageSecurity` wraps the app that answers the reserved prefix, so no route can forget them:

- `Content-Security-Policy`: `default-src 'none'`, no script source at all (no page of the
  gateway runs a script), inline styles only by their SHA-256 (CSP3 §2.3.1 hash-source,
  computed once at start-up from the style texts the templates carry), forms post only to
  this origin, `base-uri 'none'`, and `frame-ancestors` (CSP3 §6.4.2): `'none'`, or the
  origins in `gateway.embed_origins` for the visitor pages (the compliance console is never
  framed). A route's own policy is kept as a second one; browsers enforce both (CSP3 §8.1).
- `X-Frame-Options: DENY` (or `SAMEORIGIN` when only `'self'` may frame) for browsers without
  `frame-ancestors`; left out when other origins may frame, which it cannot express and which
  `frame-ancestors` overrides anyway (HTML Standard, "The `X-Frame-Options` header").
- `X-Content-Type-Options: nosniff` on every response, JSON and text too (Fetch,
  "X-Content-Type-Options header": a script or style load of a JSON answer is then refused
  instead of sniffed).
- `Referrer-Policy: same-origin`: links that leave the site (the shop's privacy policy) carry
  no Referer, so no gateway URL leaks off-site; same-origin requests keep it, and with it the
  gateway's own form posts keep their `Origin` (no-referrer would make it `null`: Fetch,
  "serializing a request origin"), which the consent endpoint checks first.

The console (`prefix/admin`) gets `no-referrer`: its URLs carry subject filters and signed
download tokens. A field the route already set is left alone, except the CSP, which is added
in any case.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http.headers import Field

CSP = b"content-security-policy"
FRAME_OPTIONS = b"x-frame-options"
SELF = "'self'"


def style_hash(text: str) -> str:
    """The CSP hash-source of one inline `<style>` element's text: `'sha256-BASE64'`.

    CSP3 "Does element match source list for type and source?": the digest is over the UTF-8
    bytes of the element's text content as delivered, so `text` must be exactly what the page
    carries between the tags.
    """
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def policy(
    styles: Iterable[str], frame_ancestors: Sequence[str], *, stylesheets: bool = False
) -> str:
    """A CSP for a gateway page: nothing but the listed inline styles (and, with `stylesheets`,
    style sheets from this origin), same-origin form posts, framed only by `frame_ancestors`."""
    style_sources = ([SELF] if stylesheets else []) + sorted({style_hash(s) for s in styles})
    directives = [
        "default-src 'none'",
        "style-src " + (" ".join(style_sources) or "'none'"),
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors " + (" ".join(frame_ancestors) or "'none'"),
        "base-uri 'none'",
    ]
    return "; ".join(directives)


def frame_options(frame_ancestors: Sequence[str]) -> bytes | None:
    """The `X-Frame-Options` value that says the same as `frame_ancestors`, if one can."""
    if not frame_ancestors:
        return b"DENY"
    if list(frame_ancestors) == [SELF]:
        return b"SAMEORIGIN"
    return None


def security_fields(
    styles: Iterable[str],
    frame_ancestors: Sequence[str],
    *,
    stylesheets: bool = False,
    referrer: bytes = b"same-origin",
) -> list[Field]:
    """Every field `PageSecurity` adds, for one kind of page."""
    fields = [
        (CSP, policy(styles, frame_ancestors, stylesheets=stylesheets).encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", referrer),
    ]
    framing = frame_options(frame_ancestors)
    if framing is not None:
        fields.append((FRAME_OPTIONS, framing))
    return fields


@dataclass(frozen=True)
class PagePolicy:
    """The fields for the visitor pages and for the compliance console (built at start-up)."""

    visitor: list[Field]
    console: list[Field]
    console_prefix: str

    @classmethod
    def build(cls, prefix: str, styles: Iterable[str], embed_origins: Sequence[str]) -> PagePolicy:
        """Fields for `prefix`: visitor pages may be framed by `embed_origins`, the console
        (`prefix/admin`, where officers act on people's data) never; it links its style sheet,
        and its URLs (filters by subject, signed download links) are sent to no one."""
        texts = tuple(styles)
        return cls(
            visitor=security_fields(texts, embed_origins),
            console=security_fields(texts, (), stylesheets=True, referrer=b"no-referrer"),
            console_prefix=prefix + "/admin",
        )

    def fields(self, path: str) -> list[Field]:
        """The fields for a response to `path`."""
        base = self.console_prefix
        if path.startswith(base) and (len(path) == len(base) or path[len(base)] == "/"):
            return self.console
        return self.visitor


class PageSecurity:
    """Pure ASGI middleware (no buffering): adds `PagePolicy` fields to each response head."""

    def __init__(self, app: ASGIApp, page_policy: PagePolicy) -> None:
        self.app = app
        self.policy = page_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.policy.fields(scope["path"])

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = with_fields(list(message.get("headers", ())), extra)
            await send(message)

        await self.app(scope, receive, secured)


def with_fields(headers: list[Field], extra: Sequence[Field]) -> list[Field]:
    """`headers` plus each of `extra` the route did not set itself; the CSP always."""
    present = {name.lower() for name, _ in headers}
    for name, value in extra:
        if name == CSP and (name, value) not in headers:
            headers.append((name, value))
        elif name not in present:
            headers.append((name, value))
    return headers
