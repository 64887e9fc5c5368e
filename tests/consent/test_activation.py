"""The browser-side activation script as it goes into pages (its behaviour is tested in a
real browser: tests/gateway/test_customer_browser.py)."""

from __future__ import annotations

from consent.activation import activation_js, activation_script


def test_script_is_compact_and_safe_inside_a_script_element() -> None:
    js = activation_js()
    assert "</script" not in js.lower() and "<!--" not in js
    # Comment lines and indentation stay out of every page.
    assert not any(line.startswith(("//", " ")) for line in js.splitlines())
    # Inlined on every page with a banner or placeholder: a budget, not a hard limit of anything.
    assert len(js) < 4608


def test_the_post_url_is_an_escaped_attribute() -> None:
    html = activation_script('/x"><script>alert(1)</script>')
    assert html.startswith('<script data-consentgate-url="/x&#34;&gt;&lt;script&gt;')
    assert html.count("<script") == 1 and html.endswith("</script>")


def test_it_only_activates_what_the_answer_grants() -> None:
    js = activation_js()
    # Every named purpose must be exactly true; an element naming none is never activated.
    assert "granted[ids[i]] !== true" in js and "if (!ids.length) return false;" in js
