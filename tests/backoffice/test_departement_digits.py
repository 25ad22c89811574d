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


@pytest.mark.parametrize("postcode", ["7501²", "٧٥٠١١"])
def test_a_centres_postcode_with_non_ascii_digits_is_refused_on_its_field(postcode: str) -> None:
    from permis.backoffice.forms import CentreForm

    form = CentreForm({"postcode": postcode})
    assert not form.is_valid() and "Un code postal français a cinq chiffres." in form.errors["postcode"]


@pytest.mark.parametrize("natinf", ["²", "٣٣"])
def test_a_natinf_with_non_ascii_digits_is_refused_on_its_field(natinf: str) -> None:
    from permis.portal.forms import OffenceForm

    form = OffenceForm({"natinf": natinf})
    assert not form.is_valid() and "Un code NATINF ne contient que des chiffres." in form.errors["natinf"]
