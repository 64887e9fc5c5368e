"""`consentgate rules explain`: one synthetic request through the rule engine, step by step.

Shows what the gateway would decide for a visitor at `--ip` asking for `--url`: location and
jurisdiction, weather (offline provider only: explain never calls out), the consent state
(`--consent` lists the granted purposes; without it, the regime's defaults before any
choice), the attributes rules read, every rule with why it matched or not, and each slot's
resulting HTML. Nothing is stored and no state is changed.

It runs the request path's own code, not a copy of it: the geo database as the app opens it,
the edge headers and regime as `gateway.visitor` reads them (the operator wrote the headers, so
they count as from a trusted proxy), the consent state `consent.state` resolves (a `--consent`
choice becomes the record the consent API would store), `OfflineWeatherProvider` (a file it
rejects is an error here, where the gateway starts without weather), and
`Personalizer.personalize` for attributes, decision and slot HTML. The visitor is the one a
preview link with `--visitor-type` makes: no subject and no stored profile, so an experiment
shows its control (unless `personalization.anonymous_variant` draws an arm per request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from consent.language import negotiate_language
from consent.signals import gpc_requested
from consent.state import ConsentState, choice_record, resolve
from gateway.cli import rules_preview
from gateway.cli.common import EXIT_ERROR as USAGE_ERROR
from gateway.cli.common import UsageError, add_config
from gateway.personalization.slots import current_weather
from gateway.proxy.visitor import jurisdiction_location
from gateway.wiring import load_config
from personalization_rules.attributes import (
    VISITOR_TYPES,
    RequestFacts,
    VisitorProfile,
    VisitorType,
)
from personalization_rules.engine import Decision, Engine
from personalization_rules.geo import GeoDatabaseError, GeoPlace
from personalization_rules.personalizer import Personalizer, rule_headers
from personalization_rules.rules import Rule
from personalization_rules.weather import WeatherError, provider_from_settings
from personalization_rules.weather_codes import Weather
from policies.config_errors import ConfigInvalid
from policies.jurisdictions import normalize_country, normalize_subdivision, regime_for
from policies.models import Config, WeatherSettings


def explain(
    config_path: Path,
    url: str,
    ip: str | None = None,
    headers: Sequence[str] = (),
    consent: str | None = None,
    visitor_type: str | None = None,
    out: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """Print the explanation for one request; 0 done, 1 bad config (or an unusable geo
    database or weather file), 2 bad flag value."""
    out = out or sys.stdout
    try:
        loaded = load_config(config_path)
    except ConfigInvalid as exc:
        print(str(exc), file=sys.stderr)
        return 1
    config = loaded.config
    now = now or datetime.now(UTC)
    try:
        header_map = parse_headers(headers)
        profile_type = parse_visitor_type(visitor_type)
        place = locate(config, ip)
        country, subdivision = jurisdiction_location(config, place, header_map.items())
        regime = regime_for(country, subdivision, config)
        state, source = consent_state(config, regime, consent, header_map, now)
        weather = asyncio.run(offline_weather(config.weather, place))
    except (UsageError, GeoDatabaseError, WeatherError) as exc:
        print(f"consentgate rules explain: {exc}", file=sys.stderr)
        return USAGE_ERROR if isinstance(exc, UsageError) else 1
    granted = state.granted
    # The type a preview link would force: the synthetic request carries no stored profile.
    facts = RequestFacts(
        path=url,
        now=now,
        headers=rule_headers(header_map.items()),
        place=place,
        weather=weather,
        granted=granted,
        profile=VisitorProfile(type=profile_type),
    )
    personalizer = Personalizer(loaded)
    page = personalizer.personalize(
        facts,
        language=negotiate_language(header_map.get("accept-language")),
        # Without the grid's stylesheet: it is the same on every page and would bury the
        # content.
        styles=False,
        explain=True,
    )
    report = Report(out)
    report.request(url, ip, shown_location(place, country, subdivision), regime, weather)
    report.consent(config, granted, source)
    report.attributes(page.attributes)
    report.rules(personalizer.rules, page.decision)
    report.slots(personalizer.engine, page.decision, page.html)
    return 0


def parse_headers(headers: Sequence[str]) -> dict[str, str]:
    """`Name: value` flags as a mapping with lower-case names (the last one wins)."""
    out: dict[str, str] = {}
    for header in headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip() or any(c in name for c in " \t\r\n"):
            raise UsageError(f"--header {header!r}: expected 'Name: value'")
        out[name.strip().lower()] = value.strip()
    return out


def parse_visitor_type(value: str | None) -> VisitorType:
    """`--visitor-type` (default `new`: the synthetic request carries no history)."""
    if value is None:
        return "new"
    if value not in VISITOR_TYPES:
        raise UsageError(f"--visitor-type {value!r}: one of {', '.join(VISITOR_TYPES)}")
    return value  # type: ignore[return-value]  # checked against VISITOR_TYPES above


def locate(config: Config, ip: str | None) -> GeoPlace | None:
    """The place of `ip` in the geo database, opened as the gateway opens it (`open_geo`:
    an unusable database is an error unless `geo.optional`)."""
    from gateway.wiring import open_geo  # the app's wiring; imported only when explaining

    if ip is None:
        return None
    geo = open_geo(config.geo)
    if geo is None:
        return None
    try:
        return geo.lookup(ip)
    finally:
        geo.close()


def shown_location(
    place: GeoPlace | None, country: str | None, subdivision: str | None
) -> list[str]:
    """The location line's parts: the geo place, else the edge headers' country/region."""
    if place is not None:
        parts = [place.country, place.subdivision, place.city, place.time_zone]
        return [p for p in parts if p]
    code = normalize_country(country)
    if code is None:
        return []
    return [p for p in (code, normalize_subdivision(code, subdivision)) if p]


def consent_state(
    config: Config,
    regime: str,
    consent: str | None,
    headers: Mapping[str, str],
    now: datetime,
) -> tuple[ConsentState, str]:
    """The consent state and where it came from: `--consent` as a choice recorded through the
    consent API (granting the named purposes, refusing the others), else the regime's
    defaults; a `Sec-GPC: 1` header counts as it does on a request."""
    gpc = gpc_requested(headers.items())
    with_gpc = " with Sec-GPC: 1" if gpc else ""
    if consent is None:
        return resolve(
            config, regime, None, gpc, now, None
        ), f"defaults of regime {regime}{with_gpc}"
    ids = {p.id for p in config.purposes}
    named = {c.strip() for c in consent.split(",") if c.strip()}
    unknown = sorted(named - ids)
    if unknown:
        raise UsageError(
            f"--consent: unknown purpose {unknown[0]!r} (one of {', '.join(sorted(ids))})"
        )
    # Strictly necessary purposes cannot be refused: a choice leaves them out.
    choices = {
        p.id: p.id in named for p in config.purposes if p.mechanism_in(regime) != "notice_only"
    }
    language = negotiate_language(headers.get("accept-language"))
    record = choice_record(
        config, regime, None, choices, method="api", shown_text_hash="", language=language,
        gpc=gpc, now=now,
    )  # fmt: skip
    return resolve(config, regime, record, gpc, now, None), f"--consent{with_gpc}"


async def offline_weather(settings: WeatherSettings, place: GeoPlace | None) -> Weather | None:
    """The weather at `place` from the offline provider (explain never calls out); raises
    `WeatherError` with the provider's own message when its file is unusable."""
    if settings.provider != "offline":
        return None
    provider = provider_from_settings(settings)
    if provider is None:
        return None
    await provider.start()
    try:
        return await current_weather(provider, place)
    finally:
        await provider.close()


class Report:
    """The explanation as plain text, one section after another."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def request(
        self,
        url: str,
        ip: str | None,
        location: Sequence[str],
        regime: str,
        weather: Weather | None,
    ) -> None:
        self.line(f"request: GET {url}" + (f" from {ip}" if ip else ""))
        self.line("location: " + (", ".join(location) if location else "unknown"))
        self.line(f"jurisdiction: {regime}")
        if weather is None:
            self.line("weather: unknown")
        else:
            text = f"weather: {weather.condition}"
            if weather.temperature_c is not None:
                text += f", {weather.temperature_c:g} °C"
            if weather.feels_like_c is not None:
                text += f" (feels like {weather.feels_like_c:g} °C)"
            self.line(text)

    def consent(self, config: Config, granted: frozenset[str], source: str) -> None:
        states = ", ".join(
            f"{p.id}={'granted' if p.id in granted else 'denied'}" for p in config.purposes
        )
        self.line(f"consent: {states} ({source})")

    def attributes(self, attributes: Mapping[str, Any]) -> None:
        self.line("attributes:")
        for name, value in _flatten(attributes):
            self.line(f"  {name} = {json.dumps(value, ensure_ascii=False)}")

    def rules(self, rules: Sequence[Rule], decision: Decision) -> None:
        self.line("rules:")
        if not decision.outcomes:
            self.line("  (no rules)" if not rules else "  (none evaluated)")
        for o in decision.outcomes:
            mark = "MATCH" if o.matched else "no   "
            reason = f": {o.reason}" if o.reason else ""
            self.line(f"  {mark} {o.rule_id} [{o.slot}, priority {o.priority}]{reason}")

    def slots(self, engine: Engine, decision: Decision, html: Mapping[str, str]) -> None:
        self.line("slots:")
        for slot in engine.slots:
            won = decision.slots.get(slot)
            if won is None:
                self.line(f"  {slot}: unchanged (no rule matched; the shop's own content stays)")
                continue
            head = f"  {slot}: rule {won.rule_id}"
            if won.experiment:
                head += f", experiment {won.experiment} variant {won.variant}"
                head += "" if won.sticky else " (no subject: not sticky)"
            if won.purposes:
                head += f", relies on {', '.join(sorted(won.purposes))}"
            self.line(head)
            content = html.get(slot)
            if content is None:
                self.line("    (renders nothing; the shop's own content stays)")
            else:
                for text in content.splitlines():
                    self.line(f"    {text}")


def _flatten(value: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key in sorted(value):
        item = value[key]
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            out.extend(_flatten(item, name + "."))
        elif item is not None and item != {}:
            out.append((name, item))
    return out


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `rules explain`, and `rules preview` from its own module."""
    actions = sub.add_parser("rules", help="personalization rules").add_subparsers(
        dest="rules_command", required=True, metavar="ACTION"
    )
    parser = actions.add_parser(
        "explain", help="show how the rules decide one synthetic request, and why"
    )
    add_config(parser)
    parser.add_argument("--url", required=True, metavar="PATH", help="request path (and query)")
    parser.add_argument("--ip", help="the visitor's address (located with the geo database)")
    parser.add_argument(
        "--header", action="append", default=[], metavar="'Name: v'", help="a request header"
    )
    parser.add_argument("--consent", metavar="p1,p2", help="granted purposes (default: regime)")
    parser.add_argument("--visitor-type", metavar="T", help="new, returning, customer, ...")
    parser.set_defaults(run=_explain_command)
    # One `rules` group, two modules: the preview link is its own concept (signing, not
    # deciding), so it declares its parser next to its code.
    rules_preview.register(actions)


def _explain_command(args: argparse.Namespace) -> int:
    return explain(
        args.config_path,
        url=args.url,
        ip=args.ip,
        headers=args.header,
        consent=args.consent,
        visitor_type=args.visitor_type,
    )
