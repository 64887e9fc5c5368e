"""The one way a handler under the prefix refuses a request: `HttpError(status, reason, headers)`.

Raised anywhere below a route handler and turned into the answer at the handler: JSON
`{"error": reason}` for the API routes, a page for the console. The header fields travel with
it, so a 503's `Retry-After` or a 429's reaches the client whoever renders the body.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse, Response

# RFC 9110 §10.2.3: a 503 says when to try again; the store is retried every few seconds.
RETRY_AFTER_SECONDS = 5


class HttpError(Exception):
    """A 4xx/5xx answer: its status, a reason the client can read, and header fields it needs."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """The JSON answer: `{"error": reason}` with the status and header fields."""
        return JSONResponse({"error": self.reason}, status_code=self.status, headers=self.headers)


def unavailable(reason: str) -> HttpError:
    """A 503 for a store or log that is down, with `Retry-After` (RFC 9110 §10.2.3)."""
    return HttpError(503, reason, {"retry-after": str(RETRY_AFTER_SECONDS)})
