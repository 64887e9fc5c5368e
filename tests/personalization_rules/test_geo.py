"""GeoReader against the demo database built fresh, and GeoLite2 record parsing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from gateway.demo.geodb import build_geo_database
from personalization_rules.geo import GeoDatabaseError, GeoPlace, GeoReader, place_from_record


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_geo_database(tmp_path_factory.mktemp("geo") / "demo.mmdb")


@pytest.fixture(scope="module")
def reader(database: Path) -> Iterator[GeoReader]:
    with GeoReader(database) as geo:
        yield geo


# Contract, "The demo world": every address and its place.
LA = "America/Los_Angeles"
DEMO = [
    ("81.2.69.160", "EU", "GB", "GB-ENG", "London", "Europe/London", 51.5142, -0.0931),
    ("89.160.20.112", "EU", "SE", "SE-E", "Linköping", "Europe/Stockholm", 58.4167, 15.6167),
    ("216.160.83.56", "NA", "US", "US-WA", "Milton", LA, 47.2513, -122.3149),
    ("198.51.100.7", "NA", "US", "US-CA", "San Francisco", LA, 37.7749, -122.4194),
    ("203.0.113.9", "AS", "TH", "TH-10", "Bangkok", "Asia/Bangkok", 13.7563, 100.5018),
    ("192.0.2.44", "AS", "SA", "SA-01", "Riyadh", "Asia/Riyadh", 24.6877, 46.7219),
]


@pytest.mark.parametrize(("ip", "continent", "country", "sub", "city", "tz", "lat", "lon"), DEMO)
def test_demo_addresses(
    reader: GeoReader,
    ip: str,
    continent: str,
    country: str,
    sub: str,
    city: str,
    tz: str,
    lat: float,
    lon: float,
) -> None:
    assert reader.lookup(ip) == GeoPlace(continent, country, sub, city, lat, lon, tz)


@pytest.mark.parametrize(
    ("ip", "city"),
    [
        ("81.2.69.0", "London"),  # first and last address of the /24
        ("81.2.69.255", "London"),
        ("198.51.100.200", "San Francisco"),
        ("::ffff:81.2.69.160", "London"),  # RFC 4291 IPv4-mapped form
        ("::ffff:192.0.2.44", "Riyadh"),
        ("2001:db8:81::1", "London"),  # the demo's IPv6 London network
        (" 203.0.113.9 ", "Bangkok"),  # surrounding whitespace from a header value
    ],
)
def test_neighbours_and_other_forms(reader: GeoReader, ip: str, city: str) -> None:
    place = reader.lookup(ip)
    assert place is not None and place.city == city


@pytest.mark.parametrize(
    "ip",
    [
        "81.2.68.255",  # just outside London's /24
        "81.2.70.0",
        "10.0.0.1",
        "127.0.0.1",
        "::1",
        "2001:db8:82::1",
        "",
        "not-an-ip",
        "81.2.69",
        "81.2.69.160.1",
        "999.2.69.160",
        "81.2.69.160/24",
        "81.2.69.160:443",
        "[2001:db8:81::1]",
        "fe80::1%eth0",
    ],
)
def test_unknown_or_invalid_is_none(reader: GeoReader, ip: str) -> None:
    assert reader.lookup(ip) is None


def test_metadata(reader: GeoReader) -> None:
    assert reader.database_type == "GeoLite2-City"


def test_ipv6_lookup_in_ipv4_only_database(tmp_path: Path) -> None:
    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "GB"}})
    writer.to_db_file(str(tmp_path / "v4.mmdb"))
    with GeoReader(tmp_path / "v4.mmdb") as geo:
        assert geo.lookup("2001:db8:81::1") is None
        # A country-only database: everything below the country is unknown.
        assert geo.lookup("81.2.69.1") == GeoPlace(None, "GB", None, None, None, None, None)


def _truncated_tree(database: Path, target: Path) -> None:
    data = database.read_bytes()
    marker = data.rfind(b"\xab\xcd\xefMaxMind.com")
    target.write_bytes(data[:100] + data[marker:])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda db, p: None, "no such file"),
        (lambda db, p: p.mkdir(), "no such file"),
        (lambda db, p: p.write_bytes(b""), "not a valid MaxMind DB"),
        (lambda db, p: p.write_bytes(b"GeoLite2 is not here\n" * 50), "not a valid MaxMind DB"),
        (lambda db, p: p.write_bytes(db.read_bytes()[:1000]), "not a valid MaxMind DB"),
        (_truncated_tree, "not a valid MaxMind DB"),
    ],
    ids=["missing", "directory", "empty", "text", "truncated-metadata", "truncated-tree"],
)
def test_unusable_database(database: Path, tmp_path: Path, make: Any, reason: str) -> None:
    path = tmp_path / "geo.mmdb"
    make(database, path)
    with pytest.raises(GeoDatabaseError) as caught:
        GeoReader(path)
    assert caught.value.path == path
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith(f"geo database {path}: {reason}")


def test_os_error_is_a_geo_error(tmp_path: Path) -> None:
    # ENAMETOOLONG: an OSError that Path.is_file does not swallow.
    path = tmp_path / ("x" * 300)
    with pytest.raises(GeoDatabaseError, match="too long") as caught:
        GeoReader(path)
    assert caught.value.path == path


def test_unreadable_database(database: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not apply")
    path = tmp_path / "geo.mmdb"
    path.write_bytes(database.read_bytes())
    path.chmod(0)
    with pytest.raises(GeoDatabaseError, match="ermission denied"):
        GeoReader(path)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({}, GeoPlace(None, None, None, None, None, None, None)),
        (
            {"country": {"iso_code": "us"}, "subdivisions": [{"iso_code": "ca"}]},
            GeoPlace(None, "US", "US-CA", None, None, None, None),
        ),
        # A subdivision without a country cannot form an ISO 3166-2 code.
        ({"subdivisions": [{"iso_code": "CA"}]}, GeoPlace(*[None] * 7)),
        (
            {"country": {"iso_code": "GB"}, "subdivisions": []},
            GeoPlace(None, "GB", None, None, None, None, None),
        ),
        (
            {"country": {"iso_code": "GB"}, "subdivisions": ["ENG"]},
            GeoPlace(None, "GB", None, None, None, None, None),
        ),
        (
            {"country": "GB", "city": {"names": {"de": "London"}}, "continent": {"code": 3}},
            GeoPlace(None, None, None, None, None, None, None),
        ),
        (
            {"location": {"latitude": True, "longitude": 10, "time_zone": ""}},
            GeoPlace(None, None, None, None, None, 10.0, None),
        ),
        (
            {"location": {"latitude": "51.5", "longitude": None, "time_zone": "UTC"}},
            GeoPlace(None, None, None, None, None, None, "UTC"),
        ),
    ],
)
def test_place_from_odd_records(record: dict[str, Any], expected: GeoPlace) -> None:
    assert place_from_record(record) == expected


def test_place_is_frozen() -> None:
    place = place_from_record({})
    with pytest.raises(AttributeError):
        place.country = "GB"  # type: ignore[misc]
