"""Where one proxied page's CPU goes, in process (not a test).

Starts the bench's static nginx upstream with the same ~60 KB page, builds the gateway app from
the bench's config in this process (no granian), and sends it N requests through the ASGI
interface one after another, as scenario (a) (consented London visitor, two slots filled) or
(b) (gdpr visitor with no choice: banner and blocking). Prints the mean time per request and
the functions that took the most time (cProfile).

    python bench/profile_request.py [--scenario a|b] [--requests 2000] [--top 40]

The figure excludes the HTTP server (granian) and wrk; it is the gateway's own share.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    HERO,
    HOST,
    LONDON,
    RECS,
    UPSTREAM,
    demo_home,
    free_port,
    nginx,
    padded,
    wait_for,
)
from gateway.app import create_app  # noqa: E402
from gateway.demo.world import prepare_data_dir, write_config  # noqa: E402
from gateway.wiring import load_config  # noqa: E402


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """An ASGI HTTP scope for a loopback request, as granian gives it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One GET through the ASGI app; the status and the whole body."""
    scope = http_scope("GET", path, headers)
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


async def consent(app: Any) -> str:
    """Accept all as a London visitor through the app; the visitor's cookie."""
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"origin", b"http://127.0.0.1:8080"),
        (b"content-type", b"application/json"),
        (b"x-forwarded-for", LONDON.encode()),
    ]
    scope = http_scope("POST", "/_privacy/consent", headers)
    sent = False
    cookie = ""

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b'{"action": "accept_all"}', "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal cookie
        for name, value in message.get("headers", []):
            if name.lower() == b"set-cookie" and value.startswith(b"cg_id="):
                cookie = value.split(b";", 1)[0].decode()

    await app(scope, receive, send)
    if not cookie:
        raise SystemExit("profile: the consent post set no cg_id cookie")
    return cookie


async def measure(app: Any, scenario: str, requests: int, top: int) -> None:
    await app.startup()
    try:
        headers = [
            (b"host", b"127.0.0.1:8080"),
            (b"accept", b"text/html"),
            (b"x-forwarded-for", LONDON.encode()),
        ]
        if scenario == "a":
            headers.append((b"cookie", (await consent(app)).encode()))
        status, page = await call(app, "/", headers)
        text = page.decode()
        if status != 200 or "<html" not in text:
            raise SystemExit(f"profile: the page came back {status}")
        banner = 'id="consentgate-banner"' in text
        if banner != (scenario == "b"):
            state = "present" if banner else "missing"
            raise SystemExit(f"profile: banner {state} in scenario ({scenario})")
        for _ in range(50):  # warm caches and the pool
            await call(app, "/", headers)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(requests):
            await call(app, "/", headers)
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"scenario ({scenario}): {elapsed / requests * 1e3:.3f} ms/request under cProfile")
        started = time.perf_counter()
        for _ in range(requests):
            await call(app, "/", headers)
        elapsed = time.perf_counter() - started
        print(f"scenario ({scenario}): {elapsed / requests * 1e3:.3f} ms/request without it")
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    finally:
        await app.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("a", "b"), default="b")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cg-profile-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        www = work / "www"
        www.mkdir()
        home = demo_home()
        assert HERO in home and RECS in home, "the demo home page lost its slots"
        (www / "index.html").write_text(padded(home, 60_000), encoding="utf-8")
        up = free_port()
        with nginx(work, "upstream", UPSTREAM.format(host=HOST, port=up, www=www)):
            wait_for(f"http://{HOST}:{up}/")
            config = write_config(prepare_data_dir(work / "gateway"), free_port(), up)
            app = create_app(load_config(config))
            asyncio.run(measure(app, args.scenario, args.requests, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
