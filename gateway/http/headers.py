"""Which header fields cross the gateway, in either direction (pure; no I/O).

Fields are `(name, value)` byte pairs as ASGI and aiohttp's `raw_headers` carry them. The
proxy calls `forwardable` once per message; everything it needs is precomputed here at import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Field = tuple[bytes, bytes]

# RFC 9110 §7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding and
# Upgrade; RFC 2616 §13.5.1 adds Trailer(s) and Proxy-Authenticate/-Authorization, which are
# meant for a proxy and must not leak credentials further.
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"proxy-connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)

# GPC spec §3: intermediaries must not remove `Sec-GPC`, even when `Connection` names it.
PROTECTED: frozenset[bytes] = frozenset({b"sec-gpc"})

# RFC 9110 §5.1: field-name = token; tchar excludes ":", whitespace and controls.
_TCHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# RFC 9110 §5.5: field-vchar = VCHAR / obs-text, with SP and HTAB between them.
_VALUE = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))


def is_safe_field(name: bytes, value: bytes) -> bool:
    """True when `name` is a token and `value` holds only field-content bytes.

    The one validator every outbound field passes: an unsafe field is dropped, never repaired.
    RFC 9110 §5.5: a field value is VCHAR, obs-text (0x80-0xFF), SP and HTAB; CR, LF and NUL
    would split the message, and any other control (0x01-0x1F, DEL) is invalid too (granian
    refuses to send one, so it must never reach the server).
    """
    # bytes.translate deletes every tchar (or every valid value byte); anything left is not.
    return bool(name) and not name.translate(None, _TCHARS) and not value.translate(None, _VALUE)


def first_invalid_field(fields: Iterable[Field]) -> Field | None:
    """The first field `is_safe_field` rejects, or None when every field is valid."""
    for name, value in fields:
        if not is_safe_field(name, value):
            return name, value
    return None


def connection_tokens(fields: Iterable[Field]) -> frozenset[bytes]:
    """Lower-cased field names listed in any `Connection` field (RFC 9110 §7.6.1)."""
    tokens: set[bytes] = set()
    for name, value in fields:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    tokens.discard(b"")
    return frozenset(tokens)


def forwardable(fields: Sequence[Field], drop: frozenset[bytes] = frozenset()) -> list[Field]:
    """The fields to pass on, in their original order and bytes.

    Removes hop-by-hop fields, the fields the sender's `Connection` nominates (except
    `PROTECTED` ones), every name in `drop` (lower-case), and any field `is_safe_field`
    rejects. The caller adds its own fields after this, so a nominated name can never remove
    them (RFC 9110 §7.6.1: strip Connection-nominated fields before adding ours).
    """
    nominated = connection_tokens(fields) - PROTECTED
    kept: list[Field] = []
    for name, value in fields:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in drop or lower in nominated:
            continue
        if is_safe_field(name, value):
            kept.append((name, value))
    return kept


def field_value(fields: Iterable[Field], lower_name: bytes) -> bytes | None:
    """The first value of the field named `lower_name` (lower-case), or None."""
    for name, value in fields:
        if name.lower() == lower_name:
            return value
    return None


def varies_on(fields: Iterable[Field], lower_name: bytes) -> bool:
    """True if a `Vary` field already lists `lower_name` or `*`."""
    for name, value in fields:
        if name.lower() == b"vary":
            for item in value.split(b","):
                token = item.strip().lower()
                if token == lower_name or token == b"*":
                    return True
    return False


class LocationRewriter:
    """Maps redirect targets on the upstream's own origin to the client-facing origin.

    Built once from the configured upstream URL (`scheme://host[:port][/base]`). Like nginx's
    `proxy_redirect default`: only absolute (or scheme-relative) URLs naming the upstream are
    rewritten; relative references and other hosts pass unchanged.
    """

    def __init__(self, upstream: str) -> None:
        scheme, _, rest = upstream.partition("://")
        authority, slash, base = rest.partition("/")
        host, port = _split_authority(authority.lower())
        default_port = "443" if scheme.lower() == "https" else "80"
        authorities = {f"{host}:{port or default_port}"}
        if port in ("", default_port):
            authorities.add(host)
        self._base = (slash + base).encode("latin-1")
        prefixes: list[bytes] = []
        for auth in sorted(authorities, key=len, reverse=True):
            prefixes.append(f"{scheme.lower()}://{auth}".encode("latin-1") + self._base)
            prefixes.append(f"//{auth}".encode("latin-1") + self._base)
        self._prefixes = tuple(prefixes)

    def rewrite(self, location: bytes, public_origin: bytes | None) -> bytes:
        """`location` with the upstream origin (and base path) replaced by `public_origin`.

        `public_origin` is `scheme://host[:port]` as the client addressed the gateway; None
        (no trustworthy Host) leaves the value unchanged.
        """
        if public_origin is None:
            return location
        lowered = location.lower()
        for prefix in self._prefixes:
            if lowered.startswith(prefix):
                rest = location[len(prefix) :]
                # Only a whole authority matches: http://shop.example.evil is another host.
                if rest == b"" or rest[:1] in (b"/", b"?", b"#"):
                    if rest == b"" or rest[:1] != b"/":
                        rest = b"/" + rest
                    return public_origin + rest
        return location


def _split_authority(authority: str) -> tuple[str, str]:
    if authority.startswith("["):
        host, _, after = authority.partition("]")
        return host + "]", after.removeprefix(":")
    host, _, port = authority.partition(":")
    return host, port
