"""The readable bundle page escapes everything that came from visitors or the shop."""

from __future__ import annotations

from gateway.routes.dsr_page import render_bundle, render_confirm, render_erased

HOSTILE = "<script>alert(1)</script>"


def test_values_are_escaped() -> None:
    bundle = {
        "subject_ref": "CG-AAAAAAAAAAAAAAAA",
        "generated_at": "2026-01-01T00:00:00Z",
        "consents": [],
        "profile": {"facts": {"customer": HOSTILE}},
        "decisions": [{"rule": HOSTILE, "purposes": ["p"], "first": "", "last": "", "count": 1}],
        "events": [{"type": "view", "ts": "t", "sku": HOSTILE}],
        "audit": [],
    }
    page = render_bundle(bundle, json_url="/_privacy/my-data", delete_url="/d")
    assert HOSTILE not in page
    assert "&lt;script&gt;" in page
    assert "No consent choices are stored." in page and "No audit entries." in page


def test_confirm_and_done_pages() -> None:
    form = render_confirm(action="/_privacy/my-data/delete", csrf='x"y', back="/p")
    assert 'name="confirm" value="yes"' in form and 'value="x&#34;y"' in form
    assert "CG-AAAA" in render_erased("CG-AAAA")


def test_the_profile_reads_as_sections_not_json() -> None:
    bundle = {
        "subject_ref": "CG-AAAAAAAAAAAAAAAA",
        "generated_at": "2026-01-01T00:00:00Z",
        "consents": [],
        "profile": {
            "visitor_type": "engaged",
            "engaged_categories": ["rainwear", "outdoor"],
            "engaged_skus": [],
            "facts": {"sku_views": {"RW-001": 3}, "customer": None, "b2b": False},
        },
        "decisions": [],
        "events": [{"type": "view", "ts": "t", "sku": "RW-001", "order_value": None}],
        "audit": [],
    }
    page = render_bundle(bundle, json_url="/_privacy/my-data", delete_url=None)
    assert "<pre" not in page and "{" not in page.split("</style>", 1)[1]
    assert "<dt>Visitor type</dt><dd>engaged</dd>" in page
    assert "<li>rainwear</li><li>outdoor</li>" in page
    assert "<dt>Products you engaged with</dt><dd>none</dd>" in page
    assert "<dt>sku views</dt><dd><dl><dt>RW-001</dt><dd>3</dd></dl></dd>" in page
    assert "<dt>b2b</dt><dd>no</dd>" in page and "<dt>customer</dt><dd>—</dd>" in page
    assert '<td data-label="Details"><dl><dt>product</dt><dd>RW-001</dd>' in page
