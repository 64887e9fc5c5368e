"""The CSP builder (`gateway/csp/policy.py`): what each consent state may load, pure."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from consent.banner import BannerView, PurposeView, render_banner
from gateway.csp.policy import (
    ENFORCE,
    REPORT_ONLY,
    REPORTING_ENDPOINTS,
    CspPolicies,
    build_policy,
    copied_sources,
    granted_hosts,
    inline_scripts,
    policy_directives,
    script_hash,
)
from policies.models import Config, CspSettings, Purpose, patterns_intersect

_BASE = Path(__file__).parents[3] / "gateway" / "demo" / "policies.base.yaml"
FETCH = (
    "default-src",
    "script-src",
    "style-src",
    "img-src",
    "font-src",
    "connect-src",
    "frame-src",
    "media-src",
)
ESSENTIAL = ["cdn.shop.example", "*.stripe.com", "fonts.gstatic.com"]


def config(**csp: Any) -> Config:
    data: dict[str, Any] = yaml.safe_load(_BASE.read_text())
    data["gateway"] = {"upstream": "http://127.0.0.1:9"}
    data["csp"] = {"essential_hosts": ESSENTIAL, **csp}
    return Config.model_validate(data)


def policies(**csp: Any) -> CspPolicies:
    c = config(**csp)
    return CspPolicies(c.csp, c.purposes, "/_privacy/csp-report", static_scripts=["alert(1)"])


def value_of(built: CspPolicies, granted: frozenset[str]) -> str:
    header = built.for_state(granted)
    assert header is not None
    return header.value


def all_hosts(c: Config) -> dict[str, str]:
    return {h: p.id for p in c.purposes for h in p.hosts}


def subsets(ids: list[str]) -> list[frozenset[str]]:
    return [frozenset(s) for n in range(len(ids) + 1) for s in itertools.combinations(ids, n)]


C = config()
IDS = [p.id for p in C.purposes]


@pytest.mark.parametrize("granted", subsets(IDS), ids=lambda s: "+".join(sorted(s)) or "none")
@pytest.mark.parametrize("mode", ["report-only", "enforce"])
def test_every_state_allows_self_essential_and_granted_hosts_only(
    granted: frozenset[str], mode: str
) -> None:
    header = policies(mode=mode).for_state(granted)
    assert header is not None
    directives = policy_directives(header.value)
    hosts = all_hosts(C)
    for name in FETCH:
        sources = directives[name]
        assert "'self'" in sources
        assert set(ESSENTIAL) <= set(sources)
        # Never a wildcard or a network scheme, whatever was granted.
        assert not {"*", "https:", "http:", "wss:", "ws:", "'strict-dynamic'"} & set(sources)
        for source in sources:
            if source in hosts:
                assert hosts[source] in granted, (name, source)
        for host, pid in hosts.items():
            assert (host in sources) == (pid in granted), (name, host)


def test_modes_name_the_header_and_off_sends_nothing() -> None:
    granted = frozenset({"essential"})
    assert policies(mode="off").for_state(granted) is None
    assert policies(mode="off").fields(granted, []) == []
    only = policies(mode="report-only").fields(granted, [])
    assert [n for n, _ in only] == [REPORT_ONLY, REPORTING_ENDPOINTS]
    enforce = policies(mode="enforce").fields(granted, [])
    assert [n for n, _ in enforce] == [ENFORCE, REPORTING_ENDPOINTS]
    assert enforce[1][1] == b'consentgate-csp="/_privacy/csp-report"'


def test_report_only_is_the_default() -> None:
    assert CspSettings().mode == "report-only"


def test_reports_go_to_the_gateway() -> None:
    value = value_of(policies(), frozenset())
    directives = policy_directives(value)
    assert directives["report-uri"] == ("/_privacy/csp-report",)
    assert directives["report-to"] == ("consentgate-csp",)
    no_report_to = policies(report_to=False)
    assert no_report_to.fields(frozenset(), [])[-1][0] != REPORTING_ENDPOINTS
    assert "report-to" not in policy_directives(value_of(no_report_to, frozenset()))


def test_report_to_only_on_https_pages() -> None:
    built = policies()
    plain = built.fields(frozenset(), [], secure=False)
    assert [n for n, _ in plain] == [REPORT_ONLY]
    directives = policy_directives(plain[0][1].decode())
    assert "report-to" not in directives and directives["report-uri"] == ("/_privacy/csp-report",)
    assert [n for n, _ in built.fields(frozenset(), [], secure=True)] == [
        REPORT_ONLY,
        REPORTING_ENDPOINTS,
    ]


def test_the_cache_returns_the_same_object_per_state() -> None:
    built = policies()
    first = built.for_state(frozenset({"analytics"}))
    assert built.for_state(frozenset({"analytics"})) is first
    assert built.for_state(frozenset({"marketing"})) is not first
    assert built.for_state(frozenset({"analytics"}), secure=False) is not first
    assert built.for_state(frozenset({"analytics"}), secure=False) is (
        built.for_state(frozenset({"analytics"}), secure=False)
    )


def test_gateway_scripts_are_allowed_by_hash_unless_unsafe_inline() -> None:
    # The worked example of CSP3's hash-source (w3c.github.io/webappsec-csp, hash-source).
    assert script_hash("alert('Hello, world.');") == (
        "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
    )
    script = policy_directives(value_of(policies(), frozenset()))["script-src"]
    assert script_hash("alert(1)") in script
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    loose = policies(unsafe_inline=True, unsafe_eval=True)
    upstream = [(b"content-security-policy", b"script-src 'nonce-abc'")]
    value = loose.fields(frozenset(), upstream)[0][1].decode()
    script = policy_directives(value)["script-src"]
    # CSP3 "Does a source list allow all inline behavior": a hash or nonce cancels it.
    assert "'unsafe-inline'" in script and "'unsafe-eval'" in script
    assert not [s for s in script if s.startswith(("'sha", "'nonce"))]


@pytest.mark.parametrize(
    ("shop", "copied"),
    [
        (b"script-src 'nonce-r4nd0m' 'strict-dynamic' https:", ["'nonce-r4nd0m'"]),
        (b"default-src 'self' 'nonce-abc'", ["'nonce-abc'"]),
        (b"script-src-elem 'sha256-AAAA' ; script-src 'nonce-x'", ["'sha256-AAAA'"]),
        (b"default-src 'nonce-a'; script-src 'self'", []),  # script-src wins over default-src
        (b"img-src *, script-src 'nonce-two'", ["'nonce-two'"]),  # two policies in one field
        (b"script-src 'nonce-bad\"' evil.example", []),
        (b"", []),
    ],
)
def test_the_shops_nonce_and_hashes_are_copied_and_nothing_else(
    shop: bytes, copied: list[str]
) -> None:
    assert copied_sources([(b"Content-Security-Policy", shop)]) == copied
    value = policies(mode="enforce").fields(frozenset(), [(b"content-security-policy", shop)])
    script = policy_directives(value[0][1].decode())["script-src"]
    for source in copied:
        assert source in script
    assert "evil.example" not in script and "'strict-dynamic'" not in script


def test_other_fields_are_not_read_for_nonces() -> None:
    assert copied_sources([(b"x-csp", b"script-src 'nonce-a'")]) == []
    assert copied_sources([(b"content-security-policy-report-only", b"script-src 'nonce-a'")]) == [
        "'nonce-a'"
    ]


def purpose(pid: str, hosts: list[str]) -> Purpose:
    text = {"en": pid, "ar": pid, "th": pid}
    return Purpose.model_validate(
        {
            "id": pid,
            "names": text,
            "descriptions": text,
            "legal_basis": "consent",
            "data_uses": ["analytics.reporting"],
            "hosts": hosts,
        }
    )


@pytest.mark.parametrize(
    ("granted", "allowed"),
    [
        ({"ads"}, ["ads.example"]),  # *.track.example would cover stats.track.example
        ({"stats"}, []),  # stats.track.example is listed under ads too (*.track.example)
        ({"ads", "stats"}, ["*.track.example", "ads.example", "stats.track.example"]),
        (set(), []),
    ],
)
def test_a_host_shared_with_an_ungranted_purpose_is_left_out(
    granted: set[str], allowed: list[str]
) -> None:
    purposes = [
        purpose("ads", ["*.track.example", "ads.example"]),
        purpose("stats", ["stats.track.example"]),
    ]
    assert sorted(granted_hosts(purposes, granted)) == sorted(allowed)


def test_build_policy_splits_after_the_script_sources() -> None:
    head, tail = build_policy(["a.example"], script_sources=["'sha256-x'"])
    assert head == "script-src 'self' a.example 'sha256-x'"
    assert tail.startswith("; default-src 'self' a.example;")


def test_every_inline_script_of_the_banner_is_hashed() -> None:
    from gateway.http.forwarded import TrustedProxies
    from gateway.proxy.exchange import CsrfTokens, Enforcement
    from gateway.proxy.visitor import VisitorResolver

    c = config(mode="enforce")
    enforcement = Enforcement(
        c, VisitorResolver(c, TrustedProxies([]), None, None), CsrfTokens(b"k")
    )
    script = policy_directives(value_of(enforcement.csp, frozenset()))["script-src"]
    for language in ("en", "ar", "th"):
        view = BannerView(
            language=language,
            policy_version="7",
            purposes=[PurposeView("analytics", "A", "d", granted=False, locked=False)],
            action="/_privacy/consent",
            return_to="/x?y=1",
            csrf="abc",
        )
        texts = inline_scripts(render_banner(view))
        assert len(texts) == 2  # the activation script and the banner's own
        assert all(script_hash(t) in script for t in texts)


def test_consent_mode_snippets_are_hashed_per_state() -> None:
    from gateway.http.forwarded import TrustedProxies
    from gateway.proxy.exchange import CsrfTokens, Enforcement
    from gateway.proxy.visitor import VisitorResolver
    from gateway.stages.consent_mode import consent_mode_update

    data = config(mode="enforce").model_dump(mode="json")
    data["consent_mode"] = {"enabled": True}
    c = Config.model_validate(data)
    enforcement = Enforcement(
        c, VisitorResolver(c, TrustedProxies([]), None, None), CsrfTokens(b"k")
    )
    for granted in (frozenset(), frozenset({"analytics"})):
        html = enforcement.consent_mode_snippet(consent_mode_update(c, granted))
        [text] = inline_scripts(html)
        script = policy_directives(value_of(enforcement.csp, granted))["script-src"]
        assert script_hash(text) in script


@pytest.mark.parametrize(
    ("csp", "message"),
    [
        ({"essential_hosts": ["*.facebook.net"]}, "covers 'connect.facebook.net'"),
        ({"essential_hosts": ["www.googletagmanager.com"]}, "of purpose 'analytics'"),
        ({"essential_hosts": ["*"]}, "is not a host name"),
        ({"essential_hosts": ["*.com"]}, "too broad"),
        ({"mode": True}, "off, report-only or enforce"),
        ({"mode": "strict"}, "Input should be"),
        ({"report_rate_per_minute": 0}, "greater than or equal to 1"),
    ],
)
def test_config_errors(csp: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(**csp)


def test_yaml_off_reads_as_off() -> None:
    data = yaml.safe_load("mode: off")  # YAML 1.1: false
    assert CspSettings.model_validate(data).mode == "off"


LABELS = st.sampled_from(["a", "b", "cdn", "px", "track"])
PATTERNS = st.builds(
    lambda wild, labels: ("*." if wild else "") + ".".join([*labels, "example"]),
    st.booleans(),
    st.lists(LABELS, min_size=0, max_size=2),
).filter(lambda h: h != "*.example")


@given(
    hosts=st.lists(st.lists(PATTERNS, max_size=4), min_size=1, max_size=4),
    granted=st.sets(st.integers(0, 3)),
)
def test_no_source_reaches_a_host_of_an_ungranted_purpose(
    hosts: list[list[str]], granted: set[int]
) -> None:
    purposes = [purpose(f"p{i}", h) for i, h in enumerate(hosts)]
    on = {f"p{i}" for i in granted}
    c = config()
    built = CspPolicies(c.csp.model_copy(update={"essential_hosts": []}), purposes, "/r")
    header = built.for_state(frozenset(on))
    assert header is not None
    for name in FETCH:
        for source in policy_directives(header.value)[name]:
            if source.startswith("'") or source.endswith(":"):
                assert source not in ("https:", "http:", "*")
                continue
            # Every purpose listing a host this source matches is granted (prior blocking's
            # rule), and the source is a granted purpose's own pattern.
            needs = {p.id for p in purposes for h in p.hosts if patterns_intersect(source, h)}
            assert needs <= on, (source, needs, on)
            assert any(source in p.hosts for p in purposes if p.id in on)
