"""`gateway.proxy.visitor.jurisdiction_location`: which location chooses the regime (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.proxy.visitor import jurisdiction_location
from gateway.wiring import load_config
from personalization_rules.geo import GeoPlace
from policies.models import JurisdictionSettings

REPO = Path(__file__).resolve().parents[2]
# The example config names CF-IPCountry and X-Country-Code, and X-Region-Code.
CONFIG = load_config(REPO / "policies.yaml").config
NO_EDGE = CONFIG.model_copy(update={"jurisdiction": JurisdictionSettings()})
LONDON = GeoPlace("EU", "GB", "GB-ENG", "London", 51.5, -0.1, "Europe/London")
CDN = [("CF-IPCountry", "us"), ("X-Region-Code", "CA")]


@pytest.mark.parametrize(
    ("place", "edge", "expected"),
    [
        (LONDON, None, ("GB", "GB-ENG")),  # no trusted proxy: the database
        (LONDON, [], ("GB", "GB-ENG")),
        (LONDON, CDN, ("us", "CA")),  # raw: regime_for normalizes
        (None, CDN, ("us", "CA")),
        (LONDON, [("x-region-code", "WA")], ("GB", "GB-ENG")),  # a region alone is not enough
        (LONDON, [("cf-ipcountry", "de"), ("X-Country-Code", "FR")], ("de", None)),  # first wins
        (LONDON, [("X-Country-Code", "FR"), ("CF-IPCountry", "de")], ("de", None)),  # by config
        (None, None, (None, None)),
        (None, [("Cookie", "CF-IPCountry=US")], (None, None)),
    ],
)
def test_edge_headers_from_a_trusted_proxy_beat_the_database(
    place: GeoPlace | None,
    edge: list[tuple[str, str]] | None,
    expected: tuple[str | None, str | None],
) -> None:
    assert jurisdiction_location(CONFIG, place, edge) == expected


def test_without_configured_edge_headers_only_the_database_counts() -> None:
    assert jurisdiction_location(NO_EDGE, LONDON, CDN) == ("GB", "GB-ENG")
    assert jurisdiction_location(NO_EDGE, None, CDN) == (None, None)
