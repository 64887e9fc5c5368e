"""The Content-Security-Policy of one consent state (config `csp`).

Sent as an additional header on rewritten pages, next to the shop's own policy, which stays as
it is: a browser enforces every policy it is given, so ours can only take away (CSP3 "The
effect of multiple policies"). Per consent state it is built once and cached (the mode is
fixed per process), so a page costs one dict lookup (plus a string join when the shop's policy
carries a nonce).

Fetch directives (CSP3 "Fetch Directives") `default-src`, `script-src`, `style-src`,
`img-src`, `font-src`, `connect-src`, `frame-src` and `media-src` allow `'self'`,
`csp.essential_hosts` and the hosts of the granted purposes, never `*` or a bare scheme that
reaches the network (`https:`). A granted host pattern is left out when it also matches a host
listed under a purpose not granted (CSP has no way to exclude it again; fail closed).

Decisions:
- Inline scripts the gateway injects (banner, activation, Consent Mode snippet, choices link)
  are allowed by their sha256 hash (CSP3 "Does element match source list for type and
  source?": a hash-source matches the element's text), computed at start-up (the Consent Mode
  one per consent state). The shop's own inline scripts need `csp.unsafe_inline` or a nonce:
  the nonce and hash sources of the shop's own script policy are copied into ours per
  response, so what the shop allows by nonce still runs. With `csp.unsafe_inline` no hash or
  nonce is added (CSP3 "Does a source list allow all inline behavior for type?": a nonce or
  hash makes a browser ignore 'unsafe-inline').
- `style-src` always allows 'unsafe-inline': CSS runs no code, and what it fetches (`url()`)
  is checked against `img-src`/`font-src` by its request destination (CSP3 "Get the effective
  directive for request"), so tracking through CSS still meets the wall; shops' inline styles
  and the banner's keep working.
- `img-src`, `media-src` and `font-src` allow `data:` and `blob:` (content already in the page,
  no request leaves the browser); `connect-src`, `script-src` and `frame-src` do not.
- `report-to` (with `Reporting-Endpoints`) only on pages served over https: a browser that
  supports it then ignores `report-uri`, yet delivers Reporting API reports only for secure
  pages (Chromium, verified: a batch of `application/reports+json` from an https page, none
  from a plain-http one), so on http the policy names `report-uri` alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from policies.models import CspSettings, Purpose, patterns_intersect

Field = tuple[bytes, bytes]

ENFORCE = b"content-security-policy"
REPORT_ONLY = b"content-security-policy-report-only"
REPORTING_ENDPOINTS = b"reporting-endpoints"
#: The Reporting API endpoint name our `report-to` names (Reporting API, `Reporting-Endpoints`).
ENDPOINT_NAME = "consentgate-csp"
MAX_CACHED_STATES = 1024

# CSP3 "Source Lists": nonce-source and hash-source, the only sources we copy
# from the shop's policy (a host or 'strict-dynamic' there would widen ours).
_COPYABLE = re.compile(
    r"'(?:nonce-[A-Za-z0-9+/_=-]{1,256}|sha(?:256|384|512)-[A-Za-z0-9+/_=-]{1,128})'"
)
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.IGNORECASE | re.DOTALL)
_SRC_ATTR = re.compile(r"\ssrc\s*=", re.IGNORECASE)
MAX_COPIED = 16


def script_hash(text: str) -> str:
    """The CSP hash-source of an inline script whose text is `text` (CSP3 "Does element match
    source list for type and source?": the element's text, UTF-8 encoded, digested and
    base64-encoded)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def inline_scripts(html: str) -> list[str]:
    """The texts of the inline (no `src`) script elements in the gateway's own markup."""
    return [text for attrs, text in _SCRIPT.findall(html) if not _SRC_ATTR.search(attrs)]


def granted_hosts(purposes: Sequence[Purpose], granted: Iterable[str]) -> tuple[str, ...]:
    """Host patterns of the granted purposes that match no host of an ungranted one.

    A pattern needs every purpose listing a pattern it shares a host with, as prior blocking
    needs every purpose listing a host (`HostIndex.purposes_for`).
    """
    on = frozenset(granted)
    listed = [(h, p.id) for p in purposes for h in p.hosts]
    out: list[str] = []
    for p in purposes:
        if p.id not in on:
            continue
        for host in p.hosts:
            needs = {pid for other, pid in listed if patterns_intersect(host, other)}
            if needs <= on:
                out.append(host)
    return tuple(dict.fromkeys(out))


def build_policy(
    hosts: Sequence[str],
    *,
    script_sources: Sequence[str] = (),
    unsafe_inline: bool = False,
    unsafe_eval: bool = False,
    report_uri: str | None = None,
    report_to: str | None = None,
) -> tuple[str, str]:
    """The serialized policy (CSP3 "Policies"), split right after the script-src sources so a
    response can add the page's nonce there: `head + extra + tail`."""
    allowed = ("'self'", *hosts)
    script = list(allowed)
    if unsafe_inline:
        script.append("'unsafe-inline'")
    else:
        script.extend(script_sources)
    if unsafe_eval:
        script.append("'unsafe-eval'")
    local = ("data:", "blob:")
    directives = [
        ("default-src", allowed),
        ("style-src", (*allowed, "'unsafe-inline'")),
        ("img-src", (*allowed, *local)),
        ("font-src", (*allowed, *local)),
        ("media-src", (*allowed, *local)),
        ("connect-src", allowed),
        ("frame-src", allowed),
    ]
    tail = "".join(f"; {name} {' '.join(sources)}" for name, sources in directives)
    if report_uri is not None:
        tail += f"; report-uri {report_uri}"  # CSP3 report-uri (deprecated, still what most send)
    if report_to is not None:
        tail += f"; report-to {report_to}"  # CSP3 report-to
    return "script-src " + " ".join(script), tail


def copied_sources(upstream: Iterable[Field]) -> list[str]:
    """The nonce and hash sources of the shop's own script policy (every CSP field, every
    policy in it: CSP3 "The Content-Security-Policy HTTP Response Header Field"), to be
    allowed by ours too."""
    found: list[str] = []
    for name, value in upstream:
        if name.lower() not in (ENFORCE, REPORT_ONLY):
            continue
        text = value.decode("latin-1")
        for policy in text.split(","):
            directives: dict[str, str] = {}
            for directive in policy.split(";"):
                parts = directive.strip().split(None, 1)
                if parts:
                    directives.setdefault(parts[0].lower(), parts[1] if len(parts) > 1 else "")
            # CSP3 "Get fetch directive fallback list": script-src-elem, script-src, default-src.
            for key in ("script-src-elem", "script-src", "default-src"):
                if key in directives:
                    found.extend(_COPYABLE.findall(directives[key]))
                    break
    return list(dict.fromkeys(found))[:MAX_COPIED]


@dataclass(frozen=True)
class CspHeader:
    """The fields of one consent state's policy (`head + tail` is the policy)."""

    name: bytes
    head: str
    tail: str
    endpoints: bytes | None

    @property
    def value(self) -> str:
        return self.head + self.tail

    def fields(self, copied: Sequence[str] = ()) -> list[Field]:
        """The header fields, with `copied` sources (the page's nonce) in script-src."""
        extra = "".join(" " + s for s in copied)
        out = [(self.name, (self.head + extra + self.tail).encode("latin-1"))]
        if self.endpoints is not None:
            out.append((REPORTING_ENDPOINTS, self.endpoints))
        return out


class CspPolicies:
    """Builds and caches the policy of each consent state (granted purpose set)."""

    def __init__(
        self,
        settings: CspSettings,
        purposes: Sequence[Purpose],
        report_path: str,
        static_scripts: Iterable[str] = (),
        state_scripts: Callable[[frozenset[str]], Iterable[str]] | None = None,
    ) -> None:
        """`static_scripts`: the texts of the inline scripts the gateway may inject into any
        page; `state_scripts(granted)`: those that depend on the consent state."""
        self.settings = settings
        self.purposes = tuple(purposes)
        self.report_path = report_path
        self.static_hashes = tuple(dict.fromkeys(script_hash(t) for t in static_scripts))
        self.state_scripts = state_scripts
        self._cache: dict[tuple[frozenset[str], bool], CspHeader | None] = {}

    def for_state(self, granted: frozenset[str], secure: bool = True) -> CspHeader | None:
        """The policy for visitors who granted `granted`, on a page served over https
        (`secure`) or not; None when `csp.mode` is off."""
        key = (granted, secure)
        try:
            return self._cache[key]
        except KeyError:
            pass
        header = self._build(granted, secure)
        if len(self._cache) < MAX_CACHED_STATES:
            self._cache[key] = header
        return header

    def _build(self, granted: frozenset[str], secure: bool) -> CspHeader | None:
        settings = self.settings
        if settings.mode == "off":
            return None
        hosts = (*settings.essential_hosts, *granted_hosts(self.purposes, granted))
        hashes = list(self.static_hashes)
        if self.state_scripts is not None:
            hashes += [script_hash(t) for t in self.state_scripts(granted)]
        report_to = ENDPOINT_NAME if settings.report_to and secure else None
        head, tail = build_policy(
            tuple(dict.fromkeys(hosts)),
            script_sources=tuple(dict.fromkeys(hashes)),
            unsafe_inline=settings.unsafe_inline,
            unsafe_eval=settings.unsafe_eval,
            report_uri=self.report_path,
            report_to=report_to,
        )
        name = ENFORCE if settings.mode == "enforce" else REPORT_ONLY
        endpoints = None
        if report_to is not None:
            # Reporting API `Reporting-Endpoints`: a structured dictionary; a relative URL
            # resolves against the page's own.
            endpoints = f'{ENDPOINT_NAME}="{self.report_path}"'.encode("latin-1")
        return CspHeader(name, head, tail, endpoints)

    def fields(
        self, granted: frozenset[str], upstream: Sequence[Field], secure: bool = True
    ) -> list[Field]:
        """The fields to add to a rewritten page for this state (none when off); the shop's
        own CSP fields in `upstream` stay as they are."""
        header = self.for_state(granted, secure)
        if header is None:
            return []
        copied = () if self.settings.unsafe_inline else copied_sources(upstream)
        return header.fields(copied)


def policy_directives(value: str) -> Mapping[str, tuple[str, ...]]:
    """A serialized policy parsed into directive → sources (for tests and the docs)."""
    out: dict[str, tuple[str, ...]] = {}
    for directive in value.split(";"):
        parts = directive.split()
        if parts:
            out.setdefault(parts[0].lower(), tuple(parts[1:]))
    return out
