"""The chart's geometry: steps, dashes after the date of the calculation, ticks."""

from __future__ import annotations

from datetime import date

from permis.portal.chart import HEIGHT, LEFT, RIGHT, TOP, WIDTH, Step, build_chart


def test_nothing_to_draw_without_a_past() -> None:
    assert build_chart([], date(2024, 1, 1), []) is None


def test_the_past_stops_at_the_date_of_the_calculation_and_the_forecast_starts_there() -> None:
    chart = build_chart(
        [Step(date(2020, 1, 1), 12, 12), Step(date(2022, 1, 1), 8, 12)],
        date(2023, 1, 1),
        [Step(date(2025, 1, 1), 12, 12)],
    )
    assert chart is not None
    assert chart.balance_past.startswith(f"M{float(LEFT)} ")
    assert chart.balance_past.endswith(f"H{chart.on_x}")
    assert chart.balance_forecast.startswith(f"M{chart.on_x} ")
    assert chart.balance_forecast.endswith(f"H{float(WIDTH - RIGHT)}")
    assert LEFT < chart.on_x < WIDTH - RIGHT


def test_twelve_points_reach_the_top_and_zero_the_bottom() -> None:
    chart = build_chart([Step(date(2020, 1, 1), 12, 12), Step(date(2021, 1, 1), 0, 12)], date(2022, 1, 1), [])
    assert chart is not None
    top, bottom = float(TOP), float(chart.bottom)
    assert chart.balance_past.startswith(f"M{float(LEFT)} {top}")
    assert f"V{bottom}" in chart.balance_past
    assert [tick.label for tick in chart.y_ticks] == ["0", "3", "6", "9", "12"]
    assert chart.height == HEIGHT


def test_year_ticks_stay_few_over_a_long_history() -> None:
    chart = build_chart([Step(date(1992, 7, 1), 6, 6), Step(date(1992, 12, 1), 12, 12)], date(2024, 1, 1), [])
    assert chart is not None
    assert 3 <= len(chart.x_ticks) <= 7
    assert all(tick.label.isdigit() for tick in chart.x_ticks)


def test_steps_after_the_date_are_not_drawn_as_the_past() -> None:
    chart = build_chart([Step(date(2020, 1, 1), 12, 12), Step(date(2030, 1, 1), 0, 12)], date(2021, 1, 1), [])
    assert chart is not None
    assert "V" not in chart.balance_past
