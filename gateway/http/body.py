"""Reading a small request body: bounded in bytes, then parsed as a JSON object or a form.

Every refusal is an `HttpError`: 413 past the limit (declared by `Content-Length` or counted
while streaming, so a lying or absent length cannot buffer more), 400 for a body cut short or
one that does not parse.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request

from gateway.http.errors import HttpError


def media_type(request: Request) -> str:
    """The request's `Content-Type` without parameters, lower-cased ("" when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most `limit` bytes."""
    too_large = HttpError(413, f"the body is limited to {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
    except ClientDisconnect:
        # The client went away mid-body: a 400 nobody reads, not a logged traceback.
        raise HttpError(400, "the body was cut short") from None
    return bytes(body)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object."""
    try:
        data: Any = json.loads(body)
    # Nesting past the recursion limit raises RecursionError, not ValueError.
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HttpError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object")
    return data


def parse_form(body: bytes, max_fields: int) -> dict[str, list[str]]:
    """An `application/x-www-form-urlencoded` body, blank values kept."""
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "the form is not valid UTF-8 or has too many fields") from None
