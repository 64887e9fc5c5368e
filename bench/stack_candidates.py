"""Minimal ASGI proxies used only by `bench/stack.py` to choose the server and upstream client.

Each is the smallest correct streaming proxy for one client library, so the figures compare
the libraries, not our features. Not imported by the gateway.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import httpx

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8091")

Scope = dict[str, Any]


async def lifespan(receive: Any, send: Any) -> None:
    """Answer the ASGI lifespan protocol: startup, then shutdown."""
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


class AiohttpProxy:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256), auto_decompress=False
            )
        async with self.session.get(UPSTREAM + scope["path"]) as resp:
            headers = [(k.lower(), v) for k, v in resp.raw_headers if k.lower() != b"connection"]
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class HttpxProxy:
    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if self.client is None:
            self.client = httpx.AsyncClient(limits=httpx.Limits(max_connections=256))
        req = self.client.build_request("GET", UPSTREAM + scope["path"])
        resp = await self.client.send(req, stream=True)
        headers = [(k.lower(), v) for k, v in resp.headers.raw if k.lower() != b"connection"]
        await send({"type": "http.response.start", "status": resp.status_code, "headers": headers})
        async for chunk in resp.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await resp.aclose()
        await send({"type": "http.response.body", "body": b""})


aiohttp_app = AiohttpProxy()
httpx_app = HttpxProxy()
