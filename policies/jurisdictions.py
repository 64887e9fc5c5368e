"""Which privacy regime applies, from the visitor's country and subdivision.

The caller has already decided where the location came from: a geo database lookup of the
client address, or edge headers from a peer in `gateway.trusted_proxies`. Both arrive here as
plain strings; anything unusable counts as unknown, and unknown fails closed to
`jurisdiction.unknown` (the strictest regime in the shipped config).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from policies.models import Config, EdgeHeaders

_COUNTRY = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")
# Codes that name no country: Cloudflare's XX (unknown) and T1 (Tor); ISO 3166 user-assigned
# ZZ; MaxMind's legacy EU/AP continent codes.
_NOT_A_COUNTRY = frozenset({"XX", "T1", "ZZ", "EU", "AP"})


def normalize_country(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code in upper case, or None when `value` is not one."""
    if value is None:
        return None
    code = value.strip().upper()
    if not _COUNTRY.fullmatch(code) or code in _NOT_A_COUNTRY:
        return None
    return code


def normalize_subdivision(country: str | None, value: str | None) -> str | None:
    """An ISO 3166-2 code such as `US-CA`; `value` may be `US-CA` or the bare `CA`.

    A prefixed value must agree with `country` (a mismatch means one of them is wrong, so the
    subdivision is dropped rather than guessed).
    """
    if country is None or value is None:
        return None
    code = value.strip().upper()
    prefix, dash, rest = code.partition("-")
    if dash:
        if prefix != country:
            return None
        code = rest
    if not _SUBDIVISION.fullmatch(code):
        return None
    return f"{country}-{code}"


def regime_for(country: str | None, subdivision: str | None, config: Config) -> str:
    """The regime name for a location; subdivisions beat countries, unknown fails closed."""
    cc = normalize_country(country)
    if cc is None:
        return config.jurisdiction.unknown
    sub = normalize_subdivision(cc, subdivision)
    by_subdivision = {s: name for name, r in config.regimes.items() for s in r.subdivisions}
    if sub is not None and sub in by_subdivision:
        return by_subdivision[sub]
    for name, regime in config.regimes.items():
        if cc in regime.countries:
            return name
    if sub is None and any(s.startswith(cc + "-") for s in by_subdivision):
        # The regime depends on the state, and we do not know the state.
        return config.jurisdiction.unknown_subdivision or config.jurisdiction.unknown
    return "default"


def location_from_headers(
    headers: Iterable[tuple[str, str]] | Mapping[str, str], edge: EdgeHeaders
) -> tuple[str | None, str | None]:
    """(country, region) from trusted edge headers; the first configured header present wins.

    Call only for requests from a trusted proxy. Header names compare case-insensitively
    (RFC 9110 §5.1); values are returned raw for `regime_for` to normalize.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    seen: dict[str, str] = {}
    for name, value in pairs:
        seen.setdefault(name.lower(), value)

    def first(names: list[str]) -> str | None:
        for n in names:
            if n.lower() in seen:
                return seen[n.lower()]
        return None

    return first(edge.country), first(edge.region)
