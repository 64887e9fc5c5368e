"""The inline SVG chart (gateway/console/chart.py)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from gateway.console.chart import BOTTOM, HEIGHT, line_chart
from gateway.console.consent_stats import DayRate, Series

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(5)]
SVG = "{http://www.w3.org/2000/svg}"


def test_lines_break_at_days_without_decisions() -> None:
    points = (DayRate(DAYS[0], 1, 2), DayRate(DAYS[1], 2, 2), DayRate(DAYS[3], 0, 1))
    svg = str(line_chart("Opt-in", [Series("gdpr", "analytics", points)], DAYS, "c0"))
    root = ET.fromstring(svg)  # well-formed XML
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c0-t c0-d"
    (group,) = root.iter(f"{SVG}g")
    (line,) = group.iter(f"{SVG}polyline")
    ys = [float(xy.split(",")[1]) for xy in line.get("points", "").split()]
    assert len(ys) == 2 and ys[1] < ys[0]  # 50 % then 100 % (higher = smaller y)
    # The lone day 4 (0 %) is a labelled bar on the axis, not a dot floating in the grid.
    assert not list(group.iter(f"{SVG}circle"))
    (bar,) = group.iter(f"{SVG}rect")
    assert float(bar.get("y", "0")) + float(bar.get("height", "0")) == pytest.approx(
        HEIGHT - BOTTOM
    )
    assert [t.text for t in group.iter(f"{SVG}text")] == ["0%"]


def test_no_data_in_the_period_is_said_not_drawn() -> None:
    for series in ([], [Series("gdpr", "analytics", (DayRate(date(2025, 1, 1), 1, 1),))]):
        root = ET.fromstring(str(line_chart("Opt-in", series, DAYS, "c3")))
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert "No data in this period" in texts
        assert not list(root.iter(f"{SVG}polyline")) and not list(root.iter(f"{SVG}rect"))


def test_one_day_of_data_is_labelled_bars_side_by_side() -> None:
    one_day = [DAYS[-1]]
    series = [
        Series("gdpr", "analytics", (DayRate(one_day[0], 3, 4),)),
        Series("gdpr", "marketing", (DayRate(one_day[0], 1, 4),)),
    ]
    root = ET.fromstring(str(line_chart("Opt-in", series, one_day, "c4")))
    bars = list(root.iter(f"{SVG}rect"))
    assert len(bars) == 2 and not list(root.iter(f"{SVG}circle"))
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[0] == pytest.approx(3 * heights[1])  # 75 % vs 25 % of the same axis
    xs = [float(b.get("x", "0")) for b in bars]
    assert xs[0] + float(bars[0].get("width", "0")) <= xs[1]  # side by side, no overlap
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "75%" in labels and "25%" in labels
    assert {b.get("fill") for b in bars} == {"#0072B2", "#D55E00"}


def test_data_text_is_escaped() -> None:
    evil = '<script>alert(1)</script>"'
    series = [Series("gdpr", evil, (DayRate(DAYS[0], 1, 1),))]
    svg = str(line_chart(evil, series, DAYS, "c1"))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    ET.fromstring(svg)


def test_series_differ_by_dash_as_well_as_colour() -> None:
    series = [Series("gdpr", p, (DayRate(DAYS[0], 1, 1), DayRate(DAYS[1], 1, 2))) for p in "abc"]
    svg = str(line_chart("t", series, DAYS, "c2"))
    strokes = re.findall(r'<polyline[^>]*stroke="([^"]+)"', svg)
    dashes = re.findall(r"<polyline[^>]*?(stroke-dasharray=\"[^\"]+\")?/>", svg)
    assert len(set(strokes)) == 3 and len(set(dashes)) == 3
