"""`consentgate rules explain`: one synthetic request through the rule engine, step by step.

Shows what the gateway would decide for a visitor at `--ip` asking for `--url`: location and
jurisdiction, weather (offline provider only: explain never calls out), the consent state
(`--consent` lists the granted purposes; without it, the regime's defaults before any
choice), the attributes rules read, every rule with why it matched or not, and each slot's
resulting HTML. Nothing is stored and no state is changed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from consent.state import resolve
from gateway.cli.common import EXIT_ERROR as USAGE_ERROR
from gateway.cli.common import UsageError
from personalization_rules.attributes import (
    VISITOR_TYPES,
    AttributeBuilder,
    RequestFacts,
    VisitorProfile,
    VisitorType,
    Weather,
    local_time,
)
from personalization_rules.engine import Decision, Engine, Visit, recommend_context, render
from personalization_rules.geo import GeoDatabaseError, GeoPlace, GeoReader
from personalization_rules.recommender import CatalogRecommender, load_products
from personalization_rules.rules import Rule, load_rules
from personalization_rules.weather_codes import condition_for
from policies.config_errors import ConfigInvalid
from policies.jurisdictions import location_from_headers, normalize_country, regime_for
from policies.loader import load_config
from policies.models import Config


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
    """Print the explanation for one request; 0 done, 1 bad config, 2 bad flag value."""
    out = out or sys.stdout
    try:
        loaded = load_config(config_path)
    except ConfigInvalid as exc:
        print(str(exc), file=sys.stderr)
        return 1
    config = loaded.config
    try:
        header_map = parse_headers(headers)
        profile_type = parse_visitor_type(visitor_type)
        place = locate(config, ip, header_map)
    except (UsageError, GeoDatabaseError) as exc:
        print(f"consentgate rules explain: {exc}", file=sys.stderr)
        return USAGE_ERROR if isinstance(exc, UsageError) else 1
    now = now or datetime.now(UTC)
    regime = regime_for(
        place.country if place else None, place.subdivision if place else None, config
    )
    try:
        granted, source = consent_state(config, regime, consent, header_map, now)
    except UsageError as exc:
        print(f"consentgate rules explain: {exc}", file=sys.stderr)
        return USAGE_ERROR
    weather = offline_weather(config, place)
    products = load_products(config.catalog) if config.catalog else []
    categories = {p.sku: p.category for p in products}
    builder = AttributeBuilder(
        config.personalization, [p.id for p in config.purposes], categories.get
    )
    profile = VisitorProfile(type=profile_type)
    facts = RequestFacts(
        path=url,
        now=now,
        headers=header_map,
        place=place,
        weather=weather,
        granted=granted,
        profile=profile,
    )
    attributes = builder.build(facts)
    rules = load_rules(loaded.rule_files, config)
    engine = Engine(rules, config.personalization)
    visit = Visit(
        attributes=attributes,
        granted=granted,
        local_time=local_time(now, place.time_zone if place else None),
    )
    decision = engine.decide(visit, explain=True)
    personal = engine.personal_allowed(granted)
    context = recommend_context(attributes, profile if personal else None)
    # Without the grid's stylesheet: it is the same on every page and would bury the content.
    html = render(decision, attributes, CatalogRecommender(products), context, styles=False)
    report = Report(out)
    report.request(url, ip, place, regime, weather)
    report.consent(config, granted, source)
    report.attributes(attributes)
    report.rules(rules, decision)
    report.slots(engine, decision, html)
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


def locate(config: Config, ip: str | None, headers: Mapping[str, str]) -> GeoPlace | None:
    """The place of `ip` in the configured database, else the edge headers' country/region.

    The operator wrote these headers, so explain believes them as from a trusted proxy.
    """
    if ip is not None and config.geo.database is not None:
        try:
            with GeoReader(config.geo.database) as reader:
                place = reader.lookup(ip)
        except GeoDatabaseError:
            if not config.geo.optional:
                raise
            place = None
        if place is not None:
            return place
    country, region = location_from_headers(headers, config.jurisdiction.edge_headers)
    code = normalize_country(country)
    if code is None:
        return None
    subdivision = None
    if region:
        subdivision = region.upper() if "-" in region else f"{code}-{region.upper()}"
    return GeoPlace(None, code, subdivision, None, None, None, None)


def consent_state(
    config: Config,
    regime: str,
    consent: str | None,
    headers: Mapping[str, str],
    now: datetime,
) -> tuple[frozenset[str], str]:
    """Granted purposes and where they came from: `--consent`, else the regime's defaults."""
    gpc = headers.get("sec-gpc", "").strip() == "1"
    if consent is None:
        state = resolve(config, regime, None, gpc, now, None)
        return state.granted, f"defaults of regime {regime}" + (" with Sec-GPC: 1" if gpc else "")
    ids = {p.id for p in config.purposes}
    named = {c.strip() for c in consent.split(",") if c.strip()}
    unknown = sorted(named - ids)
    if unknown:
        raise UsageError(
            f"--consent: unknown purpose {unknown[0]!r} (one of {', '.join(sorted(ids))})"
        )
    always = {p.id for p in config.purposes if p.mechanism_in(regime) == "notice_only"}
    return frozenset(named | always), "--consent"


def offline_weather(config: Config, place: GeoPlace | None) -> Weather | None:
    """Weather from the offline file (Open-Meteo `current` responses keyed "LAT,LON")."""
    settings = config.weather
    if settings.provider != "offline" or settings.offline_file is None or place is None:
        return None
    if place.latitude is None or place.longitude is None:
        return None
    try:
        data = json.loads(settings.offline_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = (
        data.get(f"{place.latitude:.4f},{place.longitude:.4f}") if isinstance(data, dict) else None
    )
    current = entry.get("current") if isinstance(entry, dict) else None
    if not isinstance(current, dict):
        return None
    return Weather(
        code=_int(current.get("weather_code")),
        temperature=_float(current.get("temperature_2m")),
        feels_like=_float(current.get("apparent_temperature")),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


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
        place: GeoPlace | None,
        regime: str,
        weather: Weather | None,
    ) -> None:
        self.line(f"request: GET {url}" + (f" from {ip}" if ip else ""))
        if place is None:
            self.line("location: unknown")
        else:
            parts = [place.country, place.subdivision, place.city, place.time_zone]
            self.line("location: " + ", ".join(p for p in parts if p))
        self.line(f"jurisdiction: {regime}")
        if weather is None:
            self.line("weather: unknown")
        else:
            text = f"weather: {condition_for(weather.code)}"
            if weather.temperature is not None:
                text += f", {weather.temperature:g} °C"
            if weather.feels_like is not None:
                text += f" (feels like {weather.feels_like:g} °C)"
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
