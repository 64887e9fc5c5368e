"""Pick the banner language from `Accept-Language` (RFC 9110 §12.5.4) among the ones we ship."""

from __future__ import annotations

from collections.abc import Sequence

SUPPORTED = ("en", "ar", "th")
RTL = frozenset({"ar"})
MAX_HEADER = 1024  # longer headers are hostile or broken; fall back to the default


def _quality(raw: str) -> float:
    try:
        q = float(raw)
    except ValueError:
        return 0.0
    return q if 0.0 <= q <= 1.0 else 0.0


def negotiate_language(header: str | None, supported: Sequence[str] = SUPPORTED) -> str:
    """The best supported language for `header`; the first supported one when none matches.

    Matching is by primary subtag (`ar-SA` → `ar`); `q=0` excludes; ties keep header order.
    """
    default = supported[0]
    if not header or len(header) > MAX_HEADER:
        return default
    best, best_q = default, 0.0
    for item in header.split(","):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            q = _quality(params[2:].strip())
        primary = tag.strip().lower().split("-", 1)[0]
        if primary == "*" and q > best_q:
            best, best_q = default, q
        elif primary in supported and q > best_q:
            best, best_q = primary, q
    return best


def direction(language: str) -> str:
    """`rtl` for right-to-left scripts, else `ltr`."""
    return "rtl" if language in RTL else "ltr"
