"""Global Privacy Control, read on the server before any HTML is personalized.

GPC spec (privacycg.github.io/gpc-spec, "The Sec-GPC Header Field for HTTP Requests"):
  Sec-GPC-field-value = "1". A server MUST ignore the header unless the field value is exactly
  "1"; with several Sec-GPC headers, at least one exactly "1" means on, otherwise off.

Decisions:
- Leading/trailing SP and HTAB are trimmed first: RFC 9110 §5.5 says they are not part of the
  field value (a parser may hand them over), so `"1 "` on the wire has the value "1".
- A field line joined with commas (`"0, 1"`) is split: RFC 9110 §5.3 lets a recipient or an
  intermediary combine repeated fields that way, so each member counts as one header. Erring
  this way can only turn GPC on, i.e. protect more.
- Anything else ("true", "01", "1.0", "yes") is off, as the spec requires.
"""

from __future__ import annotations

from collections.abc import Iterable

HEADER = "sec-gpc"
_OWS = " \t"


def gpc_value_is_on(value: str | bytes) -> bool:
    """True when one Sec-GPC field line carries exactly "1" (after OWS, per member)."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return any(member.strip(_OWS) == "1" for member in text.split(","))


def gpc_requested(headers: Iterable[tuple[str | bytes, str | bytes]]) -> bool:
    """True when the request's headers carry a GPC opt-out.

    `headers` are (name, value) pairs as ASGI gives them (bytes) or as strings; names compare
    case-insensitively (RFC 9110 §5.1).
    """
    for name, value in headers:
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        if key.lower() == HEADER and gpc_value_is_on(value):
            return True
    return False
