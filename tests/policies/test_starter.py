"""`policies.starter`: the tracker table and the starter config rendered from it."""

from __future__ import annotations

import pytest
import yaml

from consent.cookies import CookieFilter
from policies.models import Config
from policies.purposes import purposes_for_host
from policies.starter import TRACKED_PURPOSES, render_starter_config, trackers


@pytest.fixture(scope="module")
def config() -> Config:
    return Config.model_validate(yaml.safe_load(render_starter_config("http://127.0.0.1:9")))


# Hosts as the vendors' own snippets load them (script, pixel, iframe).
@pytest.mark.parametrize(
    ("host", "purpose"),
    [
        ("www.googletagmanager.com", "analytics"),  # gtag.js and gtm.js
        ("www.google-analytics.com", "analytics"),
        ("region1.google-analytics.com", "analytics"),  # GA4 collect
        ("www.clarity.ms", "analytics"),
        ("c.clarity.ms", "analytics"),
        ("static.hotjar.com", "analytics"),
        ("script.hotjar.com", "analytics"),
        ("js.hs-scripts.com", "analytics"),
        ("cdn.segment.com", "analytics"),
        ("api.segment.io", "analytics"),
        ("googleads.g.doubleclick.net", "marketing"),
        ("stats.g.doubleclick.net", "marketing"),
        ("www.googleadservices.com", "marketing"),
        ("pagead2.googlesyndication.com", "marketing"),
        ("connect.facebook.net", "marketing"),  # fbevents.js
        ("www.facebook.com", "marketing"),  # the /tr pixel
        ("analytics.tiktok.com", "marketing"),
        ("bat.bing.com", "marketing"),
        ("snap.licdn.com", "marketing"),
        ("px.ads.linkedin.com", "marketing"),
        ("s.pinimg.com", "marketing"),
        ("ct.pinterest.com", "marketing"),
        ("sc-static.net", "marketing"),
        ("tr.snapchat.com", "marketing"),
        ("static.ads-twitter.com", "marketing"),
        ("analytics.twitter.com", "marketing"),
        ("www.youtube.com", "marketing"),
        ("www.youtube-nocookie.com", "marketing"),
        ("player.vimeo.com", "marketing"),
        ("cdn.optimizely.com", "personalization"),
        ("dev.visualwebsiteoptimizer.com", "personalization"),
    ],
)
def test_common_tracker_hosts_belong_to_one_purpose(
    config: Config, host: str, purpose: str
) -> None:
    assert purposes_for_host(config.purposes, host) == (purpose,)


@pytest.mark.parametrize(
    "host",
    # The shop's own and common infrastructure hosts must keep loading for everyone.
    [
        "shop.example",
        "www.google.com",
        "fonts.googleapis.com",
        "cdn.jsdelivr.net",
        "vimeo.com",
        "www.gstatic.com",
        "js.stripe.com",
        "www.paypal.com",
        "facebook.com.evil.example",
    ],
)
def test_infrastructure_hosts_are_not_blocked(config: Config, host: str) -> None:
    assert purposes_for_host(config.purposes, host) == ()


@pytest.mark.parametrize(
    ("cookie", "purpose"),
    [
        ("_ga", "analytics"),
        ("_ga_ABC123", "analytics"),
        ("_gid", "analytics"),
        ("_hjSessionUser_123", "analytics"),
        ("_clck", "analytics"),
        ("hubspotutk", "analytics"),
        ("ajs_anonymous_id", "analytics"),
        ("_fbp", "marketing"),
        ("_fbc", "marketing"),
        ("_gcl_au", "marketing"),
        ("_ttp", "marketing"),
        ("_uetvid", "marketing"),
        ("li_fat_id", "marketing"),
        ("_pin_unauth", "marketing"),
        ("_scid", "marketing"),
        ("_vwo_uuid", "personalization"),
    ],
)
def test_common_tracker_cookies_belong_to_one_purpose(
    config: Config, cookie: str, purpose: str
) -> None:
    assert CookieFilter.build(config.purposes).purposes_for(cookie) == (purpose,)


@pytest.mark.parametrize(
    "cookie",
    [
        "session",
        "sessionid",
        "PHPSESSID",
        "cart",
        "csrftoken",
        "cg_id",
        "__Host-session",
        "_shopify_y",
        "woocommerce_cart_hash",
        "locale",
        "currency",
    ],
)
def test_the_shops_own_cookies_are_never_dropped(config: Config, cookie: str) -> None:
    assert CookieFilter.build(config.purposes).purposes_for(cookie) == ()


def test_the_table_lists_each_host_and_cookie_once() -> None:
    hosts: list[str] = []
    cookies: list[str] = []
    for purpose in TRACKED_PURPOSES:
        for vendor in trackers()[purpose]:
            hosts.extend(vendor.hosts)
            cookies.extend(vendor.cookies)
    assert len(hosts) == len(set(hosts)) > 50
    assert len(cookies) == len(set(cookies)) > 50


def test_the_rendered_config_carries_every_table_entry(config: Config) -> None:
    by_id = {p.id: p for p in config.purposes}
    for purpose in TRACKED_PURPOSES:
        vendors = trackers()[purpose]
        assert by_id[purpose].hosts == [h for v in vendors for h in v.hosts]
        assert by_id[purpose].cookies == [c for v in vendors for c in v.cookies]
    assert by_id["essential"].hosts == [] and by_id["essential"].mechanism == "notice_only"


def test_the_regimes_fail_closed(config: Config) -> None:
    assert set(config.regimes) == {"gdpr", "us-optout", "default"}
    assert config.jurisdiction.unknown == "gdpr"
    assert "GB" in config.regimes["gdpr"].countries and "NO" in config.regimes["gdpr"].countries
    assert "US-CA" in config.regimes["us-optout"].subdivisions
    for purpose in config.purposes:
        if purpose.id != "essential":
            assert purpose.mechanism_in("gdpr") == "opt_in"
    assert config.geo.optional and config.geo.database is not None


def test_an_upstream_that_yaml_would_misread_is_quoted() -> None:
    text = render_starter_config("http://[::1]:8081")
    assert yaml.safe_load(text)["gateway"]["upstream"] == "http://[::1]:8081"
