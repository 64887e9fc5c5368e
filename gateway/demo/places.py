"""The places the demo world knows: one table feeds the geo database and documents the weather.

Contract, "The demo world": these six addresses must resolve to these places. Each sits in a
small network (a /24, like a real GeoLite2 block) so neighbours of the address resolve the same.
Coordinates and subdivisions follow GeoLite2-City (MaxMind's own test data uses 81.2.69.160,
89.160.20.112 and 216.160.83.56 for London, Linköping and Milton); three addresses come from
the RFC 5737 documentation ranges, which no real database maps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoPlace:
    """One place of the demo world, in GeoLite2-City terms."""

    ip: str
    networks: tuple[str, ...]
    continent_code: str
    continent_name: str
    country_code: str
    country_name: str
    # ISO 3166-2 subdivision code without the country part, as GeoLite2 stores it ("CA").
    subdivision_code: str
    subdivision_name: str
    city: str
    latitude: float
    longitude: float
    time_zone: str

    @property
    def subdivision(self) -> str:
        """The full ISO 3166-2 code, e.g. ``US-CA``."""
        return f"{self.country_code}-{self.subdivision_code}"


PLACES: tuple[DemoPlace, ...] = (
    DemoPlace(
        ip="81.2.69.160",
        # 2001:db8::/32 is the RFC 3849 documentation prefix: an IPv6 visitor for the demo.
        networks=("81.2.69.0/24", "2001:db8:81::/48"),
        continent_code="EU",
        continent_name="Europe",
        country_code="GB",
        country_name="United Kingdom",
        subdivision_code="ENG",
        subdivision_name="England",
        city="London",
        latitude=51.5142,
        longitude=-0.0931,
        time_zone="Europe/London",
    ),
    DemoPlace(
        ip="89.160.20.112",
        networks=("89.160.20.0/24",),
        continent_code="EU",
        continent_name="Europe",
        country_code="SE",
        country_name="Sweden",
        subdivision_code="E",
        subdivision_name="Östergötland County",
        city="Linköping",
        latitude=58.4167,
        longitude=15.6167,
        time_zone="Europe/Stockholm",
    ),
    DemoPlace(
        ip="216.160.83.56",
        networks=("216.160.83.0/24",),
        continent_code="NA",
        continent_name="North America",
        country_code="US",
        country_name="United States",
        subdivision_code="WA",
        subdivision_name="Washington",
        city="Milton",
        latitude=47.2513,
        longitude=-122.3149,
        time_zone="America/Los_Angeles",
    ),
    DemoPlace(
        ip="198.51.100.7",
        networks=("198.51.100.0/24",),
        continent_code="NA",
        continent_name="North America",
        country_code="US",
        country_name="United States",
        subdivision_code="CA",
        subdivision_name="California",
        city="San Francisco",
        latitude=37.7749,
        longitude=-122.4194,
        time_zone="America/Los_Angeles",
    ),
    DemoPlace(
        ip="203.0.113.9",
        networks=("203.0.113.0/24",),
        continent_code="AS",
        continent_name="Asia",
        country_code="TH",
        country_name="Thailand",
        subdivision_code="10",
        subdivision_name="Bangkok",
        city="Bangkok",
        latitude=13.7563,
        longitude=100.5018,
        time_zone="Asia/Bangkok",
    ),
    DemoPlace(
        ip="192.0.2.44",
        networks=("192.0.2.0/24",),
        continent_code="AS",
        continent_name="Asia",
        country_code="SA",
        country_name="Saudi Arabia",
        subdivision_code="01",
        subdivision_name="Riyadh Region",
        city="Riyadh",
        latitude=24.6877,
        longitude=46.7219,
        time_zone="Asia/Riyadh",
    ),
)


def weather_key(latitude: float, longitude: float) -> str:
    """The key of a place in the offline weather file: its coordinates, 4 decimals.

    The file maps these keys to Open-Meteo `/v1/forecast?current=...` responses, so a weather
    client asks for the geo lookup's coordinates exactly as it would ask Open-Meteo.
    """
    return f"{latitude:.4f},{longitude:.4f}"
