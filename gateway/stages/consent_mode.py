"""Google Consent Mode v2: region-scoped `default`s, then this visitor's `update`.

The snippet (developers.google.com/tag-platform/security/guides/consent) must run before any
gtag call, so it goes right before the first `<script>` start tag, or before `<body>` or
`</head>` when those come first (at the end of the document if none does). It is not placed
straight after `<head>`: HTML §4.2.5.4 wants `<meta charset>` within the first 1024 bytes, and
a snippet with the EU region list is about that long. Only a script can call gtag, so "before
the first script" is "before any gtag call".

Region-scoped defaults come from the regimes: a regime's countries and subdivisions get what
its purposes are before any choice (opt_in denied, opt_out per `default`, notice_only granted);
the `default` regime's values apply everywhere else (Google: the most specific region wins).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from consent.state import ConsentState, resolve
from gateway.html.stage import DocumentEnd, EndTag, Stage, StartTag
from policies.models import Config

GRANTED, DENIED = "granted", "denied"
# resolve() needs a time only to judge a record's age; without a record any instant will do.
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ConsentDefault:
    """One `gtag('consent', 'default', …)`: consent type → granted/denied, for `regions`
    (ISO 3166-1 alpha-2 countries or ISO 3166-2 subdivisions; empty: everywhere else)."""

    settings: Mapping[str, str]
    regions: tuple[str, ...] = field(default=())


def consent_mode_settings(config: Config, state: ConsentState) -> dict[str, str]:
    """This visitor's consent types: granted exactly where the mapped purpose is granted."""
    return consent_mode_update(config, state.granted)


def consent_mode_update(config: Config, granted: frozenset[str]) -> dict[str, str]:
    """The consent types of whoever granted exactly `granted`."""
    keys = config.consent_mode.keys
    return {key: GRANTED if pid in granted else DENIED for key, pid in keys.items()}


def consent_mode_defaults(config: Config) -> tuple[ConsentDefault, ...]:
    """One default per regime: its places and its before-any-choice state (see module doc).

    The `default` regime comes first and has no `region` (it covers the rest of the world);
    a regime with no places is left out, as the visitor's `update` covers it anyway.
    """
    out: list[ConsentDefault] = []
    for name, regime in sorted(config.regimes.items(), key=lambda item: item[0] != "default"):
        regions = tuple(regime.countries) + tuple(regime.subdivisions)
        if name != "default" and not regions:
            continue
        state = resolve(config, name, None, False, _ANY_TIME, None)
        out.append(ConsentDefault(consent_mode_settings(config, state), regions))
    return tuple(out)


def script_json(value: object) -> str:
    """JSON safe inside an HTML `<script>`: `<`, `>`, `&` and U+2028/2029 escaped (so no
    `</script>` or `<!--` can appear, and old JS parsers see no line terminator in strings)."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    # ensure_ascii already writes U+2028/U+2029 as \u2028/\u2029.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def snippet(
    defaults: Sequence[ConsentDefault],
    update: Mapping[str, str] | None,
    *,
    wait_for_update: int | None = None,
    nonce: str | None = None,
) -> str:
    """The `<script>` element: the dataLayer/gtag stub, each default, then the update."""
    lines = ["window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"]
    for default in defaults:
        args: dict[str, object] = dict(default.settings)
        if default.regions:
            args["region"] = list(default.regions)
        if wait_for_update is not None:
            args["wait_for_update"] = wait_for_update
        lines.append(f"gtag('consent','default',{script_json(args)});")
    if update is not None:
        lines.append(f"gtag('consent','update',{script_json(dict(update))});")
    attr = ""
    if nonce is not None:
        attr = ' nonce="' + nonce.replace("&", "&amp;").replace('"', "&quot;") + '"'
    return f"<script{attr}>" + "\n".join(lines) + "</script>"


class ConsentMode(Stage):
    """Emits the consent mode snippet once, before the first script (see module doc)."""

    name = "consent-mode"
    tags = frozenset({"script", "body"})
    end_tags = frozenset({"head"})

    def __init__(
        self,
        defaults: Sequence[ConsentDefault],
        update: Mapping[str, str] | None,
        *,
        wait_for_update: int | None = None,
        nonce: str | None = None,
    ) -> None:
        """`nonce`: the page's CSP script nonce, if its policy allows inline scripts by one."""
        self.html = snippet(defaults, update, wait_for_update=wait_for_update, nonce=nonce)
        self.done = False

    @classmethod
    def of(cls, html: str) -> ConsentMode:
        """The stage for an already built `snippet` (pages with the same consent state share
        one)."""
        stage = cls.__new__(cls)
        stage.html = html
        stage.done = False
        return stage

    def start_tag(self, tag: StartTag) -> None:
        """Before the first `<script>` or `<body>`."""
        if not self.done:
            self.done = True
            tag.insert_before(self.html)

    def end_tag(self, tag: EndTag) -> None:
        """Before `</head>` when the head held no script."""
        if not self.done:
            self.done = True
            tag.insert_before(self.html)

    def end_document(self, doc: DocumentEnd) -> None:
        """A page with none of those tags still gets the snippet, at its end."""
        if not self.done:
            self.done = True
            doc.append(self.html)
