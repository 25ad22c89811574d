"""Consequences of the binding readings of RULES.md that a reader might not expect, kept as executable facts."""

from __future__ import annotations

import datetime as dt

from permis.rules import evaluate, parse_history


def course(ident: str, first: str, last: str) -> dict:
    return {"kind": "course", "id": ident, "first_day": first, "last_day": last, "type": "voluntary"}


def offence(ident: str, committed: str, final: str, points: int) -> dict:
    return {
        "kind": "offence",
        "id": ident,
        "committed_on": committed,
        "final_on": final,
        "points": points,
        "class": "C4",
    }


BASE = [
    course("S1", "2020-02-01", "2020-02-02"),
    offence("A", "2020-03-01", "2020-03-10", 2),
    course("S2", "2020-06-01", "2020-06-02"),
    offence("B", "2020-09-01", "2020-09-10", 4),
    course("S3", "2021-03-01", "2021-03-02"),
]
EXTRA = offence("X", "2020-01-01", "2020-01-10", 2)


def balance(events: list[dict], course_year: str, on: dt.date) -> int:
    history = parse_history(
        {
            "licence": {"obtained_on": "2001-05-03"},
            "events": events,
            "options": {"course_year": course_year},
        }
    )
    return evaluate(history, on).balance


def test_under_the_default_reading_an_extra_offence_can_leave_a_higher_balance_after_three_courses() -> None:
    # With X, course S1 credits 2 points and starts the yearly limit: S2 credits nothing, S3 credits 4.
    # Without X, S1 (at the cap) credits nothing and does not count: S2 credits 2, and S3 is then too early.
    # This is what "only a course that credited points starts the year" (RULES.md §8.1, [P/U]) implies.
    on = dt.date(2021, 3, 3)
    assert balance(BASE, "rolling_from_credit", on) == 8
    assert balance([*BASE, EXTRA], "rolling_from_credit", on) == 10


def test_when_every_course_starts_the_year_an_extra_offence_never_helps() -> None:
    on = dt.date(2021, 3, 3)
    assert balance([*BASE, EXTRA], "rolling_from_any", on) <= balance(BASE, "rolling_from_any", on)
