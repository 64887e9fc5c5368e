"""Render the consent banner (server-side, injected only when a choice is owed).

Design rules, each from a regulator's guidance:
- EDPB Guidelines 03/2022 (deceptive designs) and CNIL: "Reject all" sits on the first layer,
  same size, colour and weight as "Accept all".
- GDPR Art. 7(1): `shown_text` is the exact text shown; its hash goes into the consent record.
- WCAG 2.2: native form controls (keyboard-operable), visible focus, a labelled region,
  `dir="rtl"` for Arabic.
Works with JavaScript off (a plain form post that redirects back); with it on, the post goes
through `fetch`, the banner is removed without a reload, what the answer grants is activated in
place (`consent.activation`), and focus goes back to where it was before the banner had it, or
to the page's `main` landmark (WCAG 2.2 §2.4.3: focus must not be lost with the removed banner).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from markupsafe import Markup, escape

from consent.activation import activation_script
from consent.language import direction
from consent.templates_env import template
from consent.texts import UI

_BANNER = template("banner.html")


@dataclass(frozen=True)
class PurposeView:
    """One purpose as a person sees it, in one language."""

    id: str
    name: str
    description: str
    granted: bool
    locked: bool  # notice-only / strictly necessary: shown, cannot be switched off


@dataclass(frozen=True)
class BannerView:
    """Everything the banner shows; rendering is a pure function of it."""

    language: str
    policy_version: str
    purposes: Sequence[PurposeView]
    action: str  # where the form posts, e.g. /_privacy/consent
    return_to: str  # the page to come back to (a same-origin path)
    csrf: str
    preferences: str = "/_privacy/preferences"  # the preference center the body text links to
    # The page has an enforced CSP from the gateway: a grant reloads it (`activation_script`).
    reload_on_grant: bool = False


def body_parts(language: str) -> tuple[str, str, str]:
    """The banner's body text split around the words naming the preference center (before,
    link text, after), so those words become the link without changing the text shown; the
    whole body and no link when they are not in it."""
    t = UI[language]
    body, name = t["body"], t["preferences"]
    at = body.casefold().find(name.casefold())
    # Case folding can change a text's length (ß → ss); then the indices would not line up.
    if at < 0 or len(body.casefold()) != len(body):
        return body, "", ""
    return body[:at], body[at : at + len(name)], body[at + len(name) :]


def shown_text(view: BannerView) -> str:
    """The exact words shown, in order, one per line: what the record's text hash covers."""
    t = UI[view.language]
    lines = [view.policy_version, view.language, t["title"], t["body"], t["reject_all"]]
    lines += [t["accept_all"], t["customize"]]
    for p in view.purposes:
        lines += [p.id, p.name, p.description, t["always_on"] if p.locked else ""]
    lines.append(t["save"])
    return "\n".join(lines)


def text_hash(view: BannerView) -> str:
    """SHA-256 (hex) of `shown_text(view)` in UTF-8."""
    return hashlib.sha256(shown_text(view).encode()).hexdigest()


def render_banner(view: BannerView) -> str:
    """The banner's HTML; its root element has `id="consentgate-banner"` (contract)."""
    head, tail = _rendered(
        view.language,
        view.policy_version,
        tuple(view.purposes),
        view.action,
        view.return_to,
        view.preferences,
        view.reload_on_grant,
    )
    return head + str(escape(view.csrf)) + tail


# Stands in for the visitor's CSRF token while the rest of the banner is rendered once per
# page and state (autoescape leaves it as it is; a token is hex and never holds it).
_CSRF_SLOT = "\x00csrf\x00"


@lru_cache(maxsize=1024)
def _rendered(
    language: str,
    policy_version: str,
    purposes: tuple[PurposeView, ...],
    action: str,
    return_to: str,
    preferences: str,
    reload_on_grant: bool = False,
) -> tuple[str, str]:
    """The banner before and after its CSRF token: the same for every visitor who sees this
    page in this state, so the template runs once for them (bounded: return_to is a path)."""
    html = _BANNER.render(
        t=UI[language],
        lang=language,
        dir=direction(language),
        policy_version=policy_version,
        purposes=purposes,
        action=action,
        return_to=return_to,
        csrf=_CSRF_SLOT,
        body=body_parts(language),
        preferences=preferences,
        runtime=Markup(activation_script(action, reload_on_grant)),
    )
    head, _, tail = html.partition(_CSRF_SLOT)
    if _CSRF_SLOT in tail:
        raise AssertionError("the banner template shows the CSRF token more than once")
    return head, tail


_PREFERENCES = template("preferences.html")
#: The preference center's one inline style, exactly as the page carries it: the gateway's CSP
#: allows it by its hash (CSP3 hash-source), so the page needs no `'unsafe-inline'`.
PREFERENCES_STYLE = (
    resources.files("consent").joinpath("templates/preferences.css").read_text(encoding="utf-8")
)


@dataclass(frozen=True)
class HistoryRow:
    """One past choice as the preference center lists it (purpose names in its language)."""

    ts: str
    method: str
    granted: Sequence[str]  # what took effect: grants GPC held back are in `held`, not here
    denied: Sequence[str]
    kind: str = ""  # consent.choice_kind: given, refused, withdrawn, changed, gpc
    # Ticked, but kept refused by the browser's GPC signal (not confirmed): 11 CCR §7025(c)(3).
    held: Sequence[str] = ()


@dataclass(frozen=True)
class PreferencesView:
    """Everything the preference center shows."""

    language: str
    regime: str
    policy_version: str
    purposes: Sequence[PurposeView]
    history: Sequence[HistoryRow]
    subject_ref: str | None
    gpc_honored: bool
    prefix: str
    csrf: str
    # The erasure form's token (bound to erasure, so the consent forms' token erases no one);
    # empty while there is no subject and so no erasure form.
    csrf_delete: str = ""
    saved: bool = False
    # Purposes the visitor allowed but their GPC signal keeps refused right now (names).
    held_by_gpc: Sequence[str] = ()
    # "Back to the shop": a same-origin path (the consent route's safe_return_to), never a URL.
    back_url: str = "/"
    # `policy.privacy_policy_url`, validated by the config model; None hides the link.
    policy_url: str | None = None


def render_preferences(view: PreferencesView) -> str:
    """The preference center page (contract: `GET /_privacy/preferences`)."""
    return _PREFERENCES.render(
        t=UI[view.language],
        lang=view.language,
        dir=direction(view.language),
        regime=view.regime,
        policy_version=view.policy_version,
        purposes=view.purposes,
        history=view.history,
        subject_ref=view.subject_ref,
        gpc_honored=view.gpc_honored,
        prefix=view.prefix,
        action=f"{view.prefix}/consent",
        self_url=f"{view.prefix}/preferences",
        csrf=view.csrf,
        csrf_delete=view.csrf_delete,
        saved=view.saved,
        held_by_gpc=view.held_by_gpc,
        back_url=view.back_url,
        policy_url=view.policy_url,
        style=Markup(PREFERENCES_STYLE),
    )
