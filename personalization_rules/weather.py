"""Current weather at the visitor's place: a pure core (parsing, cache, breaker) and providers.

Rules read `weather.condition` (personalization_rules.weather_codes), `weather.temperature` and
`weather.feels_like`. Providers answer `await provider.current(lat, lon)` with a `Weather` or
None (unknown) and never raise from it: weather is a nice-to-have, never a reason for a page
to fail or wait.

- `OfflineWeatherProvider`: a JSON file of Open-Meteo responses keyed "LAT,LON" (4 decimals,
  gateway/demo/weather.json), for the demo and `rules explain`.
- `OpenMeteoProvider`: `GET {base_url}/v1/forecast?latitude=..&longitude=..&current=..`
  (open-meteo.com/en/docs) over one httpx.AsyncClient. Budget: a page waits at most
  `budget_ms`; past it the page gets None and the fetch finishes in the background to fill the
  cache. Requests for one place share one in-flight fetch. A TTL cache keyed by coordinates
  rounded to 0.1° (about 11 km): the provider never learns a visitor's precise location, and
  nearby visitors share one entry (hit rate). A circuit breaker stops calling a provider that
  keeps failing, then lets one trial through after `breaker_reset_seconds`.

Open-Meteo's free API is for non-commercial use only and its data is CC BY 4.0
(open-meteo.com/en/licence): a shop sets `weather.base_url` (and `api_key`) to a paid or
self-hosted endpoint and shows `weather.attribution` where weather-driven content appears.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from personalization_rules.weather_codes import Weather, condition_for
from policies.models import WeatherSettings

log = logging.getLogger("consentgate.weather")

Clock = Callable[[], float]
Cell = tuple[float, float]

# The `current` variables we ask for, in request order (open-meteo.com/en/docs, "current").
CURRENT_VARIABLES: tuple[str, ...] = (
    "temperature_2m",
    "apparent_temperature",
    "weather_code",
    "is_day",
)
# A `current` answer for four variables is well under 1 KiB; anything far bigger is not one.
MAX_BODY_BYTES = 64 * 1024
# Coordinates go to the provider and into cache keys with this many decimals (0.1° ≈ 11 km).
CELL_DECIMALS = 1
# Earth's records are -89.2 °C and 56.7 °C; a value outside this band is garbage, not weather.
_TEMPERATURE_RANGE = (-100.0, 100.0)
# UTC offsets run from -12:00 to +14:00; ISO 8601 allows up to ±18:00.
_MAX_UTC_OFFSET = 18 * 3600
# Bounds the cache; a shop's visitors rarely come from more than a few thousand 11 km cells.
CACHE_MAX_ENTRIES = 10_000


class WeatherError(Exception):
    """A weather answer or fixture that cannot be used (the message says why)."""


# -- parsing (pure) ----------------------------------------------------------------------------


def parse_forecast(body: bytes) -> Weather:
    """Parse an Open-Meteo `/v1/forecast` response body; raises `WeatherError` on anything else."""
    if len(body) > MAX_BODY_BYTES:
        raise WeatherError(f"response larger than {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise WeatherError("response is not UTF-8") from exc
    except ValueError as exc:
        raise WeatherError(f"response is not JSON: {exc}") from exc
    return weather_from_forecast(document)


def _reject_constant(name: str) -> Any:
    # RFC 8259 §6: NaN and Infinity are not JSON numbers (Python's json accepts them).
    raise ValueError(f"{name} is not a JSON number")


def weather_from_forecast(document: object) -> Weather:
    """The `Weather` in a decoded Open-Meteo forecast document (strict: garbage is an error).

    Each requested `current` variable must be present; Open-Meteo sends null where a model has
    no value, which becomes None (condition `unknown` for a null code).
    """
    if not isinstance(document, dict):
        raise WeatherError("response is not a JSON object")
    if document.get("error") is True:
        # Open-Meteo's error shape: {"error": true, "reason": "..."}.
        raise WeatherError(f"provider error: {_short(document.get('reason'))}")
    current = document.get("current")
    if not isinstance(current, dict):
        raise WeatherError("response has no `current` object")
    missing = [name for name in ("time", *CURRENT_VARIABLES) if name not in current]
    if missing:
        raise WeatherError(f"`current` lacks {', '.join(missing)}")
    _check_units(document.get("current_units"))
    code = _code(current["weather_code"])
    return Weather(
        condition=condition_for(code),
        temperature_c=_temperature("temperature_2m", current["temperature_2m"]),
        feels_like_c=_temperature("apparent_temperature", current["apparent_temperature"]),
        is_day=_is_day(current["is_day"]),
        code=code,
        observed_at=_observed_at(current["time"], document.get("utc_offset_seconds", 0)),
    )


def _short(value: object) -> str:
    return str(value)[:200]


def _check_units(units: object) -> None:
    if units is None:
        return
    if not isinstance(units, dict):
        raise WeatherError("`current_units` is not an object")
    for name in ("temperature_2m", "apparent_temperature"):
        # We never ask for temperature_unit=fahrenheit: another unit means a foreign default.
        if name in units and units[name] != "°C":
            raise WeatherError(f"{name} is in {_short(units[name])!r}, not °C")


def _number(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WeatherError(f"{name} is not a number: {_short(value)!r}")
    if not math.isfinite(value):
        raise WeatherError(f"{name} is not finite")
    return float(value)


def _temperature(name: str, value: object) -> float | None:
    number = _number(name, value)
    low, high = _TEMPERATURE_RANGE
    if number is not None and not low <= number <= high:
        raise WeatherError(f"{name} {number} °C is outside {low}..{high}")
    return number


def _code(value: object) -> int | None:
    number = _number("weather_code", value)
    if number is None:
        return None
    # WMO 4677 present-weather codes are 00..99; JSON may carry them as 63.0.
    if not number.is_integer() or not 0 <= number <= 99:
        raise WeatherError(f"weather_code {number} is not a WMO code 0..99")
    return int(number)


def _is_day(value: object) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool) or value not in (0, 1):
        raise WeatherError(f"is_day is not 0 or 1: {_short(value)!r}")
    return value == 1


def _observed_at(value: object, offset: object) -> datetime:
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > _MAX_UTC_OFFSET:
        raise WeatherError(f"utc_offset_seconds is not an offset: {_short(offset)!r}")
    if not isinstance(value, str):
        raise WeatherError("current.time is not a string")
    try:
        # timeformat=iso8601 (the default): local time of `timezone`, without an offset.
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WeatherError(f"current.time is not ISO 8601: {_short(value)!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone(timedelta(seconds=offset)))
    return moment


# -- places and the cache (pure) ---------------------------------------------------------------


def cell(latitude: float, longitude: float) -> Cell | None:
    """The 0.1° cell a place falls in (the cache key and what the provider is told), or None
    for coordinates that are not a place on Earth."""
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    # `+ 0.0` turns -0.0 into 0.0 so both sides of the equator share one key.
    return round(latitude, CELL_DECIMALS) + 0.0, round(longitude, CELL_DECIMALS) + 0.0


class TtlCache:
    """Values by cell, each fresh for `ttl` seconds after it was stored; oldest evicted first."""

    def __init__(self, ttl: float, max_entries: int = CACHE_MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Cell, tuple[float, Weather]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Cell, now: float) -> Weather | None:
        """The value stored under `key` if it is still fresh at `now`."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if now - stored_at >= self.ttl:
            del self._entries[key]
            return None
        return value

    def put(self, key: Cell, value: Weather, now: float) -> None:
        """Store `value` under `key` as of `now`."""
        self._entries[key] = (now, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Stops calls to a failing provider (Nygard, "Release It!", Circuit Breaker).

    closed: calls pass; `failures` failures in a row open it. open: calls are refused until
    `reset_seconds` have passed, then one trial passes (half_open) and the others are refused
    until its outcome closes the breaker or opens it again.
    """

    def __init__(self, failures: int, reset_seconds: float) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self.state: BreakerState = "closed"
        self.consecutive_failures = 0
        self._opened_at = 0.0

    def allow(self, now: float) -> bool:
        """Whether a call may go out at `now` (an allowed trial moves open → half_open)."""
        if self.state == "closed":
            return True
        if self.state == "open" and now - self._opened_at >= self.reset_seconds:
            self.state = "half_open"
            return True
        return False

    def success(self) -> None:
        """A call succeeded: close."""
        self.state = "closed"
        self.consecutive_failures = 0

    def failure(self, now: float) -> None:
        """A call failed at `now`: count it; open at the threshold or when a trial fails."""
        self.consecutive_failures += 1
        if self.state == "half_open" or (
            self.state == "closed" and self.consecutive_failures >= self.failures
        ):
            self.state = "open"
            self._opened_at = now


# -- providers ---------------------------------------------------------------------------------


class WeatherProvider(Protocol):
    """Current weather; `current` answers within the provider's budget and never raises."""

    @property
    def attribution(self) -> str | None:
        """Credit to show where weather-driven content appears (None: none required)."""
        ...

    async def start(self) -> None:
        """Acquire resources (load a file, open a client); may raise `WeatherError`."""

    async def close(self) -> None:
        """Release resources and cancel background fetches."""

    async def current(self, latitude: float, longitude: float) -> Weather | None:
        """The weather at a place, or None when unknown (no data, too slow, provider down)."""
        ...


def fixture_key(latitude: float, longitude: float) -> str:
    """A place's key in an offline weather file: "LAT,LON" with 4 decimals."""
    return f"{latitude:.4f},{longitude:.4f}"


def load_fixture(document: object) -> dict[str, Weather]:
    """Parse an offline weather document (`{"LAT,LON": <Open-Meteo response>}`) strictly."""
    if not isinstance(document, dict):
        raise WeatherError("offline weather: not a JSON object of places")
    places: dict[str, Weather] = {}
    for key, response in document.items():
        try:
            latitude, longitude = (float(part) for part in key.split(","))
        except ValueError as exc:
            raise WeatherError(f"offline weather: key {key!r} is not 'LAT,LON'") from exc
        if cell(latitude, longitude) is None:
            raise WeatherError(f"offline weather: key {key!r} is not a place on Earth")
        try:
            places[fixture_key(latitude, longitude)] = weather_from_forecast(response)
        except WeatherError as exc:
            raise WeatherError(f"offline weather: {key}: {exc}") from exc
    return places


class OfflineWeatherProvider:
    """Weather from a file of Open-Meteo responses; answers at once, never calls out.

    A place matches its exact key, else any fixture place in the same 0.1° cell.
    """

    attribution: str | None = None

    def __init__(
        self, path: Path | None = None, places: Mapping[str, Weather] | None = None
    ) -> None:
        self.path = path
        self._by_key: dict[str, Weather] = dict(places or {})
        self._by_cell = _cells(self._by_key)

    async def start(self) -> None:
        """Load and parse the file; raises `WeatherError` naming the file when it is unusable."""
        if self.path is None:
            return
        try:
            document = json.loads(self.path.read_bytes(), parse_constant=_reject_constant)
        except OSError as exc:
            raise WeatherError(f"{self.path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise WeatherError(f"{self.path}: not JSON: {exc}") from exc
        try:
            self._by_key = load_fixture(document)
        except WeatherError as exc:
            raise WeatherError(f"{self.path}: {exc}") from exc
        self._by_cell = _cells(self._by_key)

    async def close(self) -> None:
        """Nothing to release."""

    async def current(self, latitude: float, longitude: float) -> Weather | None:
        """The fixture's weather for this place or its cell, else None."""
        key = cell(latitude, longitude)
        if key is None:
            return None
        exact = self._by_key.get(fixture_key(latitude, longitude))
        return exact if exact is not None else self._by_cell.get(key)


def _cells(places: Mapping[str, Weather]) -> dict[Cell, Weather]:
    out: dict[Cell, Weather] = {}
    for key, weather in places.items():
        latitude, longitude = (float(part) for part in key.split(","))
        place = cell(latitude, longitude)
        if place is not None:
            out.setdefault(place, weather)
    return out


class OpenMeteoProvider:
    """Open-Meteo's forecast API over HTTP, cached, deduplicated, behind a circuit breaker."""

    def __init__(self, settings: WeatherSettings, *, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self.budget = settings.budget_ms / 1000
        self.timeout = settings.timeout_ms / 1000
        self.cache = TtlCache(settings.cache_ttl_seconds)
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_seconds)
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._inflight: dict[Cell, asyncio.Task[Weather | None]] = {}

    @property
    def attribution(self) -> str | None:
        """The configured credit line (CC BY 4.0 for Open-Meteo's data)."""
        return self.settings.attribution or None

    async def start(self) -> None:
        """Open the HTTP client (one per provider, reused across fetches)."""
        if self._client is not None:
            return
        if self.settings.api_key and _REDACT_API_KEY not in _HTTPX_LOG.filters:
            _HTTPX_LOG.addFilter(_REDACT_API_KEY)
        self._client = httpx.AsyncClient(
            base_url=self.settings.base_url,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "consentgate-weather"},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=4),
        )

    async def close(self) -> None:
        """Cancel background fetches and close the client; `current` then answers None."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def current(self, latitude: float, longitude: float) -> Weather | None:
        """Cached weather, or the fetch's result if it lands within the budget, else None."""
        key = cell(latitude, longitude)
        if key is None:
            return None
        now = self._clock()
        cached = self.cache.get(key, now)
        if cached is not None:
            return cached
        task = self._inflight.get(key)
        if task is None:
            if self._client is None or not self.breaker.allow(now):
                return None
            task = asyncio.get_running_loop().create_task(self._fetch(key, self._client))
            self._inflight[key] = task
        try:
            # shield: the budget (or the caller's own cancellation) ends the wait, not the
            # fetch, which completes in the background and fills the cache.
            return await asyncio.wait_for(asyncio.shield(task), self.budget)
        except TimeoutError:
            return None
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and (me is None or me.cancelling() == 0):
                return None  # close() cancelled the fetch, not our caller
            raise

    async def _fetch(self, key: Cell, client: httpx.AsyncClient) -> Weather | None:
        try:
            async with asyncio.timeout(self.timeout):
                weather = await self._request(key, client)
        except Exception as exc:  # fail open: any failure is weather "unknown"
            self._failed(exc)
            return None
        else:
            self.cache.put(key, weather, self._clock())
            self.breaker.success()
            return weather
        finally:
            if self._inflight.get(key) is asyncio.current_task():
                del self._inflight[key]

    def _failed(self, exc: Exception) -> None:
        was = self.breaker.state
        self.breaker.failure(self._clock())
        reason = str(exc) if isinstance(exc, WeatherError) else type(exc).__name__
        log.warning("weather fetch failed: %s", reason)
        if self.breaker.state == "open" and was != "open":
            log.warning("weather provider unavailable; retrying in %gs", self.breaker.reset_seconds)

    async def _request(self, key: Cell, client: httpx.AsyncClient) -> Weather:
        latitude, longitude = key
        params = {
            # Only the rounded cell leaves the gateway: the provider never sees where a
            # visitor really is (GDPR Art. 5(1)(c), data minimisation).
            "latitude": f"{latitude:.{CELL_DECIMALS}f}",
            "longitude": f"{longitude:.{CELL_DECIMALS}f}",
            "current": ",".join(CURRENT_VARIABLES),
        }
        if self.settings.api_key:
            params["apikey"] = self.settings.api_key
        async with client.stream("GET", "/v1/forecast", params=params) as response:
            body = await _read_capped(response)
        if response.status_code != 200:
            raise WeatherError(f"HTTP {response.status_code}{_error_reason(body)}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise WeatherError(f"content type {media_type or 'missing'!r}, not application/json")
        return parse_forecast(body)


async def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise WeatherError(f"response larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _error_reason(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    if isinstance(document, dict) and document.get("error") is True:
        return f": {_short(document.get('reason'))}"
    return ""


class _RedactApiKey(logging.Filter):
    """Replaces the `apikey` query parameter in URLs httpx logs (it logs each request at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        return True


def _redacted(value: object) -> object:
    if isinstance(value, httpx.URL) and "apikey" in value.params:
        return value.copy_set_param("apikey", "REDACTED")
    return value


_HTTPX_LOG = logging.getLogger("httpx")
_REDACT_API_KEY = _RedactApiKey()


def provider_from_settings(
    settings: WeatherSettings, *, clock: Clock = time.monotonic
) -> WeatherProvider | None:
    """The provider `weather.provider` names (None for `none`); call `start()` before use."""
    if settings.provider == "offline":
        if settings.offline_file is None:
            raise WeatherError("weather.provider offline needs weather.offline_file")
        return OfflineWeatherProvider(settings.offline_file)
    if settings.provider == "open-meteo":
        return OpenMeteoProvider(settings, clock=clock)
    return None
