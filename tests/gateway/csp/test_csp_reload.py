"""Under an enforced CSP a grant reloads the page (`consent.activation`, the banner and the
embed placeholders), and "Load once", which the page's policy would refuse, is not offered."""

from __future__ import annotations

import re

import pytest

from consent.activation import activation_js, activation_script
from consent.banner import BannerView, render_banner
from gateway.csp.policy import inline_scripts, script_hash
from gateway.html import HtmlRewriter
from gateway.stages.embed_placeholders import EmbedPlaceholders

RELOAD = re.compile(r"<script[^>]* data-consentgate-reload[ >]")
FRAME = '<iframe data-consent="marketing" data-src="https://www.youtube.com/embed/x"></iframe>'


def placeholders(reload_on_grant: bool) -> str:
    stage = EmbedPlaceholders({}, {"marketing": "Marketing"}, "en", "/_privacy")
    stage.reload_on_grant = reload_on_grant
    rewriter = HtmlRewriter([stage], charset="utf-8")
    return (rewriter.feed(FRAME.encode()) + rewriter.close()).decode()


@pytest.mark.parametrize("reload_on_grant", [False, True])
def test_placeholders(reload_on_grant: bool) -> None:
    html = placeholders(reload_on_grant)
    assert bool(RELOAD.search(html)) == reload_on_grant
    assert ('data-consentgate-action="once"' in html) != reload_on_grant
    assert 'data-consentgate-action="always"' in html


@pytest.mark.parametrize("reload_on_grant", [False, True])
def test_banner(reload_on_grant: bool) -> None:
    view = BannerView(
        language="en",
        policy_version="1",
        purposes=[],
        action="/_privacy/consent",
        return_to="/",
        csrf="t",
        reload_on_grant=reload_on_grant,
    )
    assert bool(RELOAD.search(render_banner(view))) == reload_on_grant


def test_the_attribute_leaves_the_scripts_hash_alone() -> None:
    # CSP3 "Does element match source list for type and source?" hashes the text only.
    plain, reloading = activation_script("/c"), activation_script("/c", reload_on_grant=True)
    assert plain != reloading
    assert inline_scripts(plain) == inline_scripts(reloading) == [activation_js()]
    assert script_hash(inline_scripts(plain)[0]) == script_hash(activation_js())
