"""End-to-end: a real gateway process (`python -m gateway run`) in front of
`tests/upstream_app.py`, spoken to over loopback with httpx, aiohttp and raw sockets."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from tests import procs
from tests.upstream_app import pattern_bytes

pytestmark = pytest.mark.e2e

READ_TIMEOUT = 2


@pytest.fixture(scope="module")
def upstream() -> Iterator[procs.Server]:
    with procs.start_upstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    upstream: procs.Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[procs.Server]:
    """A gateway that trusts no proxy: every peer is the client."""
    config = procs.write_config(
        tmp_path_factory.mktemp("gateway"),
        upstream=upstream.url,
        timeouts={"connect": 2, "read": READ_TIMEOUT},
    )
    with procs.start_gateway(config) as server:
        yield server
        # Whatever the tests threw at it, the gateway logged lines, never a traceback.
        assert "Traceback" not in server.log()


@pytest.fixture(scope="module")
def behind_proxy(
    upstream: procs.Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[procs.Server]:
    """A gateway that trusts loopback as its proxy, so tests play visitors via X-Forwarded-*."""
    config = procs.write_config(
        tmp_path_factory.mktemp("behind-proxy"),
        upstream=upstream.url,
        trusted_proxies=["127.0.0.1/32", "10.0.0.0/8"],
    )
    with procs.start_gateway(config) as server:
        yield server


@pytest.fixture()
def client(gateway: procs.Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        yield c


def echo_of(response: httpx.Response | procs.RawResponse) -> dict[str, Any]:
    """The upstream's echo JSON (fails if the request never reached the upstream echo)."""
    body = response.content if isinstance(response, httpx.Response) else response.body
    data: dict[str, Any] = json.loads(body)
    assert "raw_path" in data, data
    return data


def upstream_fields(echo: dict[str, Any], name: str) -> list[str]:
    return [v for n, v in echo["headers"] if n.lower() == name.lower()]


def raw_get(
    server: procs.Server, target: bytes, *fields: bytes, method: bytes = b"GET"
) -> procs.RawResponse:
    head = b"%s %s HTTP/1.1\r\nHost: shop.example\r\n" % (method, target)
    return procs.raw_http(
        server.port, head + b"".join(f + b"\r\n" for f in fields) + b"Connection: close\r\n\r\n"
    )


# --- requests reach the upstream as the client sent them ---------------------------------


def test_method_path_query_and_body_pass_through(client: httpx.Client) -> None:
    body = pattern_bytes(300_000)
    response = client.put("/cart/items?id=7&q=a%20b%2Fc", content=body)
    echo = echo_of(response)
    assert response.status_code == 200
    assert echo["method"] == "PUT"
    assert echo["raw_path"] == "/cart/items?id=7&q=a%20b%2Fc"
    assert echo["body_size"] == len(body)
    assert upstream_fields(echo, "content-length") == [str(len(body))]


def test_client_fields_pass_as_given(client: httpx.Client) -> None:
    sent = {
        "User-Agent": "Mozilla/5.0 (test)",
        "Accept": "text/html",
        "Accept-Encoding": "br",
        "Cookie": "cg=1; cart=2",
        "Sec-GPC": "1",
        "X-Custom": "kept",
    }
    echo = echo_of(client.get("/x", headers=sent))
    for name, value in sent.items():
        assert upstream_fields(echo, name) == [value], name
    # aiohttp adds nothing of its own (no Python user agent, no content type on a GET).
    assert not upstream_fields(echo, "content-type")


def test_host_is_the_upstreams_own(upstream: procs.Server, gateway: procs.Server) -> None:
    echo = echo_of(raw_get(gateway, b"/x"))
    assert upstream_fields(echo, "host") == [f"127.0.0.1:{upstream.port}"]


def test_hop_by_hop_fields_are_stripped_before_ours_are_added(gateway: procs.Server) -> None:
    response = raw_get(
        gateway,
        b"/x",
        b"Connection: keep-alive, X-Nominated, X-Forwarded-For, Sec-GPC, Forwarded",
        b"X-Nominated: secret",
        b"Keep-Alive: timeout=5",
        b"Proxy-Connection: keep-alive",
        b"Proxy-Authorization: Basic Zm9vOmJhcg==",
        b"TE: trailers",
        b"Upgrade: h2c",
        b"Sec-GPC: 1",
        b"X-Forwarded-For: 6.6.6.6",
    )
    echo = echo_of(response)
    names = {n.lower() for n, _ in echo["headers"]}
    for gone in ("x-nominated", "keep-alive", "proxy-connection", "proxy-authorization", "te"):
        assert gone not in names
    assert "upgrade" not in names
    # GPC spec: never stripped, even when nominated.
    assert upstream_fields(echo, "sec-gpc") == ["1"]
    # The nominated names cannot remove the fields the gateway adds itself.
    assert upstream_fields(echo, "x-forwarded-for") == ["127.0.0.1"]
    assert upstream_fields(echo, "forwarded") == ["for=127.0.0.1;proto=http;host=shop.example"]


def test_forwarding_fields_from_an_untrusted_peer_are_replaced(gateway: procs.Server) -> None:
    echo = echo_of(
        raw_get(
            gateway,
            b"/x",
            b"X-Forwarded-For: 6.6.6.6",
            b"X-Forwarded-For: 7.7.7.7",
            b"X-Forwarded-Proto: https",
            b"X-Forwarded-Host: evil.example",
            b"X-Forwarded-Port: 443",
            b"X-Real-IP: 6.6.6.6",
            b"Forwarded: for=6.6.6.6;host=evil.example",
        )
    )
    assert upstream_fields(echo, "x-forwarded-for") == ["127.0.0.1"]
    assert upstream_fields(echo, "x-forwarded-proto") == ["http"]
    assert upstream_fields(echo, "x-forwarded-host") == ["shop.example"]
    assert upstream_fields(echo, "forwarded") == ["for=127.0.0.1;proto=http;host=shop.example"]
    assert upstream_fields(echo, "x-forwarded-port") == []
    assert upstream_fields(echo, "x-real-ip") == []


@pytest.mark.parametrize(
    ("xff", "expected"),
    [
        (b"1.2.3.4", "1.2.3.4"),
        (b"6.6.6.6, 1.2.3.4", "1.2.3.4"),
        (b"6.6.6.6, 1.2.3.4, 10.0.0.3", "1.2.3.4"),
        (b" , ", "127.0.0.1"),
        (b", , 9.9.9.9, , ", "127.0.0.1"),
    ],
)
def test_client_address_behind_a_trusted_proxy(
    behind_proxy: procs.Server, xff: bytes, expected: str
) -> None:
    echo = echo_of(
        raw_get(
            behind_proxy,
            b"/x",
            b"X-Forwarded-For: " + xff,
            b"X-Forwarded-Proto: https",
            b"X-Forwarded-Host: shop.example",
        )
    )
    assert upstream_fields(echo, "x-forwarded-for") == [expected]
    assert upstream_fields(echo, "x-forwarded-proto") == ["https"]
    assert upstream_fields(echo, "x-forwarded-host") == ["shop.example"]
    assert upstream_fields(echo, "forwarded") == [f"for={expected};proto=https;host=shop.example"]


def test_content_length_is_not_forwarded_beside_transfer_encoding(gateway: procs.Server) -> None:
    # RFC 9112 §6.3 (request smuggling): Transfer-Encoding wins; both must never go upstream.
    request = (
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    response = procs.raw_http(gateway.port, request)
    if response.status == 200:  # the server may also refuse such a request outright
        echo = echo_of(response)
        assert upstream_fields(echo, "content-length") == []
        assert echo["body_size"] == 5


def test_expect_continue_is_answered_by_the_gateway(gateway: procs.Server) -> None:
    request = (
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
        b"Connection: close\r\n\r\nhello"
    )
    response = procs.raw_http(gateway.port, request)
    # The interim 100 precedes the final response on the wire.
    assert response.status in (100, 200)
    echo = json.loads(response.body.rpartition(b"\r\n\r\n")[2])
    assert echo["body_size"] == 5
    assert upstream_fields(echo, "expect") == []


def test_upstream_cookies_are_never_replayed_to_other_visitors(
    upstream: procs.Server, tmp_path: Path
) -> None:
    # Privacy: the shared upstream session must not keep a cookie jar. A host name, not an
    # IP, because aiohttp's default jar ignores cookies from IP addresses.
    config = procs.write_config(tmp_path, upstream=f"http://localhost:{upstream.port}")
    with procs.start_gateway(config) as server:
        with httpx.Client(base_url=server.url) as visitor:
            assert visitor.get("/fields").headers.get_list("set-cookie")
        with httpx.Client(base_url=server.url) as stranger:
            echo = echo_of(stranger.get("/x"))
    assert upstream_fields(echo, "cookie") == []


def test_upstream_connections_are_kept_alive(client: httpx.Client) -> None:
    ports = {echo_of(client.get(f"/keepalive/{i}"))["peer_port"] for i in range(5)}
    assert len(ports) == 1


# --- not an open proxy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        b"//evil.example/x",
        b"/\\evil.example",
        b"/%2F%2Fevil.example",
        b"/@evil.example",
        b"/sub:path",
        b"/a/./b",
    ],
)
def test_odd_paths_stay_paths_on_the_upstream(gateway: procs.Server, target: bytes) -> None:
    echo = echo_of(raw_get(gateway, target, b"X-Forwarded-Host: evil.example"))
    assert echo["raw_path"] == target.decode()


def test_absolute_form_target_cannot_pick_the_upstream(
    upstream: procs.Server, gateway: procs.Server
) -> None:
    echo = echo_of(raw_get(gateway, b"http://evil.example/steal?x=1"))
    assert echo["raw_path"] == "/steal?x=1"
    assert upstream_fields(echo, "host") == [f"127.0.0.1:{upstream.port}"]


@pytest.mark.parametrize(
    ("method", "target"),
    [(b"CONNECT", b"evil.example:443"), (b"TRACE", b"/"), (b"TRACE", b"/x")],
)
def test_connect_and_trace_are_refused(gateway: procs.Server, method: bytes, target: bytes) -> None:
    response = raw_get(gateway, target, method=method)
    assert response.status == 405
    assert response.header("allow") == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    assert b"405 Method Not Allowed" in response.body


@pytest.mark.parametrize(
    "target",
    [
        b"/x/../_privacy/healthz",
        b"/x/%2e%2e/_privacy/admin",
        b"/%5Fprivacy/admin",
        b"/%255Fprivacy/admin",
        b"/_PRIVACY/admin",
        b"/x/..\\_privacy/admin",
    ],
)
def test_paths_resolving_into_the_reserved_prefix_never_reach_upstream(
    gateway: procs.Server, target: bytes
) -> None:
    response = raw_get(gateway, target)
    assert b"raw_path" not in response.body  # the upstream echo never answered
    # Refused (400), or answered by the gateway itself as the decoded reserved path (the
    # console's login redirect, or 404 for an unknown reserved path).
    assert response.status in (303, 400, 404)


# --- responses come back unchanged -------------------------------------------------------


def direct_and_proxied(
    upstream: procs.Server, gateway: procs.Server, target: bytes, method: bytes = b"GET"
) -> tuple[procs.RawResponse, procs.RawResponse]:
    head = b"%s %s HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n" % (
        method,
        target,
    )
    return procs.raw_http(upstream.port, head), procs.raw_http(gateway.port, head)


def end_to_end(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    skip = {"connection", "date", "server", "keep-alive", "transfer-encoding"}
    return [(n.lower(), v) for n, v in fields if n.lower() not in skip]


@pytest.mark.parametrize(
    ("method", "target"),
    [
        (b"GET", b"/bytes/100000"),  # Content-Length
        (b"GET", b"/bytes/100000?chunked=1"),  # chunked
        (b"HEAD", b"/bytes/100000"),
        (b"GET", b"/gzip"),  # Content-Encoding kept, bytes not decoded
        (b"GET", b"/page"),  # HTML with no stages configured
        (b"GET", b"/status/204"),
        (b"GET", b"/status/304"),
        (b"GET", b"/status/404"),
        (b"GET", b"/status/503"),
    ],
)
def test_responses_pass_byte_for_byte(
    upstream: procs.Server, gateway: procs.Server, method: bytes, target: bytes
) -> None:
    direct, proxied = direct_and_proxied(upstream, gateway, target, method)
    assert proxied.status == direct.status
    assert proxied.content == direct.content
    assert proxied.header("transfer-encoding") == direct.header("transfer-encoding")
    assert end_to_end(proxied.headers) == end_to_end(direct.headers)


def test_gzip_body_is_not_decoded(client: httpx.Client) -> None:
    with client.stream("GET", "/gzip") as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == len(raw)
    assert gzip.decompress(raw) == b'{"compressed": true}'


def test_response_fields_drop_hop_by_hop_and_keep_order(client: httpx.Client) -> None:
    response = client.get("/fields")
    names = [n.lower() for n, _ in response.headers.multi_items()]
    assert "x-upstream-secret" not in names
    assert "keep-alive" not in names
    assert response.headers.get_list("x-b") == ["1", "3"]
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers["sec-gpc"] == "1"
    assert names.index("x-b") < names.index("x-a") < names.index("set-cookie")


# --- redirects ---------------------------------------------------------------------------


def test_redirect_is_passed_not_followed_and_location_rewritten(gateway: procs.Server) -> None:
    response = raw_get(gateway, b"/redirect")
    assert response.status == 302
    assert response.header("location") == "http://shop.example/target?x=1"


def test_redirect_location_uses_the_forwarded_origin(behind_proxy: procs.Server) -> None:
    response = raw_get(
        behind_proxy,
        b"/redirect",
        b"X-Forwarded-Proto: https",
        b"X-Forwarded-Host: www.shop.example",
    )
    assert response.header("location") == "https://www.shop.example/target?x=1"


def test_redirect_to_elsewhere_is_untouched(client: httpx.Client) -> None:
    response = client.get("/redirect", params={"to": "https://pay.example/checkout"})
    assert response.status_code == 302
    assert response.headers["location"] == "https://pay.example/checkout"


def test_untrusted_forwarded_host_does_not_steer_redirects(gateway: procs.Server) -> None:
    response = raw_get(gateway, b"/redirect", b"X-Forwarded-Host: evil.example")
    assert response.header("location") == "http://shop.example/target?x=1"


# --- failures ----------------------------------------------------------------------------


def test_upstream_timeout_is_504(client: httpx.Client) -> None:
    response = client.get(f"/sleep/{READ_TIMEOUT + 3}")
    assert response.status_code == 504
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "504 Gateway Timeout" in response.text
    assert "Traceback" not in response.text


def test_upstream_dropping_mid_body_truncates_the_response(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/drop")
    assert client.get("/after-drop").status_code == 200


def test_upstream_drop_is_logged_as_one_line(gateway: procs.Server) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(gateway.url + "/drop")
    assert "upstream body aborted: ClientPayloadError" in gateway.log()


def test_upstream_silent_mid_body_truncates_the_response(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/slowbody/{READ_TIMEOUT + 3}")


def test_client_aborting_its_upload_leaves_the_gateway_serving(gateway: procs.Server) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        sock.sendall(b"x" * 100_000)
    assert httpx.get(gateway.url + "/after-abort").status_code == 200


def test_upstream_unreachable_is_502(tmp_path: Path) -> None:
    config = procs.write_config(tmp_path, upstream=f"http://127.0.0.1:{procs.free_port()}")
    with procs.start_gateway(config) as server:
        response = httpx.get(server.url + "/anything")
        head = httpx.head(server.url + "/anything")
        ready = httpx.get(server.url + "/_privacy/readyz")
        log = server.log()
    assert response.status_code == 502
    assert "502 Bad Gateway" in response.text
    assert "Traceback" not in response.text
    assert head.status_code == 502 and head.content == b""
    assert ready.status_code == 503 and ready.json()["upstream"] is False
    assert "upstream unreachable" in log


def test_readyz_sees_the_upstream(gateway: procs.Server) -> None:
    assert httpx.get(gateway.url + "/_privacy/readyz").json()["upstream"] is True


# --- WebSocket ---------------------------------------------------------------------------


def run(coro: Any) -> Any:
    # A relay bug must fail the test, not hang the suite.
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def test_websocket_relays_both_ways_with_subprotocol(
    upstream: procs.Server, gateway: procs.Server
) -> None:
    async def talk() -> tuple[str | None, list[Any], list[list[str]]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(gateway.url + "/ws", protocols=("chat",)) as ws:
                await ws.send_str("hello")
                text = (await ws.receive()).data
                await ws.send_bytes(b"\x00\x01binary")
                data = (await ws.receive()).data
                await ws.send_str("headers")
                headers = json.loads((await ws.receive()).data)
                return ws.protocol, [text, data], headers

    protocol, echoed, headers = run(talk())
    assert protocol == "chat"
    assert echoed == ["hello", b"\x00\x01binary"]
    fields = {n.lower(): v for n, v in headers}
    assert fields["host"] == f"127.0.0.1:{upstream.port}"
    assert fields["x-forwarded-for"] == "127.0.0.1"


def test_websocket_handshake_carries_the_gateways_consent_state_not_the_clients(
    gateway: procs.Server,
) -> None:
    forged = "analytics=1;marketing=1"

    async def talk() -> list[list[str]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                gateway.url + "/ws",
                headers={"X-Consent-State": forged, "Connection": "Upgrade, X-Consent-State"},
            ) as ws:
                await ws.send_str("headers")
                return json.loads((await ws.receive()).data)  # type: ignore[no-any-return]

    sent = [v for n, v in run(talk()) if n.lower() == "x-consent-state"]
    assert len(sent) == 1 and forged not in sent[0], sent


def test_websocket_close_codes_travel_both_ways(
    upstream: procs.Server, gateway: procs.Server
) -> None:
    async def upstream_closes() -> int | None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(gateway.url + "/ws") as ws:
                await ws.send_str("close:4001")
                message = await ws.receive()
                assert message.type is aiohttp.WSMsgType.CLOSE
                return ws.close_code

    async def client_closes() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(gateway.url + "/ws") as ws:
                await ws.send_str("ping")
                await ws.receive()
                await ws.close(code=4002)

    assert run(upstream_closes()) == 4001
    run(client_closes())
    deadline_codes: list[int] = []
    for _ in range(50):
        deadline_codes = httpx.get(upstream.url + "/ws-closes").json()
        if 4002 in deadline_codes:
            break
        run(asyncio.sleep(0.1))
    assert 4002 in deadline_codes


def test_websocket_refused_upstream_is_502(gateway: procs.Server) -> None:
    async def connect() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(gateway.url + "/ws-reject"):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert run(connect()) == 502


# --- the HTML pipeline hook (Proxy in-process, real upstream) -----------------------------


class Recorder:
    """An ASGI `send` that keeps every message, and a `receive` with no request body."""

    def __init__(self) -> None:
        self.messages: list[MutableMapping[str, Any]] = []

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.messages.append(message)

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    @property
    def start(self) -> MutableMapping[str, Any]:
        return self.messages[0]

    def header(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.start["headers"] if n.lower() == name]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


def in_process(
    upstream: procs.Server,
    path: str,
    stages: list[Any] | None,
    calls: list[str],
    accept: bytes = b"gzip",
) -> Recorder:
    from gateway.html.slot_fill import SlotFill

    class StaticExchange:
        def __init__(self, path: str) -> None:
            self.path = path

        def upstream_fields(self) -> list[tuple[str, str]]:
            return [("X-Test-Added", "1")]

        def request_fields(self, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
            return fields

        def response_fields(self, fields: list[Any], rewritten: bool) -> list[Any]:
            return [*fields, (b"x-rewritten", b"yes" if rewritten else b"no")]

        def stages(self) -> list[Any]:
            calls.append(self.path)
            return [SlotFill({"hero-banner": "<b>HI</b>"})] if stages is None else stages

    async def factory(scope: Any, peer: str, view: Any) -> StaticExchange:
        return StaticExchange(scope["path"])

    return get_once(upstream, factory, path, [(b"accept-encoding", accept)])


def get_once(
    upstream: procs.Server, exchange: Any, path: str, headers: list[tuple[bytes, bytes]]
) -> Recorder:
    """One GET `path` through a fresh in-process Proxy whose exchanges `exchange` makes."""
    from gateway.proxy.streaming import Proxy
    from policies.models import GatewaySettings

    async def go() -> Recorder:
        proxy = Proxy(GatewaySettings(upstream=upstream.url), exchange=exchange)
        await proxy.start()
        recorder = Recorder()
        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"shop.example"), *headers],
            "client": ("127.0.0.1", 5000),
        }
        try:
            await proxy(scope, recorder.receive, recorder.send)
        finally:
            await proxy.close()
        return recorder

    result: Recorder = run(go())
    return result


def test_html_is_rewritten_when_stages_apply(upstream: procs.Server) -> None:
    calls: list[str] = []
    recorder = in_process(upstream, "/page", None, calls)
    assert calls == ["/page"]
    assert recorder.start["status"] == 200
    assert recorder.header(b"content-length") == []
    assert recorder.header(b"content-encoding") == [b"gzip"]
    assert recorder.header(b"vary") == [b"Accept-Encoding"]
    assert recorder.header(b"x-rewritten") == [b"yes"]
    assert b"<b>HI</b>" in gzip.decompress(recorder.body)


def test_html_passes_byte_for_byte_when_no_stage_applies(upstream: procs.Server) -> None:
    calls: list[str] = []
    recorder = in_process(upstream, "/page", [], calls)
    direct = httpx.get(upstream.url + "/page")
    assert calls == ["/page"]
    assert recorder.body == direct.content
    assert recorder.header(b"content-length") == [str(len(direct.content)).encode()]
    assert recorder.header(b"content-encoding") == []
    assert recorder.header(b"x-rewritten") == [b"no"]


def test_stages_are_not_built_for_non_html(upstream: procs.Server) -> None:
    calls: list[str] = []
    recorder = in_process(upstream, "/bytes/1000", None, calls)
    assert calls == []
    assert recorder.body == pattern_bytes(1000)


def test_failing_stage_factory_is_a_502_page(upstream: procs.Server) -> None:
    class Broken:
        def upstream_fields(self) -> list[tuple[str, str]]:
            return []

        def request_fields(self, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
            return fields

        def response_fields(self, fields: list[Any], rewritten: bool) -> list[Any]:
            return fields

        def stages(self) -> list[Any]:
            raise RuntimeError("stage bug")

    async def broken(scope: Any, peer: str, view: Any) -> Broken:
        return Broken()

    recorder = get_once(upstream, broken, "/page", [])
    assert recorder.start["status"] == 502
    assert b"502 Bad Gateway" in recorder.body
