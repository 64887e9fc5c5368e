"""The host a browser would fetch a URL attribute from, per the WHATWG URL Standard.

Prior blocking decides by host, so it must read a `src`/`href` the way the browser does, not
the way `urllib` does: leading and trailing C0 controls and spaces are stripped, tabs and
newlines anywhere are removed, `\\` counts as `/` in http(s) URLs, any run of slashes after
the scheme (or at the start of a scheme-relative URL) is skipped, the host starts after the
*last* `@` of the authority, is percent-decoded, mapped by UTS #46 (so `ＷＷＷ．Example。com`
is `www.example.com`), and a host that ends in a number is an IPv4 address in any of the
legacy forms (`0x7f.1` is `127.0.0.1`).

One deliberate divergence, fail closed: `https:host/x` is relative when the page itself is
https and an absolute URL on `host` otherwise; the page's scheme is unknown here, so it is
read as naming `host`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from urllib.parse import unquote

import idna

# URL Standard §4.1: the schemes whose URLs have a network host ("file" fetches nothing from
# an http(s) page).
_SPECIAL = frozenset({"http", "https", "ws", "wss", "ftp"})
# URL Standard §4.4 (basic URL parser, first steps): C0 control or space trimmed, ASCII tab or
# newline removed anywhere.
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# The authority of a special URL ends at the path (`/` or `\`), the query or the fragment.
_AUTHORITY_END = re.compile(r"[/\\?#]")
# URL Standard §3.1: forbidden domain code points (a host holding one fails to parse).
_FORBIDDEN = frozenset("\x00\t\n\r #/:<>?@[\\]^|%\x7f") | frozenset(map(chr, range(0x20)))
# HTML §4.8.4.3.11 (srcset): a candidate's URL is a run of non-whitespace.
_HTML_WS = " \t\n\f\r"


def url_host(value: str, base_host: str | None = None) -> str | None:
    """The lowercase ASCII host `value` would be fetched from.

    A relative URL resolves to `base_host` (the `<base href>` host, or None for the page's
    own host). None also when the URL names no network host (`data:`, `javascript:`, `blob:`)
    or its host cannot be parsed (the browser then fetches nothing either).
    """
    if len(value) <= _CACHED_LENGTH:
        return _cached_host(value, base_host)  # the same tracker tags on every page
    return _url_host(value, base_host)


_CACHED_LENGTH = 2048


def _url_host(value: str, base_host: str | None) -> str | None:
    url = value.strip(_C0_OR_SPACE).translate(_TAB_OR_NEWLINE)
    scheme = _SCHEME.match(url)
    if scheme is not None:
        if scheme.group(1).lower() not in _SPECIAL:
            return None
        # URL Standard "special authority ignore slashes state": any mix of `/` and `\`.
        return _authority_host(url[scheme.end() :].lstrip("/\\"))
    if url[:2] in ("//", "\\\\", "/\\", "\\/"):
        # Scheme-relative: the page is http(s), a special scheme, so `\` counts as `/`.
        return _authority_host(url.lstrip("/\\"))
    return base_host


_cached_host = lru_cache(maxsize=8192)(_url_host)


def srcset_urls(value: str) -> Iterator[str]:
    """The candidate URLs of a `srcset` (HTML §4.8.4.3.11, without the descriptors)."""
    pos, n = 0, len(value)
    while pos < n:
        while pos < n and (value[pos] in _HTML_WS or value[pos] == ","):
            pos += 1
        start = pos
        while pos < n and value[pos] not in _HTML_WS:
            pos += 1
        url = value[start:pos]
        if not url:
            return
        if url.endswith(","):
            # A URL ending in commas ends its candidate (it has no descriptors).
            yield url.rstrip(",")
            continue
        yield url
        # Skip the descriptors up to the next comma outside parentheses.
        depth = 0
        while pos < n:
            c = value[pos]
            if c == "(":
                depth += 1
            elif c == ")" and depth:
                depth -= 1
            elif c == "," and not depth:
                break
            pos += 1


def _authority_host(rest: str) -> str | None:
    end = _AUTHORITY_END.search(rest)
    authority = rest[: end.start()] if end else rest
    # URL Standard "authority state": everything up to the last `@` is credentials, so
    # `https://www.googletagmanager.com@evil.example/` fetches from evil.example.
    hostport = authority[authority.rfind("@") + 1 :]
    if hostport.startswith("["):
        close = hostport.find("]")
        return hostport[: close + 1].lower() if close > 0 else None  # IPv6: never a name
    return _domain(hostport.split(":", 1)[0])


def _domain(raw: str) -> str | None:
    if not raw:
        return None
    # URL Standard "host parser": percent-decode, UTF-8 decode, then domain to ASCII.
    host = unquote(raw, errors="replace") if "%" in raw else raw
    if host.isascii():
        host = host.lower()
    else:
        try:
            # UTS #46 with the URL Standard's flags: non-transitional, no STD3 rules.
            mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        except (idna.IDNAError, ValueError):
            return None
        labels = []
        for label in mapped.split("."):
            if label.isascii():
                labels.append(label)
            else:
                try:
                    labels.append("xn--" + label.encode("punycode").decode("ascii"))
                except UnicodeError:
                    return None  # bytes the page's charset cannot read: no valid host
        host = ".".join(labels)
    if not host or any(c in _FORBIDDEN for c in host):
        return None
    if _ends_in_number(host):
        return _ipv4(host)
    return host


def _ends_in_number(host: str) -> bool:
    """URL Standard "ends in a number checker"."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if last.isdigit() and last.isascii():
        return True
    return _ipv4_number(last) is not None


def _ipv4_number(part: str) -> int | None:
    """URL Standard "IPv4 number parser": 0x-hex, 0-octal or decimal."""
    if not part:
        return None
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if not part:
        return 0
    digits = {10: "0123456789", 16: "0123456789abcdefABCDEF", 8: "01234567"}[radix]
    if not all(c in digits for c in part):
        return None
    return int(part, radix)


def _ipv4(host: str) -> str | None:
    """URL Standard "IPv4 parser"; None where it fails (the browser fetches nothing)."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        return None
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    if any(v > 255 for v in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return None
    address = values[-1]
    for i, v in enumerate(values[:-1]):
        address += v * 256 ** (3 - i)
    return ".".join(str((address >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def space_separated_urls(value: str) -> list[str]:
    """The URLs of a `ping` (HTML §4.6.5: a set of space-separated tokens, each a URL)."""
    return value.split()


def refresh_url(content: str) -> str | None:
    """The URL a `<meta http-equiv=refresh content=…>` navigates to (HTML §4.2.5.3, "shared
    declarative refresh steps"); None when it reloads the page itself or fails to parse."""
    n = len(content)
    pos = _skip_ws(content, 0)
    start = pos
    while pos < n and content[pos].isascii() and content[pos].isdigit():
        pos += 1
    if pos == start and not content.startswith(".", pos):
        return None
    while pos < n and (content[pos] == "." or content[pos].isascii() and content[pos].isdigit()):
        pos += 1
    if pos >= n:
        return None
    if content[pos] not in ";," + _HTML_WS:
        return None
    pos = _skip_ws(content, pos)
    if pos < n and content[pos] in ";,":
        pos += 1
    pos = _skip_ws(content, pos)
    if pos >= n:
        return None
    url = content[pos:]
    if content[pos] in "uU":
        if content[pos + 1 : pos + 3].lower() != "rl":
            return url
        after = _skip_ws(content, pos + 3)
        if not content.startswith("=", after):
            return url
        pos = _skip_ws(content, after + 1)
    if pos < n and content[pos] in "\"'":
        quote = content[pos]
        url = content[pos + 1 :]
        end = url.find(quote)
        return url if end < 0 else url[:end]
    return content[pos:]


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _HTML_WS:
        pos += 1
    return pos
