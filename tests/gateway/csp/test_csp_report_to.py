"""`report-to` in Chromium: on a page served over https, violation reports arrive as a
Reporting API batch (`application/reports+json`) and are counted like `report-uri` ones.

A TLS terminator on loopback (a self-signed certificate, `openssl`) stands in for the shop's
edge: it adds `X-Forwarded-Proto: https` to each request head and relays the bytes to the
gateway, which trusts loopback. Chromium runs with `--short-reporting-delay` (its own switch
for tests; reports otherwise wait about a minute to be batched).
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests import procs
from tests.browser import CHROMIUM, CHROMIUM_ARGS, MARKS
from tests.environment import needs

pytestmark = [
    *MARKS,
    needs(shutil.which("openssl"), "openssl is not installed"),
]

PAGE = b"""<!doctype html><html><head><title>Shop</title></head><body><h1>Hi</h1>
<img src="https://pixel.tracker.example/p.gif?uid=42" alt="">
</body></html>"""
REPORT_TIMEOUT = 30.0


class TlsEdge:
    """Terminates TLS and relays to `upstream`, adding `X-Forwarded-Proto: https` to every
    request head (requests with a Content-Length body, as browsers send here)."""

    def __init__(self, certificate: Path, key: Path, upstream_port: int) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certificate, key)
        self.upstream_port = upstream_port
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TlsEdge:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        back = asyncio.ensure_future(_pipe(up_reader, writer))
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, _, rest = head.partition(b"\r\n")
                up_writer.write(line + b"\r\nX-Forwarded-Proto: https\r\n" + rest)
                length = 0
                for field in rest.split(b"\r\n"):
                    name, _, value = field.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length:
                    up_writer.write(await reader.readexactly(length))
                await up_writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            up_writer.close()
            await back
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, procs.Server]]:
    directory = tmp_path_factory.mktemp("tls")
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(certificate), "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    pages = tmp_path_factory.mktemp("pages")
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
    (pages / "page").write_bytes(
        f"{head}Content-Length: {len(PAGE)}\r\n\r\n".encode("latin-1") + PAGE
    )
    with procs.start_raw_upstream(pages) as upstream:
        path = procs.write_config(
            tmp_path_factory.mktemp("gateway"), upstream=upstream.url,
            trusted_proxies=["127.0.0.1/32"],
        )  # fmt: skip
        data = yaml.safe_load(path.read_text())
        data.update(procs.demo_purposes())
        data["csp"] = {"mode": "enforce"}
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        with procs.start_gateway(path) as gateway, TlsEdge(certificate, key, gateway.port) as tls:
            yield f"https://127.0.0.1:{tls.port}", gateway


def reported(gateway: procs.Server) -> int:
    text = httpx.get(f"{gateway.url}/_privacy/metrics", timeout=10).text
    return sum(
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("consentgate_csp_violations_total{")
        and 'blocked="pixel.tracker.example"' in line
        and 'path="/page"' in line
    )


def test_an_https_page_reports_through_the_reporting_api(edge: tuple[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    url, gateway = edge
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, "--ignore-certificate-errors", "--short-reporting-delay"],
        )
        try:
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()
            answer = page.goto(f"{url}/page")
            assert answer is not None
            assert "report-to consentgate-csp" in answer.headers["content-security-policy"]
            assert answer.headers["reporting-endpoints"] == (
                'consentgate-csp="/_privacy/csp-report"'
            )
            deadline = time.monotonic() + REPORT_TIMEOUT
            while time.monotonic() < deadline and not reported(gateway):
                page.wait_for_timeout(200)
            context.close()
        finally:
            browser.close()
    assert reported(gateway) >= 1
    outcomes = httpx.get(f"{gateway.url}/_privacy/metrics", timeout=10).text
    assert 'consentgate_csp_reports_total{outcome="accepted"}' in outcomes
