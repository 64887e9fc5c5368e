"""The consent sections of `policies.models` (policy, regimes, jurisdiction, purposes)."""

import copy
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from policies.models import GDPR_COUNTRIES, Config
from tests.consent.sample import PURPOSES, raw, sample_config


def test_minimal_config_gets_secure_consent_defaults() -> None:
    cfg = Config.model_validate({"gateway": {"upstream": "http://127.0.0.1:9"}})
    assert cfg.jurisdiction.unknown == "gdpr"
    assert set(cfg.regimes) == {"gdpr", "us-optout", "default"}
    assert {"DE", "GB", "CH", "NO", "IS", "LI"} <= set(cfg.regimes["gdpr"].countries)
    assert len(GDPR_COUNTRIES) == len(set(GDPR_COUNTRIES)) == 32
    assert cfg.policy.gdpr_choice_ttl_days == 182 and cfg.policy.optout_reask_days == 365
    assert cfg.purposes == []


def test_sample_loads_and_mechanisms_resolve() -> None:
    cfg = sample_config()
    essential, analytics, _, marketing = cfg.purposes
    assert essential.mechanism_in("gdpr") == essential.mechanism_in("default") == "notice_only"
    assert analytics.mechanism_in("us-optout") == "opt_out"
    assert marketing.default == {"default": False}


def test_unnamed_regime_fails_closed_to_opt_in() -> None:
    data = raw(regimes={"gdpr": {}, "us-optout": {}, "default": {}, "br": {"countries": ["BR"]}})
    cfg = Config.model_validate(data)
    assert cfg.purposes[1].mechanism_in("br") == "opt_in"


def with_purpose(i: int, **changes: Any) -> dict[str, Any]:
    purposes = copy.deepcopy(PURPOSES)
    purposes[i].update(changes)
    return raw(purposes=purposes)


def names_without(lang: str) -> dict[str, str]:
    return {k: v for k, v in {"en": "x", "ar": "y", "th": "z"}.items() if k != lang}


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("duplicate id", raw(purposes=PURPOSES + [PURPOSES[1]]), "duplicate purpose id"),
    ("id shape", with_purpose(1, id="Analytics"), "purpose id must match"),
    ("id with space", with_purpose(1, id="a b"), "purpose id must match"),
    ("missing th", with_purpose(1, names=names_without("th")), "names.th"),
    (
        "extra language",
        with_purpose(1, names={"en": "a", "ar": "b", "th": "c", "fr": "d"}),
        "names.fr",
    ),
    ("empty name", with_purpose(1, names={"en": "", "ar": "b", "th": "c"}), "names.en"),
    ("legal basis", with_purpose(1, legal_basis="vital_interest"), "legal_basis"),
    ("data use shape", with_purpose(1, data_uses=["Analytics.Reporting"]), "fideslang"),
    ("data use dots", with_purpose(1, data_uses=["analytics..reporting"]), "fideslang"),
    ("no data uses", with_purpose(1, data_uses=[]), "data_uses"),
    ("unknown regime", with_purpose(1, mechanism={"eu": "opt_in"}), "'eu' is not a configured"),
    ("mechanism value", with_purpose(1, mechanism={"gdpr": "opt_out_maybe"}), "'opt_out_maybe'"),
    ("pre-ticked opt-in", with_purpose(1, default={"gdpr": True}), "only where the mechanism"),
    ("default regime", with_purpose(3, default={"mars": False}), "'mars' is not a configured"),
    ("cookie glob chars", with_purpose(1, cookies=["_ga;"]), "cookie pattern"),
    ("cookie glob space", with_purpose(1, cookies=["_g a"]), "cookie pattern"),
    ("cookie glob all", with_purpose(1, cookies=["**"]), "matches every cookie"),
    ("host", with_purpose(1, hosts=["https://www.googletagmanager.com/"]), "not a host name"),
    ("host label", with_purpose(1, hosts=["-bad.example"]), "not a host name"),
    ("host wildcard mid", with_purpose(1, hosts=["a.*.example"]), "not a host name"),
    ("host tld wildcard", with_purpose(1, hosts=["*.com"]), "too broad"),
    ("bare star", with_purpose(1, hosts=["*"]), "not a host name"),
    ("consent yet notice", with_purpose(0, legal_basis="consent"), "cannot be notice_only"),
    (
        "essential must be notice_only",
        with_purpose(0, mechanism={"gdpr": "opt_in"}),
        "must be `mechanism: notice_only`",
    ),
    (
        "notice_only ads",
        with_purpose(0, data_uses=["marketing.advertising"]),
        "covers a GPC opt-out data use",
    ),
    ("unknown key", with_purpose(1, cookie=["_ga"]), "purposes.1.cookie\n"),
    ("no default regime", raw(regimes={"gdpr": {}}), "must include 'default'"),
    ("country shape", raw(regimes={"gdpr": {"countries": ["GBR"]}, "default": {}}), "GBR"),
    (
        "subdivision shape",
        raw(regimes={"us": {"subdivisions": ["CA"]}, "default": {}}),
        "ISO 3166-2",
    ),
    (
        "place in two regimes",
        raw(regimes={"gdpr": {"countries": ["GB"]}, "uk": {"countries": ["gb"]}, "default": {}}),
        "GB is listed under both",
    ),
    ("regime name", raw(regimes={"GDPR!": {}, "default": {}}), "regime name"),
    ("jurisdiction", raw(jurisdiction={"unknown": "strict"}), "'strict' is not a configured"),
    (
        "unknown_subdivision",
        raw(jurisdiction={"unknown_subdivision": "ccpa"}),
        "'ccpa' is not a configured",
    ),
    ("ttl", raw(policy={"gdpr_choice_ttl_days": 0}), "gdpr_choice_ttl_days"),
    # Cal. Civ. Code §1798.135(c)(4): no re-asking within 12 months.
    ("reask", raw(policy={"optout_reask_days": 30}), "optout_reask_days"),
    ("gpc data use", raw(policy={"gpc_data_uses": ["Marketing"]}), "fideslang"),
    ("edge headers key", raw(jurisdiction={"edge_headers": {"city": ["X"]}}), "edge_headers.city"),
]


@pytest.mark.parametrize(
    ("data", "message"), [(d, m) for _, d, m in BAD], ids=[n for n, _, _ in BAD]
)
def test_invalid_consent_config_is_rejected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Config.model_validate(data)
    assert message in str(info.value)


def test_hosts_are_normalized() -> None:
    cfg = Config.model_validate(with_purpose(1, hosts=["WWW.Example.COM.", "*.Example.org"]))
    assert cfg.purposes[1].hosts == ["www.example.com", "*.example.org"]


def test_regime_codes_are_normalized() -> None:
    cfg = sample_config(
        regimes={"x": {"countries": ["gb"], "subdivisions": ["us-ca"]}, "default": {}},
        purposes=[],
        jurisdiction={"unknown": "x"},
    )
    assert cfg.regimes["x"].countries == ["GB"]
    assert cfg.regimes["x"].subdivisions == ["US-CA"]


def test_norway_problem_gets_a_helpful_error() -> None:
    # YAML 1.1: an unquoted NO is false.
    data = yaml.safe_load("regimes: {gdpr: {countries: [SE, NO]}, us-optout: {}, default: {}}")
    with pytest.raises(ValidationError, match='read as true/false: quote it, e.g. "NO"'):
        Config.model_validate(raw(**data))
    ok = yaml.safe_load('regimes: {gdpr: {countries: [SE, "NO"]}, us-optout: {}, default: {}}')
    assert Config.model_validate(raw(**ok)).regimes["gdpr"].countries == ["SE", "NO"]


def test_bad_regimes_do_not_hide_behind_cross_checks() -> None:
    # With `regimes` invalid the cross-checks are skipped: one error, about the regimes.
    with pytest.raises(ValidationError) as info:
        Config.model_validate(raw(regimes={"gdpr": {}}, jurisdiction={"unknown": "x"}))
    assert [e["loc"] for e in info.value.errors()] == [("regimes",)]


def test_cross_check_errors_point_at_the_exact_place() -> None:
    # Every problem at once, each at its own path, so `consentgate check` names the line.
    purposes = copy.deepcopy(PURPOSES)
    purposes[1]["mechanism"] = {"gdpr": "opt_in", "eu": "opt_out"}
    purposes[3]["default"] = {"gdpr": False}
    purposes.append(copy.deepcopy(PURPOSES[2]))
    with pytest.raises(ValidationError) as info:
        Config.model_validate(raw(purposes=purposes, jurisdiction={"unknown": "x"}))
    assert sorted(e["loc"] for e in info.value.errors()) == [
        ("jurisdiction", "unknown"),
        ("purposes", 1, "mechanism", "eu"),
        ("purposes", 3, "default", "gdpr"),
        ("purposes", 4, "id"),
    ]
    regimes = {"gdpr": {"countries": ["GB"]}, "uk": {"countries": ["SE", "GB"]}, "default": {}}
    with pytest.raises(ValidationError) as info:
        Config.model_validate(raw(regimes=regimes))
    assert [e["loc"] for e in info.value.errors()] == [("regimes", "uk", "countries", 1)]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("/privacy", True),
        ("/legal/privacy?lang=en#cookies", True),
        ("https://shop.example/privacy", True),
        ("http://shop.example:8080/privacy", True),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
        ("//evil.example/privacy", False),  # protocol-relative: another host
        ("/\\evil.example", False),  # browsers read the backslash as a slash
        ("https:///privacy", False),  # no host
        ("https://user:pw@shop.example/", False),
        ("ftp://shop.example/privacy", False),
        ("privacy", False),  # relative to what?
        ("/priv acy", False),
        ("/privacy\r\nX-Injected: 1", False),
        ("", False),
        ("/" + "a" * 2048, False),
    ],
)
def test_privacy_policy_url_is_http_or_a_same_site_path(url: str, ok: bool) -> None:
    data = raw()
    data.setdefault("policy", {})["privacy_policy_url"] = url
    if ok:
        assert Config.model_validate(data).policy.privacy_policy_url == url
    else:
        with pytest.raises(ValidationError, match="privacy_policy_url"):
            Config.model_validate(data)


@pytest.mark.parametrize(("value", "ok"), [("auto", True), ("off", True), ("on", False)])
def test_us_choices_link_is_auto_or_off(value: str, ok: bool) -> None:
    data = raw()
    data.setdefault("consent", {})["us_choices_link"] = value
    if ok:
        assert Config.model_validate(data).consent.us_choices_link == value
    else:
        with pytest.raises(ValidationError, match="us_choices_link"):
            Config.model_validate(data)
    assert Config.model_validate(raw()).consent.us_choices_link == "auto"
