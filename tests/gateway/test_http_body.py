"""`gateway.http.body` and `gateway.http.errors`: bounded bodies, JSON objects, forms, and
the one refusal they raise."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.requests import Request
from starlette.types import Message

from gateway.http.body import media_type, parse_form, parse_json_object, read_body
from gateway.http.errors import HttpError, unavailable


def request(
    chunks: list[bytes], headers: dict[str, str] | None = None, *, cut: bool = False
) -> Request:
    fields = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    pending = list(chunks)

    async def receive() -> Message:
        if pending:
            return {
                "type": "http.request",
                "body": pending.pop(0),
                "more_body": bool(pending) or cut,
            }
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": fields, "query_string": b""}
    return Request(scope, receive)


def read(req: Request, limit: int) -> bytes:
    return asyncio.run(read_body(req, limit))


def test_reads_chunks_up_to_the_limit() -> None:
    assert read(request([b"ab", b"cd"]), 4) == b"abcd"


@pytest.mark.parametrize(
    ("chunks", "headers"),
    [
        ([b"abcde"], {}),  # counted while streaming, no Content-Length
        ([b"ab", b"cde"], {}),
        ([b"a"], {"Content-Length": "5"}),  # a declared length past the limit is refused first
        ([b"a"], {"Content-Length": "-1"}),
        ([b"a"], {"Content-Length": "1e3"}),
    ],
)
def test_past_the_limit_is_413(chunks: list[bytes], headers: dict[str, str]) -> None:
    with pytest.raises(HttpError) as caught:
        read(request(chunks, headers), 4)
    assert caught.value.status == 413 and "4 bytes" in caught.value.reason


def test_a_body_cut_short_is_400() -> None:
    with pytest.raises(HttpError) as caught:
        read(request([b"ab"], cut=True), 100)
    assert caught.value.status == 400


@pytest.mark.parametrize("body", [b"", b"{nope", b"\xff", b"[" * 100_000, b"[1]", b'"x"', b"null"])
def test_not_a_json_object_is_400(body: bytes) -> None:
    with pytest.raises(HttpError) as caught:
        parse_json_object(body)
    assert caught.value.status == 400


def test_a_json_object() -> None:
    assert parse_json_object(b'{"a": [1]}') == {"a": [1]}


def test_forms_keep_blanks_and_bound_fields() -> None:
    assert parse_form(b"a=1&b=&a=2", max_fields=3) == {"a": ["1", "2"], "b": [""]}
    for body in (b"a=1&b=2&c=3&d=4", b"\xff=1"):
        with pytest.raises(HttpError) as caught:
            parse_form(body, max_fields=3)
        assert caught.value.status == 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("application/json", "application/json"),
        (" Application/JSON ; charset=utf-8", "application/json"),
    ],
)
def test_media_type(value: str | None, expected: str) -> None:
    headers = {} if value is None else {"Content-Type": value}
    assert media_type(request([], headers)) == expected


def test_header_fields_travel_with_the_error() -> None:
    response = unavailable("the store is down").response()
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert json.loads(bytes(response.body)) == {"error": "the store is down"}
    plain = HttpError(404, "no such thing").response()
    assert "retry-after" not in plain.headers
