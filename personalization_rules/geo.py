"""Where a visitor is: a MaxMind-format database (GeoLite2-City, DB-IP lite).

The database is read into memory once (MODE_MEMORY) and answers `GeoReader.lookup(ip)` with a
`GeoPlace`. Not memory-mapped: a file truncated or rewritten in place while mapped (`cp` over
it, a failed download) makes the next lookup touch pages past its end, and SIGBUS kills the
worker (tests/gateway/faults/test_store_and_feeds.py); a copy in memory keeps answering from the
database as it was opened. A GeoLite2-City copy costs each worker about 60 MB.

A missing or unreadable database is a `GeoDatabaseError` at open, never a silent "unknown"
(the config's `geo.optional` decides what the caller does with it). An address the database
does not cover, or no address at all, is None: the jurisdiction then fails closed
(policies.models.JurisdictionSettings.unknown).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb
from maxminddb.errors import InvalidDatabaseError

#: Addresses whose place a reader remembers.
LOOKUP_CACHE = 16_384


@dataclass(frozen=True)
class GeoPlace:
    """A located address. Codes are ISO: country 3166-1 alpha-2, subdivision 3166-2 ("US-CA")."""

    continent: str | None
    country: str | None
    subdivision: str | None
    city: str | None
    latitude: float | None
    longitude: float | None
    time_zone: str | None


@dataclass
class GeoDatabaseError(Exception):
    """The geo database at `path` cannot be used, for `reason`."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"geo database {self.path}: {self.reason}"


class GeoReader:
    """A MaxMind DB read once into memory; `lookup` is safe to call from any task or thread."""

    def __init__(self, path: Path) -> None:
        """Open `path`; raises `GeoDatabaseError` when it is missing, unreadable or corrupt."""
        self.path = path
        try:
            if not path.is_file():
                raise GeoDatabaseError(path, "no such file")
            self._reader = maxminddb.open_database(str(path), maxminddb.MODE_MEMORY)
            self._cached = lru_cache(maxsize=LOOKUP_CACHE)(self._lookup)
        except (InvalidDatabaseError, ValueError) as exc:
            # maxminddb raises InvalidDatabaseError for a damaged tree and ValueError for a
            # file without the metadata marker (empty, truncated, or not an MMDB at all).
            raise GeoDatabaseError(path, f"not a valid MaxMind DB ({exc})") from exc
        except OSError as exc:
            raise GeoDatabaseError(path, exc.strerror or str(exc)) from exc
        self.database_type: str = self._reader.metadata().database_type

    def lookup(self, ip: str) -> GeoPlace | None:
        """The place of `ip`, or None when it is not an address or the database has no record.

        A corrupt record found only now (the tree is read lazily) is also None: one bad branch
        must not fail the page; the jurisdiction fails closed instead. Answers are remembered
        per address (bounded, in this process only: the pure-Python reader costs ~40 µs).
        """
        return self._cached(ip)

    def _lookup(self, ip: str) -> GeoPlace | None:
        address = _parse(ip)
        if address is None:
            return None
        try:
            record = self._reader.get(address)
        except (InvalidDatabaseError, ValueError):
            # ValueError also covers an IPv6 address asked of an IPv4-only database.
            return None
        if not isinstance(record, Mapping):
            return None
        return place_from_record(record)

    def close(self) -> None:
        """Release the in-memory copy."""
        self._reader.close()

    def __enter__(self) -> GeoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    # RFC 4291 §2.5.5.2: ::ffff:a.b.c.d is the IPv4 address a.b.c.d (dual-stack sockets
    # report IPv4 peers this way); GeoLite2 aliases it, a minimal database may not.
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def place_from_record(record: Mapping[str, Any]) -> GeoPlace:
    """A `GeoPlace` from a GeoLite2-City-shaped record; absent or odd fields become None.

    GeoLite2-Country and DB-IP lite records lack city, subdivision or location; those parts are
    None. Subdivision codes are stored without their country ("CA"), so we join them ("US-CA").
    """
    country = _text(_dig(record, "country", "iso_code"))
    subdivisions = record.get("subdivisions")
    subdivision: str | None = None
    if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], Mapping):
        code = _text(subdivisions[0].get("iso_code"))
        if code and country:
            subdivision = f"{country.upper()}-{code.upper()}"
    return GeoPlace(
        continent=_text(_dig(record, "continent", "code")),
        country=country.upper() if country else None,
        subdivision=subdivision,
        city=_text(_dig(record, "city", "names", "en")),
        latitude=_number(_dig(record, "location", "latitude")),
        longitude=_number(_dig(record, "location", "longitude")),
        time_zone=_text(_dig(record, "location", "time_zone")),
    )


def _dig(record: Mapping[str, Any], *keys: str) -> object:
    value: object = record
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
