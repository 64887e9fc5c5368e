from pathlib import Path

import pytest

from gateway.wiring import load_config
from policies.jurisdictions import (
    location_from_headers,
    normalize_country,
    normalize_subdivision,
    regime_for,
)
from policies.models import EdgeHeaders
from tests.consent.sample import sample_config

CFG = sample_config()


@pytest.mark.parametrize(
    ("country", "subdivision", "regime"),
    [
        ("GB", "GB-ENG", "gdpr"),  # London
        ("SE", "E", "gdpr"),  # Linköping
        ("CH", None, "gdpr"),
        ("NO", None, "gdpr"),  # EEA
        ("de", None, "gdpr"),  # case-insensitive
        (" FR ", None, "gdpr"),
        ("US", "US-CA", "us-optout"),  # San Francisco
        ("US", "CA", "us-optout"),  # bare subdivision code as MaxMind gives it
        ("us", "ca", "us-optout"),
        ("US", "US-NY", "default"),  # a state without an opt-out law
        ("TH", "TH-10", "default"),  # Bangkok
        ("SA", None, "default"),  # Riyadh
        # Fail closed: unknown location gets the strictest regime.
        (None, None, "gdpr"),
        ("", None, "gdpr"),
        ("XX", None, "gdpr"),  # Cloudflare: unknown
        ("T1", None, "gdpr"),  # Cloudflare: Tor
        ("EU", None, "gdpr"),  # MaxMind legacy continent code
        ("USA", "CA", "gdpr"),
        ("U1", None, "gdpr"),
        (None, "US-CA", "gdpr"),  # a region without a country proves nothing
        # The regime depends on the state and the state is unknown: fail closed.
        ("US", None, "gdpr"),
        ("US", "GB-ENG", "gdpr"),  # prefix disagrees with the country
        ("US", "C@", "gdpr"),
    ],
)
def test_regime_for(country: str | None, subdivision: str | None, regime: str) -> None:
    assert regime_for(country, subdivision, CFG) == regime


def test_unknown_subdivision_can_be_configured() -> None:
    cfg = sample_config(jurisdiction={"unknown": "gdpr", "unknown_subdivision": "us-optout"})
    assert regime_for("US", None, cfg) == "us-optout"
    assert regime_for(None, None, cfg) == "gdpr"


def test_subdivision_beats_country() -> None:
    cfg = sample_config(
        regimes={
            "gdpr": {"countries": ["US"]},
            "us-optout": {"subdivisions": ["US-CA"]},
            "default": {},
        }
    )
    assert regime_for("US", "CA", cfg) == "us-optout"
    assert regime_for("US", "NY", cfg) == "gdpr"
    assert regime_for("US", None, cfg) == "gdpr"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("gb", "GB"), ("GBR", None), ("1A", None), ("ZZ", None), (None, None), ("é", None)],
)
def test_normalize_country(value: str | None, expected: str | None) -> None:
    assert normalize_country(value) == expected


@pytest.mark.parametrize(
    ("country", "value", "expected"),
    [
        ("US", "CA", "US-CA"),
        ("US", "us-ca", "US-CA"),
        ("FR", "75C", "FR-75C"),
        ("US", "", None),
        ("US", "CALI", None),
        ("US", "US-", None),
        ("US", "FR-75C", None),
        (None, "US-CA", None),
    ],
)
def test_normalize_subdivision(
    country: str | None, value: str | None, expected: str | None
) -> None:
    assert normalize_subdivision(country, value) == expected


def test_location_from_headers() -> None:
    edge = EdgeHeaders(country=["CF-IPCountry", "X-Country-Code"], region=["X-Region-Code"])
    assert location_from_headers({"cf-ipcountry": "US", "x-region-code": "CA"}, edge) == (
        "US",
        "CA",
    )
    # First configured header wins, whatever the order on the wire.
    assert location_from_headers([("X-Country-Code", "DE"), ("CF-IPCountry", "GB")], edge) == (
        "GB",
        None,
    )
    # Repeated header: the first value counts.
    assert location_from_headers([("X-Country-Code", "DE"), ("x-country-code", "US")], edge) == (
        "DE",
        None,
    )
    assert location_from_headers({"cf-ipcountry": "US"}, EdgeHeaders()) == (None, None)


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("country", "subdivision", "regime"),
    [
        # Contract, "The demo world" table.
        ("GB", "ENG", "gdpr"),  # London
        ("SE", "E", "gdpr"),  # Linköping
        ("US", "WA", "us-optout"),  # Milton
        ("US", "CA", "us-optout"),  # San Francisco
        ("TH", "10", "default"),  # Bangkok
        ("SA", "01", "default"),  # Riyadh
        ("NO", None, "gdpr"),  # quoted in the YAML (YAML 1.1 reads NO as false)
        (None, None, "gdpr"),
    ],
)
def test_example_config_places_the_contract_visitors(
    country: str | None, subdivision: str | None, regime: str
) -> None:
    cfg = load_config(REPO / "policies.yaml").config
    assert regime_for(country, subdivision, cfg) == regime
