"""`gateway.stages.registry`: the one ordered list of page stages."""

from __future__ import annotations

from gateway.stages.registry import STAGES


def test_page_order() -> None:
    # Consent mode's defaults before any gtag call; placeholders see what prior blocking left;
    # personalization last, so no slot fill is rewritten by a consent stage.
    assert [name for name, _ in STAGES] == [
        "consent_mode",
        "prior_blocking",
        "embed_placeholders",
        "banner",
        "choices_link",
        "personalization",
    ]


def test_names_are_unique_and_factories_callable() -> None:
    names = [name for name, _ in STAGES]
    assert len(set(names)) == len(names)
    assert all(callable(factory) for _, factory in STAGES)
