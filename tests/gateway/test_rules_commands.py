"""`consentgate rules explain` against the demo world's config (built, not started)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import gateway.cli.rules
from gateway.cli.rules import explain, parse_headers
from gateway.demo.world import prepare_data_dir, write_config
from personalization_rules.geo import GeoPlace
from personalization_rules.weather import OfflineWeatherProvider, WeatherError
from tests.cli import consentgate
from tests.demo_world import BANGKOK, LONDON, SAN_FRANCISCO

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    paths = prepare_data_dir(tmp_path_factory.mktemp("demo"))
    yield write_config(paths, port=8080, shop_port=8081)


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return consentgate(*args, config=config)


def explained(
    config: Path,
    url: str,
    *,
    ip: str | None = None,
    headers: tuple[str, ...] = (),
    consent: str | None = None,
    visitor_type: str | None = None,
) -> str:
    """`rules explain` in-process (the subprocess tests cover the command line itself)."""
    out = io.StringIO()
    code = explain(
        config, url, ip=ip, headers=headers, consent=consent, visitor_type=visitor_type, out=out
    )
    assert code == 0
    return out.getvalue()


def section(text: str, name: str) -> str:
    """The lines of one section (`rules:`, `slots:`) of the report."""
    after = text.split(f"\n{name}:\n", 1)[1]
    lines = []
    for line in after.splitlines():
        if not line.startswith("  "):
            break
        lines.append(line)
    return "\n".join(lines)


def test_demo_config_passes_check(demo_config: Path) -> None:
    result = run(demo_config, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: ")


def test_london_without_consent_gets_rain_picks_and_no_personal_banner(demo_config: Path) -> None:
    result = run(demo_config, "rules", "explain", "--url", "/", "--ip", LONDON)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "location: GB, GB-ENG, London, Europe/London" in text
    assert "jurisdiction: gdpr" in text
    assert "weather: rain, 9 °C (feels like 6.4 °C)" in text
    assert "personalization=denied" in text and "(defaults of regime gdpr)" in text
    assert '  visitor.type = "unknown"' in text
    assert "geo.city" not in text  # left out, not merely hidden
    rules = section(text, "rules")
    assert (
        "no    hero-customer [hero-banner, priority 50]: "
        "needs purpose 'personalization' (reads visitor.type)"
    ) in rules
    assert "no    sf-same-day [hero-banner, priority 100]: needs purpose 'personalization'" in rules
    assert "MATCH rain-picks [recommendations, priority 80]" in rules
    slots = section(text, "slots")
    assert "hero-banner: unchanged" in slots
    assert "recommendations: rule rain-picks" in slots
    assert ">Made for the rain</h2>" in slots and 'data-sku="RW-001"' in slots


def test_san_francisco_gets_same_day_delivery(demo_config: Path) -> None:
    result = run(
        demo_config,
        "rules",
        "explain",
        "--url",
        "/product/RW-001",
        "--ip",
        SAN_FRANCISCO,
        "--header",
        "User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) Mobile/15E148",
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "jurisdiction: us-optout" in text
    assert "weather: fog, 15 °C" in text
    assert '  device = "mobile"' in text and '  page.category = "rainwear"' in text
    assert "MATCH sf-same-day [hero-banner, priority 100]" in text
    slots = section(text, "slots")
    assert "hero-banner: rule sf-same-day, relies on personalization" in slots
    assert "reaches you in San Francisco today" in slots


@pytest.mark.parametrize(
    ("visitor_type", "rule", "headline"),
    [
        ("new", "hero-new", "New here? Welcome"),
        ("returning_non_buyer", "hero-returning-non-buyer", "10% off your first order"),
        ("engaged", "hero-engaged", "Picked for your favourite shelves"),
        ("customer", "hero-customer", "Welcome back, member"),
    ],
)
def test_four_visitor_types_get_four_home_pages(
    demo_config: Path, visitor_type: str, rule: str, headline: str
) -> None:
    text = explained(
        demo_config, "/", ip=LONDON, consent="personalization", visitor_type=visitor_type
    )
    assert "personalization=granted" in text and "(--consent)" in text
    slots = section(text, "slots")
    assert f"hero-banner: rule {rule}" in slots
    assert f"<h1>{headline}</h1>" in slots


def test_new_visitor_without_subject_sees_the_control(demo_config: Path) -> None:
    text = explained(demo_config, "/", ip=LONDON, consent="personalization")
    assert "experiment welcome-copy variant control (no subject: not sticky)" in text


def test_bangkok_is_hot_and_default_regime(demo_config: Path) -> None:
    text = explained(demo_config, "/", ip=BANGKOK)
    assert "jurisdiction: default" in text
    assert "weather: clear, 33 °C" in text
    assert "no    rain-picks [recommendations, priority 80]: when: weather.condition does not " in (
        text
    )


def test_edge_headers_without_ip(demo_config: Path) -> None:
    # The example config names CF-IPCountry under jurisdiction.edge_headers; the demo none.
    text = explained(REPO / "policies.yaml", "/", headers=("CF-IPCountry: th",))
    assert "location: TH" in text and "jurisdiction: default" in text
    assert "location: unknown" in explained(demo_config, "/", headers=("CF-IPCountry: th",))


def test_gpc_header_turns_off_marketing(demo_config: Path) -> None:
    text = explained(demo_config, "/", ip=SAN_FRANCISCO, headers=("Sec-GPC: 1",))
    assert "marketing=denied" in text and "with Sec-GPC: 1" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--visitor-type", "bogus"], "--visitor-type 'bogus': one of new, returning"),
        (["--consent", "personalisation"], "--consent: unknown purpose 'personalisation'"),
        (["--header", "no colon"], "--header 'no colon': expected 'Name: value'"),
    ],
)
def test_bad_flags_exit_2(demo_config: Path, args: list[str], message: str) -> None:
    result = run(demo_config, "rules", "explain", "--url", "/", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_invalid_config_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "policies.yaml"
    config.write_text("gateway: {upstream: 'ftp://x'}\n")
    result = run(config, "rules", "explain", "--url", "/")
    assert result.returncode == 1
    assert f"{config}:1: gateway.upstream must be an http:// or https:// URL" in result.stderr


@pytest.mark.parametrize(
    ("headers", "parsed"),
    [
        (["User-Agent: a: b"], {"user-agent": "a: b"}),
        (["X-A: 1", "x-a: 2"], {"x-a": "2"}),
        (["Empty:"], {"empty": ""}),
    ],
)
def test_parse_headers(headers: list[str], parsed: dict[str, str]) -> None:
    assert parse_headers(headers) == parsed


DEMO_WEATHER = REPO / "gateway" / "demo" / "weather.json"
LONDON_WEATHER = "51.5142,-0.0931"  # the demo weather file's key for London


def with_weather(demo_config: Path, directory: Path, document: str) -> Path:
    """A copy of the demo config whose offline weather file holds `document`."""
    weather = directory / "weather.json"
    weather.write_text(document, encoding="utf-8")
    data = yaml.safe_load(demo_config.read_text(encoding="utf-8"))
    data["weather"]["offline_file"] = str(weather)
    config = directory / "policies.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


def demo_weather(change: Callable[[dict[str, Any]], object]) -> str:
    """The demo weather file with London's entry changed in place by `change`."""
    data = json.loads(DEMO_WEATHER.read_text(encoding="utf-8"))
    change(data[LONDON_WEATHER])
    return json.dumps(data)


def provider_error(weather_file: Path) -> str:
    """Why the offline weather provider (what the gateway starts) rejects the file."""
    with pytest.raises(WeatherError) as rejected:
        asyncio.run(OfflineWeatherProvider(weather_file).start())
    return str(rejected.value)


@pytest.mark.parametrize(
    "document",
    [
        "{",
        "[]",
        '{"london": {}}',
        demo_weather(lambda london: london["current"].update(weather_code=120)),
        demo_weather(lambda london: london["current"].pop("is_day")),
        demo_weather(lambda london: london["current_units"].update(temperature_2m="°F")),
        demo_weather(lambda london: london["current"].update(temperature_2m=float("nan"))),
    ],
    ids=["not-json", "not-an-object", "bad-key", "bad-code", "no-is-day", "fahrenheit", "nan"],
)
def test_a_weather_file_the_provider_rejects_is_rejected_with_its_message(
    demo_config: Path, tmp_path: Path, document: str
) -> None:
    config = with_weather(demo_config, tmp_path, document)
    message = provider_error(tmp_path / "weather.json")
    result = run(config, "rules", "explain", "--url", "/", "--ip", LONDON)
    assert result.returncode == 1, result.stdout
    assert result.stderr == f"consentgate rules explain: {message}\n"
    assert result.stdout == ""


def test_weather_for_a_place_in_the_same_cell_as_a_fixture(
    demo_config: Path, tmp_path: Path
) -> None:
    # The provider matches a place by its 0.1° cell when no key is exact, as on a request.
    text = DEMO_WEATHER.read_text(encoding="utf-8")
    moved = text.replace(f'"{LONDON_WEATHER}"', '"51.5101,-0.0902"')
    assert moved != text
    config = with_weather(demo_config, tmp_path, moved)
    assert "weather: rain, 9 °C (feels like 6.4 °C)" in explained(config, "/", ip=LONDON)


def test_a_bay_area_visitor_without_a_city_is_told_why_same_day_is_not_shown(
    demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside the sf_bay circle, but the geo database knows no city for the address.
    place = GeoPlace("NA", "US", "US-CA", None, 37.7749, -122.4194, "America/Los_Angeles")
    monkeypatch.setattr(gateway.cli.rules, "locate", lambda config, ip: place)
    text = explained(demo_config, "/", ip=SAN_FRANCISCO, consent="personalization")
    assert (
        "no    sf-same-day [hero-banner, priority 100]: "
        "template needs geo.city, which this visitor lacks"
    ) in section(text, "rules")
    assert "hero-banner: rule sf-same-day" not in section(text, "slots")
