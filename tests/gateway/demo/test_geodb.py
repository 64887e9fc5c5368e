"""The demo geo database file: GeoLite2-City shape, atomic writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import maxminddb

from gateway.demo.geodb import build_geo_database


def test_record_shape_is_geolite2_city(tmp_path: Path) -> None:
    path = build_geo_database(tmp_path / "nested" / "city.mmdb")
    with maxminddb.open_database(str(path)) as reader:
        meta = reader.metadata()
        assert meta.database_type == "GeoLite2-City"
        assert meta.ip_version == 6 and meta.languages == ["en"]
        record: Any = reader.get("89.160.20.112")
    assert isinstance(record, dict)
    assert record["continent"]["code"] == "EU"
    assert record["country"] == {"iso_code": "SE", "names": {"en": "Sweden"}}
    assert record["subdivisions"][0]["iso_code"] == "E"
    assert record["subdivisions"][0]["names"]["en"] == "Östergötland County"
    assert record["city"]["names"]["en"] == "Linköping"
    location = record["location"]
    assert isinstance(location["latitude"], float) and isinstance(location["longitude"], float)
    assert location["time_zone"] == "Europe/Stockholm"
    assert location["accuracy_radius"] == 20


def test_rebuild_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "city.mmdb"
    path.write_bytes(b"corrupt")
    build_geo_database(path)
    with maxminddb.open_database(str(path)) as reader:
        assert reader.get("81.2.69.160") is not None
    # Only the database itself: no temporary file left beside it.
    assert [p.name for p in tmp_path.iterdir()] == ["city.mmdb"]
