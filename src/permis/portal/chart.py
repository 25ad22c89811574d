"""The balance over time as a step chart, drawn on the server as inline SVG (no JavaScript, no image file).

This module only does geometry: it turns dated values into SVG path data and tick positions. The words (title,
description, legend) and the markup are the template's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

# The wide chart for screens from 576 px on; the compact one, with larger text for its size, for phones.
WIDTH, HEIGHT = 640, 280
COMPACT_WIDTH, COMPACT_HEIGHT = 360, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 16, 36


@dataclass(frozen=True)
class Step:
    """From this date on, the balance and the cap are these (until the next step)."""

    on: date
    balance: int
    cap: int


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    balance_past: str
    balance_forecast: str
    cap_past: str
    cap_forecast: str
    on_x: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    start: date
    end: date


def build_chart(
    past: Sequence[Step],
    on: date,
    forecast: Sequence[Step],
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    max_year_ticks: int = 6,
) -> Chart | None:
    """Steps up to `on` (drawn solid) and after it (drawn dashed). None when there is nothing to draw."""
    past = sorted((s for s in past if s.on <= on), key=lambda s: s.on)
    forecast = sorted((s for s in forecast if s.on > on), key=lambda s: s.on)
    if not past:
        return None
    start = past[0].on
    last_event = max(on, forecast[-1].on if forecast else on)
    margin = max(timedelta(days=60), (last_event - start) * 0.05)
    end = last_event + margin
    span_days = max((end - start).days, 1)

    top_value = max(12, *(s.cap for s in (*past, *forecast)), *(s.balance for s in (*past, *forecast)))
    plot_width = width - LEFT - RIGHT
    plot_height = height - TOP - BOTTOM

    def x(day: date) -> float:
        return round(LEFT + (day - start).days / span_days * plot_width, 1)

    def y(value: int) -> float:
        return round(TOP + plot_height - max(value, 0) / top_value * plot_height, 1)

    def path(steps: Sequence[tuple[date, int]], until: date) -> str:
        if not steps:
            return ""
        first_on, first_value = steps[0]
        parts = [f"M{x(first_on)} {y(first_value)}"]
        for step_on, value in steps[1:]:
            parts.append(f"H{x(step_on)} V{y(value)}")
        parts.append(f"H{x(until)}")
        return " ".join(parts)

    now = past[-1]
    forecast_from = [Step(on, now.balance, now.cap), *forecast]
    return Chart(
        width=width,
        height=height,
        left=LEFT,
        top=TOP,
        right=width - RIGHT,
        bottom=height - BOTTOM,
        balance_past=path([(s.on, s.balance) for s in past], on),
        balance_forecast=path([(s.on, s.balance) for s in forecast_from], end),
        cap_past=path([(s.on, s.cap) for s in past], on),
        cap_forecast=path([(s.on, s.cap) for s in forecast_from], end),
        on_x=x(on),
        x_ticks=_year_ticks(start, end, x, max_year_ticks),
        y_ticks=tuple(Tick(y(v), str(v)) for v in range(0, top_value + 1, 3 if top_value <= 15 else 5)),
        start=start,
        end=end,
    )


def _year_ticks(start: date, end: date, x: Callable[[date], float], most: int) -> tuple[Tick, ...]:
    years = list(range(start.year + 1, end.year + 1))
    if not years:
        return ()
    step = max(1, math.ceil(len(years) / most))
    return tuple(Tick(x(date(year, 1, 1)), str(year)) for year in years[::step])
