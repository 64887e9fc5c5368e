"""ChoicesLink: right before the first `</body>`, else at the end; once. Which regimes get it
(`consent.us_choices_link`), and that its markup is scoped and localized."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from consent.choices_link import ROOT_ID, render_choices_link
from gateway.proxy.exchange import choices_link_regimes
from gateway.stages.choices_link import ChoicesLink
from gateway.wiring import load_config
from tests.gateway.html.chunking import rewrite_at_every_cut

LINK = '<div id="consentgate-choices">L</div>'
EXAMPLE = Path(__file__).resolve().parents[3] / "policies.yaml"


def run(doc: bytes, link: str = LINK, charset: str = "utf-8") -> bytes:
    return rewrite_at_every_cut(doc, lambda: [ChoicesLink(link)], charset)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("<html><body><p>hi</p></body></html>", f"<html><body><p>hi</p>{LINK}</body></html>"),
        ("<body>x</BODY >", f"<body>x{LINK}</BODY >"),
        # Only once, even with a stray second </body>.
        ("<body></body></body>", f"<body>{LINK}</body></body>"),
        # A </body> the tokenizer does not see as a tag does not count.
        (
            "<body><!--</body>--><script>'</body>'</script>x",
            f"<body><!--</body>--><script>'</body>'</script>x{LINK}",
        ),
        # No </body>: at the very end (the parser still puts it into the body).
        ("<p>no end</p>", f"<p>no end</p>{LINK}"),
        ("", LINK),
        ("<body></bodyx>", f"<body></bodyx>{LINK}"),
    ],
)
def test_placement(doc: str, expected: str) -> None:
    assert run(doc.encode()) == expected.encode()


@pytest.mark.parametrize(
    ("language", "words", "direction"),
    [
        ("en", "Your Privacy Choices", "ltr"),
        ("ar", "خيارات الخصوصية الخاصة بك", "rtl"),
        ("th", "ตัวเลือกความเป็นส่วนตัวของคุณ", "ltr"),
    ],
)
def test_the_link_is_localized_scoped_and_escaped(
    language: str, words: str, direction: str
) -> None:
    link = render_choices_link(language, '/_privacy/preferences?return_to=/a"b<c')
    assert f'id="{ROOT_ID}"' in link and f'lang="{language}" dir="{direction}"' in link
    assert words in link and "<svg" in link and 'aria-hidden="true"' in link
    # The href cannot break out of its attribute.
    assert 'return_to=/a&#34;b&lt;c"' in link
    # Scoped: every class is ours, every CSS rule selects inside our root.
    assert all(c.startswith("consentgate-") for c in re.findall(r'class="([^"]+)"', link))
    css = re.search(r"<style>(.*?)</style>", link, re.S)
    assert css is not None
    selectors = [s.strip() for s in re.findall(r"(?:^|})\s*([^{}@]+?)\{", css.group(1))]
    assert selectors and all(s.startswith(f"#{ROOT_ID}") for s in selectors), selectors


def test_non_ascii_survives_a_legacy_charset() -> None:
    out = run(b"<body></body>", render_choices_link("th", "/_privacy/preferences"), "cp1252")
    assert "ตัวเลือก" in html.unescape(out.decode("cp1252"))


def test_auto_names_the_regimes_where_sale_or_sharing_is_opt_out() -> None:
    config = load_config(EXAMPLE).config
    # marketing (a GPC data use) is opt_out only under us-optout; opt_in elsewhere.
    assert choices_link_regimes(config) == {"us-optout"}
    off = config.model_copy(
        update={"consent": config.consent.model_copy(update={"us_choices_link": "off"})}
    )
    assert choices_link_regimes(off) == frozenset()
