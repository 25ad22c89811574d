"""The simulator on the holder's own file: the stored history plus hypothetical events, against today's forecast.

Nothing is written: the stored history is read, the engine evaluates a copy with the events added, and the page
shows both.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from permis.portal.chart import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Tick
from permis.portal.dossier import state
from permis.portal.labels import note_label, status_label
from permis.portal.simulation import in_words
from permis.rules import InputError, Timeline, parse_history


@dataclass(frozen=True)
class DiffRow:
    on: dt.date
    base: int
    base_cap: int
    hypothesis: int
    hypothesis_cap: int

    @property
    def difference(self) -> int:
        return self.hypothesis - self.base


@dataclass(frozen=True)
class CompareChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    base: str
    hypothesis: str
    on_x: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]


@dataclass(frozen=True)
class Comparison:
    problems: tuple[str, ...]
    base_balance: int = 0
    base_cap: int = 0
    balance: int = 0
    cap: int = 0
    status: str = ""
    rows: tuple[DiffRow, ...] = ()
    chart: CompareChart | None = None
    notes: tuple[str, ...] = ()

    @property
    def status_label(self) -> str:
        return status_label(self.status)


def _balance_at(movements: Sequence[Any], on: dt.date) -> tuple[int, int]:
    value = (movements[0].balance, movements[0].cap)
    for movement in movements:
        if movement.on > on:
            break
        value = (movement.balance, movement.cap)
    return value


def compare(licence: Any, form: Any, today: dt.date) -> Comparison:
    line = state.timeline_of(licence)
    base = line.evaluation_at(today)
    document = copy.deepcopy(line.document)
    extra = form.events()
    for number, event in enumerate(extra, start=1):
        event["id"] = f"x{number}"
    document["events"].extend(extra)
    try:
        # The stored events were checked when written; only the holder's hypotheses are checked here.
        history = parse_history(document, trusted=len(line.document["events"]))
    except InputError as error:
        return Comparison(tuple(in_words(_strip(p)) for p in (error.problems or [str(error)])))
    hyp_line = Timeline(history)
    hypothesis = hyp_line.at(max(today, hyp_line.first_day))
    base_all = [*base.movements, *base.upcoming]
    hyp_all = [*hypothesis.movements, *hypothesis.upcoming]
    starts = [
        dt.date.fromisoformat(e.get("committed_on") or e.get("first_day") or today.isoformat()) for e in extra
    ]
    since = min([today, *starts])
    dates = sorted({m.on for m in (*base_all, *hyp_all) if m.on >= since} | {today})
    rows = []
    for day in dates:
        b, bc = _balance_at(base_all, day)
        h, hc = _balance_at(hyp_all, day)
        rows.append(DiffRow(day, b, bc, h, hc))
    notes = tuple(note_label(n) for n in hypothesis.notes[len(base.notes) :])
    return Comparison(
        (),
        base.balance,
        base.cap,
        hypothesis.balance,
        hypothesis.cap,
        hypothesis.status,
        tuple(rows),
        comparison_chart(base_all, hyp_all, today),
        notes,
    )


def _strip(problem: str) -> str:
    """The engine names the added events x1, x2: keep only its sentence."""
    head, sep, tail = problem.partition(": ")
    return tail if sep and head.startswith("events[") else problem


def comparison_chart(base: Sequence[Any], hypothesis: Sequence[Any], on: dt.date) -> CompareChart | None:
    """Both balances over time on one scale (the house chart's geometry: permis.portal.chart)."""
    if not base or not hypothesis:
        return None
    start = min(base[0].on, hypothesis[0].on)
    last = max(on, base[-1].on, hypothesis[-1].on)
    end = last + max(dt.timedelta(days=60), (last - start) * 0.05)
    span = max((end - start).days, 1)
    top_value = max(12, *(m.cap for m in (*base, *hypothesis)), *(m.balance for m in (*base, *hypothesis)))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: dt.date) -> float:
        return round(LEFT + (day - start).days / span * plot_width, 1)

    def y(value: int) -> float:
        return round(TOP + plot_height - max(value, 0) / top_value * plot_height, 1)

    def path(steps: Sequence[Any]) -> str:
        parts = [f"M{x(steps[0].on)} {y(steps[0].balance)}"]
        parts += [f"H{x(s.on)} V{y(s.balance)}" for s in steps[1:]]
        parts.append(f"H{x(end)}")
        return " ".join(parts)

    years = list(range(start.year + 1, end.year + 1))
    step = max(1, -(-len(years) // 6))
    return CompareChart(
        WIDTH,
        HEIGHT,
        LEFT,
        WIDTH - RIGHT,
        TOP,
        HEIGHT - BOTTOM,
        path(base),
        path(hypothesis),
        x(on),
        tuple(Tick(x(dt.date(year, 1, 1)), str(year)) for year in years[::step]),
        tuple(Tick(y(v), str(v)) for v in range(0, top_value + 1, 3 if top_value <= 15 else 5)),
    )
