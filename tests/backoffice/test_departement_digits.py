"""Postcodes and départements are ASCII digits: "²" and "٣" are neither."""

from __future__ import annotations

import pytest

from permis.backoffice.access import departement_of, normalise_departement, valid_departement


@pytest.mark.parametrize("postcode", ["7501²", "²²²²²", "٧٥٠١١"])
def test_a_postcode_with_non_ascii_digits_has_no_departement(postcode: str) -> None:
    assert departement_of(postcode) == ""


@pytest.mark.parametrize("code", ["²", "0²", "٣", "9٧٤"])
def test_a_departement_with_non_ascii_digits_is_not_valid(code: str) -> None:
    assert not valid_departement(normalise_departement(code))
