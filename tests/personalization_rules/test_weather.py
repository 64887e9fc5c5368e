"""Weather: strict parsing of Open-Meteo answers, cells, cache, breaker, offline provider."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from personalization_rules.weather import (
    CircuitBreaker,
    OfflineWeatherProvider,
    OpenMeteoProvider,
    TtlCache,
    Weather,
    WeatherError,
    cell,
    load_fixture,
    parse_forecast,
    provider_from_settings,
    weather_from_forecast,
)
from policies.models import WeatherSettings

DEMO_FILE = Path(__file__).resolve().parents[2] / "gateway" / "demo" / "weather.json"

# An answer to /v1/forecast?latitude=51.5&longitude=-0.1&current=temperature_2m,
# apparent_temperature,weather_code,is_day, as Open-Meteo sends it.
LONDON: dict[str, Any] = {
    "latitude": 51.5,
    "longitude": -0.099998474,
    "generationtime_ms": 0.0350475311279297,
    "utc_offset_seconds": 0,
    "timezone": "GMT",
    "timezone_abbreviation": "GMT",
    "elevation": 23.0,
    "current_units": {
        "time": "iso8601",
        "interval": "seconds",
        "temperature_2m": "°C",
        "apparent_temperature": "°C",
        "weather_code": "wmo code",
        "is_day": "",
    },
    "current": {
        "time": "2026-11-23T14:00",
        "interval": 900,
        "temperature_2m": 9.0,
        "apparent_temperature": 6.4,
        "weather_code": 63,
        "is_day": 1,
    },
}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def with_current(**changes: object) -> dict[str, Any]:
    document = copy.deepcopy(LONDON)
    document["current"].update(changes)
    return document


# -- parsing -----------------------------------------------------------------------------------


def test_parses_open_meteo_current() -> None:
    weather = parse_forecast(json.dumps(LONDON).encode())
    assert weather == Weather(
        condition="rain",
        temperature_c=9.0,
        feels_like_c=6.4,
        is_day=True,
        code=63,
        observed_at=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
    )


def test_local_time_carries_the_utc_offset() -> None:
    document = copy.deepcopy(LONDON) | {"utc_offset_seconds": -28800}
    weather = weather_from_forecast(document)
    assert weather.observed_at == datetime(2026, 11, 23, 14, tzinfo=timezone(timedelta(hours=-8)))
    assert weather.observed_at is not None
    assert weather.observed_at.astimezone(UTC).hour == 22


def test_nulls_are_unknown_not_errors() -> None:
    # Open-Meteo sends null where the model has no value for the variable.
    document = with_current(
        temperature_2m=None, apparent_temperature=None, weather_code=None, is_day=None
    )
    weather = weather_from_forecast(document)
    assert (weather.condition, weather.code, weather.is_day) == ("unknown", None, None)
    assert (weather.temperature_c, weather.feels_like_c) == (None, None)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"weather_code": 63.0}, ("rain", 63)),  # JSON numbers may come as floats
        ({"weather_code": 0}, ("clear", 0)),
        ({"weather_code": 4}, ("unknown", 4)),  # a WMO code Open-Meteo never sends
        ({"weather_code": 99}, ("storm", 99)),
    ],
)
def test_codes(changes: dict[str, object], expected: tuple[str, int]) -> None:
    weather = weather_from_forecast(with_current(**changes))
    assert (weather.condition, weather.code) == expected


def test_night_and_integer_temperatures() -> None:
    weather = weather_from_forecast(with_current(is_day=0, temperature_2m=-3))
    assert weather.is_day is False
    assert weather.temperature_c == -3.0
    assert isinstance(weather.temperature_c, float)


def _without(*path: str) -> dict[str, Any]:
    document = copy.deepcopy(LONDON)
    target = document
    for name in path[:-1]:
        target = target[name]
    del target[path[-1]]
    return document


GARBAGE: list[tuple[str, object, str]] = [
    ("list", [LONDON], "not a JSON object"),
    ("string", "sunny", "not a JSON object"),
    ("null", None, "not a JSON object"),
    ("error document", {"error": True, "reason": "Latitude must be in range"}, "Latitude must"),
    ("no current", _without("current"), "no `current`"),
    ("current is a list", copy.deepcopy(LONDON) | {"current": [1, 2]}, "no `current`"),
    ("no time", _without("current", "time"), "lacks time"),
    ("no weather_code", _without("current", "weather_code"), "lacks weather_code"),
    ("no is_day", _without("current", "is_day"), "lacks is_day"),
    ("no temperature", _without("current", "temperature_2m"), "lacks temperature_2m"),
    ("temperature string", with_current(temperature_2m="9.0"), "not a number"),
    ("temperature bool", with_current(temperature_2m=True), "not a number"),
    ("temperature absurd", with_current(temperature_2m=1e300), "outside"),
    ("feels-like too cold", with_current(apparent_temperature=-273.15), "outside"),
    ("code too big", with_current(weather_code=100), "not a WMO code"),
    ("code negative", with_current(weather_code=-1), "not a WMO code"),
    ("code fractional", with_current(weather_code=63.5), "not a WMO code"),
    ("code string", with_current(weather_code="63"), "not a number"),
    ("is_day 2", with_current(is_day=2), "is_day"),
    ("is_day bool", with_current(is_day=True), "is_day"),
    ("is_day string", with_current(is_day="1"), "is_day"),
    ("time not a string", with_current(time=1763906400), "not a string"),
    ("time garbage", with_current(time="yesterday"), "not ISO 8601"),
    ("offset too big", copy.deepcopy(LONDON) | {"utc_offset_seconds": 86400}, "utc_offset"),
    ("offset a string", copy.deepcopy(LONDON) | {"utc_offset_seconds": "0"}, "utc_offset"),
    ("units not an object", copy.deepcopy(LONDON) | {"current_units": "°C"}, "current_units"),
    (
        "fahrenheit",
        copy.deepcopy(LONDON)
        | {"current_units": LONDON["current_units"] | {"temperature_2m": "°F"}},
        "not °C",
    ),
]


@pytest.mark.parametrize(
    ("document", "message"), [(d, m) for _, d, m in GARBAGE], ids=[i for i, _, _ in GARBAGE]
)
def test_garbage_documents_are_errors(document: object, message: str) -> None:
    with pytest.raises(WeatherError, match=message):
        weather_from_forecast(document)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (json.dumps(LONDON).encode()[:100], "not JSON"),  # truncated
        (json.dumps(with_current(temperature_2m=0)).replace("0,", "NaN,").encode(), "NaN"),
        (b"Infinity", "Infinity"),
        (b" " * 70_000 + b"{}", "larger than"),
    ],
    ids=["empty", "not-utf8", "html", "truncated", "nan", "infinity", "oversized"],
)
def test_garbage_bodies_are_errors(body: bytes, message: str) -> None:
    with pytest.raises(WeatherError, match=message):
        parse_forecast(body)


# -- cells -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [
        (51.5142, -0.0931, (51.5, -0.1)),
        (51.5499, -0.1499, (51.5, -0.1)),  # same ~11 km cell: one cache entry, one fetch
        (37.7749, -122.4194, (37.8, -122.4)),
        (-0.04, 0.04, (0.0, 0.0)),  # no -0.0: one key either side of the equator
        (-0.04, -0.04, (0.0, 0.0)),
        (90.0, 180.0, (90.0, 180.0)),
        (-90.0, -180.0, (-90.0, -180.0)),
        (90.01, 0.0, None),
        (0.0, -180.5, None),
        (float("nan"), 0.0, None),
        (0.0, float("inf"), None),
    ],
)
def test_cells(latitude: float, longitude: float, expected: tuple[float, float] | None) -> None:
    result = cell(latitude, longitude)
    assert result == expected
    if result is not None:
        assert all(str(part) != "-0.0" for part in result)


# -- cache -------------------------------------------------------------------------------------

SUNNY = Weather("clear", 20.0, 20.0, True, 0, None)
RAINY = Weather("rain", 9.0, 6.4, True, 63, None)


def test_cache_is_fresh_until_the_ttl() -> None:
    cache = TtlCache(ttl=600)
    cache.put((1.0, 2.0), SUNNY, now=1000.0)
    assert cache.get((1.0, 2.0), now=1000.0) is SUNNY
    assert cache.get((1.0, 2.0), now=1599.9) is SUNNY
    assert cache.get((2.0, 1.0), now=1000.0) is None
    assert cache.get((1.0, 2.0), now=1600.0) is None
    assert len(cache) == 0  # expired entries go


def test_cache_put_replaces_and_restarts_the_ttl() -> None:
    cache = TtlCache(ttl=10)
    cache.put((1.0, 2.0), SUNNY, now=0.0)
    cache.put((1.0, 2.0), RAINY, now=5.0)
    assert cache.get((1.0, 2.0), now=14.0) is RAINY


def test_cache_evicts_the_oldest_entry() -> None:
    cache = TtlCache(ttl=600, max_entries=2)
    cache.put((1.0, 1.0), SUNNY, now=0.0)
    cache.put((2.0, 2.0), SUNNY, now=1.0)
    cache.put((1.0, 1.0), RAINY, now=2.0)  # refreshed: now the newest
    cache.put((3.0, 3.0), SUNNY, now=3.0)
    assert len(cache) == 2
    assert cache.get((2.0, 2.0), now=3.0) is None
    assert cache.get((1.0, 1.0), now=3.0) is RAINY


# -- circuit breaker ---------------------------------------------------------------------------

# Steps: ("allow", now, expected) | ("fail", now) | ("ok",), then the expected state.
BREAKER_CASES: list[tuple[str, list[tuple[Any, ...]], str]] = [
    ("closed passes", [("allow", 0, True)], "closed"),
    ("below threshold", [("fail", 0), ("fail", 1), ("allow", 2, True)], "closed"),
    ("opens at threshold", [("fail", 0), ("fail", 1), ("fail", 2), ("allow", 3, False)], "open"),
    ("success resets the count", [("fail", 0), ("fail", 1), ("ok",), ("fail", 2), ("fail", 3),
                                  ("allow", 4, True)], "closed"),
    ("still open before reset", [("fail", 0), ("fail", 0), ("fail", 10),
                                 ("allow", 69.9, False)], "open"),
    ("one trial after reset", [("fail", 0), ("fail", 0), ("fail", 10), ("allow", 70, True),
                               ("allow", 70, False), ("allow", 500, False)], "half_open"),
    ("trial success closes", [("fail", 0), ("fail", 0), ("fail", 0), ("allow", 60, True),
                              ("ok",), ("allow", 60, True)], "closed"),
    ("trial failure reopens", [("fail", 0), ("fail", 0), ("fail", 0), ("allow", 60, True),
                               ("fail", 61), ("allow", 120, False), ("allow", 121, True)],
     "half_open"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("steps", "state"), [(s, e) for _, s, e in BREAKER_CASES], ids=[i for i, _, _ in BREAKER_CASES]
)
def test_breaker(steps: list[tuple[Any, ...]], state: str) -> None:
    breaker = CircuitBreaker(failures=3, reset_seconds=60)
    for step in steps:
        if step[0] == "allow":
            assert breaker.allow(step[1]) is step[2], step
        elif step[0] == "fail":
            breaker.failure(step[1])
        else:
            breaker.success()
    assert breaker.state == state


def test_breaker_of_one_opens_on_first_failure() -> None:
    breaker = CircuitBreaker(failures=1, reset_seconds=5)
    breaker.failure(0)
    assert breaker.state == "open"
    assert not breaker.allow(4.9)


# -- offline provider --------------------------------------------------------------------------

# Contract, "The demo world": weather of each place (Linköping and Milton have none).
DEMO_WEATHER = [
    (51.5142, -0.0931, "rain", 9.0),
    (37.7749, -122.4194, "fog", 15.0),
    (13.7563, 100.5018, "clear", 33.0),
    (24.6877, 46.7219, "clear", 38.0),
]


@pytest.fixture(scope="module")
def demo() -> OfflineWeatherProvider:
    provider = OfflineWeatherProvider(DEMO_FILE)
    run(provider.start())
    return provider


@pytest.mark.parametrize(("latitude", "longitude", "condition", "temperature"), DEMO_WEATHER)
def test_demo_weather(
    demo: OfflineWeatherProvider,
    latitude: float,
    longitude: float,
    condition: str,
    temperature: float,
) -> None:
    weather = run(demo.current(latitude, longitude))
    assert weather is not None
    assert (weather.condition, weather.temperature_c) == (condition, temperature)
    assert weather.observed_at is not None and weather.observed_at.tzinfo is not None


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [
        (58.4167, 15.6167, None),  # Linköping: not in the file
        (47.2513, -122.3149, None),  # Milton
        (51.5201, -0.1102, "rain"),  # elsewhere in London's 0.1° cell
        (51.6142, -0.0931, None),  # the next cell north
        (91.0, 0.0, None),
    ],
)
def test_demo_lookup_by_cell(
    demo: OfflineWeatherProvider, latitude: float, longitude: float, expected: str | None
) -> None:
    weather = run(demo.current(latitude, longitude))
    assert (weather.condition if weather else None) == expected


def test_demo_file_keys_are_the_demo_places() -> None:
    from gateway.demo.places import PLACES, weather_key

    keys = set(json.loads(DEMO_FILE.read_text()))
    assert keys <= {weather_key(p.latitude, p.longitude) for p in PLACES}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file"),
        ("{not json", "not JSON"),
        ("[]", "not a JSON object of places"),
        ('{"london": {}}', "not 'LAT,LON'"),
        ('{"95.0,0.0": {}}', "not a place on Earth"),
        ('{"51.5142,-0.0931": {"current": {}}}', r"51\.5142,-0\.0931: `current` lacks"),
    ],
)
def test_unusable_offline_file_is_a_start_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "weather.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(WeatherError, match=message) as raised:
        run(OfflineWeatherProvider(path).start())
    assert str(path) in str(raised.value)


def test_load_fixture_normalizes_keys() -> None:
    places = load_fixture({"51.5142, -0.0931": LONDON})
    assert list(places) == ["51.5142,-0.0931"]


# -- settings and factory ----------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = WeatherSettings()
    assert (settings.budget_ms, settings.timeout_ms) == (50, 2000)
    assert (settings.cache_ttl_seconds, settings.breaker_failures) == (600, 5)
    assert settings.breaker_reset_seconds == 60
    assert settings.attribution == "Weather data by Open-Meteo.com"


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://api.open-meteo.com",
        "api.open-meteo.com",
        "https://user:pw@api.open-meteo.com",
        "https://api.open-meteo.com/?apikey=x",
    ],
)
def test_settings_reject_bad_base_urls(base_url: str) -> None:
    with pytest.raises(ValidationError, match="base_url"):
        WeatherSettings(base_url=base_url)


def test_settings_strip_a_trailing_slash() -> None:
    assert WeatherSettings(base_url="https://weather.example/om/").base_url == (
        "https://weather.example/om"
    )


def test_factory() -> None:
    assert provider_from_settings(WeatherSettings()) is None
    offline = provider_from_settings(WeatherSettings(provider="offline", offline_file=DEMO_FILE))
    assert isinstance(offline, OfflineWeatherProvider)
    assert offline.attribution is None
    remote = provider_from_settings(
        WeatherSettings(provider="open-meteo", base_url="https://customer-api.open-meteo.com")
    )
    assert isinstance(remote, OpenMeteoProvider)
    assert remote.attribution == "Weather data by Open-Meteo.com"
    assert remote.budget == 0.05
    with pytest.raises(WeatherError, match="offline_file"):
        provider_from_settings(WeatherSettings(provider="offline"))


def test_open_meteo_before_start_is_unknown() -> None:
    provider = OpenMeteoProvider(WeatherSettings(provider="open-meteo"))
    assert run(provider.current(51.5, -0.1)) is None
    assert provider.breaker.state == "closed"
    run(provider.close())
