"""The law's preconditions of a surrender and of a new licence (L223-5, RULES.md §9), as input checks.

A surrender and a new licence only follow an invalidation (the 48SI notified) or an annulment; a new licence only
after the waiting period from the surrender (6 months, 1 year after a second total loss within 5 years) or the
end of the ban. The checks apply to the events not `trusted` (a history stored before them stays readable), and
each against what was known when it was recorded (a later record does not make a lawful decision unreadable).
The cases of tests/rules/cases (E08, E20, E31, X40) hold the law's examples; here, how the checks are applied.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from permis.rules import InputError, evaluate, parse_history
from permis.rules.cli import main

# A licence emptied by three offences, invalidated on 2024-09-10 and surrendered on 2024-09-15 (RULES.md E08).
E08: dict[str, Any] = {
    "licence": {"obtained_on": "2008-01-15"},
    "events": [
        {"kind": "offence", "id": "I1", "committed_on": "2024-03-01", "final_on": "2024-03-20", "points": 6,
         "class": "C4", "recorded_on": "2024-03-25"},
        {"kind": "offence", "id": "I2", "committed_on": "2024-05-01", "final_on": "2024-05-25", "points": 4,
         "class": "C4", "recorded_on": "2024-05-30"},
        {"kind": "offence", "id": "I3", "committed_on": "2024-07-01", "final_on": "2024-07-15", "points": 3,
         "class": "C4", "recorded_on": "2024-07-20"},
        {"kind": "invalidation_notified", "id": "N1", "on": "2024-09-10", "recorded_on": "2024-09-11"},
        {"kind": "licence_surrendered", "id": "R1", "on": "2024-09-15", "recorded_on": "2024-09-15"},
    ],
}  # fmt: skip


def history(*extra: dict[str, Any], base: dict[str, Any] = E08) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data["events"] += [copy.deepcopy(e) for e in extra]
    return data


def problems_of(data: dict[str, Any], trusted: int = 0) -> list[str]:
    with pytest.raises(InputError) as refused:
        parse_history(data, trusted=trusted)
    return refused.value.problems


NEW_LICENCE = {"kind": "new_licence", "id": "L2", "obtained_on": "2025-05-02", "recorded_on": "2025-05-05"}


def test_a_new_licence_after_the_wait_is_accepted() -> None:
    evaluation = evaluate(parse_history(history(NEW_LICENCE)), date(2025, 5, 2))
    assert (evaluation.balance, evaluation.status) == (6, "valid")


def test_a_new_licence_on_a_valid_licence_is_refused_and_keeps_the_offences() -> None:
    """The audit's B7 (a): a "new licence" on a licence of 3 points would have given it 6."""
    valid = {"licence": {"obtained_on": "2015-04-01"}, "events": [E08["events"][0], E08["events"][2]]}
    assert evaluate(parse_history(valid), date(2024, 11, 30)).balance == 3
    (problem,) = problems_of(history({**NEW_LICENCE, "obtained_on": "2024-11-30"}, base=valid))
    assert problem.startswith("events[2].obtained_on: the licence is neither invalidated (48SI notified) nor")


def test_a_surrender_of_a_valid_licence_is_refused() -> None:
    """The audit's B4."""
    valid = {"licence": {"obtained_on": "2015-04-01"}, "events": []}
    surrender = {"kind": "licence_surrendered", "id": "R1", "on": "2024-09-15"}
    (problem,) = problems_of(history(surrender, base=valid))
    assert problem == (
        "events[0].on: the licence is neither invalidated (48SI notified) nor annulled on 2024-09-15: only such a "
        "licence is surrendered to the préfet (Code de la route, art. L223-5)"
    )


def test_a_new_licence_within_six_months_of_the_surrender_is_refused() -> None:
    """The audit's B7 (b): surrendered on 2024-09-15, no new licence before 2025-03-15."""
    (problem,) = problems_of(history({**NEW_LICENCE, "obtained_on": "2025-03-14"}))
    assert problem.startswith(
        "events[5].obtained_on: 2025-03-14 is before 2025-03-15, the end of the waiting"
    )
    parse_history(history({**NEW_LICENCE, "obtained_on": "2025-03-15"}))


def test_the_same_new_licence_twice_is_refused_on_the_second() -> None:
    """The audit's B7 (c)."""
    twice = history(NEW_LICENCE, {**NEW_LICENCE, "id": "L3"})
    assert problems_of(twice) == [
        "events[6].obtained_on: a new licence obtained on 2025-05-02 is already recorded (L2)"
    ]


def test_a_new_licence_before_one_recorded_earlier_is_refused() -> None:
    """A licence back-dated before one the file already holds would leave that one following a valid licence."""
    earlier = {**NEW_LICENCE, "id": "L0", "obtained_on": "2025-04-01", "recorded_on": "2025-06-01"}
    (problem,) = problems_of(history(NEW_LICENCE, earlier))
    assert problem.startswith(
        "events[6].obtained_on: 2025-04-01 is before the new licence obtained on 2025-05-02"
    )
    # Without recording days (a history written by hand), the order is the engine's own: L0 then L2, and L2
    # follows a valid licence.
    by_hand = history({**NEW_LICENCE, "recorded_on": None}, {**earlier, "recorded_on": None})
    (problem,) = problems_of(by_hand)
    assert problem.startswith("events[5].obtained_on: the licence is neither invalidated")


def test_only_the_events_not_trusted_are_checked() -> None:
    """A history stored before these checks (a surrender of a valid licence) stays readable; what is added to it
    is checked, against it."""
    stored = {
        "licence": {"obtained_on": "2015-04-01"},
        "events": [{"kind": "licence_surrendered", "id": "e1", "on": "2024-09-15"}],
    }
    assert problems_of(stored)  # checked as a whole, it is refused
    parse_history(stored, trusted=1)
    added = history({"kind": "offence", "id": "e2", "committed_on": "2024-10-01", "final_on": "2024-10-20",
                     "points": 3, "class": "C4"}, base=stored)  # fmt: skip
    assert evaluate(parse_history(added, trusted=1), date(2024, 10, 20)).balance == 9
    again = history({"kind": "licence_surrendered", "id": "e2", "on": "2024-10-01"}, base=stored)
    (problem,) = problems_of(again, trusted=1)
    assert problem.startswith("events[1].on: the licence is already surrendered on 2024-09-15 (e1)")


def test_a_decision_is_checked_against_what_was_known_when_it_was_recorded() -> None:
    """I3, which emptied the balance, is cancelled after the new licence was recorded (a réclamation upheld, with
    effect before the 48SI): the 48SI had no effect after all, but the surrender and the new licence were lawful
    when they were recorded, and the history still reads."""
    cancelled = {"kind": "offence_cancelled", "id": "C1", "offence": "I3", "on": "2024-08-01",
                 "recorded_on": "2025-06-01"}  # fmt: skip
    parsed = parse_history(history(NEW_LICENCE, cancelled))
    assert evaluate(parsed, date(2024, 9, 10)).status == "valid"
    # Recorded after the cancellation, the same new licence follows no invalidation.
    late = {**NEW_LICENCE, "recorded_on": "2025-06-02"}
    (problem,) = problems_of(history(cancelled, late))
    assert "neither invalidated (48SI notified) nor annulled before 2025-05-02" in problem


def test_the_cli_refuses_a_new_licence_within_the_wait_with_one_line_and_exit_2(capsys) -> None:
    data = history({**NEW_LICENCE, "obtained_on": "2025-01-02"})
    import io
    import sys

    saved = sys.stdin
    sys.stdin = io.StringIO(json.dumps(data))
    try:
        code = main(["evaluate", "-", "--on", "2025-06-01"])
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.stdin = saved
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("events[5].obtained_on: 2025-01-02 is before 2025-03-15")
