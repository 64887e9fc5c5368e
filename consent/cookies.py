"""Dropping upstream `Set-Cookie`s whose name belongs to a purpose that is not granted.

Cookie names are read as browsers read them:
- RFC 6265 §5.2 steps 1-4: the name-value pair runs to the first ";", the name to its first
  "=", and SP/HTAB around the name are removed. Names compare case-sensitively (§5.3 stores
  them as given; `_GA` is not `_ga`).
- A pair without "=" (`Set-Cookie: _ga`) or with an empty name (`=_ga=1`) is *not* harmless:
  RFC 6265 §5.2 would ignore it, but browsers follow RFC 6265bis ("The Set-Cookie Header
  Field"), store a nameless cookie, and send back just its value, `_ga` or `_ga=1`, which the
  next server parses as a cookie named `_ga`. So such a header is matched under that echoed
  name too, and dropped when it matches; otherwise it is kept as the shop sent it.
- A header that deletes the cookie (`Max-Age` of zero or less, RFC 6265 §5.2.2) is always kept:
  it removes a tracker's cookie, e.g. after a withdrawal, and stores nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from policies.models import Purpose

_WSP = " \t"


def cookie_names(set_cookie: str) -> tuple[str, ...]:
    """The names a browser will send back for this `Set-Cookie` value (one, or for a nameless
    cookie the name a server will parse from its echoed value as well)."""
    pair = set_cookie.split(";", 1)[0]
    name, eq, value = pair.partition("=")
    if not eq:
        name, value = "", pair
    name = name.strip(_WSP)
    if name:
        return (name,)
    echoed = value.strip(_WSP).partition("=")[0].strip(_WSP)
    return ("", echoed) if echoed else ("",)


def deletes_cookie(set_cookie: str) -> bool:
    """True when the last valid `Max-Age` attribute is zero or negative (RFC 6265 §5.3 step 3
    uses the last one; §5.2.2 ignores values that are not an optional '-' and digits)."""
    max_age: int | None = None
    for attribute in set_cookie.split(";")[1:]:
        key, _, value = attribute.partition("=")
        value = value.strip(_WSP)
        digits = value[1:] if value.startswith("-") else value
        if key.strip(_WSP).lower() == "max-age" and digits.isascii() and digits.isdigit():
            max_age = int(value)
    return max_age is not None and max_age <= 0


def glob_to_regex(globs: Iterable[str]) -> re.Pattern[str] | None:
    """One anchored regex for a purpose's cookie globs ('*' = any run of characters)."""
    parts = [".*".join(re.escape(piece) for piece in g.split("*")) for g in globs]
    if not parts:
        return None
    return re.compile("|".join(f"(?:{p})" for p in parts))


@dataclass(frozen=True)
class CookieFilter:
    """The purposes' cookie patterns, compiled once per config (one regex per purpose)."""

    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def build(cls, purposes: Iterable[Purpose]) -> CookieFilter:
        """Compile every purpose's `cookies` globs."""
        compiled = ((p.id, glob_to_regex(p.cookies)) for p in purposes)
        return cls(tuple((pid, rx) for pid, rx in compiled if rx is not None))

    def purposes_for(self, name: str) -> tuple[str, ...]:
        """Ids of the purposes whose patterns match the cookie name `name`."""
        return tuple(pid for pid, rx in self.patterns if rx.fullmatch(name))

    def should_drop(self, set_cookie: str, granted: Mapping[str, bool]) -> bool:
        """True when a purpose claiming this cookie is not granted (missing counts as not)."""
        if deletes_cookie(set_cookie):
            return False
        return any(
            not granted.get(pid, False)
            for name in cookie_names(set_cookie)
            for pid in self.purposes_for(name)
        )

    def keep(self, set_cookies: Iterable[str], granted: Mapping[str, bool]) -> list[str]:
        """The `Set-Cookie` values that may reach the browser, in their original order."""
        return [v for v in set_cookies if not self.should_drop(v, granted)]
