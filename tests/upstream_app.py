"""A small real storefront stand-in for proxy tests (aiohttp.web on loopback).

Run: `python -m tests.upstream_app [--port 0]`; it prints `LISTENING <port>` once bound.

Routes (everything unmatched echoes):
- any method, any path: JSON `{method, raw_path, headers: [[name, value]...], body_size,
  body_sha256, peer_port}` with the raw request-target and the raw header bytes in order.
- `GET /bytes/{n}[?chunked=1]`: n bytes (a repeating pattern) streamed, with Content-Length
  unless chunked.
- `POST /upload`: reads the body in chunks, answers `{size, sha256}`.
- `GET /page`: a small text/html page; `GET /gzip`: a gzip-encoded JSON body.
- `GET /redirect[?to=...]`: 302 with an absolute Location on this server's own origin.
- `GET /status/{code}`: an empty response with that status (`ETag` on 304).
- `GET /sleep/{seconds}`: answers after a delay; `GET /slowbody/{seconds}`: head and 10 bytes
  at once, the rest after the delay.
- `GET /drop`: promises 1000 bytes, sends 100, then closes the connection.
- `GET /fields`: repeated and hop-by-hop response fields in a fixed order.
- `PUT /__serve/{name}`: remembers the body and its Content-Type (and Content-Encoding, if
  sent); `GET /served/{name}` then answers exactly those bytes (hostile pages for HTML tests).
- `GET /gzip-bomb/{mib}`: text/html, `Content-Encoding: gzip`, decoding to `mib` MiB.
- `GET /__seen`: the raw request-targets of every request received so far (itself excluded),
  so a test can count what reached the storefront.
- `GET /ws`: WebSocket echo; text `close:CODE` closes with CODE, `headers` answers the
  handshake fields as JSON; `GET /ws-reject`: refuses the handshake with 403.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import sys
import zlib

from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler

ORIGIN = web.AppKey("origin", dict)
WS_CLOSE_CODES = web.AppKey("ws_close_codes", list)
PATTERN = bytes(range(256)) * 256  # 64 KiB; `pattern_bytes(n)` is its first n bytes repeated


def pattern_bytes(n: int) -> bytes:
    """The exact bytes `GET /bytes/{n}` serves (for small n in tests)."""
    whole, rest = divmod(n, len(PATTERN))
    return PATTERN * whole + PATTERN[:rest]


def pattern_sha256(n: int) -> str:
    """SHA-256 of `GET /bytes/{n}` without holding n bytes in memory."""
    digest = hashlib.sha256()
    whole, rest = divmod(n, len(PATTERN))
    for _ in range(whole):
        digest.update(PATTERN)
    digest.update(PATTERN[:rest])
    return digest.hexdigest()


async def echo(request: web.Request) -> web.Response:
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.content.iter_any():
        digest.update(chunk)
        size += len(chunk)
    body = {
        "method": request.method,
        "raw_path": request.raw_path,
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.raw_headers],
        "body_size": size,
        "body_sha256": digest.hexdigest(),
        # Which upstream connection carried this request (keep-alive reuse shows as equal).
        "peer_port": request.transport.get_extra_info("peername")[1] if request.transport else 0,
    }
    return web.json_response(body)


async def stream_bytes(request: web.Request) -> web.StreamResponse:
    n = int(request.match_info["n"])
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    if request.query.get("chunked") != "1":
        response.content_length = n
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    remaining = n
    while remaining > 0:
        piece = PATTERN[: min(remaining, len(PATTERN))]
        await response.write(piece)
        remaining -= len(piece)
    await response.write_eof()
    return response


async def upload(request: web.Request) -> web.Response:
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        digest.update(chunk)
        size += len(chunk)
    return web.json_response({"size": size, "sha256": digest.hexdigest()})


async def page(request: web.Request) -> web.Response:
    html = "<!doctype html><html><body><div data-slot='hero-banner'>hi</div></body></html>"
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def gzipped(request: web.Request) -> web.Response:
    body = gzip.compress(b'{"compressed": true}', mtime=0)
    return web.Response(
        body=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


async def redirect(request: web.Request) -> web.Response:
    origin = request.app[ORIGIN]["origin"]
    location = request.query.get("to", f"{origin}/target?x=1")
    return web.Response(status=302, headers={"Location": location})


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    headers = {"ETag": '"v1"'} if code == 304 else {}
    return web.Response(status=code, headers=headers)


async def sleep(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.match_info["seconds"]))
    return web.Response(text="late")


async def slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = 20
    await response.prepare(request)
    await response.write(b"0123456789")
    await asyncio.sleep(float(request.match_info["seconds"]))
    await response.write(b"abcdefghij")
    return response


async def drop(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.content_length = 1000
    await response.prepare(request)
    await response.write(b"x" * 100)
    assert request.transport is not None
    request.transport.close()
    return response


async def fields(request: web.Request) -> web.Response:
    response = web.Response(text="fields")
    for name, value in [
        ("X-B", "1"),
        ("X-A", "2"),
        ("X-B", "3"),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2; Path=/"),
        ("Connection", "X-Upstream-Secret"),
        ("X-Upstream-Secret", "hidden"),
        ("Keep-Alive", "timeout=5"),
        ("Sec-GPC", "1"),
    ]:
        response.headers.add(name, value)
    return response


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("chat",))
    await ws.prepare(request)
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            if message.data.startswith("close:"):
                await ws.close(code=int(message.data[6:]), message=b"bye")
            elif message.data == "headers":
                await ws.send_str(json.dumps([[n, v] for n, v in request.headers.items()]))
            else:
                await ws.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    request.app[WS_CLOSE_CODES].append(ws.close_code)
    return ws


async def ws_reject(request: web.Request) -> web.Response:
    return web.Response(status=403, text="no")


async def ws_closes(request: web.Request) -> web.Response:
    return web.json_response(request.app[WS_CLOSE_CODES])


SERVED = web.AppKey("served", dict)


async def serve_put(request: web.Request) -> web.Response:
    headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
    if "Content-Encoding" in request.headers:
        headers["Content-Encoding"] = request.headers["Content-Encoding"]
    request.app[SERVED][request.match_info["name"]] = (await request.read(), headers)
    return web.Response(status=204)


async def served(request: web.Request) -> web.Response:
    body, headers = request.app[SERVED][request.match_info["name"]]
    return web.Response(body=body, headers=headers)


async def gzip_bomb(request: web.Request) -> web.StreamResponse:
    # Streams the compressed bytes as they are made: the whole bomb never sits in memory.
    response = web.StreamResponse(
        headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}
    )
    await response.prepare(request)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    await response.write(compressor.compress(b"<!doctype html><html><body><p>"))
    zeros = b"0" * (1 << 20)
    for _ in range(int(request.match_info["mib"])):
        await response.write(compressor.compress(zeros))
    await response.write(compressor.flush())
    await response.write_eof()
    return response


SEEN = web.AppKey("seen", list)


@web.middleware
async def remember(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.raw_path == "/__seen":
        return web.json_response(request.app[SEEN])
    request.app[SEEN].append(request.raw_path)
    return await handler(request)


def build_app(origin: str = "") -> web.Application:
    """The upstream app; `origin` is its own `http://host:port` (for absolute redirects)."""
    app = web.Application(client_max_size=0, middlewares=[remember])
    app[SEEN] = []
    app[ORIGIN] = {"origin": origin}
    app[WS_CLOSE_CODES] = []
    app[SERVED] = {}
    app.router.add_put("/__serve/{name}", serve_put)
    app.router.add_get("/served/{name}", served)
    app.router.add_get("/gzip-bomb/{mib}", gzip_bomb)
    app.router.add_get("/bytes/{n}", stream_bytes)
    app.router.add_post("/upload", upload)
    app.router.add_get("/page", page)
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/sleep/{seconds}", sleep)
    app.router.add_get("/slowbody/{seconds}", slow_body)
    app.router.add_get("/drop", drop)
    app.router.add_get("/fields", fields)
    app.router.add_get("/ws", ws_echo)
    app.router.add_get("/ws-reject", ws_reject)
    app.router.add_get("/ws-closes", ws_closes)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


async def main(port: int) -> None:
    app = build_app()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    bound = server.sockets[0].getsockname()[1]
    app[ORIGIN]["origin"] = f"http://127.0.0.1:{bound}"
    print(f"LISTENING {bound}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
