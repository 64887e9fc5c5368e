"""The page stages in page order: one `(name, factory)` entry per stage.

`ConsentExchange.stages()` calls every factory in this order for each rewritten page; a factory
returns the stages it adds for that page (none when it does not apply). Order matters: consent
mode's defaults precede any gtag call, prior blocking runs before the placeholders see the
frames, the banner and the choices link come after, personalization last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gateway.html.stage import Stage
from gateway.personalization.slots import Prepared
from gateway.stages.banner import BannerInjection
from gateway.stages.choices_link import ChoicesLink
from gateway.stages.consent_mode import ConsentMode, consent_mode_settings
from gateway.stages.embed_placeholders import EmbedPlaceholders
from gateway.stages.prior_blocking import PriorBlocking

if TYPE_CHECKING:
    from gateway.proxy.exchange import ConsentExchange

log = logging.getLogger("consentgate.enforcement")

StageFactory = Callable[["ConsentExchange"], Sequence[Stage]]


def consent_mode(page: ConsentExchange) -> Sequence[Stage]:
    """Google Consent Mode v2: region-scoped defaults, then this visitor's update (when enabled)."""
    owner = page.owner
    if owner.consent_mode_defaults is None:
        return ()
    update = consent_mode_settings(owner.config, page.visitor.state)
    return (ConsentMode.of(owner.consent_mode_snippet(update)),)


def prior_blocking(page: ConsentExchange) -> Sequence[Stage]:
    """Trackers of ungranted purposes never load (with purposes configured; without them
    nothing is consent-gated and the page streams untouched)."""
    owner = page.owner
    if not owner.config.purposes:
        return ()
    return (PriorBlocking(page.visitor.state.purposes, owner.hosts),)


def embed_placeholders(page: ConsentExchange) -> Sequence[Stage]:
    """Blocked embeds shown as placeholders; right after prior blocking, so it sees the frames
    as they will reach the browser."""
    owner, visitor = page.owner, page.visitor
    if not owner.config.purposes:
        return ()
    names = owner.purpose_names(visitor.language)
    placeholders = EmbedPlaceholders(visitor.state.purposes, names, visitor.language, owner.prefix)
    placeholders.reload_on_grant = owner.csp_enforced
    return (placeholders,)


def banner(page: ConsentExchange) -> Sequence[Stage]:
    """The consent banner, when a choice is owed."""
    if not page.visitor.state.choice_owed:
        return ()
    return (BannerInjection(page.owner.banner_html(page.visitor, page.scope)),)


def choices_link(page: ConsentExchange) -> Sequence[Stage]:
    """The "Your Privacy Choices" link, in the regimes that give an opt-out of sale/sharing."""
    owner, visitor = page.owner, page.visitor
    if visitor.regime not in owner.choices_link_regimes:
        return ()
    return (ChoicesLink(owner.choices_link_html(visitor, page.scope)),)


def personalization(page: ConsentExchange) -> Sequence[Stage]:
    """The rules' slot fills, when personalization is on; it fails open."""
    engine = page.owner.personalization
    if engine is None or not engine.active:
        return ()
    try:
        grant = page.preview.grant if page.preview is not None else None
        prepared = page.prepared or Prepared(preview=grant)
        return list(engine.stages(page.visitor, page.scope, prepared))
    except Exception:
        # Personalization fails open: the page is served unpersonalized.
        log.exception("personalization failed; serving the page unpersonalized")
        return ()


STAGES: tuple[tuple[str, StageFactory], ...] = (
    ("consent_mode", consent_mode),
    ("prior_blocking", prior_blocking),
    ("embed_placeholders", embed_placeholders),
    ("banner", banner),
    ("choices_link", choices_link),
    ("personalization", personalization),
)
