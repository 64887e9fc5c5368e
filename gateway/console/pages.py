"""Rendering and request plumbing shared by the console's pages.

Every page gets the same security headers: `Cache-Control: no-store` (officer data must not
linger in caches), a CSP without any script source (the console has none), no framing
(clickjacking), no referrer (console URLs carry filters such as subject ids).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.console.auth import Session
from gateway.http.body import media_type, parse_form, read_body
from gateway.http.errors import HttpError

MAX_FORM = 8 * 1024
CSS = (Path(__file__).parent / "templates" / "console.css").read_text(encoding="utf-8")
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}
_HEADINGS = {403: "Forbidden", 404: "Not found", 429: "Too many attempts"}

_ENV = Environment(
    loader=PackageLoader("gateway.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    base: str, template: str, status: int = 200, session: Session | None = None, **values: Any
) -> HTMLResponse:
    """A console page with the security headers; `csrf` comes from the session if any."""
    values.setdefault("page", None)
    html = _ENV.get_template(template).render(
        base=base,
        user=session.user if session else None,
        csrf=session.csrf if session else values.pop("csrf", ""),
        **values,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(base: str, exc: HttpError, session: Session | None) -> Response:
    """The page for an `HttpError` (never a traceback)."""
    heading = _HEADINGS.get(exc.status, "Error" if exc.status < 500 else "Unavailable")
    response = render(base, "error.html", exc.status, session, heading=heading, message=exc.reason)
    response.headers.update(exc.headers)
    return response


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (first value of each field); `HttpError` 4xx otherwise."""
    if media_type(request) != "application/x-www-form-urlencoded":
        raise HttpError(415, "Send a form (application/x-www-form-urlencoded).")
    parsed = parse_form(await read_body(request, MAX_FORM), max_fields=32)
    return {k: v[0] for k, v in parsed.items()}


def parse_filter_time(value: str) -> datetime | None:
    """A filter time: empty (None), a date (midnight UTC), `YYYY-MM-DDTHH:MM[:SS]` (UTC, as a
    `datetime-local` field sends it) or RFC 3339 with an offset. ValueError otherwise."""
    text = value.strip()
    if not text:
        return None
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def safe_next(value: str | None, base: str) -> str:
    """Where to go after login: a console path, else the audit log (no open redirect)."""
    if (
        value
        and value.startswith(base + "/")
        and not value.startswith("//")
        and len(value) <= 2048
        and not any(c in value for c in "\r\n\t\x00\\")
    ):
        return value
    return f"{base}/audit"
