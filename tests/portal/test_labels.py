"""Every code the engine can return has a French label on the page."""

from __future__ import annotations

from permis.portal.labels import KIND_LABELS, LETTER_LABELS, STATUS_LABELS

# The lists of ENGINE-IO.md ("Output").
ENGINE_KINDS = {
    "initial",
    "withdrawal",
    "withdrawal_cancelled",
    "one_point_restoration",
    "full_restoration",
    "ten_year_restoration",
    "probation_increment",
    "probation_end",
    "course_credit",
    "invalidation",
    "annulment",
    "new_licence",
}
ENGINE_STATUSES = {"valid", "zero_balance", "invalidated", "annulled"}
ENGINE_LETTERS = {"48", "48M", "48N", "48SI", "46", "47"}


def test_every_movement_kind_has_a_label() -> None:
    assert set(KIND_LABELS) == ENGINE_KINDS
    assert str(KIND_LABELS["withdrawal"]) == "Retrait de points"
    assert str(KIND_LABELS["one_point_restoration"]) == "Restitution d’un point (6 mois)"


def test_every_status_and_letter_has_a_label() -> None:
    assert set(STATUS_LABELS) == ENGINE_STATUSES
    assert set(LETTER_LABELS) == ENGINE_LETTERS
