"""Build the demo geo database: a MaxMind DB shaped like GeoLite2-City, from `places.PLACES`.

MaxMind DB spec 2.0 (https://maxmind.github.io/MaxMind-DB/): an IPv6 tree with IPv4 at
::/96, as GeoLite2 ships it, so one file answers both families. Records carry the GeoLite2-City
fields readers use: continent, country, subdivisions[], city, location.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from mmdb_writer import MmdbF64, MmdbU16, MMDBWriter
from netaddr import IPSet

from gateway.demo.places import PLACES, DemoPlace

DATABASE_TYPE = "GeoLite2-City"
DESCRIPTION = "consentgate demo world (not real geolocation data)"
# Radius in km MaxMind reports for city-level answers; the demo claims city precision.
ACCURACY_RADIUS_KM = 20


def city_record(place: DemoPlace) -> dict[str, Any]:
    """The GeoLite2-City record for `place` (field names as MaxMind documents them)."""
    return {
        "continent": {"code": place.continent_code, "names": {"en": place.continent_name}},
        "country": {"iso_code": place.country_code, "names": {"en": place.country_name}},
        "registered_country": {
            "iso_code": place.country_code,
            "names": {"en": place.country_name},
        },
        "subdivisions": [
            {"iso_code": place.subdivision_code, "names": {"en": place.subdivision_name}}
        ],
        "city": {"names": {"en": place.city}},
        "location": {
            # GeoLite2 stores coordinates as doubles and the radius as uint16.
            "latitude": MmdbF64(place.latitude),
            "longitude": MmdbF64(place.longitude),
            "accuracy_radius": MmdbU16(ACCURACY_RADIUS_KM),
            "time_zone": place.time_zone,
        },
    }


def build_geo_database(path: Path) -> Path:
    """Write the demo database to `path` atomically (a reader never sees half a file)."""
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=DATABASE_TYPE,
        languages=["en"],
        description=DESCRIPTION,
    )
    for place in PLACES:
        writer.insert_network(IPSet(list(place.networks)), city_record(place))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".geo-", suffix=".mmdb", dir=path.parent)
    os.close(fd)
    try:
        writer.to_db_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
