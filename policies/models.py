"""Typed models of `policies.yaml`.

Every section forbids unknown keys so a misspelt option is a `consentgate check` error with
FILE:LINE instead of a silently ignored setting. Relative paths are resolved against the
directory of the config file by the loader (`policies.loader`), never against the CWD.
Later issues add sections (rules, audit); each is its own model here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from policies.data_uses import unknown_data_use

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MIB = 1024 * 1024
# scheme://host[:port] as a CSP host-source can name it: a DNS name, an IPv4 or [IPv6] literal.
_ORIGIN = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::\d{1,5})?", re.IGNORECASE
)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(Section):
    """Upstream timeouts in seconds; a timeout answers 504."""

    connect: Annotated[float, Field(gt=0)] = 5.0
    # Time to the response head, and the longest silence while streaming a body.
    read: Annotated[float, Field(gt=0)] = 30.0


class GatewaySettings(Section):
    """Where the gateway listens, what it fronts and whom it trusts."""

    upstream: str
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    prefix: str = "/_privacy"
    # Peers whose X-Forwarded-* / Forwarded headers are believed. Explicit, never "*".
    trusted_proxies: list[IPNetwork] = Field(default_factory=list)
    # Who may scrape GET {prefix}/metrics: the client as resolved through trusted_proxies
    # (the TCP peer unless that is a trusted proxy); loopback only unless the operator lists
    # their scraper's network.
    metrics_allow: list[IPNetwork] = Field(
        default_factory=lambda: [
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        ]
    )
    # Origins allowed to frame the visitor pages (preference center, my-data), e.g.
    # [https://shop.example] or ['self']; empty: no page of the gateway can be framed.
    embed_origins: list[str] = Field(default_factory=list)
    timeouts: Timeouts = Timeouts()
    # Upper bound on decoded HTML the rewriter will handle per response (gzip-bomb guard).
    max_html_bytes: Annotated[int, Field(gt=0)] = 32 * MIB
    # Keep-alive pool to the upstream.
    pool_size: Annotated[int, Field(ge=1, le=10_000)] = 256

    @field_validator("upstream")
    @classmethod
    def _upstream_is_http_origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("upstream must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("upstream must not carry credentials, a query or a fragment")
        return value.rstrip("/")

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/") or len(value) < 2:
            raise ValueError("prefix must start with '/' and not end with '/', e.g. /_privacy")
        return value

    @field_validator("embed_origins")
    @classmethod
    def _embed_origins_are_origins(cls, value: list[str]) -> list[str]:
        # Each becomes a CSP frame-ancestors source (CSP3 §6.4.2): an origin and nothing else,
        # so no value can end the directive (";"), add a source (space) or widen it ("*").
        out: list[str] = []
        for origin in value:
            if origin in ("self", "'self'"):  # YAML makes the quoted keyword awkward to write
                out.append("'self'")
                continue
            if _ORIGIN.fullmatch(origin) is None:
                raise ValueError(
                    f"{origin!r} is not an origin such as https://shop.example or self "
                    "(scheme, host and port only; no path, wildcard or credentials)"
                )
            out.append(origin.lower())
        return out

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _no_wildcards(cls, value: object) -> object:
        if isinstance(value, list) and any(v in ("*", "0.0.0.0/0", "::/0") for v in value):
            raise ValueError("trusted_proxies must list explicit addresses, never '*' or /0")
        return value


class StorageSettings(Section):
    """One SQLAlchemy URL: sqlite+aiosqlite:///PATH (default) or postgresql+asyncpg://..."""

    url: str = "sqlite+aiosqlite:///consentgate.db"

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "storage.url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value


class GeoSettings(Section):
    """A MaxMind-format database (GeoLite2-City, DB-IP lite)."""

    database: Path | None = None
    # When true a missing or corrupt database means geo "unknown" instead of a start error.
    optional: bool = False


class WeatherSettings(Section):
    """Weather provider; personalization fails open when it is slow or down."""

    provider: Literal["none", "offline", "open-meteo"] = "none"
    offline_file: Path | None = None
    # Open-Meteo's free API (the default) is for non-commercial use only: a shop points this
    # at its paid endpoint (https://customer-api.open-meteo.com, with api_key) or self-hosts.
    base_url: str = "https://api.open-meteo.com"
    # Paid plans authenticate with an `apikey` query parameter.
    api_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    # Longest a page waits for weather; past it rules see `unknown` and the fetch finishes
    # in the background to fill the cache.
    budget_ms: Annotated[int, Field(ge=1, le=5000)] = 50
    # The fetch itself (connect to last byte); a timeout counts as a breaker failure.
    timeout_ms: Annotated[int, Field(ge=1, le=60_000)] = 2000
    cache_ttl_seconds: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    # Circuit breaker: this many failures in a row open it for breaker_reset_seconds.
    breaker_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    breaker_reset_seconds: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    # Open-Meteo data is CC BY 4.0 (open-meteo.com/en/licence): credit it where weather shows.
    attribution: Annotated[str, Field(max_length=500)] | None = "Weather data by Open-Meteo.com"

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("base_url must not carry credentials, a query or a fragment")
        return value.rstrip("/")


class RulesSettings(Section):
    """The folder of rule files (YAML)."""

    directory: Path = Path("rules")


# --- Consent: policy, regimes, jurisdiction, purposes ---------------------------------------------

Mechanism = Literal["opt_in", "opt_out", "notice_only"]
LegalBasis = Literal["consent", "legitimate_interests", "contract", "legal_obligation"]
# Google Consent Mode v2 consent types.
ConsentModeKey = Literal[
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
]

_ID = re.compile(r"[a-z0-9_-]{1,64}")
# fideslang keys: snake_case labels joined by dots, e.g. marketing.advertising.third_party.targeted
_DATA_USE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
_COUNTRY = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# RFC 6265 §4.1.1: cookie-name is a token (RFC 2616 §2.2: no CTLs, spaces or separators);
# '*' is our only wildcard and is not a token character either.
_COOKIE_GLOB = re.compile(r"[!#$%&'+\-.^_`|~0-9A-Za-z*]{1,256}")


def _data_use_key(value: str) -> str:
    if not _DATA_USE.fullmatch(value):
        raise ValueError(f"{value!r} is not a fideslang data use key such as analytics.reporting")
    problem = unknown_data_use(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# Validated one by one, so an error names the item (purposes[1].data_uses[0]) and its line.
DataUseKey = Annotated[str, AfterValidator(_data_use_key)]

# EU 27 + EEA (IS, LI, NO) + GB (UK GDPR) + CH (revFADP).
GDPR_COUNTRIES: tuple[str, ...] = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "IS", "LI", "NO", "GB", "CH",
)  # fmt: skip
# US states whose comprehensive privacy laws give an opt-out of sale/sharing/targeted ads.
US_OPTOUT_SUBDIVISIONS: tuple[str, ...] = (
    "US-CA", "US-CO", "US-CT", "US-VA", "US-UT", "US-TX", "US-OR", "US-MT", "US-IA", "US-DE",
    "US-NH", "US-NJ", "US-NE", "US-TN", "US-MN", "US-MD", "US-IN", "US-KY", "US-RI",
)  # fmt: skip


class PolicySettings(Section):
    """The consent policy as a whole: its version and how long choices last."""

    # A new version makes every opt-in choice owed again (the text people agreed to changed).
    version: Annotated[str, Field(min_length=1, max_length=64)] = "1"
    # CNIL guidance (2020 cookie guidelines): re-ask about 6 months after a choice.
    gdpr_choice_ttl_days: Annotated[int, Field(ge=1, le=3650)] = 182
    # Cal. Civ. Code §1798.135(c)(4): wait at least 12 months before asking to opt back in.
    optout_reask_days: Annotated[int, Field(ge=365, le=3650)] = 365
    # What a GPC signal opts out of (fideslang data uses, matched by prefix).
    gpc_data_uses: list[DataUseKey] = Field(
        default_factory=lambda: ["marketing.advertising", "third_party_sharing"]
    )
    # The shop's privacy policy, linked from the preference center (GDPR Art. 13, CCPA
    # §1798.130(a)(5)): an absolute http(s) URL or a same-site path such as /privacy.
    privacy_policy_url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None

    @field_validator("privacy_policy_url")
    @classmethod
    def _policy_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_link(value)
        return value


def check_link(value: str) -> None:
    """A link customers may be sent to: an absolute http(s) URL with a host, or a same-site
    path. Anything else (javascript:, data:, a protocol-relative //host, a backslash that
    browsers read as a slash, control characters) raises ValueError."""
    if any(c in "\\ " or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain spaces, backslashes or control characters")
    if value.startswith("/"):
        if value.startswith("//"):
            raise ValueError("a same-site path starts with one '/', not '//' (another host)")
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, or a path like /privacy")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")


class RegimeSettings(Section):
    """Where a privacy regime applies: ISO 3166-1 countries and ISO 3166-2 subdivisions."""

    countries: list[str] = Field(default_factory=list)
    subdivisions: list[str] = Field(default_factory=list)

    @field_validator("countries", mode="before")
    @classmethod
    def _norway_problem(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted NO (Norway) as false: say so instead of "not a string".
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise ValueError('a country code was read as true/false: quote it, e.g. "NO"')
        return value

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        out = [v.strip().upper() for v in value]
        for code in out:
            if not _COUNTRY.fullmatch(code):
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 code such as 'DE'")
        return out

    @field_validator("subdivisions")
    @classmethod
    def _subdivisions(cls, value: list[str]) -> list[str]:
        out = [v.strip().upper() for v in value]
        for code in out:
            if not _SUBDIVISION.fullmatch(code):
                raise ValueError(f"{code!r} is not an ISO 3166-2 code such as 'US-CA'")
        return out


def _default_regimes() -> dict[str, RegimeSettings]:
    return {
        "gdpr": RegimeSettings(countries=list(GDPR_COUNTRIES)),
        "us-optout": RegimeSettings(subdivisions=list(US_OPTOUT_SUBDIVISIONS)),
        "default": RegimeSettings(),
    }


class EdgeHeaders(Section):
    """Request headers a trusted edge (CDN, load balancer) sets with the visitor's location.

    Believed only from `gateway.trusted_proxies`; the first listed header present wins.
    """

    country: list[str] = Field(default_factory=list)  # e.g. CF-IPCountry
    region: list[str] = Field(default_factory=list)  # e.g. X-Region-Code ("CA" or "US-CA")


class JurisdictionSettings(Section):
    """How a visitor's location picks a regime."""

    # Fail closed: a visitor whose location is unknown gets the strictest regime.
    unknown: str = "gdpr"
    # A known country that has subdivision-level regimes but no known subdivision; unset means
    # `unknown` (fail closed).
    unknown_subdivision: str | None = None
    edge_headers: EdgeHeaders = EdgeHeaders()


class Localized(Section):
    """One text in every language the banner speaks."""

    en: Annotated[str, Field(min_length=1)]
    ar: Annotated[str, Field(min_length=1)]
    th: Annotated[str, Field(min_length=1)]


class Purpose(Section):
    """Why data is processed, in the privacy team's words (fideslang data uses) and the
    gateway's (cookie patterns, third-party hosts, how consent works per regime)."""

    id: str
    names: Localized
    descriptions: Localized
    legal_basis: LegalBasis
    data_uses: Annotated[list[DataUseKey], Field(min_length=1)]
    cookies: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    # One mechanism for every regime, or per regime name; a regime left out gets opt_in.
    mechanism: Mechanism | dict[str, Mechanism] = "opt_in"
    # Per regime: is an opt_out purpose on before any choice (default true)?
    default: dict[str, bool] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("purpose id must match [a-z0-9_-]+ (at most 64 characters)")
        return value

    @field_validator("cookies")
    @classmethod
    def _cookie_globs(cls, value: list[str]) -> list[str]:
        for glob in value:
            if not _COOKIE_GLOB.fullmatch(glob):
                raise ValueError(
                    f"cookie pattern {glob!r} may hold only cookie-name characters and '*'"
                )
            if not glob.strip("*"):
                # Would drop the shop's own session and cart cookies too.
                raise ValueError(f"cookie pattern {glob!r} matches every cookie")
        return value

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return [_host_pattern(v) for v in value]

    def mechanism_in(self, regime: str) -> Mechanism:
        """The mechanism under `regime`; a regime the purpose does not name gets opt_in."""
        if isinstance(self.mechanism, str):
            return self.mechanism
        # Fail closed: nobody decided how this purpose works there, so ask first.
        return self.mechanism.get(regime, "opt_in")


def _host_pattern(value: str) -> str:
    host = value.strip().lower().rstrip(".")
    wildcard = host.startswith("*.")
    labels = (host[2:] if wildcard else host).split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{value!r} is not a host name (a leading '*.' means its subdomains)")
    if wildcard and len(labels) < 2:
        raise ValueError(f"{value!r} is too broad: '*.' needs a registrable domain after it")
    return host


Problem = tuple[tuple[str | int, ...], str]  # (where under the field, message)


def _raise_at(title: str, problems: list[Problem]) -> None:
    """Report cross-check problems at their exact place (loaders map `loc` to a YAML line);
    pydantic prefixes each `loc` with the field being validated."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError("value_error", "{message}", {"message": message}),
                    loc=loc,
                    input=None,
                )
                for loc, message in problems
            ],
        )


def check_regimes(regimes: dict[str, RegimeSettings]) -> None:
    """Regime names are ids, `default` exists, and no place belongs to two regimes."""
    problems: list[Problem] = []
    if "default" not in regimes:
        problems.append(((), "regimes must include 'default' (known places no regime lists)"))
    seen: dict[str, str] = {}
    for name, regime in regimes.items():
        if not _ID.fullmatch(name):
            problems.append(((name,), f"regime name {name!r} must match [a-z0-9_-]+"))
        for key in ("countries", "subdivisions"):
            for i, code in enumerate(getattr(regime, key)):
                if code in seen and seen[code] != name:
                    message = f"{code} is listed under both {seen[code]!r} and {name!r}"
                    problems.append(((name, key, i), message))
                seen[code] = name
    _raise_at("regimes", problems)


def check_jurisdiction(jurisdiction: JurisdictionSettings, regimes: dict[str, object]) -> None:
    """The fallbacks name configured regimes."""
    problems: list[Problem] = []
    for key in ("unknown", "unknown_subdivision"):
        name = getattr(jurisdiction, key)
        if name is not None and name not in regimes:
            problems.append(((key,), f"{name!r} is not a configured regime"))
    _raise_at("jurisdiction", problems)


def check_purposes(
    purposes: list[Purpose], regimes: dict[str, object], policy: PolicySettings
) -> None:
    """Cross-checks that need the regimes and the policy."""
    problems: list[Problem] = []
    ids: set[str] = set()
    for i, p in enumerate(purposes):
        if p.id in ids:
            problems.append(((i, "id"), f"duplicate purpose id {p.id!r}"))
        ids.add(p.id)
        named = [] if isinstance(p.mechanism, str) else list(p.mechanism)
        places = [("mechanism", r) for r in named] + [("default", r) for r in p.default]
        for key, regime in places:
            if regime not in regimes:
                problems.append(((i, key, regime), f"{regime!r} is not a configured regime"))
        for regime in p.default:
            # CJEU C-673/17 (Planet49): a pre-ticked box is no consent, so only opt_out
            # purposes have a default to override.
            if p.mechanism_in(regime) != "opt_out":
                message = "default applies only where the mechanism is opt_out"
                problems.append(((i, "default", regime), message))
        used = {p.mechanism} if isinstance(p.mechanism, str) else set(p.mechanism.values())
        if "notice_only" in used:
            if p.legal_basis == "consent":
                message = "a consent-based purpose cannot be notice_only"
                problems.append(((i, "legal_basis"), message))
            if any(_overlap(u, g) for u in p.data_uses for g in policy.gpc_data_uses):
                message = "notice_only, yet covers a GPC opt-out data use (policy.gpc_data_uses)"
                problems.append(((i, "data_uses"), message))
        if p.id == "essential" and p.mechanism != "notice_only":
            message = "the essential purpose must be `mechanism: notice_only`"
            problems.append(((i, "mechanism"), message))
    _raise_at("purposes", problems)


def _overlap(a: str, b: str) -> bool:
    # Same rule as policies.purposes.data_uses_overlap (kept here to avoid an import cycle).
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


class KeySettings(Section):
    """Where the master key lives (it seals the pseudonym keyring and per-subject keys).

    `$CONSENTGATE_MASTER_KEY` (base64 of 32 bytes) wins when set; otherwise this file, created
    with mode 0600 on first start. Keep it out of backups of the database.
    """

    master_key_file: Path = Path("consentgate-master.key")


class ConsentSettings(Section):
    """How the gateway carries a visitor's consent."""

    # The single first-party cookie: a random 128-bit visitor id (never set under gdpr
    # before a choice).
    cookie_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "cg_id"
    # CNIL: consent cookies live at most 13 months.
    cookie_max_age_days: Annotated[int, Field(ge=1, le=395)] = 395
    # The upstream request carries the visitor's consent state in this header.
    upstream_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "X-Consent-State"
    # `POST /_privacy/consent` per client network and minute (token bucket,
    # gateway.http.rate_limit); a person choosing needs a handful, a script flooding the
    # consent log gets 429.
    rate_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 30
    # Cal. Civ. Code §1798.135(a) and 11 CCR §7015: a "Your Privacy Choices" link with the
    # opt-out icon on every page. `auto` injects a small fixed link into proxied pages for
    # visitors who may opt out of sale/sharing (a purpose covering `policy.gpc_data_uses` is
    # opt_out in their regime, e.g. us-optout); `off` when the shop shows its own.
    us_choices_link: Literal["auto", "off"] = "auto"


class AuditSettings(Section):
    """The tamper-evident audit log (`audit/`): its chain, signing key and checkpoint sinks."""

    # Envelope chain id (audit.envelope.CHAIN_RE).
    chain: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")] = "main"
    # C2SP tlog-checkpoint origin line; also the key name of a newly generated signing key,
    # so it must be a signed-note key name: no spaces, no '+'.
    origin: Annotated[str, Field(pattern=r"^[^\s+\x00-\x1f\x7f]{1,200}$")] = "consentgate/audit"
    # PRIVATE+KEY+... (audit.signing_key); created 0600 with `<file>.pub` on first start.
    signing_key_file: Path = Path("audit-signing.key")
    checkpoint_every_entries: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    checkpoint_every_seconds: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    # Append-only copies of every signed checkpoint, kept where the operator cannot rewrite
    # them; `consentgate audit verify` reads the file to detect a rolled-back store.
    sink_file: Path | None = None
    webhook_url: str | None = None
    queue_size: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    batch_max: Annotated[int, Field(ge=1, le=10_000)] = 256

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("webhook_url must be an http:// or https:// URL with a host")
        return value


# "<n> day(s)" or "<n> month(s)": calendar months follow EU Regulation 1182/71 Art. 3(2)(c).
_PERIOD = r"^[1-9][0-9]{0,3} (day|days|month|months)$"


class DsrSettings(Section):
    """Data-subject requests (`dsr.requests`): deadlines per regime and the self-service limits."""

    # GDPR Art. 12(3): one month, extendable by two further months; CCPA (Cal. Civ. Code
    # §1798.130(a)(2)): 45 days, extendable once by another 45. Regimes not listed get
    # `default_deadline` / `default_extension`.
    deadlines: dict[str, Annotated[str, Field(pattern=_PERIOD)]] = Field(
        default_factory=lambda: {"gdpr": "1 month", "us-optout": "45 days"}
    )
    extensions: dict[str, Annotated[str, Field(pattern=_PERIOD)]] = Field(
        default_factory=lambda: {"gdpr": "2 months", "us-optout": "45 days"}
    )
    default_deadline: Annotated[str, Field(pattern=_PERIOD)] = "1 month"
    default_extension: Annotated[str, Field(pattern=_PERIOD)] = "2 months"
    # Self-service `/_privacy/my-data` requests per client address and minute (token bucket).
    rate_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 10
    # PostgreSQL: after an erasure, rewrite the tables that held the subject (VACUUM FULL) so
    # no dead tuple keeps its bytes in the data files; takes a short exclusive lock per table.
    vacuum_full_on_erase: bool = True


class RetentionSettings(Section):
    """How long each data category is kept (`dsr.retention`); None keeps it forever.

    The audit chain is never purged: deleting entries would break its proof (crypto-shredding
    makes erased subjects' entries unreadable instead).
    """

    # Consent records older than this are purged, except each subject's latest (still relied
    # on). CNIL keeps proof of consent for the limitation period: 5 years.
    consent_records_days: Annotated[int, Field(ge=1, le=36_500)] | None = 1825
    events_days: Annotated[int, Field(ge=1, le=36_500)] | None = 395
    profiles_days: Annotated[int, Field(ge=1, le=36_500)] | None = 395
    decisions_days: Annotated[int, Field(ge=1, le=36_500)] | None = 395
    # The request log itself is kept 24 months; only completed requests are purged.
    dsr_requests_days: Annotated[int, Field(ge=1, le=36_500)] | None = 730
    # The gateway purges on this schedule (and `consentgate retention purge` on demand).
    purge_every_hours: Annotated[float, Field(gt=0, le=8_760)] = 24.0


_CONSENT_MODE_KEYS: dict[ConsentModeKey, str] = {
    "analytics_storage": "analytics",
    "ad_storage": "marketing",
    "ad_user_data": "marketing",
    "ad_personalization": "marketing",
    "personalization_storage": "personalization",
    "functionality_storage": "essential",
    "security_storage": "essential",
}


class ConsentModeSettings(Section):
    """Google Consent Mode v2: which purpose decides each consent type (off by default)."""

    enabled: bool = False
    # Google's seven consent types (developers.google.com/tag-platform/security/guides/consent)
    # → the purpose whose grant turns each one to "granted".
    keys: dict[ConsentModeKey, str] = Field(default_factory=lambda: dict(_CONSENT_MODE_KEYS))
    # Milliseconds Google tags wait for an update after the default (the gateway sends the
    # update in the same snippet, so none is needed unless the shop updates client-side).
    wait_for_update: Annotated[int, Field(ge=0, le=60_000)] | None = None


def check_consent_mode(settings: ConsentModeSettings, purposes: list[Purpose]) -> None:
    """Each consent type names a configured purpose (checked when enabled or keys are set)."""
    if not settings.enabled and "keys" not in settings.model_fields_set:
        return
    ids = {p.id for p in purposes}
    problems: list[Problem] = [
        (("keys", key), f"{pid!r} is not a configured purpose")
        for key, pid in settings.keys.items()
        if pid not in ids
    ]
    _raise_at("consent_mode", problems)


# --- Content-Security-Policy: the browser's own wall ----------------------------------------------

CspMode = Literal["off", "report-only", "enforce"]


class CspSettings(Section):
    """A Content-Security-Policy per consent state, sent alongside the shop's own
    (`gateway.csp`): the browser then refuses what an inline script builds at run time for a
    host whose purpose is not granted."""

    # report-only first: the operator reads the reports before anything is blocked.
    mode: CspMode = "report-only"
    # Hosts every page may load from whatever the visitor chose (CDN, payments, fonts); the
    # same patterns as a purpose's `hosts` (`*.x` for the subdomains of x).
    essential_hosts: list[str] = Field(default_factory=list)
    # CSP3 "Does a source list allow all inline behavior": with a nonce or hash in script-src
    # 'unsafe-inline' is ignored, so when
    # this is true the gateway's script hashes and the page's nonce are left out.
    unsafe_inline: bool = False
    unsafe_eval: bool = False
    # Also `report-to` with a `Reporting-Endpoints` header (Reporting API) on https pages;
    # browsers that support it then ignore `report-uri` and deliver in batches, later.
    report_to: bool = True
    # `POST {prefix}/csp-report` per client network and minute (token bucket): a page with
    # many blocked resources sends one report each.
    report_rate_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 120

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted `off` as false.
        if value is False:
            return "off"
        if value is True:
            raise ValueError("mode is off, report-only or enforce (quote it: 'enforce')")
        return value

    @field_validator("essential_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return [_host_pattern(v) for v in value]


def patterns_intersect(a: str, b: str) -> bool:
    """Whether two host patterns (`host` or `*.domain`) match some host in common."""
    if a.startswith("*.") and b.startswith("*."):
        x, y = a[1:], b[1:]
        return x == y or x.endswith(y) or y.endswith(x)
    if a.startswith("*."):
        return b.endswith(a[1:])
    if b.startswith("*."):
        return a.endswith(b[1:])
    return a == b


def check_csp(settings: CspSettings, purposes: list[Purpose]) -> None:
    """No essential host matches a host of a purpose a visitor can refuse: CSP has no way to
    exclude it again, so it would let that purpose's tracker through the wall."""
    problems: list[Problem] = []
    for i, essential in enumerate(settings.essential_hosts):
        for p in purposes:
            if p.mechanism == "notice_only":
                continue  # on for everyone anyway
            clash = next((h for h in p.hosts if patterns_intersect(essential, h)), None)
            if clash is not None:
                message = f"{essential!r} covers {clash!r} of purpose {p.id!r}; list narrower hosts"
                problems.append((("essential_hosts", i), message))
    _raise_at("csp", problems)


# --- Personalization ------------------------------------------------------------------------------

_SLOT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CATEGORY = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")


class NamedPlace(Section):
    """A circle on the map; visitors inside it have its name in `geo.near`."""

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    km: Annotated[float, Field(gt=0, le=20_000)]


def _default_page_types() -> dict[str, list[str]]:
    return {
        "home": ["/"],
        "category": ["/category/{category}"],
        "product": ["/product/{sku}"],
        "cart": ["/cart"],
        "checkout": ["/checkout", "/checkout/**"],
    }


class VisitorTypeSettings(Section):
    """Thresholds of `visitor.type` (personalization_rules.profile has the precedence)."""

    # engaged: this many views in one category, or of one SKU.
    engaged_category_views: Annotated[int, Field(ge=1, le=10_000)] = 3
    engaged_sku_views: Annotated[int, Field(ge=1, le=10_000)] = 2
    # cart_abandoner: a cart add, no purchase since, and no cart activity for this long.
    cart_abandoned_after_minutes: Annotated[float, Field(gt=0, le=525_600)] = 60.0
    # A new session starts after this much inactivity (Google Analytics' default: 30 min).
    session_gap_seconds: Annotated[float, Field(gt=0, le=86_400)] = 1800.0


class PersonalizationSettings(Section):
    """Slots rules may fill, which purpose covers each data category, and decision policy."""

    # `data-slot` names rules may target; a rule naming another slot is a check error.
    slots: list[str] = Field(default_factory=lambda: ["hero-banner", "recommendations"])
    # Data category (personalization_rules.attributes) -> the purpose id that covers it, or
    # "none" for data the operator treats as contextual. A category neither contextual nor
    # listed here is never read (fail closed).
    data_purposes: dict[str, str] = Field(default_factory=dict)
    # Named circles for `geo.near` (GrowthBook has no geo operator; names keep rules simple).
    places: dict[str, NamedPlace] = Field(default_factory=dict)
    # page.type from the request path, first matching type wins (else "other"). Patterns:
    # `*` one path segment part, `**` anything, `{name}` one segment captured as page.NAME.
    page_types: dict[str, list[str]] = Field(default_factory=_default_page_types)
    # Share of subjects (by pseudonym hash) who get no personalization, to measure its lift.
    holdout: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    # Visitors without a subject in an experiment: the control (first variant) or a fresh
    # bucket on each request (never sticky).
    anonymous_variant: Literal["control", "per_request"] = "control"
    visitor_types: VisitorTypeSettings = VisitorTypeSettings()
    # Aggregate recommendations (bestsellers, trending_in_region, bought_together) show an
    # item only once at least k distinct subjects contributed: none reveals one person.
    k_anonymity: Annotated[int, Field(ge=2, le=1_000_000)] = 10
    aggregates_refresh_seconds: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    trending_days: Annotated[int, Field(ge=1, le=365)] = 7
    # The gateway's default stylesheet for the product grids it fills slots with (scoped to its
    # `consentgate-` classes); false when the shop styles that markup itself.
    default_styles: bool = True
    # Bearer token of `POST /_privacy/events` (the shop's server); unset: events refused.
    events_token: Annotated[str, Field(min_length=16, max_length=256)] | None = None

    @field_validator("slots")
    @classmethod
    def _slot_names(cls, value: list[str]) -> list[str]:
        for slot in value:
            if not _SLOT.fullmatch(slot):
                raise ValueError(f"slot name {slot!r} must match [A-Za-z0-9_-]+")
        return value

    @field_validator("data_purposes")
    @classmethod
    def _category_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for category in value:
            if not _CATEGORY.fullmatch(category):
                raise ValueError(f"{category!r} is not a data category such as behavior.profile")
        return value


def check_personalization(settings: PersonalizationSettings, purposes: list[Purpose]) -> None:
    """Every `data_purposes` value names a configured purpose (or `none`)."""
    ids = {p.id for p in purposes}
    problems: list[Problem] = [
        (("data_purposes", category), f"{pid!r} is not a configured purpose (or 'none')")
        for category, pid in settings.data_purposes.items()
        if pid != "none" and pid not in ids
    ]
    _raise_at("personalization", problems)


# The checks of a section against the sections before it: the section, the ones it reads, the
# check (which raises the section's validation error).
_CROSS_CHECKS: dict[str, tuple[tuple[str, ...], Callable[..., None]]] = {
    "regimes": ((), check_regimes),
    "jurisdiction": (("regimes",), check_jurisdiction),
    "purposes": (("regimes", "policy"), check_purposes),
    "consent_mode": (("purposes",), check_consent_mode),
    "personalization": (("purposes",), check_personalization),
    "csp": (("purposes",), check_csp),
}


class Config(Section):
    """The whole of `policies.yaml`."""

    version: Literal[1] = 1
    gateway: GatewaySettings
    storage: StorageSettings = StorageSettings()
    geo: GeoSettings = GeoSettings()
    weather: WeatherSettings = WeatherSettings()
    rules: RulesSettings = RulesSettings()
    catalog: Path | None = None
    # Consent. Order matters: each validator below reads the sections before it.
    policy: PolicySettings = PolicySettings()
    regimes: dict[str, RegimeSettings] = Field(default_factory=_default_regimes)
    jurisdiction: JurisdictionSettings = JurisdictionSettings()
    purposes: list[Purpose] = Field(default_factory=list)
    consent: ConsentSettings = ConsentSettings()
    keys: KeySettings = KeySettings()
    consent_mode: ConsentModeSettings = ConsentModeSettings()
    audit: AuditSettings = AuditSettings()
    dsr: DsrSettings = DsrSettings()
    retention: RetentionSettings = RetentionSettings()
    personalization: PersonalizationSettings = PersonalizationSettings()
    csp: CspSettings = CspSettings()

    @field_validator(*_CROSS_CHECKS)
    @classmethod
    def _cross_check(cls, value: object, info: ValidationInfo) -> object:
        # A section whose earlier sections failed is not checked against them: their own
        # errors say what is wrong.
        assert info.field_name is not None
        needs, check = _CROSS_CHECKS[info.field_name]
        if all(name in info.data for name in needs):
            check(value, *(info.data[name] for name in needs))
        return value
