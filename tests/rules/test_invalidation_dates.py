"""Dates that follow an invalidation (L223-5), beyond the JSON contract: surrender deadline, new licence date."""

from __future__ import annotations

import datetime as dt

from permis.rules import evaluate, parse_history


def offence(ident: str, committed: str, final: str, points: int, cls: str = "C4") -> dict:
    return {
        "kind": "offence",
        "id": ident,
        "committed_on": committed,
        "final_on": final,
        "points": points,
        "class": cls,
    }


E08 = {
    "licence": {"obtained_on": "2008-01-15"},
    "events": [
        offence("I1", "2024-03-01", "2024-03-20", 6),
        offence("I2", "2024-05-01", "2024-05-25", 4),
        offence("I3", "2024-07-01", "2024-07-15", 3),
        {"kind": "invalidation_notified", "id": "N1", "on": "2024-09-10"},
        {"kind": "licence_surrendered", "id": "R1", "on": "2024-09-15"},
    ],
}


def test_the_licence_must_be_surrendered_within_ten_days_of_the_48si() -> None:
    evaluation = evaluate(parse_history(E08), dt.date(2024, 9, 12))
    assert evaluation.invalidated_on == dt.date(2024, 9, 10)
    assert evaluation.surrender_due_by == dt.date(2024, 9, 20)
    assert evaluation.new_licence_from is None  # not surrendered yet on that date


def test_a_new_licence_may_be_obtained_six_months_after_surrender() -> None:
    evaluation = evaluate(parse_history(E08), dt.date(2024, 10, 1))
    assert evaluation.new_licence_from == dt.date(2025, 3, 15)


def test_the_surrender_delay_follows_the_option() -> None:
    history = parse_history({**E08, "options": {"surrender_days": 7}})
    assert evaluate(history, dt.date(2024, 9, 12)).surrender_due_by == dt.date(2024, 9, 17)


def test_a_second_total_loss_within_five_years_means_a_one_year_wait() -> None:
    # RULES.md §13 E20, continuing E19 path A.
    history = parse_history(
        {
            "licence": {"obtained_on": "2023-01-15"},
            "events": [
                offence("I1", "2023-06-10", "2023-06-12", 6),
                {"kind": "invalidation_notified", "id": "SI1", "on": "2023-08-01"},
                {"kind": "licence_surrendered", "id": "R1", "on": "2023-08-05"},
                {"kind": "new_licence", "id": "N1", "obtained_on": "2024-04-20"},
                {
                    "kind": "offence",
                    "id": "I2",
                    "committed_on": "2025-03-01",
                    "final_on": "2025-04-01",
                    "speeding": {"limit_kmh": 80, "retained_kmh": 135},
                },
                {"kind": "invalidation_notified", "id": "SI2", "on": "2025-06-01"},
                {"kind": "licence_surrendered", "id": "R2", "on": "2025-06-05"},
            ],
        }
    )
    first = evaluate(history, dt.date(2023, 8, 10))
    assert first.new_licence_from == dt.date(2024, 2, 5)
    second = evaluate(history, dt.date(2025, 6, 10))
    assert second.status == "invalidated"
    assert second.new_licence_from == dt.date(2026, 6, 5)


def test_an_annulment_ban_gives_the_date_of_a_new_licence() -> None:
    history = parse_history(
        {
            "licence": {"obtained_on": "2005-01-01"},
            "events": [
                {
                    "kind": "offence",
                    "id": "I",
                    "committed_on": "2024-06-01",
                    "final_on": "2024-10-01",
                    "natinf": "8544",
                },
                {"kind": "annulment", "id": "A", "on": "2024-10-01", "ban_until": "2026-10-01"},
            ],
        }
    )
    evaluation = evaluate(history, dt.date(2025, 1, 1))
    assert evaluation.status == "annulled"
    assert evaluation.balance == 0
    assert evaluation.new_licence_from == dt.date(2026, 10, 1)


def test_a_48si_notified_while_the_balance_is_positive_has_no_effect() -> None:
    history = parse_history(
        {
            "licence": {"obtained_on": "2001-01-01"},
            "events": [
                offence("I1", "2024-01-01", "2024-01-10", 4),
                {"kind": "invalidation_notified", "id": "N", "on": "2024-02-01"},
            ],
        }
    )
    evaluation = evaluate(history, dt.date(2024, 3, 1))
    assert evaluation.status == "valid"
    assert evaluation.balance == 8
    assert any("48SI" in note for note in evaluation.notes)
