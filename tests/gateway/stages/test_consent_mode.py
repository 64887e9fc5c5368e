"""Google Consent Mode v2: config mapping, region-scoped defaults, the snippet and its place."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from consent.state import ConsentState, resolve
from gateway.html import HtmlRewriter, Stage
from gateway.html.charset import prescan_meta
from gateway.stages.consent_mode import (
    ConsentDefault,
    ConsentMode,
    consent_mode_defaults,
    consent_mode_settings,
    script_json,
    snippet,
)
from policies.models import GDPR_COUNTRIES, US_OPTOUT_SUBDIVISIONS, Config

_BASE = Path(__file__).parents[3] / "gateway" / "demo" / "policies.base.yaml"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def config(**consent_mode: Any) -> Config:
    """The demo's purposes and the default regimes, with consent mode as given."""
    data: dict[str, Any] = yaml.safe_load(_BASE.read_text())
    data["gateway"] = {"upstream": "http://127.0.0.1:9"}
    data["consent_mode"] = {"enabled": True, **consent_mode}
    return Config.model_validate(data)


CONFIG = config()
G, D = "granted", "denied"


def calls(html: str) -> list[tuple[str, dict[str, Any]]]:
    """The gtag('consent', …) calls in a snippet, arguments parsed as JSON."""
    return [
        (kind, json.loads(args))
        for kind, args in re.findall(r"gtag\('consent','(\w+)',(\{.*?\})\);", html)
    ]


# --- the pure mapping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regime", "gpc", "expected"),
    [
        # gdpr before any choice: only strictly necessary storage.
        ("gdpr", False, {"analytics_storage": D, "ad_storage": D, "ad_user_data": D,
                         "ad_personalization": D, "personalization_storage": D,
                         "functionality_storage": G, "security_storage": G}),
        # us-optout: on until opted out ...
        ("us-optout", False, {"analytics_storage": G, "ad_storage": G, "ad_user_data": G,
                              "ad_personalization": G, "personalization_storage": G,
                              "functionality_storage": G, "security_storage": G}),
        # ... and GPC is that opt-out for advertising.
        ("us-optout", True, {"analytics_storage": G, "ad_storage": D, "ad_user_data": D,
                             "ad_personalization": D, "personalization_storage": G,
                             "functionality_storage": G, "security_storage": G}),
    ],
)  # fmt: skip
def test_settings_follow_the_visitors_state(
    regime: str, gpc: bool, expected: dict[str, str]
) -> None:
    state = resolve(CONFIG, regime, None, gpc, NOW, None)
    assert consent_mode_settings(CONFIG, state) == expected


def test_settings_use_only_the_configured_keys() -> None:
    cfg = config(keys={"analytics_storage": "analytics"})
    state = resolve(cfg, "default", None, False, NOW, None)
    assert consent_mode_settings(cfg, state) == {"analytics_storage": G}


def test_defaults_are_scoped_by_regime() -> None:
    defaults = consent_mode_defaults(CONFIG)
    assert [d.regions for d in defaults] == [
        (),
        tuple(GDPR_COUNTRIES),
        tuple(US_OPTOUT_SUBDIVISIONS),
    ]
    everywhere, gdpr, us = (d.settings for d in defaults)
    # The demo's default regime: marketing is opt_in, analytics and personalization opt_out.
    assert everywhere["ad_storage"] == D and everywhere["analytics_storage"] == G
    assert set(gdpr.values()) == {D, G} and gdpr["analytics_storage"] == D
    assert us["ad_storage"] == G


def test_a_regime_without_places_gets_no_default() -> None:
    data = yaml.safe_load(_BASE.read_text())
    data["gateway"] = {"upstream": "http://127.0.0.1:9"}
    data["regimes"] = {"gdpr": {"countries": ["DE"]}, "us-optout": {}, "default": {}}
    cfg = Config.model_validate(data)
    assert [d.regions for d in consent_mode_defaults(cfg)] == [(), ("DE",)]


@pytest.mark.parametrize(
    ("consent_mode", "message"),
    [
        ({"enabled": True, "keys": {"analytics_storage": "stats"}}, "'stats' is not a configured"),
        # Explicit keys are checked even while the feature is off.
        ({"keys": {"ad_storage": "ads"}}, "'ads' is not a configured purpose"),
        ({"enabled": True, "keys": {"ad_click_storage": "marketing"}}, "Input should be"),
        ({"enabled": True, "colour": "blue"}, "Extra inputs are not permitted"),
        ({"enabled": True, "wait_for_update": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_config_is_refused(consent_mode: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        config(**consent_mode)
    assert err.value.errors()[0]["loc"][0] == "consent_mode"


def stage_for(state: ConsentState) -> ConsentMode:
    return ConsentMode(
        consent_mode_defaults(CONFIG),
        consent_mode_settings(CONFIG, state),
        wait_for_update=CONFIG.consent_mode.wait_for_update,
    )


def test_the_default_mapping_needs_no_purposes_while_off() -> None:
    cfg = Config.model_validate({"gateway": {"upstream": "http://127.0.0.1:9"}})
    assert cfg.consent_mode.enabled is False
    with pytest.raises(ValidationError, match="'analytics' is not a configured purpose"):
        Config.model_validate(
            {"gateway": {"upstream": "http://127.0.0.1:9"}, "consent_mode": {"enabled": True}}
        )


# --- the snippet ------------------------------------------------------------------------------


def test_snippet_shape() -> None:
    html = snippet(
        [ConsentDefault({"ad_storage": G}), ConsentDefault({"ad_storage": D}, ("DE", "US-CA"))],
        {"ad_storage": G},
        wait_for_update=500,
    )
    assert html == (
        "<script>window.dataLayer=window.dataLayer||[];"
        "function gtag(){dataLayer.push(arguments);}\n"
        'gtag(\'consent\',\'default\',{"ad_storage":"granted","wait_for_update":500});\n'
        'gtag(\'consent\',\'default\',{"ad_storage":"denied","region":["DE","US-CA"],'
        '"wait_for_update":500});\n'
        "gtag('consent','update',{\"ad_storage\":\"granted\"});</script>"
    )


def test_snippet_from_config_defaults_then_update() -> None:
    stage = stage_for(resolve(CONFIG, "us-optout", None, True, NOW, None))
    found = calls(stage.html)
    assert [kind for kind, _ in found] == ["default", "default", "default", "update"]
    assert found[1][1]["region"] == list(GDPR_COUNTRIES)
    assert found[3][1]["ad_user_data"] == D and "region" not in found[3][1]


def test_nonce_is_escaped() -> None:
    assert snippet([], None, nonce='a"b&').startswith('<script nonce="a&quot;b&amp;">')


@pytest.mark.parametrize(
    "value",
    ["</script><script>alert(1)</script>", "<!--", "a&b", "\u2028\u2029", "é\u0000", "-->"],
)
def test_script_json_is_inert_in_a_script(value: str) -> None:
    text = script_json({"k": value})
    assert json.loads(text) == {"k": value}
    assert not set(text) & set("<>&\u2028\u2029") and text.isascii()


# --- placement ------------------------------------------------------------------------------

MARK = "<script>CM</script>"


class _Fixed(ConsentMode):
    """The stage with a recognisable snippet."""

    def __init__(self) -> None:
        super().__init__([], None)
        self.html = MARK


def run(doc: bytes, make: Callable[[], Stage] = _Fixed) -> bytes:
    """Rewrite `doc` whole and at every single cut (a fresh stage each): all must agree."""
    outputs = set()
    for cut in range(0, len(doc) + 1):
        rewriter = HtmlRewriter([make()], charset="utf-8")
        outputs.add(rewriter.feed(doc[:cut]) + rewriter.feed(doc[cut:]) + rewriter.close())
    assert len(outputs) == 1, outputs
    return outputs.pop()


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # Before the first script of the head, after <meta charset> and <base>.
        (
            "<!doctype html><html><head><meta charset=utf-8><title>t</title>"
            "<script src=/gtag.js></script><script>gtag()</script></head><body>",
            "<!doctype html><html><head><meta charset=utf-8><title>t</title>"
            f"{MARK}<script src=/gtag.js></script><script>gtag()</script></head><body>",
        ),
        # A head without scripts: at its end.
        (
            "<HTML><HEAD><title>t</title></HEAD><body><script>gtag()</script>",
            f"<HTML><HEAD><title>t</title>{MARK}</HEAD><body><script>gtag()</script>",
        ),
        # No head at all: before the first script, or <body>, whichever comes first.
        ("<script>gtag()</script><body>", f"{MARK}<script>gtag()</script><body>"),
        ("<Body class=x><script>gtag()</script>", f"{MARK}<Body class=x><script>gtag()</script>"),
        ("<p>fragment</p><SCRIPT>gtag()</SCRIPT>", f"<p>fragment</p>{MARK}<SCRIPT>gtag()</SCRIPT>"),
        # Scripts in comments and in other raw text are not scripts.
        (
            "<!-- <script> --><title><script></title><textarea></head></textarea><body>",
            f"<!-- <script> --><title><script></title><textarea></head></textarea>{MARK}<body>",
        ),
        # Nothing came: at the end.
        ("<p>plain</p>", f"<p>plain</p>{MARK}"),
        ("", MARK),
    ],
)
def test_placement(doc: str, expected: str) -> None:
    assert run(doc.encode()) == expected.encode()


def test_meta_charset_stays_in_the_first_1024_bytes() -> None:
    # HTML §4.2.5.4: the encoding declaration must fit in the first 1024 bytes; the full EU
    # snippet would push it out if it went straight after <head>.
    state = resolve(CONFIG, "gdpr", None, False, NOW, None)
    stage = stage_for(state)
    assert len(stage.html) > 1024
    doc = b"<!doctype html><html><head><meta charset=windows-1252><script>x</script>"
    out = run(
        doc,
        lambda: ConsentMode(consent_mode_defaults(CONFIG), consent_mode_settings(CONFIG, state)),
    )
    assert prescan_meta(out) == "cp1252"
    assert out.startswith(doc[: doc.index(b"<script>")] + stage.html.encode())
