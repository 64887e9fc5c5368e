"""WMO weather interpretation codes grouped into the conditions rules talk about.

Open-Meteo reports `weather_code` as a WMO 4677 "present weather" code restricted to the set
its documentation lists (open-meteo.com/en/docs, "WMO Weather interpretation codes"). Rules
should not need to know that 63 is "moderate rain", so the codes fold into six groups:

    clear   0 clear sky, 1 mainly clear
    cloudy  2 partly cloudy, 3 overcast
    fog     45 fog, 48 depositing rime fog
    rain    51 53 55 drizzle, 56 57 freezing drizzle, 61 63 65 rain, 66 67 freezing rain,
            80 81 82 rain showers
    snow    71 73 75 snow fall, 77 snow grains, 85 86 snow showers
    storm   95 thunderstorm, 96 99 thunderstorm with hail

Anything else (a code outside that list, no code at all) is `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

WeatherCondition = Literal["clear", "cloudy", "fog", "rain", "snow", "storm", "unknown"]

CONDITIONS: Final[tuple[WeatherCondition, ...]] = (
    "clear",
    "cloudy",
    "fog",
    "rain",
    "snow",
    "storm",
    "unknown",
)

_GROUPS: Final[dict[WeatherCondition, tuple[int, ...]]] = {
    "clear": (0, 1),
    "cloudy": (2, 3),
    "fog": (45, 48),
    "rain": (51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 80, 81, 82),
    "snow": (71, 73, 75, 77, 85, 86),
    "storm": (95, 96, 99),
}
_BY_CODE: Final[dict[int, WeatherCondition]] = {
    code: group for group, codes in _GROUPS.items() for code in codes
}


@dataclass(frozen=True)
class Weather:
    """Current weather at one place, as providers report it and rules see it."""

    condition: WeatherCondition
    temperature_c: float | None
    feels_like_c: float | None
    is_day: bool | None = None
    code: int | None = None  # WMO 4677 weather interpretation code
    observed_at: datetime | None = None  # timezone-aware


def condition_for(code: object) -> WeatherCondition:
    """The condition group of WMO code `code`; `unknown` for anything unlisted or not an int."""
    if isinstance(code, bool):
        return "unknown"
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    if not isinstance(code, int):
        return "unknown"
    return _BY_CODE.get(code, "unknown")
