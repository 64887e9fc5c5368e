"""OpenMeteoProvider against a real local server answering in Open-Meteo's format.

The server (tests/fake_open_meteo.py) runs as its own process; each test gives its provider a
base URL under a fresh prefix and asks the server how many requests arrived there. No timing
is asserted: slow cases assert None within the budget, then poll (with a deadline) until the
background fetch has filled the cache.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from personalization_rules.weather import OpenMeteoProvider, Weather
from policies.models import WeatherSettings
from tests import procs

pytestmark = pytest.mark.e2e

LONDON = (51.5142, -0.0931)
LONDON_SAME_CELL = (51.5201, -0.1102)
PARIS = (48.8566, 2.3522)
POLL_DEADLINE = 30.0
_tags = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = procs.free_port()
    argv = [sys.executable, "-m", "tests.fake_open_meteo", "--port", str(port)]
    with procs.serve("open-meteo", [*argv, "--slow-seconds", "1.0"], port, "/__stats") as server:
        yield server.url


class Clock:
    """A hand-turned monotonic clock for the cache TTL and the breaker."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """One fresh prefix on the fake server: its base URL and what arrived there."""

    def __init__(self, server: str, mode: str) -> None:
        self.server = server
        self.prefix = f"/{mode}/t{next(_tags)}"
        self.base_url = server + self.prefix

    def queries(self) -> list[dict[str, str]]:
        stats = httpx.get(f"{self.server}/__stats", params={"prefix": self.prefix}).json()
        queries: list[dict[str, str]] = stats["queries"]
        return queries

    def count(self) -> int:
        return len(self.queries())

    def switch(self, mode: str) -> None:
        httpx.get(f"{self.server}/__switch", params={"prefix": self.prefix, "mode": mode})


@asynccontextmanager
async def started(
    endpoint: Endpoint, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[OpenMeteoProvider]:
    # A generous budget unless a test is about the budget: loopback must not race it.
    values: dict[str, Any] = {"budget_ms": 5000, "timeout_ms": 10_000} | settings
    config = WeatherSettings(provider="open-meteo", base_url=endpoint.base_url, **values)
    provider = OpenMeteoProvider(config, clock=clock or Clock())
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


async def poll(provider: OpenMeteoProvider, where: tuple[float, float]) -> Weather:
    deadline = time.monotonic() + POLL_DEADLINE
    while time.monotonic() < deadline:
        weather = await provider.current(*where)
        if weather is not None:
            return weather
        await asyncio.sleep(0.02)
    raise AssertionError(f"no weather for {where} within {POLL_DEADLINE}s")


def test_fetches_the_rounded_cell_in_open_meteo_terms(server: str) -> None:
    endpoint = Endpoint(server, "ok")

    async def scenario() -> Weather | None:
        async with started(endpoint) as provider:
            return await provider.current(*LONDON)

    weather = asyncio.run(scenario())
    assert weather is not None
    assert (weather.condition, weather.temperature_c, weather.feels_like_c) == ("rain", 9.0, 6.4)
    assert (weather.code, weather.is_day) == (63, True)
    # Only the 0.1° cell leaves the gateway, never the visitor's precise coordinates.
    assert endpoint.queries() == [
        {
            "latitude": "51.5",
            "longitude": "-0.1",
            "current": "temperature_2m,apparent_temperature,weather_code,is_day",
        }
    ]


def test_api_key_goes_as_apikey_and_stays_out_of_logs(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = Endpoint(server, "ok")

    async def scenario() -> None:
        async with started(endpoint, api_key="k-secret-123") as provider:
            assert await provider.current(*PARIS) is not None

    with caplog.at_level(logging.INFO, logger="httpx"):
        asyncio.run(scenario())
    assert endpoint.queries()[0]["apikey"] == "k-secret-123"
    # httpx logs every request URL at INFO; the key must not reach the gateway's log.
    assert "apikey=REDACTED" in caplog.text
    assert "k-secret-123" not in caplog.text


def test_cache_by_cell_until_the_ttl(server: str) -> None:
    endpoint = Endpoint(server, "ok")
    clock = Clock()

    async def scenario() -> list[int]:
        counts = []
        async with started(endpoint, clock, cache_ttl_seconds=600) as provider:
            first = await provider.current(*LONDON)
            counts.append(endpoint.count())
            assert await provider.current(*LONDON_SAME_CELL) == first
            counts.append(endpoint.count())
            assert await provider.current(*PARIS) is not None
            counts.append(endpoint.count())
            clock.now += 599
            assert await provider.current(*LONDON) == first
            counts.append(endpoint.count())
            clock.now += 1
            assert await provider.current(*LONDON) is not None
            counts.append(endpoint.count())
        return counts

    assert asyncio.run(scenario()) == [1, 1, 2, 2, 3]


def test_concurrent_requests_share_one_fetch(server: str) -> None:
    endpoint = Endpoint(server, "slow")

    async def scenario() -> list[Weather | None]:
        async with started(endpoint) as provider:
            places = [LONDON, LONDON_SAME_CELL] * 10
            return await asyncio.gather(*(provider.current(*p) for p in places))

    results = asyncio.run(scenario())
    assert len(results) == 20
    assert all(r is not None and r.condition == "rain" for r in results)
    assert endpoint.count() == 1


def test_past_the_budget_unknown_then_cached(server: str) -> None:
    endpoint = Endpoint(server, "slow")

    async def scenario() -> tuple[Weather | None, Weather]:
        async with started(endpoint, budget_ms=20) as provider:
            first = await provider.current(*LONDON)
            # Each poll joins the same in-flight fetch until it lands in the cache.
            return first, await poll(provider, LONDON)

    first, later = asyncio.run(scenario())
    assert first is None
    assert later.condition == "rain"
    assert endpoint.count() == 1


def test_a_cancelled_caller_does_not_cancel_the_fetch(server: str) -> None:
    endpoint = Endpoint(server, "slow")

    async def scenario() -> Weather:
        async with started(endpoint) as provider:
            caller = asyncio.create_task(provider.current(*LONDON))
            while endpoint.count() == 0:  # the request reached the server
                await asyncio.sleep(0.02)
            caller.cancel()
            with pytest.raises(asyncio.CancelledError):
                await caller
            return await poll(provider, LONDON)

    assert asyncio.run(scenario()).condition == "rain"
    assert endpoint.count() == 1


FAILURES = ["500", "400", "garbage", "truncated", "short", "html", "reset"]


@pytest.mark.parametrize("mode", FAILURES)
def test_failures_are_unknown_uncached_and_counted(server: str, mode: str) -> None:
    endpoint = Endpoint(server, mode)

    async def scenario() -> list[tuple[Weather | None, int, str]]:
        seen: list[tuple[Weather | None, int, str]] = []
        async with started(endpoint, breaker_failures=2) as provider:
            for _ in range(3):
                weather = await provider.current(*LONDON)
                seen.append((weather, endpoint.count(), provider.breaker.state))
        return seen

    # Never raises; not cached (the 2nd call fetches again); the 2nd failure opens the breaker
    # and the 3rd call goes nowhere.
    assert asyncio.run(scenario()) == [(None, 1, "closed"), (None, 2, "open"), (None, 2, "open")]


def test_fetch_timeout_is_a_failure(server: str) -> None:
    endpoint = Endpoint(server, "slow")  # answers after 1 s; the fetch gives up after 50 ms

    async def scenario() -> tuple[Weather | None, str, int]:
        async with started(endpoint, timeout_ms=50, breaker_failures=1) as provider:
            weather = await provider.current(*LONDON)
            return weather, provider.breaker.state, provider.breaker.consecutive_failures

    assert asyncio.run(scenario()) == (None, "open", 1)


def test_unreachable_provider_is_unknown() -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{procs.free_port()}", "ok")  # nobody listens

    async def scenario() -> tuple[Weather | None, int]:
        async with started(endpoint) as provider:
            return await provider.current(*LONDON), provider.breaker.consecutive_failures

    assert asyncio.run(scenario()) == (None, 1)


def test_breaker_opens_half_opens_and_recovers(server: str) -> None:
    endpoint = Endpoint(server, "switch")
    endpoint.switch("500")
    clock = Clock()

    async def scenario() -> None:
        async with started(
            endpoint, clock, breaker_failures=3, breaker_reset_seconds=60
        ) as provider:
            for expected in (1, 2, 3):
                assert await provider.current(*LONDON) is None
                assert endpoint.count() == expected
            assert provider.breaker.state == "open"
            # Open: no request at all, for any place, until the reset time.
            assert await provider.current(*PARIS) is None
            clock.now += 59
            assert await provider.current(*LONDON) is None
            assert endpoint.count() == 3
            # Half-open: one trial; it fails, so the breaker opens again.
            clock.now += 1
            assert await provider.current(*LONDON) is None
            assert (endpoint.count(), provider.breaker.state) == (4, "open")
            assert await provider.current(*LONDON) is None
            assert endpoint.count() == 4
            # The provider recovers: the next trial succeeds and closes the breaker.
            endpoint.switch("ok")
            clock.now += 60
            weather = await provider.current(*LONDON)
            assert weather is not None and weather.condition == "rain"
            assert (endpoint.count(), provider.breaker.state) == (5, "closed")
            assert await provider.current(*PARIS) is not None
            assert endpoint.count() == 6

    asyncio.run(scenario())


def test_close_cancels_background_fetches(server: str) -> None:
    endpoint = Endpoint(server, "slow")

    async def scenario() -> tuple[Weather | None, Weather | None, int]:
        provider = OpenMeteoProvider(
            WeatherSettings(provider="open-meteo", base_url=endpoint.base_url, budget_ms=5000),
            clock=Clock(),
        )
        await provider.start()
        waiter = asyncio.create_task(provider.current(*LONDON))
        while endpoint.count() == 0:  # the fetch is in flight
            await asyncio.sleep(0.02)
        await provider.close()
        # The waiting page gets unknown, not a CancelledError that is not its own.
        waited = await waiter
        # A closed provider answers unknown and fetches nothing.
        after = await provider.current(*LONDON)
        return waited, after, len(provider.cache)

    assert asyncio.run(scenario()) == (None, None, 0)
    assert endpoint.count() == 1
