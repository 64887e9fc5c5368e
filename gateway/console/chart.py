"""A line chart as inline SVG, drawn on the server (no JavaScript, no chart library).

Pure: ``line_chart`` takes the series and the days and returns markup-safe SVG. Every text
that comes from data is escaped. Accessibility (WAI "Complex images"): the SVG is
``role="img"`` with a title and a description, lines differ by dash pattern as well as colour
(WCAG 1.4.1, use of colour), and the page shows the same numbers in a table next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from gateway.console.consent_stats import Series

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 36
# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4")


def _x(i: int, n: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * i / (n - 1) if n > 1 else span / 2)


def _y(rate: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - rate)


def style(index: int) -> tuple[str, str]:
    """(colour, dash pattern) of the `index`-th series; legends use the same."""
    return COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)]


EMPTY_TEXT = "No data in this period"
BAR_MAX = 14.0  # px: a lone day's bar, narrower when many series share the day


def _bar(cx: float, rate: float, index: int, count: int, slot: float, colour: str) -> str:
    """A lone day as a bar from 0 % up to `rate`, labelled with its value: a single dot at
    an arbitrary height reads as noise; a bar with its number reads as a measurement.
    Series sharing the day stand side by side (grouped), in legend order."""
    width = min(BAR_MAX, max(3.0, 0.8 * slot / count))
    x = cx + (index - (count - 1) / 2) * width - width / 2
    top, base = _y(rate), _y(0.0)
    height = max(base - top, 1.5)  # 0 % stays visible as a line on the axis
    return (
        f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{width - 1:.1f}" '
        f'height="{height:.1f}" fill="{colour}"/>'
        f'<text x="{x + (width - 1) / 2:.1f}" y="{base - height - 4:.1f}" text-anchor="middle" '
        f'font-size="10">{rate * 100:.0f}%</text>'
    )


def line_chart(title: str, series: Sequence[Series], days: Sequence[date], chart_id: str) -> Markup:
    """One chart: x = `days`, y = opt-in rate 0-100 %, one polyline per series.

    A series' run of consecutive days is one line; a day without decisions breaks it
    (a gap, not a drop to 0 %). A lone day (one day of data, or one between gaps) is a
    labelled bar. Without any point in `days` the chart says so ("No data in this period")
    instead of showing an empty grid.
    """
    position = {day: i for i, day in enumerate(days)}
    n = len(days)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" class="cg-chart">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">Opt-in rate per day from {days[0]} to {days[-1]}, '
        f"one line per purpose; the table below has the numbers.</desc>",
    ]
    for pct in (0, 25, 50, 75, 100):
        y = _y(pct / 100)
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{pct}%</text>'
        )
    step = max(1, n // 6)
    for i in range(0, n, step):
        out.append(
            f'<text x="{_x(i, n):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11">{days[i].strftime("%m-%d")}</text>'
        )
    slot = (WIDTH - LEFT - RIGHT) / max(n - 1, 1)
    if not any(point.day in position for s in series for point in s.points):
        out.append(
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{_y(0.5) + 5:.1f}" '
            f'text-anchor="middle" font-size="16" fill="#333" class="cg-empty">'
            f"{EMPTY_TEXT}</text></svg>"
        )
        return Markup("".join(out))
    for index, s in enumerate(series):
        colour, dash = style(index)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        runs: list[list[tuple[float, float]]] = []
        run_rates: list[list[float]] = []
        last = -2
        for point in s.points:
            found = position.get(point.day)
            if found is None:
                continue
            i = found
            if i != last + 1:
                runs.append([])
                run_rates.append([])
            runs[-1].append((_x(i, n), _y(point.rate)))
            run_rates[-1].append(point.rate)
            last = i
        label = escape(s.purpose)
        out.append(f'<g data-purpose="{label}"><title>{label}</title>')
        for run, rates in zip(runs, run_rates, strict=True):
            if len(run) == 1:
                out.append(_bar(run[0][0], rates[0], index, len(series), slot, colour))
            else:
                coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                out.append(
                    f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5"{dash_attr}/>'
                )
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))
