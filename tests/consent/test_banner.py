import re

import pytest

from consent.banner import (
    BannerView,
    PurposeView,
    body_parts,
    render_banner,
    shown_text,
    text_hash,
)
from consent.texts import UI


def view(language: str = "en", **kw: object) -> BannerView:
    purposes = [
        PurposeView("essential", "Essential", "Keeps the shop working", True, True),
        PurposeView("analytics", "Analytics <b>", "Counts visits", False, False),
    ]
    base: dict[str, object] = dict(
        language=language,
        policy_version="2026-11-01",
        purposes=purposes,
        action="/_privacy/consent",
        return_to='/p?x=1&y="2"',
        csrf="tok",
    )
    base.update(kw)
    return BannerView(**base)  # type: ignore[arg-type]


def test_root_element_and_both_first_layer_buttons() -> None:
    html = render_banner(view())
    assert html.startswith('<div id="consentgate-banner"')
    reject = re.search(r'<button[^>]*value="reject_all"[^>]*class="([^"]+)"', html)
    accept = re.search(r'<button[^>]*value="accept_all"[^>]*class="([^"]+)"', html)
    assert reject and accept
    # Equal prominence: both first-layer buttons share every style rule (only the class differs).
    assert "cg-reject{" not in html and "cg-accept{" not in html


def test_arabic_is_right_to_left() -> None:
    html = render_banner(view("ar"))
    assert 'dir="rtl"' in html and 'lang="ar"' in html
    assert "رفض الكل" in html


def test_values_are_escaped() -> None:
    html = render_banner(view())
    assert "Analytics &lt;b&gt;" in html
    assert 'value="/p?x=1&amp;y=&#34;2&#34;"' in html


def test_locked_purpose_cannot_be_unchecked() -> None:
    html = render_banner(view())
    assert re.search(r'id="cg-p-essential"[^>]*checked disabled', html)
    assert not re.search(r'id="cg-p-analytics"[^>]*checked', html)


@pytest.mark.parametrize("language", ["en", "ar", "th"])
def test_text_hash_covers_language_and_purposes(language: str) -> None:
    a = text_hash(view(language))
    assert len(a) == 64
    assert a != text_hash(view(language, policy_version="2027-01-01"))
    other = [PurposeView("analytics", "Analytics", "Counts visits and sells them", False, False)]
    assert a != text_hash(view(language, purposes=other))
    assert view(language).language in shown_text(view(language))


def prefs(**kw: object) -> str:
    from consent.banner import HistoryRow, PreferencesView, render_preferences

    base: dict[str, object] = dict(
        language="en",
        regime="us-optout",
        policy_version="v1",
        purposes=view().purposes,
        history=[HistoryRow("2026-11-23T10:00:00Z", "gpc", [], ["marketing"])],
        subject_ref="CG-ABC",
        gpc_honored=True,
        prefix="/_privacy",
        csrf="t",
    )
    base.update(kw)
    return render_preferences(PreferencesView(**base))  # type: ignore[arg-type]


def test_preferences_us_optout_with_gpc() -> None:
    html = prefs()
    assert "Do Not Sell or Share My Personal Information" in html
    assert "Opt-Out Request Honored" in html
    assert "CG-ABC" in html and "marketing" in html


def test_preferences_gdpr_without_gpc_or_subject() -> None:
    html = prefs(regime="gdpr", gpc_honored=False, subject_ref=None, history=[])
    assert "Do Not Sell" not in html and "Opt-Out Request Honored" not in html
    assert "No data is linked" in html and "/my-data/delete" not in html


def test_preferences_arabic_rtl() -> None:
    assert '<html lang="ar" dir="rtl">' in prefs(language="ar")


def test_each_visitor_gets_their_own_token_in_the_same_banner() -> None:
    """The banner is rendered once per page and state; only the CSRF token differs, and it
    comes out exactly as a full render would put it (escaped)."""
    from markupsafe import Markup

    from consent.activation import activation_script
    from consent.banner import _BANNER, UI, body_parts, direction

    first, second = render_banner(view(csrf="aa11")), render_banner(view(csrf='b"<2'))
    assert 'name="csrf" value="aa11"' in first
    assert 'name="csrf" value="b&#34;&lt;2"' in second
    assert first.replace("aa11", "X") == second.replace("b&#34;&lt;2", "X")
    v = view(csrf="aa11")
    full = _BANNER.render(
        t=UI["en"],
        lang="en",
        dir=direction("en"),
        policy_version=v.policy_version,
        purposes=v.purposes,
        action=v.action,
        return_to=v.return_to,
        csrf=v.csrf,
        body=body_parts("en"),
        preferences=v.preferences,
        runtime=Markup(activation_script(v.action)),
    )
    assert first == full
    granted = view(
        csrf="aa11",
        purposes=[PurposeView("analytics", "Analytics <b>", "Counts visits", True, False)],
    )
    assert render_banner(granted) != first  # another state is another banner


@pytest.mark.parametrize("language", ["en", "ar", "th"])
def test_body_links_the_preference_center_without_changing_the_text(language: str) -> None:
    before, link, after = body_parts(language)
    # Every language's body names the preference center, and the link is those very words.
    assert link and link.casefold() == UI[language]["preferences"].casefold()
    assert before + link + after == UI[language]["body"]
    html = render_banner(view(language, preferences="/_privacy/preferences"))
    assert f'<a href="/_privacy/preferences">{link}</a>' in html
    assert html.count("<a ") == 1


def test_the_link_follows_the_prefix_and_the_hash_ignores_it() -> None:
    moved = view(preferences="/consent/preferences")
    assert '<a href="/consent/preferences">privacy preferences</a>' in render_banner(moved)
    # GDPR Art. 7(1): the proof covers the words shown, which the link does not change.
    assert text_hash(moved) == text_hash(view())
    assert "privacy preferences" in shown_text(moved)


def test_legend_is_visually_hidden_by_css() -> None:
    html = render_banner(view())
    assert '<legend class="cg-sr">' in html
    rule = re.search(r"#consentgate-banner \.cg-sr\{([^}]*)\}", html)
    assert rule is not None
    for declaration in (
        "position:absolute",
        "width:1px",
        "height:1px",
        "overflow:hidden",
        "clip-path:inset(50%)",
        "white-space:nowrap",
    ):
        assert declaration in rule.group(1)


def test_banner_carries_the_activation_script_posting_to_its_action() -> None:
    html = render_banner(view(action="/p/consent"))
    assert html.count('data-consentgate-url="/p/consent"') == 1
    assert "window.consentgate" in html and "consentgate.apply(state)" in html
