"""WebSocket pass-through: ASGI `websocket` scope <-> aiohttp client connection upstream.

The handshake is made upstream first, so the client is only accepted once the shop accepted
(with the shop's chosen subprotocol). Messages then flow both ways until either side closes;
the close code travels to the other side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

from gateway.http import error_pages

log = logging.getLogger("consentgate.proxy")

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# RFC 6455 §7.4: the handshake fields are made fresh by our client for the upstream hop.
HANDSHAKE: frozenset[bytes] = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)

# RFC 6455 §7.4.1: 1005, 1006 and 1015 are reserved for reporting, never sent in a frame.
_UNSENDABLE = frozenset({1004, 1005, 1006, 1015})
_GOING_AWAY = 1001
_INTERNAL_ERROR = 1011


def sendable_code(code: int | None, fallback: int = 1000) -> int:
    """A close code that may appear in a Close frame (RFC 6455 §7.4)."""
    if code is None or code in _UNSENDABLE or not 1000 <= code <= 4999:
        return fallback
    return code


async def relay(
    session: aiohttp.ClientSession,
    url: str,
    headers: Sequence[tuple[str, str]],
    scope: MutableMapping[str, Any],
    receive: Receive,
    send: Send,
    timeout: aiohttp.ClientWSTimeout,
) -> None:
    """Proxy one WebSocket session; upstream failures refuse the handshake with 502/504."""
    if (await receive())["type"] != "websocket.connect":
        return
    try:
        upstream = await session.ws_connect(
            URL(url, encoded=True),
            headers=list(headers),
            protocols=tuple(scope.get("subprotocols") or ()),
            timeout=timeout,
            autoping=True,
            max_msg_size=16 * 1024 * 1024,
        )
    except aiohttp.WSServerHandshakeError as exc:
        log.warning("websocket upstream refused the handshake: status=%s", exc.status)
        await error_pages.send_websocket_error(send, 502, scope.get("extensions"))
        return
    except TimeoutError:
        log.warning("websocket upstream timed out")
        await error_pages.send_websocket_error(send, 504, scope.get("extensions"))
        return
    except (aiohttp.ClientError, OSError) as exc:
        log.warning("websocket upstream unreachable: %s", type(exc).__name__)
        await error_pages.send_websocket_error(send, 502, scope.get("extensions"))
        return
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.protocol})
        to_upstream = asyncio.create_task(_client_to_upstream(receive, upstream))
        to_client = asyncio.create_task(_upstream_to_client(upstream, send))
        done, pending = await asyncio.wait(
            (to_upstream, to_client), return_when=asyncio.FIRST_COMPLETED
        )
        # granian drops a close sent while a receive() is pending: cancel that first.
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        close: MutableMapping[str, Any] | None = None
        for task in done:
            error = task.exception()
            if error is not None:
                log.warning("websocket relay ended: %s", type(error).__name__)
                close = {"type": "websocket.close", "code": _INTERNAL_ERROR}
            elif task is to_client:
                close = to_client.result()
        if close is not None:
            with contextlib.suppress(Exception):
                await send(close)


async def _client_to_upstream(receive: Receive, upstream: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            if message.get("text") is not None:
                await upstream.send_str(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send_bytes(message["bytes"])
        elif kind == "websocket.disconnect":
            code = sendable_code(message.get("code"), fallback=_GOING_AWAY)
            await upstream.close(code=code, message=str(message.get("reason") or "").encode())
            return


async def _upstream_to_client(
    upstream: aiohttp.ClientWebSocketResponse, send: Send
) -> MutableMapping[str, Any]:
    """Relay upstream messages until it closes; return the close message for the client."""
    while True:
        message = await upstream.receive()
        if message.type is aiohttp.WSMsgType.TEXT:
            await send({"type": "websocket.send", "text": message.data})
        elif message.type is aiohttp.WSMsgType.BINARY:
            await send({"type": "websocket.send", "bytes": message.data})
        elif message.type is aiohttp.WSMsgType.CLOSE:
            code = sendable_code(message.data)
            return {"type": "websocket.close", "code": code, "reason": message.extra or ""}
        else:  # CLOSING, CLOSED, ERROR: the upstream is gone without a usable code.
            code = sendable_code(upstream.close_code, fallback=_GOING_AWAY)
            return {"type": "websocket.close", "code": code}
