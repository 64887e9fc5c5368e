import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.purposes import (
    HostIndex,
    data_use_matches,
    data_uses_overlap,
    gpc_purposes,
    purposes_covering,
    purposes_for_host,
)
from tests.consent.sample import PURPOSES, sample_config


@pytest.mark.parametrize(
    ("declared", "wanted", "expected"),
    [
        ("marketing.advertising", "marketing.advertising.third_party.targeted", True),
        ("marketing.advertising", "marketing.advertising", True),
        ("marketing", "marketing.advertising", True),
        # Whole segments only: a longer label is another data use.
        ("marketing.advertising", "marketing.advertisingx", False),
        ("marketing.advertising", "marketing.advertisingx.third_party", False),
        # A narrower declaration does not cover its parent.
        ("marketing.advertising.third_party", "marketing.advertising", False),
        ("analytics", "personalize.analytics", False),
        ("analytics.reporting", "analytics", False),
    ],
)
def test_data_use_matches_by_dotted_prefix(declared: str, wanted: str, expected: bool) -> None:
    assert data_use_matches(declared, wanted) is expected


labels = st.lists(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), min_size=1, max_size=4)


@given(labels, labels)
def test_match_is_segment_prefix(a: list[str], b: list[str]) -> None:
    # Oracle: list-prefix on the split segments.
    assert data_use_matches(".".join(a), ".".join(b)) == (b[: len(a)] == a)
    assert data_uses_overlap(".".join(a), ".".join(b)) == data_uses_overlap(
        ".".join(b), ".".join(a)
    )


def test_purposes_covering() -> None:
    cfg = sample_config()
    assert purposes_covering(cfg.purposes, "analytics.reporting") == ("analytics",)
    assert purposes_covering(cfg.purposes, "analytics.reporting.campaign") == ("analytics",)
    assert purposes_covering(cfg.purposes, "analytics") == ()  # broader than declared
    assert purposes_covering(cfg.purposes, "personalize.content.profiling") == ("personalization",)


def test_gpc_refuses_overlapping_purposes_in_both_directions() -> None:
    cfg = sample_config()
    # marketing declares the narrower marketing.advertising.third_party.targeted
    assert gpc_purposes(cfg) == {"marketing"}
    # ...and a purpose broader than the GPC data use is refused too
    purposes = copy.deepcopy(PURPOSES)
    purposes[3]["data_uses"] = ["marketing.advertising.third_party"]
    broad = sample_config(
        purposes=purposes,
        policy={"version": "1", "gpc_data_uses": ["marketing.advertising.third_party.targeted"]},
    )
    assert gpc_purposes(broad) == {"marketing"}
    none = sample_config(policy={"version": "1", "gpc_data_uses": ["third_party_sharing"]})
    assert gpc_purposes(none) == frozenset()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.googletagmanager.com", ("analytics",)),
        ("WWW.GoogleTagManager.com.", ("analytics",)),  # case and the root dot
        ("googletagmanager.com", ()),  # exact entries match only themselves
        ("evil-www.googletagmanager.com", ()),
        ("region1.google-analytics.com", ("analytics",)),
        ("a.b.c.google-analytics.com", ("analytics",)),  # any depth
        ("google-analytics.com", ()),  # "*." is subdomains, not the apex
        ("notgoogle-analytics.com", ()),
        ("google-analytics.com.evil.example", ()),
        ("stats.g.doubleclick.net", ("marketing",)),
        ("connect.facebook.net", ("marketing",)),
        ("shop.example", ()),
        ("", ()),
    ],
)
def test_purposes_for_host(host: str, expected: tuple[str, ...]) -> None:
    cfg = sample_config()
    assert HostIndex.build(cfg.purposes).purposes_for(host) == expected
    assert purposes_for_host(cfg.purposes, host) == expected


def test_host_claimed_by_two_purposes_names_both() -> None:
    cfg = sample_config()
    data = cfg.model_dump()
    data["purposes"][2]["hosts"] = ["*.googletagmanager.com"]
    cfg2 = type(cfg).model_validate(data)
    index = HostIndex.build(cfg2.purposes)
    assert index.purposes_for("www.googletagmanager.com") == ("analytics", "personalization")
