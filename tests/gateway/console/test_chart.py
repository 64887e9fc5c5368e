"""The inline SVG chart (gateway/console/chart.py)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

from gateway.console.chart import line_chart
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
    (dot,) = group.iter(f"{SVG}circle")  # the lone day 4 at 0 %
    assert float(dot.get("cy", "0")) > ys[0]


def test_data_text_is_escaped() -> None:
    evil = '<script>alert(1)</script>"'
    series = [Series("gdpr", evil, (DayRate(DAYS[0], 1, 1),))]
    svg = str(line_chart(evil, series, DAYS, "c1"))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    ET.fromstring(svg)


def test_series_differ_by_dash_as_well_as_colour() -> None:
    series = [
        Series("gdpr", p, (DayRate(DAYS[0], 1, 1), DayRate(DAYS[1], 1, 2))) for p in "abc"
    ]
    svg = str(line_chart("t", series, DAYS, "c2"))
    strokes = re.findall(r'<polyline[^>]*stroke="([^"]+)"', svg)
    dashes = re.findall(r"<polyline[^>]*?(stroke-dasharray=\"[^\"]+\")?/>", svg)
    assert len(set(strokes)) == 3 and len(set(dashes)) == 3
