"""CSP violation reports, reduced to what a tracker discovery needs and nothing personal.

Two wire formats reach `POST {prefix}/csp-report`:
- `application/csp-report` (CSP3 "Report a violation", from `report-uri`):
  `{"csp-report": {"document-uri", "effective-directive", "violated-directive", "blocked-uri",
  ...}}`;
- `application/reports+json` (Reporting API, from `report-to`): a list of reports, each
  `{"type": "csp-violation", "url", "body": {"documentURL", "effectiveDirective",
  "blockedURL", ...}}`; other report types are ignored.

Each violation becomes (directive, blocked host, page path): the host of the blocked URL (or
the keyword the browser gives instead: `inline`, `eval`, ...) and the page's path without query
or fragment. Addresses, full URLs, user agents, referrers and script samples are never kept.
`CspViolations` counts them in memory, bounded, and `snapshot()` hands the counts on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.http.metrics import Counter
from gateway.stages.url_host import url_host

MEDIA_TYPES = frozenset({"application/csp-report", "application/reports+json"})
MAX_REPORTS = 100  # per body (a batch of the Reporting API)
MAX_ENTRIES = 1000  # distinct (directive, host, path) kept per process
MAX_PATH = 200

# CSP3 and Trusted Types: the directives a violation can name (anything else is counted as "other").
DIRECTIVES = frozenset(
    """child-src connect-src default-src font-src frame-src img-src manifest-src media-src
    object-src prefetch-src script-src script-src-elem script-src-attr style-src
    style-src-elem style-src-attr worker-src webrtc base-uri sandbox form-action
    frame-ancestors navigate-to require-trusted-types-for trusted-types""".split()
)
# CSP3 "Violations" (a violation's resource): keywords reported instead of a URL.
KEYWORDS = frozenset(
    {"inline", "eval", "wasm-eval", "self", "trusted-types-policy", "trusted-types-sink"}
)


class MalformedReport(ValueError):
    """The body is not a CSP report in either format."""


@dataclass(frozen=True)
class Violation:
    """One violation, as aggregated."""

    directive: str
    blocked: str
    path: str


def parse_reports(body: bytes, media_type: str) -> list[Violation]:
    """The violations in a report body of `media_type` (one of MEDIA_TYPES).

    Raises MalformedReport when the body is not JSON of the expected shape.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedReport("the body is not JSON") from None
    if media_type == "application/csp-report":
        if not isinstance(data, dict) or not isinstance(data.get("csp-report"), dict):
            raise MalformedReport('expected {"csp-report": {...}}')
        report = data["csp-report"]
        directive = report.get("effective-directive") or report.get("violated-directive")
        return [_violation(directive, report.get("blocked-uri"), report.get("document-uri"))]
    if not isinstance(data, list) or len(data) > MAX_REPORTS:
        raise MalformedReport(f"expected a list of at most {MAX_REPORTS} reports")
    out: list[Violation] = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
            raise MalformedReport('each report is an object with a "body" object')
        if item.get("type") != "csp-violation":
            continue
        body_ = item["body"]
        page = body_.get("documentURL") or item.get("url")
        out.append(_violation(body_.get("effectiveDirective"), body_.get("blockedURL"), page))
    return out


def _violation(directive: Any, blocked: Any, page: Any) -> Violation:
    return Violation(_directive(directive), _blocked(blocked), _path(page))


def _directive(value: Any) -> str:
    if not isinstance(value, str):
        return "other"
    # Older browsers send the violated directive with its sources ("img-src 'self'").
    name = value.strip().split(" ", 1)[0].lower()
    return name if name in DIRECTIVES else "other"


def _blocked(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "other"
    text = value.strip()
    if text.lower() in KEYWORDS:
        return text.lower()
    scheme = text.split(":", 1)[0].lower()
    if scheme in ("data", "blob", "filesystem"):
        return scheme  # CSP3 "Strip URL for use in reports": only the scheme
    # Only the host: a blocked URL's path and query may carry identifiers (pixel parameters).
    return url_host(text, None) or "other"


def _path(value: Any) -> str:
    if not isinstance(value, str):
        return "other"
    try:
        path = urlsplit(value.strip()).path
    except ValueError:
        return "other"
    if not path.startswith("/"):
        return "/" if not path else "other"
    return path[:MAX_PATH]


@dataclass(frozen=True)
class ViolationCount:
    """One row of `CspViolations.snapshot()`."""

    directive: str
    blocked: str
    path: str
    count: int


class CspViolations:
    """Violation counts by (directive, blocked host, page path), in process memory.

    The counts live in a metrics counter, so the Prometheus endpoint shows them as they are;
    past MAX_ENTRIES distinct keys new keys are only counted in `dropped` (a flood of made-up
    hosts cannot grow memory or the metrics without bound).
    """

    def __init__(self, counter: Counter, dropped: Counter, max_entries: int = MAX_ENTRIES) -> None:
        self._counter = counter
        self._dropped = dropped
        self.max_entries = max_entries

    def record(self, violation: Violation) -> bool:
        """Count one violation; False when it was dropped for want of room."""
        key = (
            ("directive", violation.directive),
            ("blocked", violation.blocked),
            ("path", violation.path),
        )
        values = self._counter.values
        if key not in values and len(values) >= self.max_entries:
            self._dropped.inc()
            return False
        self._counter.inc(key)
        return True

    def snapshot(self) -> list[ViolationCount]:
        """Every count so far, most frequent first."""
        rows = [_row(labels, n) for labels, n in self._counter.values.items()]
        return sorted(rows, key=lambda r: (-r.count, r.directive, r.blocked, r.path))

    def __iter__(self) -> Iterator[ViolationCount]:
        return iter(self.snapshot())


def _row(labels: tuple[tuple[str, str], ...], count: int) -> ViolationCount:
    named: Mapping[str, str] = dict(labels)
    return ViolationCount(named["directive"], named["blocked"], named["path"], count)
