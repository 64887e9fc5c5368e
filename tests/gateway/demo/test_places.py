"""The demo places and the offline weather file agree with each other and with the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.demo.places import PLACES, weather_key

WEATHER: dict[str, Any] = json.loads(
    (Path(__file__).parents[3] / "gateway" / "demo" / "weather.json").read_text(encoding="utf-8")
)
BY_CITY = {p.city: p for p in PLACES}

# Contract, "The demo world": weather column. WMO 4677 codes: 61/63 rain, 45 fog, 0 clear sky.
CONTRACT_WEATHER = [
    ("London", {61, 63}, 9.0),
    ("San Francisco", {45}, 15.0),
    ("Bangkok", {0}, 33.0),
    ("Riyadh", {0}, 38.0),
]


def test_six_contract_addresses() -> None:
    assert [p.ip for p in PLACES] == [
        "81.2.69.160",
        "89.160.20.112",
        "216.160.83.56",
        "198.51.100.7",
        "203.0.113.9",
        "192.0.2.44",
    ]
    assert [p.subdivision for p in PLACES] == ["GB-ENG", "SE-E", "US-WA", "US-CA", "TH-10", "SA-01"]


@pytest.mark.parametrize(("city", "codes", "temperature"), CONTRACT_WEATHER)
def test_weather_for_contract_places(city: str, codes: set[int], temperature: float) -> None:
    place = BY_CITY[city]
    response = WEATHER[weather_key(place.latitude, place.longitude)]
    assert response["current"]["weather_code"] in codes
    assert response["current"]["temperature_2m"] == temperature


@pytest.mark.parametrize("key", sorted(WEATHER))
def test_weather_is_open_meteo_current_format(key: str) -> None:
    response = WEATHER[key]
    # Open-Meteo /v1/forecast?current=...: units beside values, time in the local zone.
    assert response["current_units"] == {
        "time": "iso8601",
        "interval": "seconds",
        "temperature_2m": "°C",
        "apparent_temperature": "°C",
        "is_day": "",
        "weather_code": "wmo code",
    }
    assert set(response["current"]) == set(response["current_units"])
    assert response["current"]["is_day"] in (0, 1)
    for field in ("latitude", "longitude", "utc_offset_seconds", "timezone", "elevation"):
        assert field in response
    lat, lon = (float(v) for v in key.split(","))
    # Open-Meteo snaps to its grid: the answer's coordinates are near, not equal.
    assert abs(response["latitude"] - lat) < 0.1 and abs(response["longitude"] - lon) < 0.1


@pytest.mark.parametrize(
    ("lat", "lon", "key"),
    [
        (51.5142, -0.0931, "51.5142,-0.0931"),
        (0.0, 0.0, "0.0000,0.0000"),
        (-33.9, 151.2, "-33.9000,151.2000"),
    ],
)
def test_weather_key(lat: float, lon: float, key: str) -> None:
    assert weather_key(lat, lon) == key
