"""Minimal ASGI proxies for the benchmarks. Not imported by the gateway.

`bench/stack.py` chooses the server and upstream client with the streaming ones: each is the
smallest correct streaming proxy for one client library, so the figures compare the libraries,
not our features. `bench/run.py` measures `naive_app`, the naive Python ceiling: it reads the
whole page, inserts one banner `<div>` before `</body>` with a single `str.replace` and answers.
No consent, no rules, no parsing: what the gateway does beyond this is the cost of its
features, and what this does is the cost of Python + granian + aiohttp.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import httpx

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8091")

BANNER = '<div id="naive-banner">We use cookies.</div></body>'

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


class NaiveProxy:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if self.session is None:
            # The session binds to the worker's running loop, so it is made on first use.
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        async with self.session.get(UPSTREAM + scope["path"]) as resp:
            body = await resp.read()
            content_type = resp.headers.get("Content-Type", "application/octet-stream")
            if content_type.startswith("text/html"):
                page = body.decode(resp.charset or "utf-8").replace("</body>", BANNER, 1)
                body = page.encode("utf-8")
                content_type = "text/html; charset=utf-8"
            headers = [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


naive_app = NaiveProxy()
