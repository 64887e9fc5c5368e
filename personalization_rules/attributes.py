"""What one request looks like to rules: the attribute namespace and the data each part reads.

Rules' `when` conditions (GrowthBook syntax) read these dotted attributes:

=========================  ==========================================  =====================
attribute                  value                                       data category
=========================  ==========================================  =====================
geo.continent              "EU", "NA", ... (GeoLite2 continent code)   location.region
geo.country                ISO 3166-1 alpha-2, "GB"                    location.region
geo.subdivision            ISO 3166-2, "US-CA"                         location.region
geo.city                   English city name, "San Francisco"          location.coarse
geo.near                   names of `personalization.places` circles   location.coarse
                           the visitor is inside, ["sf_bay"]
weather.condition          clear|cloudy|fog|rain|snow|storm|unknown    contextual
weather.temperature        °C (number)                                 contextual
weather.feels_like         apparent temperature, °C                    contextual
visitor.type               new|returning|returning_non_buyer|engaged|  behavior.profile
                           customer|cart_abandoner|unknown
visitor.engaged_categories categories the visitor engaged with         behavior.profile
visitor.engaged_skus       SKUs the visitor engaged with               behavior.profile
consent.<purpose>          true when that purpose is granted           contextual
page.path                  request path without the query              contextual
page.type                  home|category|product|cart|checkout|other   contextual
                           (`personalization.page_types` patterns)
page.category, page.sku    captured by `{category}` / `{sku}` in a     contextual
                           page pattern (page.category also from the
                           product's catalog category)
time.hour                  0-23, in the visitor's time zone            contextual
time.weekday               mon..sun, in the visitor's time zone        contextual
device                     mobile|tablet|desktop|unknown (User-Agent)  contextual
referrer.host              host of the Referer header                  contextual
utm.source|medium|campaign|term|content   from the query string        contextual
interests                  interests declared in the preference center preferences.declared
shop.<name>                attributes the shop passes (loyalty_tier)   customer.attributes
=========================  ==========================================  =====================

Consent gating is structural: `policies.yaml` maps each data category to the purpose covering
it (`personalization.data_purposes`, or `none` for data the operator treats as contextual).
`contextual` needs no purpose. A category that is neither contextual nor mapped is never read
(fail closed). `build_attributes` leaves out every attribute whose category is not allowed
(so `visitor.type` is `unknown` without the purpose), and the engine refuses, before
evaluating, any rule that reads such a category, naming the missing purpose.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from personalization_rules.geo import GeoPlace
from personalization_rules.weather_codes import CONDITIONS, Weather
from policies.models import NamedPlace, PersonalizationSettings

CONTEXTUAL: Final = "contextual"
LOCATION_REGION: Final = "location.region"
LOCATION_COARSE: Final = "location.coarse"
BEHAVIOR_PROFILE: Final = "behavior.profile"
PREFERENCES_DECLARED: Final = "preferences.declared"
CUSTOMER_ATTRIBUTES: Final = "customer.attributes"
CATEGORIES: Final = (
    CONTEXTUAL,
    LOCATION_REGION,
    LOCATION_COARSE,
    BEHAVIOR_PROFILE,
    PREFERENCES_DECLARED,
    CUSTOMER_ATTRIBUTES,
)

VisitorType = Literal[
    "new", "returning", "returning_non_buyer", "engaged", "customer", "cart_abandoner", "unknown"
]
VISITOR_TYPES: Final[tuple[str, ...]] = (
    "new",
    "returning",
    "returning_non_buyer",
    "engaged",
    "customer",
    "cart_abandoner",
    "unknown",
)
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEVICES: Final = ("mobile", "tablet", "desktop", "unknown")
UTM_KEYS: Final = ("source", "medium", "campaign", "term", "content")

# Visitor-controlled text is cut before any matching: bounded work per request.
MAX_USER_AGENT = 512
MAX_TEXT = 256
MAX_PATH = 2048
MAX_QUERY_FIELDS = 64

Kind = Literal["string", "number", "boolean", "list", "any"]


@dataclass(frozen=True)
class Attribute:
    """One attribute of the namespace: its name, the data category it reads, its value shape.

    `values` lists the only strings it can hold (for "did you mean" in `consentgate check`).
    """

    name: str
    category: str
    kind: Kind
    values: tuple[str, ...] = ()


_FIXED: Final = (
    Attribute("geo.continent", LOCATION_REGION, "string"),
    Attribute("geo.country", LOCATION_REGION, "string"),
    Attribute("geo.subdivision", LOCATION_REGION, "string"),
    Attribute("geo.city", LOCATION_COARSE, "string"),
    Attribute("geo.near", LOCATION_COARSE, "list"),
    Attribute("weather.condition", CONTEXTUAL, "string", CONDITIONS),
    Attribute("weather.temperature", CONTEXTUAL, "number"),
    Attribute("weather.feels_like", CONTEXTUAL, "number"),
    Attribute("visitor.type", BEHAVIOR_PROFILE, "string", VISITOR_TYPES),
    Attribute("visitor.engaged_categories", BEHAVIOR_PROFILE, "list"),
    Attribute("visitor.engaged_skus", BEHAVIOR_PROFILE, "list"),
    Attribute("page.path", CONTEXTUAL, "string"),
    Attribute("page.type", CONTEXTUAL, "string"),
    Attribute("page.category", CONTEXTUAL, "string"),
    Attribute("page.sku", CONTEXTUAL, "string"),
    Attribute("time.hour", CONTEXTUAL, "number"),
    Attribute("time.weekday", CONTEXTUAL, "string", WEEKDAYS),
    Attribute("device", CONTEXTUAL, "string", DEVICES),
    Attribute("referrer.host", CONTEXTUAL, "string"),
    *(Attribute(f"utm.{key}", CONTEXTUAL, "string") for key in UTM_KEYS),
    Attribute("interests", PREFERENCES_DECLARED, "list"),
)
ATTRIBUTES: Final[dict[str, Attribute]] = {a.name: a for a in _FIXED}
# Open families: any name below these roots is valid (consent.* is checked against purposes).
FAMILIES: Final[dict[str, Attribute]] = {
    "consent": Attribute("consent.*", CONTEXTUAL, "boolean"),
    "shop": Attribute("shop.*", CUSTOMER_ATTRIBUTES, "any"),
}
ROOTS: Final = frozenset(name.split(".", 1)[0] for name in ATTRIBUTES) | frozenset(FAMILIES)


def attribute_for(name: str) -> Attribute | None:
    """The attribute a condition field (`geo.country`, `shop.loyalty_tier`) names, if any."""
    found = ATTRIBUTES.get(name)
    if found is not None:
        return found
    root, dot, rest = name.partition(".")
    family = FAMILIES.get(root)
    if family is not None and dot and rest and "." not in rest:
        return Attribute(name, family.category, family.kind)
    return None


def categories_of_root(root: str) -> frozenset[str]:
    """Every category read under `root` (a template naming only `geo` reads all of them)."""
    found = {a.category for a in ATTRIBUTES.values() if a.name.split(".", 1)[0] == root}
    if root in FAMILIES:
        found.add(FAMILIES[root].category)
    return frozenset(found)


# -- which purpose covers which data ----------------------------------------------------------


@dataclass(frozen=True)
class DataPolicy:
    """Data category -> covering purpose, from `personalization.data_purposes`."""

    purposes: Mapping[str, str] = field(default_factory=dict)

    def purpose_for(self, category: str) -> str | None:
        """The purpose that must be granted to read `category`; None when none is needed.

        Raises `KeyError` for a category nobody covers (it can never be read).
        """
        if category == CONTEXTUAL:
            return None
        purpose = self.purposes[category]
        return None if purpose == "none" else purpose

    def allowed(self, granted: frozenset[str]) -> frozenset[str]:
        """The categories readable with `granted` purposes."""
        out = {CONTEXTUAL}
        for category, purpose in self.purposes.items():
            if purpose == "none" or purpose in granted:
                out.add(category)
        return frozenset(out)


# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitorProfile:
    """What personalization knows about a subject (only under the covering purpose)."""

    type: VisitorType = "new"
    engaged_categories: tuple[str, ...] = ()
    engaged_skus: tuple[str, ...] = ()
    viewed_skus: tuple[str, ...] = ()  # most recent first
    purchased_skus: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestFacts:
    """Everything known about one request before rules run."""

    path: str  # the request target's path, with or without the query
    now: datetime  # timezone-aware
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    place: GeoPlace | None = None
    weather: Weather | None = None
    granted: frozenset[str] = frozenset()
    profile: VisitorProfile | None = None
    interests: tuple[str, ...] = ()
    shop: Mapping[str, Any] = field(default_factory=dict)


# -- building the attributes -------------------------------------------------------------------


class PagePatterns:
    """`personalization.page_types` compiled: path -> (page type, captured names)."""

    _TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}|\*\*|\*")

    def __init__(self, page_types: Mapping[str, Sequence[str]]) -> None:
        self.patterns: list[tuple[str, re.Pattern[str]]] = [
            (page_type, self.compile(pattern))
            for page_type, patterns in page_types.items()
            for pattern in patterns
        ]

    @classmethod
    def compile(cls, pattern: str) -> re.Pattern[str]:
        """A glob (`*` within a segment, `**` anything, `{name}` a captured segment) as regex."""
        out, last = [], 0
        for m in cls._TOKEN.finditer(pattern):
            out.append(re.escape(pattern[last : m.start()]))
            token = m.group(0)
            if m.group(1):
                out.append(f"(?P<{m.group(1)}>[^/]+)")
            else:
                out.append(".*" if token == "**" else "[^/]*")
            last = m.end()
        out.append(re.escape(pattern[last:]))
        return re.compile("".join(out))

    def match(self, path: str) -> tuple[str, dict[str, str]]:
        """The first page type whose pattern matches all of `path`, and its captures."""
        for page_type, regex in self.patterns:
            m = regex.fullmatch(path)
            if m:
                return page_type, {k: v[:MAX_TEXT] for k, v in m.groupdict().items()}
        return "other", {}


class AttributeBuilder:
    """Builds the attribute mapping rules read, from `RequestFacts`; config compiled once."""

    def __init__(
        self,
        settings: PersonalizationSettings,
        purpose_ids: Sequence[str],
        product_category: Callable[[str], str | None] | None = None,
    ) -> None:
        self.policy = DataPolicy(dict(settings.data_purposes))
        self.places: dict[str, NamedPlace] = dict(settings.places)
        self.pages = PagePatterns(settings.page_types)
        self.purpose_ids = tuple(purpose_ids)
        self.product_category = product_category

    def build(self, facts: RequestFacts) -> dict[str, Any]:
        """The attributes of one request; categories the granted purposes do not allow are
        left out entirely (not merely hidden), and `visitor.type` is then `unknown`."""
        allowed = self.policy.allowed(facts.granted)
        path, _, query = facts.path[:MAX_PATH].partition("?")
        page_type, captures = self.pages.match(path)
        page: dict[str, Any] = {"path": path, "type": page_type, **_page_extra(captures)}
        if "category" not in page and "sku" in page and self.product_category is not None:
            category = self.product_category(page["sku"])
            if category is not None:
                page["category"] = category
        local = local_time(facts.now, facts.place.time_zone if facts.place else None)
        attributes: dict[str, Any] = {
            "page": page,
            "consent": {pid: pid in facts.granted for pid in self.purpose_ids},
            "time": {"hour": local.hour, "weekday": WEEKDAYS[local.weekday()]},
            "device": device_class(facts.headers.get("user-agent", "")),
            "referrer": {"host": referrer_host(facts.headers.get("referer", ""))},
            "utm": utm_parameters(query),
            "weather": weather_attributes(facts.weather),
            "visitor": {"type": "unknown"},
        }
        place = facts.place
        geo: dict[str, Any] = {}
        if place is not None and LOCATION_REGION in allowed:
            geo.update(
                continent=place.continent, country=place.country, subdivision=place.subdivision
            )
        if place is not None and LOCATION_COARSE in allowed:
            geo.update(city=place.city, near=self.near(place))
        attributes["geo"] = geo
        if BEHAVIOR_PROFILE in allowed and facts.profile is not None:
            profile = facts.profile
            attributes["visitor"] = {
                "type": profile.type,
                "engaged_categories": list(profile.engaged_categories),
                "engaged_skus": list(profile.engaged_skus),
            }
        if PREFERENCES_DECLARED in allowed:
            attributes["interests"] = list(facts.interests)
        if CUSTOMER_ATTRIBUTES in allowed:
            attributes["shop"] = dict(facts.shop)
        return attributes

    def near(self, place: GeoPlace) -> list[str]:
        """Names of the configured places whose circle holds `place`."""
        if place.latitude is None or place.longitude is None:
            return []
        return [
            name
            for name, circle in self.places.items()
            if distance_km(place.latitude, place.longitude, circle.lat, circle.lon) <= circle.km
        ]


def _page_extra(captures: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in captures.items() if k in ("category", "sku")}


def local_time(now: datetime, time_zone: str | None) -> datetime:
    """`now` in the visitor's IANA time zone; UTC when it is unknown or not a valid zone."""
    return now.astimezone(zone(time_zone))


def zone(name: str | None) -> tzinfo:
    """The IANA zone `name`, or UTC when it is None or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: a key that is not a relative path (e.g. "../etc"); never read files.
        return UTC


EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the haversine formula."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def device_class(user_agent: str) -> str:
    """mobile, tablet or desktop from a User-Agent (cheap substring heuristics), or unknown.

    Tablets first: Android tablets omit "Mobile" (Google's UA guidance for Chrome on Android).
    iPadOS 13+ Safari claims to be a Mac and counts as desktop, as every server-side sniffer
    sees it.
    """
    ua = user_agent[:MAX_USER_AGENT].lower()
    if not ua.strip():
        return "unknown"
    if "ipad" in ua or "tablet" in ua or "kindle" in ua or "silk/" in ua:
        return "tablet"
    if "android" in ua and "mobile" not in ua:
        return "tablet"
    if "mobi" in ua or "iphone" in ua or "ipod" in ua or "windows phone" in ua:
        return "mobile"
    return "desktop"


def referrer_host(referer: str) -> str | None:
    """The lower-case host of a Referer header value, or None."""
    try:
        host = urlsplit(referer[:MAX_PATH].strip()).hostname
    except ValueError:
        return None
    return host[:MAX_TEXT] if host else None


def utm_parameters(query: str) -> dict[str, str]:
    """`utm_*` parameters of a query string (first occurrence of each)."""
    out: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:  # more fields than allowed: a crafted URL, ignore it
        return out
    for key, value in pairs:
        if key.startswith("utm_") and key[4:] in UTM_KEYS:
            out.setdefault(key[4:], value[:MAX_TEXT])
    return out


def weather_attributes(weather: Weather | None) -> dict[str, Any]:
    """`weather.*`: the condition group (unknown without data) and temperatures."""
    if weather is None:
        return {"condition": "unknown"}
    return {
        "condition": weather.condition,
        "temperature": weather.temperature_c,
        "feels_like": weather.feels_like_c,
    }
