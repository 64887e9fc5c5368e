"""The streaming reverse proxy: one ASGI callable in front of the configured upstream.

Bodies stream both ways in chunks (flat memory for any size); the upstream pool is one aiohttp
`ClientSession` with keep-alive. Header policy lives in `gateway.http.headers` and
`gateway.http.forwarded`, target checks in `gateway.http.target`; this module only moves bytes
and maps upstream failures to `gateway.http.error_pages` (502 unreachable, 504 timeout, never a
traceback).
Non-HTML responses, HEAD, 204 and 304 pass byte-for-byte; 2xx `text/html` goes through the HTML
pipeline when a stage factory is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway.html import page_type
from gateway.html.compression import (
    BodyDecodeError,
    make_decoder,
    parse_content_encoding,
    upstream_accept_encoding,
)
from gateway.html.response import rewrite_html
from gateway.html.stage import Stage
from gateway.http import error_pages, target
from gateway.http.forwarded import FORWARDING, TrustedProxies, View, forwarding_fields, resolve
from gateway.http.headers import (
    Field,
    LocationRewriter,
    field_value,
    first_invalid_field,
    forwardable,
    varies_on,
)
from gateway.http.metrics import Counter
from gateway.proxy import websocket
from policies.models import GatewaySettings

log = logging.getLogger("consentgate.proxy")


class Exchange(Protocol):
    """What the gateway adds to one request/response pair (consent, personalization).

    The proxy asks for it once the client's view is known; it must never raise (a failing
    lookup gives an exchange that enforces defaults: consent fails closed).
    """

    def upstream_fields(self) -> list[tuple[str, str]]:
        """Fields added to the upstream request after hop-by-hop stripping."""
        ...

    def request_fields(self, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The client's fields as they may reach the upstream (e.g. gateway cookies removed)."""
        ...

    def response_fields(self, fields: list[Field], rewritten: bool) -> list[Field]:
        """The response fields to send (e.g. Set-Cookie filtered, cache headers added)."""
        ...

    def stages(self) -> Sequence[Stage]:
        """The HTML stages for a 2xx text/html body; empty means pass through untouched."""
        ...


ExchangeFactory = Callable[[Scope, str, View], Awaitable[Exchange]]

# Inbound fields we replace: Host names the upstream (nginx proxy_pass default), forwarding
# fields are rebuilt, Expect/100-continue was already answered by the ASGI server, and
# Accept-Encoding is narrowed to the codings the gateway can decode (`upstream_accept_encoding`).
_REQUEST_DROP = FORWARDING | {b"host", b"expect", b"accept-encoding"}
_WEBSOCKET_DROP = FORWARDING | {b"host", b"expect"} | websocket.HANDSHAKE
# aiohttp would otherwise invent these; the client's own fields must pass as given.
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
# RFC 9110 §6.4.1: no content in responses to HEAD, 1xx, 204 and 304.
_NO_BODY_STATUSES = frozenset({204, 304})
_REDIRECT_STATUSES = frozenset({201, 301, 302, 303, 307, 308})
_MAX_FIELD = 64 * 1024
_READY_TIMEOUT = 2.0


class Proxy:
    """ASGI app for `http` and `websocket` scopes that forwards to `settings.upstream`."""

    def __init__(self, settings: GatewaySettings, exchange: ExchangeFactory | None = None) -> None:
        self._settings = settings
        self._exchange = exchange
        self._base = settings.upstream
        parts = urlsplit(settings.upstream)
        # The upstream's own authority, as nginx's proxy_pass sends `Host: $proxy_host`.
        self._upstream_host = parts.netloc
        self._upstream_addr = (
            parts.hostname or "",
            parts.port or (443 if parts.scheme == "https" else 80),
        )
        self._ws_base = ("wss" if parts.scheme == "https" else "ws") + self._base[
            len(parts.scheme) :
        ]
        self._trusted = TrustedProxies(settings.trusted_proxies)
        self._locations = LocationRewriter(settings.upstream)
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.timeouts.connect, sock_read=settings.timeouts.read
        )
        self._ws_timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=settings.timeouts.read)
        self._session: aiohttp.ClientSession | None = None
        #: Pages answered 502 instead of passing unchecked, by reason (set by the app).
        self.withheld: Counter | None = None

    async def start(self) -> None:
        """Open the keep-alive pool (needs the running event loop)."""
        connector = aiohttp.TCPConnector(limit=self._settings.pool_size, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            # Privacy: a shared jar would replay one visitor's upstream cookies for another.
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            max_line_size=_MAX_FIELD,
            max_field_size=_MAX_FIELD,
        )

    async def close(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def upstream_reachable(self) -> bool:
        """True if a TCP connection to the upstream opens within a short timeout."""
        host, port = self._upstream_addr
        timeout = min(self._settings.timeouts.connect, _READY_TIMEOUT)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)

    # --- HTTP -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        head = method == "HEAD"
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        rejection = target.check(method, raw_path, query, self._settings.prefix)
        if rejection is not None:
            log.info("refused %s: %s", method, rejection.reason)
            await error_pages.send_error(send, rejection.status, head=head)
            return
        session = self._session
        if session is None:
            log.error("proxy used before start()")
            await error_pages.send_error(send, 502, head=head)
            return
        fields: list[Field] = scope["headers"]
        view, out_headers = self._upstream_headers(scope, fields, _REQUEST_DROP)
        accept = field_value(fields, b"accept-encoding")
        out_headers.append(
            (
                "Accept-Encoding",
                upstream_accept_encoding(accept.decode("latin-1") if accept else None),
            )
        )
        exchange = None
        if self._exchange is not None:
            client = scope.get("client")
            exchange = await self._exchange(scope, client[0] if client else "", view)
            out_headers = exchange.request_fields(out_headers)
            # Added after the client's hop-by-hop fields were stripped (RFC 9110 §7.6.1), so a
            # client-sent `Connection: X-Consent-State` cannot remove ours.
            out_headers.extend(exchange.upstream_fields())
        body = _RequestBody(receive) if _has_body(fields) else None
        try:
            response = await session.request(
                method,
                URL(target.upstream_url(self._base, raw_path, query), encoded=True),
                headers=out_headers,
                data=body.chunks() if body is not None else None,
                allow_redirects=False,
                compress=None,
            )
        except TimeoutError:
            log.warning("upstream timeout before response head: %s", method)
            await _try_error(send, 504, head)
            return
        except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
            log.warning("upstream unreachable: %s %s", method, type(exc).__name__)
            await _try_error(send, 502, head)
            return
        except Exception as exc:
            if body is not None and body.client_failed:
                # The client's body broke (malformed framing, or it aborted the upload).
                log.info("request body failed: %s %s", method, exc)
                await _try_error(send, 400, head)
            elif isinstance(exc, aiohttp.ClientError | OSError):
                # e.g. the upstream closed the connection mid-request.
                log.warning(
                    "upstream failed before response head: %s %s", method, type(exc).__name__
                )
                await _try_error(send, 502, head)
            else:
                log.exception("proxy failed before response head: %s", method)
                await _try_error(send, 502, head)
            return
        try:
            await self._respond(scope, send, response, head, view, exchange)
        finally:
            # Releases a fully read connection to the pool; an unfinished one is closed.
            response.release()

    def _upstream_headers(
        self, scope: Scope, fields: list[Field], drop: frozenset[bytes]
    ) -> tuple[View, list[tuple[str, str]]]:
        client = scope.get("client")
        view = resolve(client[0] if client else "", scope["scheme"], fields, self._trusted)
        kept = forwardable(fields, drop)
        if any(name == b"transfer-encoding" for name, _ in fields):
            # RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; never forward both.
            kept = [(n, v) for n, v in kept if n != b"content-length"]
        out: list[tuple[str, str]] = []
        for name, value in kept:
            text = target.wire_text(value)
            if text is None:
                # Not UTF-8 (obs-text, RFC 9110 §5.5): the upstream client cannot send these
                # bytes as they are, and a re-encoded value is one the client never sent.
                log.info("request field %r not forwarded: bytes that are not UTF-8", name[:64])
                continue
            out.append((name.decode("ascii"), text))
        out.append(("Host", self._upstream_host))
        out.extend(forwarding_fields(view))
        return view, out

    async def _respond(
        self,
        scope: Scope,
        send: Send,
        response: aiohttp.ClientResponse,
        head: bool,
        view: View,
        exchange: Exchange | None,
    ) -> None:
        try:
            headers, body = await self._response_head(scope, response, head, view, exchange)
        except UnreadablePage as exc:
            # Fail closed: a page the gateway cannot read never reaches the browser unchecked.
            log.warning("page withheld (%s): %s", exc.reason, exc.detail)
            if self.withheld is not None:
                self.withheld.inc((("reason", exc.reason),))
            await _try_error(send, 502, head, unreadable=True)
            return
        except InvalidResponseField as exc:
            log.warning("upstream response refused: %s", exc)
            await _try_error(send, 502, head)
            return
        except Exception:
            log.exception("proxy failed preparing the response head")
            await _try_error(send, 502, head)
            return
        sending = True  # tells a client that went away from an upstream or pipeline failure
        try:
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            if body is not None:
                sending = False
                async for chunk in body:
                    sending = True
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    sending = False
            sending = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception as exc:
            # Head already sent: all we can do is cut the connection so the client sees a
            # truncated body (missing bytes or final chunk), never a complete-looking one.
            if sending:
                log.info("client went away mid-response: %s", type(exc).__name__)
            elif isinstance(exc, aiohttp.ClientError | TimeoutError | BodyDecodeError):
                log.warning("upstream body aborted: %s", type(exc).__name__)
            else:
                log.exception("response body failed mid-stream")

    async def _response_head(
        self,
        scope: Scope,
        response: aiohttp.ClientResponse,
        head: bool,
        view: View,
        exchange: Exchange | None,
    ) -> tuple[list[Field], AsyncIterator[bytes] | None]:
        """The fields to send and the body to stream (None: the response has no content).

        Raises `UnreadablePage` for a page the gateway cannot read (fail closed), and
        `InvalidResponseField` for a response with a field that is not valid HTTP.
        """
        status = response.status
        invalid = first_invalid_field(response.raw_headers)
        if invalid is not None:
            # RFC 9110 §5.5: a control byte makes the field (so the message) invalid; the
            # server cannot send it on, and repairing it would pass a value the shop never sent.
            raise InvalidResponseField(invalid[0])
        headers = forwardable(response.raw_headers)
        if status in _REDIRECT_STATUSES:
            headers = self._rewrite_locations(headers, view.origin)
        body: AsyncIterator[bytes] | None = None
        rewritten = False
        if not (head or status in _NO_BODY_STATUSES or status < 200):
            body = response.content.iter_any()
            if exchange is not None:
                # Every status: browsers render a 404 or 500 page (and its trackers) as any other.
                headers, body, rewritten = await self._maybe_rewrite(scope, headers, body, exchange)
        if exchange is not None:
            headers = exchange.response_fields(headers, rewritten)
        return headers, body

    def _rewrite_locations(self, headers: list[Field], origin: bytes | None) -> list[Field]:
        return [
            (n, self._locations.rewrite(v, origin)) if n.lower() == b"location" else (n, v)
            for n, v in headers
        ]

    async def _maybe_rewrite(
        self, scope: Scope, headers: list[Field], body: AsyncIterator[bytes], exchange: Exchange
    ) -> tuple[list[Field], AsyncIterator[bytes], bool]:
        content_type = page_type.content_type(headers)
        encoding = field_value(headers, b"content-encoding")
        codings = parse_content_encoding(encoding.decode("latin-1") if encoding else None)
        if page_type.needs_sniffing(content_type):
            # The browser sniffs a body without a usable type (MIME Sniffing §7.1), so we do.
            if codings is None:
                raise UnreadablePage("coding", f"untyped body in Content-Encoding {encoding!r}")
            body, sniffed = await _sniff(body, codings, self._settings.max_html_bytes)
            if not sniffed:
                return headers, body, False
            content_type = b"text/html"
        elif page_type.essence_of(content_type) not in page_type.PAGE_TYPES:
            return headers, body, False
        stages = exchange.stages()
        if not stages:
            return headers, body, False
        if codings is None:
            raise UnreadablePage("coding", f"page in Content-Encoding {encoding!r}")
        # The scanner reads HTML; XHTML served as text/html is parsed by the browser with the
        # same HTML tokenizer, so the two cannot disagree on where a tag starts.
        effective = (content_type or b"text/html").decode("latin-1")
        essence, sep, params = effective.partition(";")
        if essence.strip().lower() != "text/html":
            effective = "text/html" + sep + params
        accept = field_value(scope["headers"], b"accept-encoding")
        rewrite = rewrite_html(
            body,
            content_type=effective,
            content_encoding=encoding.decode("latin-1") if encoding is not None else None,
            accept_encoding=accept.decode("latin-1") if accept is not None else None,
            stages=stages,
            max_decoded_bytes=self._settings.max_html_bytes,
        )
        if rewrite is None:  # pragma: no cover - type and coding were checked above
            raise UnreadablePage("type", effective)
        # One Content-Type, the one the page was read as: a browser must not pick another.
        replaced = (b"content-length", b"content-encoding", b"content-type")
        kept = [(n, v) for n, v in headers if n.lower() not in replaced]
        kept.append((b"content-type", (rewrite.content_type or effective).encode("latin-1")))
        if rewrite.content_encoding:
            kept.append((b"content-encoding", rewrite.content_encoding.encode("latin-1")))
        if not varies_on(kept, b"accept-encoding"):
            kept.append((b"vary", b"Accept-Encoding"))
        return kept, rewrite.body, True

    # --- WebSocket --------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        rejection = target.check("GET", raw_path, query, self._settings.prefix)
        if rejection is not None or self._session is None:
            await receive()
            await error_pages.send_websocket_error(
                send, rejection.status if rejection else 502, scope.get("extensions")
            )
            return
        view, headers = self._upstream_headers(scope, scope["headers"], _WEBSOCKET_DROP)
        if self._exchange is not None:
            # As for HTTP: the client's own consent-state header (and console cookie) never
            # reaches the shop; the gateway's, for this visitor, does.
            client = scope.get("client")
            exchange = await self._exchange(scope, client[0] if client else "", view)
            headers = exchange.request_fields(headers)
            headers.extend(exchange.upstream_fields())
        url = target.upstream_url(self._ws_base, raw_path, query)
        try:
            await websocket.relay(
                self._session, url, headers, scope, receive, send, self._ws_timeout
            )
        except Exception:
            log.exception("websocket relay failed")


def _has_body(fields: list[Field]) -> bool:
    # RFC 9112 §6.3: a request has content only if it carries Transfer-Encoding or a
    # non-zero Content-Length; anything else must not make us send a chunked empty body.
    for name, value in fields:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
    return False


class _RequestBody:
    """The client's body streamed upstream, remembering whether the *client* side failed (it
    went away, or the server refused its framing: a bare-LF chunk, an overflowing chunk size),
    so that failure is answered 400 and not blamed on the upstream as a 502."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.client_failed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                message = await self._receive()
            except Exception as exc:
                self.client_failed = True
                raise ConnectionResetError(f"request body unreadable: {exc}") from exc
            if message["type"] == "http.disconnect":
                self.client_failed = True
                raise ConnectionResetError("client went away during the request body")
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


class InvalidResponseField(Exception):
    """An upstream response field that is not valid HTTP (RFC 9110 §5.1, §5.5): answered 502."""

    def __init__(self, name: bytes) -> None:
        # The name only: a value may carry a cookie or other personal data.
        super().__init__(f"invalid field {name[:64]!r} (RFC 9110 §5.5)")


class UnreadablePage(Exception):
    """A page the gateway cannot read (an unknown content coding): answered 502, never passed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


async def _sniff(
    body: AsyncIterator[bytes], codings: list[str], max_decoded_bytes: int
) -> tuple[AsyncIterator[bytes], bool]:
    """Read enough of `body` to sniff it; the same bytes come out again first."""
    read: list[bytes] = []
    decoder = make_decoder(codings, max_decoded_bytes)
    decoded = b""
    async for chunk in body:
        read.append(chunk)
        decoded += b"".join(decoder.decode(chunk))
        if len(decoded) >= page_type.SNIFF_BYTES:
            break

    async def replay() -> AsyncIterator[bytes]:
        for chunk in read:
            yield chunk
        async for chunk in body:
            yield chunk

    return replay(), page_type.sniffs_as_page(decoded[: page_type.SNIFF_BYTES])


async def _try_error(send: Send, status: int, head: bool, *, unreadable: bool = False) -> None:
    # The client may already be gone (it aborted its upload); nothing is left to tell it.
    try:
        if unreadable:
            await error_pages.send_unreadable(send, head=head)
        else:
            await error_pages.send_error(send, status, head=head)
    except Exception as exc:
        log.info("could not send %s page: %s", status, type(exc).__name__)
