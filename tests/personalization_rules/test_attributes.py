"""The attribute namespace: each family, and what is left out without the covering purpose."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from personalization_rules.attributes import (
    ATTRIBUTES,
    CATEGORIES,
    AttributeBuilder,
    DataPolicy,
    PagePatterns,
    RequestFacts,
    VisitorProfile,
    attribute_for,
    device_class,
    distance_km,
    local_time,
    referrer_host,
    utm_parameters,
)
from personalization_rules.geo import GeoPlace
from personalization_rules.weather_codes import Weather
from tests.personalization_rules.rule_sample import config

LONDON = GeoPlace("EU", "GB", "GB-ENG", "London", 51.5142, -0.0931, "Europe/London")
SAN_FRANCISCO = GeoPlace(
    "NA", "US", "US-CA", "San Francisco", 37.7749, -122.4194, "America/Los_Angeles"
)
NOON_UTC = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
ALL = frozenset({"essential", "analytics", "personalization", "marketing"})
NONE = frozenset({"essential"})


def build(granted: frozenset[str] = ALL, **facts: Any) -> dict[str, Any]:
    builder = AttributeBuilder(
        config().personalization,
        ["essential", "analytics", "personalization", "marketing"],
        {"RW-001": "rainwear"}.get,
    )
    facts.setdefault("path", "/")
    facts.setdefault("now", NOON_UTC)
    return builder.build(RequestFacts(granted=granted, **facts))


def test_every_attribute_names_a_known_category() -> None:
    assert {a.category for a in ATTRIBUTES.values()} <= set(CATEGORIES)


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("geo.country", "location.region"),
        ("geo.city", "location.coarse"),
        ("geo.near", "location.coarse"),
        ("visitor.type", "behavior.profile"),
        ("weather.condition", "contextual"),
        ("consent.anything", "contextual"),
        ("shop.loyalty_tier", "customer.attributes"),
        ("interests", "preferences.declared"),
        ("device", "contextual"),
    ],
)
def test_attribute_categories(name: str, category: str) -> None:
    found = attribute_for(name)
    assert found is not None and found.category == category


@pytest.mark.parametrize("name", ["geo.town", "shop", "shop.a.b", "consent.", "visitor", "x.y"])
def test_unknown_attributes(name: str) -> None:
    assert attribute_for(name) is None


# -- geo -----------------------------------------------------------------------------------------


def test_geo_with_consent() -> None:
    geo = build(place=SAN_FRANCISCO)["geo"]
    assert geo == {
        "continent": "NA",
        "country": "US",
        "subdivision": "US-CA",
        "city": "San Francisco",
        "near": ["sf_bay"],
    }


def test_geo_without_consent_keeps_only_the_region() -> None:
    # location.region is "none" (contextual) in the sample; the city needs personalization.
    assert build(NONE, place=LONDON)["geo"] == {
        "continent": "EU",
        "country": "GB",
        "subdivision": "GB-ENG",
    }


def test_geo_unknown_place() -> None:
    assert build(place=None)["geo"] == {}


@pytest.mark.parametrize(
    ("lat", "lon", "near"),
    [
        (37.7749, -122.4194, ["sf_bay"]),  # the centre
        (37.8044, -122.2712, ["sf_bay"]),  # Oakland, ~13 km
        (37.3382, -121.8863, []),  # San José, ~68 km: outside 60 km
        (47.2513, -122.3149, []),  # Milton, WA
    ],
)
def test_geo_near(lat: float, lon: float, near: list[str]) -> None:
    place = GeoPlace("NA", "US", "US-CA", "X", lat, lon, None)
    assert build(place=place)["geo"]["near"] == near


def test_distance_km_known_pair() -> None:
    # London-Paris great-circle distance is about 344 km.
    assert 340 < distance_km(51.5074, -0.1278, 48.8566, 2.3522) < 348
    assert distance_km(10, 10, 10, 10) == 0


# -- weather -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weather", "expected"),
    [
        (
            Weather("rain", 9.0, 6.4, code=63),
            {"condition": "rain", "temperature": 9.0, "feels_like": 6.4},
        ),
        (
            Weather("fog", 15.0, None, code=45),
            {"condition": "fog", "temperature": 15.0, "feels_like": None},
        ),
        (
            Weather("unknown", None, None),
            {"condition": "unknown", "temperature": None, "feels_like": None},
        ),
        (None, {"condition": "unknown"}),
    ],
)
def test_weather(weather: Weather | None, expected: dict[str, Any]) -> None:
    assert build(NONE, weather=weather)["weather"] == expected


# -- visitor, interests, shop: need their purpose -------------------------------------------------


def test_visitor_profile_with_consent() -> None:
    profile = VisitorProfile("engaged", ("rainwear",), ("RW-001",))
    assert build(profile=profile)["visitor"] == {
        "type": "engaged",
        "engaged_categories": ["rainwear"],
        "engaged_skus": ["RW-001"],
    }


@pytest.mark.parametrize("profile", [VisitorProfile("customer"), None])
def test_visitor_type_is_unknown_without_consent_or_profile(
    profile: VisitorProfile | None,
) -> None:
    granted = NONE if profile else ALL
    assert build(granted, profile=profile)["visitor"] == {"type": "unknown"}


@pytest.mark.parametrize(
    ("granted", "interests", "shop"),
    [
        (ALL, ["hiking"], {"loyalty_tier": "gold"}),
        (NONE, None, None),
    ],
)
def test_interests_and_shop_attributes(
    granted: frozenset[str], interests: list[str] | None, shop: dict[str, str] | None
) -> None:
    attributes = build(granted, interests=("hiking",), shop={"loyalty_tier": "gold"})
    assert attributes.get("interests") == interests
    assert attributes.get("shop") == shop


# -- consent ------------------------------------------------------------------------------------


def test_consent_lists_every_purpose() -> None:
    assert build(frozenset({"essential", "analytics"}))["consent"] == {
        "essential": True,
        "analytics": True,
        "personalization": False,
        "marketing": False,
    }


# -- page -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/", {"path": "/", "type": "home"}),
        ("/?utm_source=x", {"path": "/", "type": "home"}),
        (
            "/category/rainwear",
            {"path": "/category/rainwear", "type": "category", "category": "rainwear"},
        ),
        (
            "/product/RW-001",
            {"path": "/product/RW-001", "type": "product", "sku": "RW-001", "category": "rainwear"},
        ),
        ("/product/NOPE", {"path": "/product/NOPE", "type": "product", "sku": "NOPE"}),
        ("/product/a/b", {"path": "/product/a/b", "type": "other"}),
        ("/cart", {"path": "/cart", "type": "cart"}),
        ("/checkout/pay/now", {"path": "/checkout/pay/now", "type": "checkout"}),
        ("/about", {"path": "/about", "type": "other"}),
    ],
)
def test_page(path: str, page: dict[str, str]) -> None:
    assert build(NONE, path=path)["page"] == page


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/a/*.html", "/a/b.html", True),
        ("/a/*.html", "/a/b/c.html", False),
        ("/a/**", "/a/b/c", True),
        ("/x.y", "/xzy", False),  # dots are literal
        ("/{category}", "/", False),  # a capture needs at least one character
    ],
)
def test_page_patterns(pattern: str, path: str, matches: bool) -> None:
    found = PagePatterns({"t": [pattern]}).match(path)[0]
    assert (found == "t") is matches


# -- time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "hour", "weekday"),
    [
        (LONDON, 12, "mon"),
        (SAN_FRANCISCO, 4, "mon"),  # UTC-8 in November
        (GeoPlace("AS", "TH", None, "Bangkok", 13.75, 100.5, "Asia/Bangkok"), 19, "mon"),
        (GeoPlace(None, None, None, None, None, None, "Pacific/Kiritimati"), 2, "tue"),  # +14
        (GeoPlace(None, None, None, None, None, None, "../../etc/passwd"), 12, "mon"),  # UTC
        (None, 12, "mon"),
    ],
)
def test_time_in_the_visitors_zone(place: GeoPlace | None, hour: int, weekday: str) -> None:
    assert build(NONE, place=place)["time"] == {"hour": hour, "weekday": weekday}


def test_local_time_unknown_zone_is_utc() -> None:
    assert local_time(NOON_UTC, "Mars/Olympus").utcoffset() is not None
    assert local_time(NOON_UTC, "Mars/Olympus").hour == 12


# -- device, referrer, UTM ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; SM-X710) Chrome/124.0 Safari/537.36", "tablet"),
        ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) Mobile/15E148", "tablet"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36", "desktop"),
        ("curl/8.5.0", "desktop"),
        ("", "unknown"),
        ("   ", "unknown"),
        ("x" * 10_000 + " iPhone", "desktop"),  # beyond the length cap: not read
    ],
)
def test_device_class(user_agent: str, device: str) -> None:
    assert device_class(user_agent) == device


@pytest.mark.parametrize(
    ("referer", "host"),
    [
        ("https://www.Google.com/search?q=x", "www.google.com"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("not a url", None),
        ("http://[::1", None),  # invalid IPv6 literal: urlsplit raises
        ("", None),
    ],
)
def test_referrer_host(referer: str, host: str | None) -> None:
    assert referrer_host(referer) == host


@pytest.mark.parametrize(
    ("query", "utm"),
    [
        ("utm_source=newsletter&utm_medium=email", {"source": "newsletter", "medium": "email"}),
        ("utm_source=a&utm_source=b", {"source": "a"}),
        ("utm_campaign=x%20y&other=1&utm_bogus=z", {"campaign": "x y"}),
        ("&".join(f"f{i}=1" for i in range(100)) + "&utm_source=x", {}),  # too many fields
        ("", {}),
    ],
)
def test_utm(query: str, utm: dict[str, str]) -> None:
    assert utm_parameters(query) == utm


def test_request_headers_reach_the_attributes() -> None:
    attributes = build(
        NONE,
        path="/?utm_source=news",
        headers={"user-agent": "Mozilla/5.0 (iPhone) Mobile", "referer": "https://t.co/x"},
    )
    assert attributes["device"] == "mobile"
    assert attributes["referrer"] == {"host": "t.co"}
    assert attributes["utm"] == {"source": "news"}


# -- data policy ---------------------------------------------------------------------------------


def test_data_policy() -> None:
    policy = DataPolicy({"behavior.profile": "personalization", "location.region": "none"})
    assert policy.purpose_for("contextual") is None
    assert policy.purpose_for("location.region") is None
    assert policy.purpose_for("behavior.profile") == "personalization"
    with pytest.raises(KeyError):
        policy.purpose_for("customer.attributes")  # covered by nobody: never read
    assert policy.allowed(frozenset()) == {"contextual", "location.region"}
    assert "behavior.profile" in policy.allowed(frozenset({"personalization"}))
