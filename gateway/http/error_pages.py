"""The small, self-contained HTML pages the gateway answers with when it cannot proxy.

No external assets, no request data echoed back (nothing to inject), never a traceback.
Pages are rendered once at import; sending one costs two ASGI messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gateway.http.security import security_fields
from gateway.http.target import ALLOWED_METHODS

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_TITLES = {
    400: ("Bad Request", "The request could not be understood by the gateway."),
    405: ("Method Not Allowed", "This method is not accepted here."),
    502: ("Bad Gateway", "The shop could not be reached. Please try again in a moment."),
    504: ("Gateway Timeout", "The shop took too long to answer. Please try again in a moment."),
}

#: The pages' one inline style; its hash is the only style source their CSP allows.
STYLE = """body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;
color:#222}h1{font-size:1.4rem}p{color:#555}"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{status} {title}</title>
<style>{style}</style></head>
<body><h1>{status} {title}</h1><p>{text}</p></body></html>
"""
# The gateway's own page on a proxied path: never framed, no script, only its own style.
_SECURITY = security_fields((STYLE,), ())


def render(status: int) -> bytes:
    """The page body for one of the statuses in `_TITLES` (400, 405, 502, 504)."""
    title, text = _TITLES[status]
    return _TEMPLATE.format(status=status, title=title, text=text, style=STYLE).encode("utf-8")


_PAGES = {status: render(status) for status in _TITLES}
# A page in a form the gateway cannot read (an unknown content coding) is withheld: served as
# is, its trackers would load unchecked.
_UNREADABLE = _TEMPLATE.format(
    status=502,
    style=STYLE,
    title="Bad Gateway",
    text="The shop sent this page in a form the gateway cannot read, so it was withheld "
    "rather than shown with its trackers unchecked. Please try again in a moment.",
).encode("utf-8")


def headers(status: int, length: int) -> list[tuple[bytes, bytes]]:
    """Response fields for an error page of `length` bytes."""
    fields = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(length).encode("ascii")),
        # Errors are transient: no cache may keep one in place of the shop's page.
        (b"cache-control", b"no-store"),
        *_SECURITY,
    ]
    if status == 405:
        # RFC 9110 §15.5.6: a 405 carries Allow.
        fields.append((b"allow", ALLOWED_METHODS.encode("ascii")))
    return fields


async def send_error(send: Send, status: int, *, head: bool = False) -> None:
    """Answer an ASGI HTTP request with the error page for `status` (no body for HEAD)."""
    body = _PAGES[status]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers(status, len(body))}
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_unreadable(send: Send, *, head: bool = False) -> None:
    """Answer 502 for a page the gateway could not read (see `_UNREADABLE`)."""
    await send(
        {
            "type": "http.response.start",
            "status": 502,
            "headers": headers(502, len(_UNREADABLE)),
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else _UNREADABLE})


async def send_websocket_error(send: Send, status: int, extensions: object) -> None:
    """Refuse a WebSocket handshake: the HTML page if the server supports
    `websocket.http.response` (ASGI spec 2.4 extension), else a plain close (HTTP 403)."""
    if isinstance(extensions, dict) and "websocket.http.response" in extensions:
        body = _PAGES[status]
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": headers(status, len(body)),
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1011})
